//! Hostile input against the real processes, one module per attack: configuration changing
//! under a running adapter (`config`), slow and surplus clients (`connections`), forged peer
//! metadata and label floods in Envoy (`envoy`, `peer_tls`), expensive queries (`queries`), a
//! restart under load (`restart`) and adversarial scrape targets (`scrape`).
//!
//! One test binary for all of them: each would otherwise link tokio, hyper and the engine again.
//! `.config/nextest.toml` runs the `scrape::` tests one at a time (they skew each other's timing).
//! Run one theme with `cargo nextest run -p mixerless-e2e --test harden -E 'test(/^restart::/)'`.

mod config;
mod connections;
mod envoy;
mod peer_tls;
mod queries;
mod restart;
mod scrape;
