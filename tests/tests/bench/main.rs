//! Benchmark drivers run by `scripts/bench-*.sh`, not by `make test`: every function is
//! `#[ignore]`d and prints figures rather than asserting speed. `adapter`: scrape scale,
//! freshness, latency and hostile queries (`scripts/bench-adapter.sh`, `bench-queries.sh`,
//! `bench-query-bombs.sh`); `scrape_million`: a target sending a million series
//! (`scripts/bench-scrape-million.sh`).
//!
//! One binary for both, so `make test` links it once.

mod adapter;
mod kube_scale;
mod reaction;
mod scrape_million;
