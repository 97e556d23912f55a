#!/usr/bin/env bash
# Hostile queries against the adapter (issue "Hardening"): 200 req/s of external-metrics GETs and
# the cheap HPA query on /api/v1/query, without and with hostile /api/v1/query requests, against
# the release adapter scraping 100 sidecar-sized targets. ROUNDS rounds (default 3) of two 15 s
# phases each; writes "### Hostile queries against the adapter" under "## Hardening" in
# BENCHMARKS.md. Takes about 2 minutes per round.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

cargo build --release -p mixerless-adapter
cargo test -p mixerless-e2e --test bench --no-run >/dev/null 2>&1 || cargo test -p mixerless-e2e --test bench --no-run

for _ in $(seq "$rounds"); do
  # Again each round: the driver refuses a binary older than its sources, which may change
  # meanwhile in a shared checkout.
  cargo build -q --release -p mixerless-adapter
  cargo test -q -p mixerless-e2e --test bench -- --ignored --exact --nocapture adapter::bench_hostile_queries 2>&1 \
    | tee -a /dev/stderr | grep '^RESULT' >>"$out" || echo "RESULT hostile_queries failed" >>"$out"
done

python3 - "$out" "$rounds" <<'PY'
import re, subprocess, sys
lines = open(sys.argv[1]).read().splitlines()
rounds = sys.argv[2]
cpu = subprocess.run("lscpu | grep 'Model name' | sed 's/Model name: *//'", shell=True, capture_output=True, text=True).stdout.strip()
nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()

def num(part, key):
    m = re.search(r"\b" + key + r"=([0-9.]+|NaN)", part)
    return float(m.group(1)) if m else float("nan")

def codes(line, cls):
    part = next((p for p in line.split(" | ") if cls in p), "")
    m = re.search(r"codes=(\S*)", part)
    return m.group(1) if m else ""

def stat(vals, fmt="{:.2f}"):
    v = sorted(x for x in vals if x == x)
    if not v:
        return "n/a"
    med = v[len(v) // 2]
    return (fmt + " (" + fmt + "–" + fmt + ")").format(med, v[0], v[-1])

phases = {p: [l for l in lines if l.startswith(f"RESULT hostile_queries phase={p} ")] for p in ("baseline", "hostile")}
rows = []
for p, ls in phases.items():
    ext = lambda l: l.split(" | ")[0]
    cheap = lambda l: l.split(" | ")[1]
    rows.append("| {} | {} | {} | {} | {} | {} | {} |".format(
        p,
        stat([num(ext(l), "p50") for l in ls]),
        stat([num(ext(l), "p99") for l in ls]),
        stat([num(cheap(l), "p50") for l in ls]),
        stat([num(cheap(l), "p90") for l in ls]),
        stat([num(cheap(l), "rps") for l in ls], "{:.0f}"),
        stat([float(re.search(r"newest_sample_max_age_s=([0-9.]+)", l).group(1)) for l in ls], "{:.1f}"),
    ))
ratio = [float(re.search(r"ext_p99=([0-9.]+)", l).group(1)) for l in lines if l.startswith("RESULT hostile_queries ratio")]
hostile_codes = []
for l in phases["hostile"]:
    hostile_codes.append("; ".join(f"hostile{i}: {codes(l, f'hostile{i} ')}" for i in (1, 2, 3)))
body = [
    "### Hostile queries against the adapter", "",
    f"Machine: {nproc} cores, {cpu}. Command: `scripts/bench-queries.sh` (ROUNDS={rounds}; driver",
    "`bench_hostile_queries` in `tests/tests/bench/adapter.rs`): the release adapter with its default limits",
    "(`--query-timeout 2s`, `--query-max-samples 1000000`, `--query-concurrency 4`) scrapes 100 sidecar-sized",
    "targets every 5 s; `hey` sends 100 external-metrics GETs/s (`-c 2 -q 50`) and 80 cheap `/api/v1/query`/s",
    "(the HPA's rps query, `-c 2 -q 40`) for 15 s, first alone (baseline), then beside three hostile",
    "`/api/v1/query` streams of 6–8 req/s offered each (`-c 2`; a worker waits for its answer): a nested 1 ms",
    "subquery that never ends, `count_over_time(istio_requests_total[1m:1ms])`, and a quantile over a",
    "600,000-step subquery. The newest sample behind the HPA's `newest-sample` metric is polled every 0.5 s",
    "(its age includes the 5 s scrape and 5 s evaluation intervals). Median and (min–max) over the rounds;",
    "the machine is shared with other work.", "",
    "| phase | ext GET p50 (ms) | ext GET p99 (ms) | cheap query p50 (ms) | cheap query p90 (ms) | cheap query req/s | newest sample max age (s) |",
    "| --- | --- | --- | --- | --- | --- | --- |",
] + rows + ["",
    f"External-metrics GET p99 with hostile queries over without, same run: {stat(ratio)}. Target p99 ≤ 5 ms.",
    "Hostile answers per round (HTTP status: count): " + " | ".join(hostile_codes) + ".",
    "503 is `timeout` or `unavailable` (`hey` counts status codes only), 422 the samples limit: the second",
    "stream reads 500 series per 1 ms step, so the 2 s timeout mostly comes before 1,000,000 samples.", "",
    "Measured with this driver while choosing the design (single runs, not regenerated): with `/api/v1`",
    "evaluations at the API's CPU priority the hostile-phase external-metrics GET p99 was 9.0 ms; at nice 10",
    "8.3, 7.4 and 4.0 ms (three rounds, with another benchmark running on the machine); the table is nice 19,",
    "as shipped. Before long queries (over 10,000 steps) were held to half the `--query-concurrency` slots,",
    "the cheap query fell to 3 req/s in the hostile phase (p90 2 s, waiting behind hostile ones for a slot).", "",
    "```",
] + lines + ["```", ""]
failed = [l for l in lines if l.endswith("failed")]
if failed:
    body += ["Failed runs: " + "; ".join(failed), ""]
section = "\n".join(body)
text = open("BENCHMARKS.md").read()
m = re.search(r"^### Hostile queries against the adapter\n.*?(?=^### |^## |\Z)", text, flags=re.S | re.M)
if m:
    text = text[:m.start()] + section + "\n" + text[m.end():]
else:
    h = re.search(r"^## Hardening\n", text, flags=re.M)
    nxt = re.search(r"^### Fuzzing\n|^## ", text[h.end():], flags=re.M) if h else None
    at = h.end() + nxt.start() if nxt else len(text)
    text = text[:at].rstrip("\n") + "\n\n" + section + "\n" + text[at:]
open("BENCHMARKS.md", "w").write(text)
print(section)
PY
