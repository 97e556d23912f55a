#!/usr/bin/env bash
# --kube at cluster scale (issue 18): API-server bytes per minute at 10,000 pods, watch vs the
# re-list every 10 s the adapter did before (same fake API server, same run), pod event → first
# scrape, and N sidecar-sized targets at 5 s (CPU, scrapes done vs due, RSS per target).
# Prints RESULT lines for BENCHMARKS.md. PODS (10000) and TARGETS ("1000 2000") override the
# sizes; ADAPTER_PROFILE=debug runs the debug build; KEEP_METRICS sets --keep-metrics and
# KEEP_ALIVE=1 adds --scrape-keep-alive for the targets part. Takes about 6 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${ADAPTER_PROFILE:-release}
if [ "$profile" = release ]; then cargo build --release -p mixerless-adapter; else cargo build -p mixerless-adapter; fi
cargo test -p mixerless-e2e --test bench --no-run
run() { # test name, extra env
  env ADAPTER_PROFILE="$profile" "${@:2}" cargo test -q -p mixerless-e2e --test bench -- \
    --ignored --exact --nocapture "kube_scale::$1" 2>&1 | grep '^RESULT' || echo "RESULT $1 failed"
}
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); load $(cut -d' ' -f1-3 /proc/loadavg)"
run bench_discovery PODS="${PODS:-10000}"
for n in ${TARGETS:-1000 2000}; do run bench_targets SCRAPE_TARGETS="$n"; done
