#!/usr/bin/env bash
# TCP benchmark (issue 17): Envoy --concurrency 1 with one listener running tcp_proxy to a
# loopback server, configurations side by side in each round: no wasm filter, an empty
# proxy-wasm network filter (filter/wasm/examples/empty_tcp.rs), and mixerless as a network
# filter (type NETWORK, reporting every second). Two loads, both bounded:
#   bulk: one connection sends BULK_MB MiB to a sink behind Envoy, which answers with the count;
#         bytes/s from the first byte sent to the count received;
#   rate: CONNS connections one after another, each 16 bytes to an echo and back, then closed.
# Envoy's CPU (utime+stime) per MiB and per connection comes along. After each mixerless run
# the script checks the filter counted exactly what was sent. Writes the "## TCP" section of
# BENCHMARKS.md. Takes about 3 minutes with the defaults.
# Knobs: ROUNDS (default 5), BULK_MB (default 512), CONNS (default 2000).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5} BULK_MB=${BULK_MB:-512} CONNS=${CONNS:-2000}
ENVOY=${ENVOY_BIN:-.venv/bin/envoy}
WASM_OPT_FLAGS="-Oz --converge --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals"

make --no-print-directory wasm
cargo build -p mixerless-filter-wasm --example empty_tcp --target wasm32-wasip1 --profile wasm
mkdir -p target/bench-tcp
# shellcheck disable=SC2086
wasm-opt $WASM_OPT_FLAGS target/wasm32-wasip1/wasm/examples/empty_tcp.wasm -o target/bench-tcp/empty_tcp.wasm
# A copy, so a rebuild during the run cannot change what is measured.
cp dist/mixerless-filter.wasm target/bench-tcp/mixerless.wasm

ROUNDS=$ROUNDS BULK_MB=$BULK_MB CONNS=$CONNS ENVOY=$ENVOY python3 - <<'PY'
import json, os, re, signal, socket, statistics, subprocess, sys, tempfile, threading, time, urllib.request
import yaml

root = os.getcwd()
rounds, bulk_mb, conns = int(os.environ["ROUNDS"]), int(os.environ["BULK_MB"]), int(os.environ["CONNS"])
envoy_bin = os.environ["ENVOY"]
tags = yaml.safe_load(open("istio/envoy/stats_tags.yaml"))
CHUNK = 1 << 20

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def serve(port, handler):
    ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port)); ls.listen(512)
    def loop():
        while True:
            c, _ = ls.accept()
            threading.Thread(target=handler, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()

def sink(c):
    buf, n = bytearray(CHUNK), 0
    while True:
        r = c.recv_into(buf)
        if not r: break
        n += r
    c.sendall(n.to_bytes(8, "big")); c.close()

def echo(c):
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
    c.close()

SINK, ECHO = free_port(), free_port()
serve(SINK, sink); serve(ECHO, echo)

def network_filter(wasm, config):
    return {"name": "envoy.filters.network.wasm", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm",
        "config": {"name": "bench", "root_id": "bench",
                   "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": config},
                   "vm_config": {"vm_id": "bench", "runtime": "envoy.wasm.runtime.v8",
                                 "code": {"local": {"filename": os.path.join(root, wasm)}}}}}}

def bootstrap(wasm, config):
    admin, bulk, rate = free_port(), free_port(), free_port()
    def listener(name, port, cluster):
        filters = [network_filter(wasm, config)] if wasm else []
        filters.append({"name": "envoy.filters.network.tcp_proxy", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": name, "cluster": cluster}})
        return {"name": name, "traffic_direction": "INBOUND",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                "filter_chains": [{"filters": filters}]}
    def cluster(name, port):
        return {"name": name, "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
            "cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}}
    return admin, bulk, rate, {
        "node": {"id": "sidecar~10.0.0.9~ratings-v1-7dbf9c.default~default.svc.cluster.local", "cluster": "ratings.default",
                 "metadata": {"NAME": "ratings-v1-7dbf9c", "NAMESPACE": "default", "WORKLOAD_NAME": "ratings-v1",
                              "CLUSTER_ID": "Kubernetes",
                              "LABELS": {"app": "ratings", "version": "v1", "service.istio.io/canonical-name": "ratings",
                                         "service.istio.io/canonical-revision": "v1"}}},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "stats_flush_interval": "1s",
        "stats_config": {"stats_tags": tags},
        "static_resources": {"listeners": [listener("bulk", bulk, "sink"), listener("rate", rate, "echo")],
                             "clusters": [cluster("sink", SINK), cluster("echo", ECHO)]}}

# (name, module, its configuration)
configs = [
    ("no wasm filter", None, ""),
    ("empty wasm network filter", "target/bench-tcp/empty_tcp.wasm", ""),
    ("mixerless network filter", "target/bench-tcp/mixerless.wasm", '{"type": "NETWORK", "tcp_reporting_duration": "1s"}'),
]
OURS = configs[2][0]

def ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])

def bulk_run(port):
    data = memoryview(bytes(CHUNK))
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(120)
    t0 = time.perf_counter()
    for _ in range(bulk_mb):
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while len(got) < 8:
        d = s.recv(8 - len(got))
        if not d: break
        got += d
    t = time.perf_counter() - t0
    s.close()
    assert int.from_bytes(got, "big") == bulk_mb * CHUNK, f"sink got {got!r}"
    return bulk_mb * CHUNK / t

def rate_run(port):
    msg = b"0123456789abcdef"
    t0 = time.perf_counter()
    for _ in range(conns):
        s = socket.create_connection(("127.0.0.1", port)); s.settimeout(10)
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            got += s.recv(64)
        s.close()
    return conns / (time.perf_counter() - t0)

def counted(admin):
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats/prometheus").read().decode()
    total = lambda name: sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(name + "{"))
    return total("istio_tcp_received_bytes_total"), total("istio_tcp_connections_closed_total")

def run(wasm, config):
    admin, bulk, rate, b = bootstrap(wasm, config)
    d = tempfile.mkdtemp(prefix="bench-tcp-")
    path = os.path.join(d, "b.json"); json.dump(b, open(path, "w"))
    p = subprocess.Popen([envoy_bin, "-c", path, "--concurrency", "1", "--use-dynamic-base-id", "-l", "warning",
                          "--log-path", os.path.join(d, "envoy.log")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1).read().strip() == b"LIVE": break
            except Exception: pass
            time.sleep(0.05)
        c0 = ticks(p.pid); bps = bulk_run(bulk); cpu_bulk = (ticks(p.pid) - c0) / os.sysconf("SC_CLK_TCK")
        c0 = ticks(p.pid); cps = rate_run(rate); cpu_rate = (ticks(p.pid) - c0) / os.sysconf("SC_CLK_TCK")
        if wasm and "mixerless" in wasm:  # the filter counted exactly what went through
            want = (bulk_mb * CHUNK + 16 * conns, 1 + conns)
            for _ in range(50):
                if counted(admin) == want: break
                time.sleep(0.2)
            assert counted(admin) == want, f"filter counted {counted(admin)}, sent {want}"
        return bps, cps, cpu_bulk * 1e6 / bulk_mb, cpu_rate * 1e6 / conns
    finally:
        p.send_signal(signal.SIGKILL); p.wait()

results = {name: [] for name, _, _ in configs}
for r in range(rounds):
    for name, wasm, config in configs:
        res = run(wasm, config)
        results[name].append(res)
        print(f"round {r + 1}/{rounds} {name}: {res[0] / 2**20:.0f} MiB/s, {res[1]:.0f} conn/s, "
              f"{res[2]:.0f} CPU us/MiB, {res[3]:.0f} CPU us/conn", file=sys.stderr)

def med(xs): return statistics.median(xs)
def col(name, i): return [x[i] for x in results[name]]
# Ratios per round (the runs of a round are seconds apart), then their median and spread.
def ratio(a, b, i):
    rs = [x[i] / y[i] for x, y in zip(results[a], results[b])]
    return med(rs), min(rs), max(rs)
def show(t): return f"**{t[0]:.1%}** ({t[1]:.1%} to {t[2]:.1%})"
def diff(a, b, i):
    d = [x[i] - y[i] for x, y in zip(results[a], results[b])]
    return f"{med(d):.0f} ({min(d):.0f} to {max(d):.0f})"
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")

cpu = subprocess.run("lscpu | grep 'Model name' | sed 's/Model name: *//'", shell=True, capture_output=True, text=True).stdout.strip()
nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
load = open("/proc/loadavg").read().split()[:3]
empty = configs[1][0]
bytes_ratio, conn_ratio = ratio(OURS, empty, 0), ratio(OURS, empty, 1)
lines = ["## TCP", "",
    f"Machine: {nproc} cores, {cpu}. Command: `scripts/bench-tcp.sh` (ROUNDS={rounds}, BULK_MB={bulk_mb}, CONNS={conns}):",
    "loopback, Envoy 1.40 `--concurrency 1`, INBOUND listeners running `tcp_proxy` to Python servers in the script",
    f"(bulk: one connection sends {bulk_mb} MiB to a sink that answers with the count; rate: {conns} connections one after",
    "another, 16 bytes to an echo and back, then closed). The configurations run in turn in each round; median and",
    "(min–max) over the rounds. CPU is Envoy's utime+stime over each load. After each mixerless run the script checks the",
    "filter counted exactly the bytes and connections that went through.",
    f"Load average at the end: {' '.join(load)} on {nproc} cores (above about 2, other work shared the cores and the",
    "figures are low and noisy). The Python client shares the cores with Envoy; the ratios are per round.", "",
    "| configuration | bulk MiB/s | connections/s | Envoy CPU µs / MiB | Envoy CPU µs / connection |", "| --- | --- | --- | --- | --- |"]
for name, _, _ in configs:
    b, c, cb, cc = [col(name, i) for i in range(4)]
    lines.append(f"| {name} | {med(b) / 2**20:,.0f} ({min(b) / 2**20:,.0f}–{max(b) / 2**20:,.0f}) "
                 f"| {med(c):,.0f} ({min(c):,.0f}–{max(c):,.0f}) | {med(cb):,.0f} ({min(cb):,.0f}–{max(cb):,.0f}) "
                 f"| {med(cc):,.0f} ({min(cc):,.0f}–{max(cc):,.0f}) |")
lines += ["",
    f"- mixerless vs the empty network filter, per round: bytes/s {show(bytes_ratio)} (target ≥ 95 %; met: "
    f"**{'yes' if bytes_ratio[0] >= 0.95 else 'no'}**), connections/s {show(conn_ratio)} (target ≥ 90 %; met: "
    f"**{'yes' if conn_ratio[0] >= 0.90 else 'no'}**). The spread of the connection rate is wide: the Python client",
    "  competes with Envoy for the two cores, so a single round says little; a ratio above",
    "  100 % is that noise, not a gain (mixerless does all the empty filter does, and more).",
    f"- Envoy CPU of mixerless over the empty network filter (median of per-round differences, and their spread): "
    f"{diff(OURS, empty, 3)} µs per connection, {diff(OURS, empty, 2)} µs per MiB. CPU time is counted in "
    f"{tick_us / 1000:.0f} ms ticks: {tick_us / conns:.0f} µs per connection and {tick_us / bulk_mb:.0f} µs per MiB resolution.",
    f"- `dist/mixerless-filter.wasm` with TCP, gRPC message counters and `istio_build`, after `wasm-opt -Oz --converge`: "
    f"**{os.path.getsize('target/bench-tcp/mixerless.wasm'):,} bytes** (target ≤ 180 KiB = 184,320 bytes; `--converge` "
    "saves ~500 bytes over plain `-Oz` for ~3× the wasm-opt time); the empty network filter: "
    f"{os.path.getsize('target/bench-tcp/empty_tcp.wasm'):,} bytes.",
    "- Per connection the filter crosses into V8 for the new connection, each read and write, the close and the",
    "  context's end, and once per connection reads what the labels need (listener direction, cluster name and",
    "  metadata, response flags, TLS, filter-state peer): that is the cost per connection. A bulk transfer adds only",
    "  a counter update per read and per write, and one increment per open connection per reporting tick.",
    ""]
section = "\n".join(lines)
text = open("BENCHMARKS.md").read()
m = re.search(r"^## TCP\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
text = text[:m.start()] + section + "\n" + text[m.end():] if m else text.rstrip("\n") + "\n\n" + section
open("BENCHMARKS.md", "w").write(text)
print(section)
PY
