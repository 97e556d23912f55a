//! `mixerless-adapter` as a process, one module per theme: end to end against real Envoy and
//! real Prometheus (`e2e`), the CLI as a new user meets it (`cli_messages`), content negotiation
//! of scrapes (`scrape_formats`), and `query --data` against Prometheus 2.42 as an oracle
//! (`oracle_prometheus`).
//!
//! One test binary for all of them: each would otherwise link tokio, hyper and the engine again.
//! Run one theme with `cargo nextest run -p mixerless-e2e --test adapter -E 'test(/^e2e::/)'`.

mod cli_messages;
mod e2e;
mod keda;
mod kube_watch;
mod oracle_prometheus;
mod scrape_formats;
