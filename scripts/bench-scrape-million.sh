#!/usr/bin/env bash
# Adversarial scrape benchmark (issue "Hardening"): one target sending a million series of a
# queried metric (about 110 MiB of exposition per scrape) beside a good target, against the
# release adapter: once at the default 16 MiB body limit, once with it raised to 256 MiB so the
# whole million is stored. Prints RESULT lines (peak RSS, scrape time, stored series, the good
# HPA's value and GET latency meanwhile). Driver: tests/tests/harden_scrape_bench.rs.
# Knob: SECONDS_PER_RUN (default 50). Traffic stays on 127.0.0.1. Takes about 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p mixerless-adapter
SECONDS_PER_RUN=${SECONDS_PER_RUN:-50} cargo test -p mixerless-e2e --test harden_scrape_bench -- \
  --ignored --nocapture 2>&1 | grep -E '^RESULT|million body|test result'
