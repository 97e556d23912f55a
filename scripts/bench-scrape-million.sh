#!/usr/bin/env bash
# Adversarial scrape benchmark (issue "Hardening"): one target sending a million series of a
# queried metric (about 110 MiB of exposition per scrape) beside a good target, against the
# release adapter: at the default limits, with the body limit raised to 256 MiB, and with the sample limit off too so the
# whole million is stored. Prints RESULT lines (peak RSS, scrape time, stored series, the good
# HPA's value and GET latency meanwhile). Driver: tests/tests/bench/scrape_million.rs.
# Knob: SECONDS_PER_RUN (default 50). Traffic stays on 127.0.0.1. Takes about 4 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p mixerless-adapter
SECONDS_PER_RUN=${SECONDS_PER_RUN:-50} cargo test -p mixerless-e2e --test bench -- \
  --ignored --nocapture scrape_million:: 2>&1 | grep -E '^RESULT|million body|test result'
