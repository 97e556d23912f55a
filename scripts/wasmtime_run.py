"""Run a wasm32-wasip1 command module (a cargo test binary) with WASI, passing its arguments."""
import sys

from wasmtime import Engine, ExitTrap, Linker, Module, Store, WasiConfig


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: wasmtime_run.py MODULE.wasm [ARGS...]", file=sys.stderr)
        return 2
    path = sys.argv[1]
    engine = Engine()
    linker = Linker(engine)
    linker.define_wasi()
    store = Store(engine)
    wasi = WasiConfig()
    wasi.argv = [path, *sys.argv[2:]]
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    wasi.inherit_env()
    store.set_wasi(wasi)
    instance = linker.instantiate(store, Module.from_file(engine, path))
    try:
        instance.exports(store)["_start"](store)
    except ExitTrap as e:
        return e.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
