#!/usr/bin/env bash
# Filter benchmark (issue "Filter"): wrk against Envoy --concurrency 1 with a direct_response
# route, configurations side by side in each round: no wasm filter, an empty proxy-wasm
# filter (filter/wasm/examples/empty.rs), mixerless (all 25 labels, metadata exchange), and the
# empty filter and mixerless behind the simulated Istio exchange (tests/istio-exchange, first in the
# chain as in istio-proxy: it takes the peer headers into filter state and answers them).
# Writes the "## Filter" section of BENCHMARKS.md. Takes about 5 minutes.
# Knobs: ROUNDS (default 5), DURATION (wrk -d, default 8s), CONNECTIONS (default 2),
# BASELINE_WASM (a previous build of the filter, measured as an extra row).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-8s} CONNECTIONS=${CONNECTIONS:-2}
ENVOY=${ENVOY_BIN:-.venv/bin/envoy}
WASM_OPT_FLAGS="-Oz --converge --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals"

make --no-print-directory wasm
cargo build -p mixerless-filter-wasm --example empty --target wasm32-wasip1 --profile wasm
mkdir -p target/bench-filter
# shellcheck disable=SC2086
wasm-opt $WASM_OPT_FLAGS target/wasm32-wasip1/wasm/examples/empty.wasm -o target/bench-filter/empty.wasm
make --no-print-directory test-wasm
# Copies, so a rebuild during the run cannot change what is measured.
cp dist/mixerless-filter.wasm target/bench-filter/mixerless.wasm
cp target/wasm32-wasip1/wasm/mixerless_test_istio_exchange.wasm target/bench-filter/istio-exchange.wasm

BASELINE_WASM=${BASELINE_WASM:-} ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=$CONNECTIONS ENVOY=$ENVOY python3 - <<'PY'
import json, os, re, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request
import yaml

root = os.getcwd()
rounds, duration, conns = int(os.environ["ROUNDS"]), os.environ["DURATION"], os.environ["CONNECTIONS"]
envoy_bin = os.environ["ENVOY"]
tags = yaml.safe_load(open("istio/envoy/stats_tags.yaml"))

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def pb_struct(fields):
    """Deterministic protobuf Struct of string fields / nested string maps."""
    def ld(n, b): 
        out = bytearray([(n << 3) | 2]); l = len(b)
        while l >= 0x80: out.append((l & 0x7f) | 0x80); l >>= 7
        out.append(l); return bytes(out) + b
    out = b""
    for k in sorted(fields):
        v = fields[k]
        val = ld(5, pb_struct(v)) if isinstance(v, dict) else ld(3, v.encode())
        out += ld(1, ld(1, k.encode()) + ld(2, val))
    return out

import base64
peer = base64.b64encode(pb_struct({
    "NAME": "productpage-v1-6b7f6d", "NAMESPACE": "default", "WORKLOAD_NAME": "productpage-v1",
    "CLUSTER_ID": "Kubernetes",
    "LABELS": {"app": "productpage", "version": "v1", "service.istio.io/canonical-name": "productpage",
               "service.istio.io/canonical-revision": "v1"}})).decode()
peer_id = "sidecar~10.0.0.7~productpage-v1-6b7f6d.default~default.svc.cluster.local"

def wasm_filter(name, wasm, config):
    return {"name": "envoy.filters.http.wasm", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
        "config": {"name": name, "root_id": name,
                   "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": config},
                   "vm_config": {"vm_id": name, "runtime": "envoy.wasm.runtime.v8",
                                 "code": {"local": {"filename": os.path.join(root, wasm)}}}}}}

SIM = "target/bench-filter/istio-exchange.wasm"

def bootstrap(wasm, config, front):
    admin, port = free_port(), free_port()
    filters = []
    if front:  # the simulated Istio exchange, first as in istio-proxy, in its own VM
        filters.append(wasm_filter("istio-exchange-sim", front, "{}"))
    if wasm:
        filters.append(wasm_filter("bench", wasm, config))
    filters.append({"name": "envoy.filters.http.router", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}})
    return admin, port, {
        "node": {"id": "sidecar~10.0.0.9~ratings-v1-7dbf9c.default~default.svc.cluster.local", "cluster": "ratings.default",
                 "metadata": {"NAME": "ratings-v1-7dbf9c", "NAMESPACE": "default", "WORKLOAD_NAME": "ratings-v1",
                              "CLUSTER_ID": "Kubernetes",
                              "LABELS": {"app": "ratings", "version": "v1", "service.istio.io/canonical-name": "ratings",
                                         "service.istio.io/canonical-revision": "v1"}}},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "stats_config": {"stats_tags": tags},
        "static_resources": {"listeners": [{
            "name": "inbound", "traffic_direction": "INBOUND",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": "inbound",
                "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                    {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}}}]}]},
                "http_filters": filters}}]}]}]}}

# (name, module, its configuration, the module in front of it or None)
configs = [
    ("no wasm filter", None, "", None),
    ("empty wasm filter", "target/bench-filter/empty.wasm", "", None),
    # reporter set as istio/WasmPlugin-mixerless-stats-inbound.yaml sets it, so no stream reads
    # the listener direction.
    ("mixerless (25 labels, metadata exchange)", "target/bench-filter/mixerless.wasm",
     '{"disable_host_header_fallback": true, "reporter": "destination"}', None),
    # Where the cost goes: without the exchange (reporter fixed, peer headers ignored), and
    # additionally with all four metrics dropped (attribute reads only).
    ("mixerless, no exchange", "target/bench-filter/mixerless.wasm",
     '{"disable_host_header_fallback": true, "metadata_exchange": false, "reporter": "destination"}', None),
    ("mixerless, no exchange, metrics dropped", "target/bench-filter/mixerless.wasm",
     '{"disable_host_header_fallback": true, "metadata_exchange": false, "reporter": "destination", "metrics": [{"drop": true}]}', None),
    # Inside an Istio sidecar: Istio's exchange (simulated) first, the peer in filter state.
    ("empty wasm filter behind the simulated Istio exchange", "target/bench-filter/empty.wasm", "", SIM),
    ("mixerless behind the simulated Istio exchange", "target/bench-filter/mixerless.wasm",
     '{"disable_host_header_fallback": true, "reporter": "destination", "metadata_exchange": "auto"}', SIM),
]
FULL = (configs[2][2], None)  # the rows whose stats must show the peer known
BEHIND = (configs[6][2], SIM)

if os.environ.get("BASELINE_WASM"):  # a previous build, to measure a change in the same run
    configs.append(("mixerless, baseline build", os.environ["BASELINE_WASM"], configs[2][2], None))

def ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])

def to_us(v, unit):
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]

def run(wasm, config, front):
    admin, port, b = bootstrap(wasm, config, front)
    d = tempfile.mkdtemp(prefix="bench-filter-")
    path = os.path.join(d, "b.json"); json.dump(b, open(path, "w"))
    p = subprocess.Popen([envoy_bin, "-c", path, "--concurrency", "1", "--use-dynamic-base-id", "-l", "warning",
                          "--log-path", os.path.join(d, "envoy.log")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1).read().strip() == b"LIVE": break
            except Exception: pass
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/"
        hdr = ["-H", f"x-envoy-peer-metadata: {peer}", "-H", f"x-envoy-peer-metadata-id: {peer_id}"]
        subprocess.run(["wrk", "-t1", f"-c{conns}", "-d1s", *hdr, url], capture_output=True)  # warm-up
        t0, c0 = time.time(), ticks(p.pid)
        out = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{duration}", "--latency", *hdr, url],
                             capture_output=True, text=True).stdout
        cpu_s = (ticks(p.pid) - c0) / os.sysconf("SC_CLK_TCK")
        rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
        total = int(re.search(r"(\d+) requests in", out).group(1))
        p99 = to_us(*re.search(r"99%\s+([0-9.]+)(us|ms|s)\b", out).groups())
        if (config, front) in (FULL, BEHIND):  # the full configurations count, with the peer known
            stats = urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats/prometheus").read().decode()
            assert 'istio_requests_total{' in stats and 'source_workload="productpage-v1"' in stats, "filter did not count"
        return rps, p99, cpu_s * 1e6 / max(total, 1)
    finally:
        p.send_signal(signal.SIGKILL); p.wait()

results = {name: [] for name, _, _, _ in configs}
for r in range(rounds):
    for name, wasm, config, front in configs:
        res = run(wasm, config, front)
        results[name].append(res)
        print(f"round {r + 1}/{rounds} {name}: {res[0]:.0f} rps, p99 {res[1]:.0f} us, {res[2]:.1f} CPU us/request", file=sys.stderr)

def med(xs): return statistics.median(xs)
def col(name, i): return [x[i] for x in results[name]]
# A cost is the median over rounds of the per-round difference of CPU µs/request (the two runs
# of a round are seconds apart, so a slow spell of the machine lands in both), with its spread.
def diff(a, b):
    d = [x[2] - y[2] for x, y in zip(results[a], results[b])]
    return med(d), min(d), max(d)
def cost(a, b):
    m, lo, hi = diff(a, b)
    return f"{m:.1f} ({lo:.1f} to {hi:.1f})"

cpu = subprocess.run("lscpu | grep 'Model name' | sed 's/Model name: *//'", shell=True, capture_output=True, text=True).stdout.strip()
nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
size = os.path.getsize("target/bench-filter/mixerless.wasm"); esize = os.path.getsize("target/bench-filter/empty.wasm")
empty = configs[1][0]; ours = configs[2][0]
rps_ratio = med(col(ours, 0)) / med(col(empty, 0)); p99_ratio = med(col(ours, 1)) / med(col(empty, 1))
lines = ["## Filter", "",
    f"Machine: {nproc} cores, {cpu}. Command: `scripts/bench-filter.sh` (ROUNDS={rounds}, wrk `-t1 -c{conns} -d{duration} --latency`",
    "after a 1 s warm-up, loopback, Envoy 1.40 `--concurrency 1`, one `direct_response` route on an INBOUND listener,",
    "every request carrying Istio's `x-envoy-peer-metadata` headers; the rows \"behind the simulated Istio exchange\" run",
    "`tests/istio-exchange` first, which takes those headers into filter state as Istio 1.18–1.23 does and answers them).",
    "The configurations run in turn in each round;",
    "median and (min–max) over the rounds. CPU µs/request is Envoy's utime+stime over the run divided by requests.",
    "The machine is shared with other work, so absolute figures carry noise; the costs below are medians of per-round",
    "differences, with their spread (lowest to highest round).", "",
    "| configuration | rps | p99 | Envoy CPU µs / request |", "| --- | --- | --- | --- |"]
for name, _, _, _ in configs:
    r, p, c = col(name, 0), col(name, 1), col(name, 2)
    lines.append(f"| {name} | {med(r):,.0f} ({min(r):,.0f}–{max(r):,.0f}) | {med(p):.0f} µs ({min(p):.0f}–{max(p):.0f}) | {med(c):.1f} ({min(c):.1f}–{max(c):.1f}) |")
lines += ["",
    f"- mixerless vs empty filter: throughput **{rps_ratio:.1%}** (target ≥ 90 %), p99 **{p99_ratio:.2f}×** (target ≤ 1.2×). "
    f"The single worker is CPU-bound, so the steadier measure of capacity is CPU per request: the empty filter's is "
    f"**{med(col(empty, 2)) / med(col(ours, 2)):.1%}** of ours. wrk's p99 on this shared 2-core machine is set mostly by "
    f"scheduling, so the p99 ratio says little. Targets met: throughput **{'yes' if rps_ratio >= 0.9 else 'no'}**, "
    f"p99 **{'yes' if p99_ratio <= 1.2 else 'no'}**.",
    "- The mixerless rows set `reporter: destination`, as `istio/WasmPlugin-mixerless-stats-inbound.yaml` does, so no "
    "stream reads `xds.listener_direction`.",
    f"- `dist/mixerless-filter.wasm` after `wasm-opt -Oz --converge`: **{size:,} bytes** (target ≤ 180 KB = 184,320 bytes, shared with TCP metrics); the empty module: {esize:,} bytes.",
    f"- mixerless costs {cost(ours, empty)} CPU µs/request over the empty filter, which itself costs "
    f"{cost(empty, configs[0][0])} µs over no filter (the V8 crossings of any wasm filter).",
    f"- Where it goes (CPU µs/request): reading the 7 attributes the labels need "
    f"(`response.code`, `.flags`, `request.duration`, both sizes, `xds.cluster_name`, `connection.mtls`), the "
    f"content-type header and (`off`: no exchange, yet filter state is looked at) two filter-state probes: "
    f"{cost(configs[4][0], empty)}; recording the 4 metrics (label set, id-cache lookup, 4 metric hostcalls): "
    f"{cost(configs[3][0], configs[4][0])}; the metadata exchange (1 header read, 2 removals, 2 response headers) less "
    f"those probes: {cost(ours, configs[3][0])}. Each hostcall that returns data costs about "
    f"a microsecond in V8 (a call out plus a call back in to allocate the result), which is what dominates.",
    f"- Inside an Istio sidecar (Istio's exchange first, simulated by a test-only wasm module whose own cost is in both rows): "
    f"mixerless costs **{cost(configs[6][0], configs[5][0])}** CPU µs/request over the empty filter, "
    f"behind the simulated Istio exchange (target ≤ 12 µs; met: **{'yes' if diff(configs[6][0], configs[5][0])[0] <= 12 else 'no'}**). "
    "Istio's real exchange is native code, so only the difference between the two rows carries over.",
    "- Tried and dropped: reading content-type and the peer header with one `get_map` instead of two `get_map_value` "
    "calls cost more (59.0 vs 57.2 µs/request in one same-run A/B, `BASELINE_WASM`): the map read copies and allocates "
    "every request header to save one crossing.", ""]
if os.environ.get("BASELINE_WASM"):
    lines.insert(-1, f"- This build against the baseline build (`BASELINE_WASM`), same configuration, same rounds: "
                     f"{cost(ours, configs[-1][0])} CPU µs/request (negative: this build is cheaper).")
section = "\n".join(lines)
text = open("BENCHMARKS.md").read()
m = re.search(r"^## Filter\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
text = text[:m.start()] + section + "\n" + text[m.end():] if m else text.rstrip("\n") + "\n\n" + section
open("BENCHMARKS.md", "w").write(text)
print(section)
PY
