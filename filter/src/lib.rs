//! Istio-standard request metrics for Envoy, as plain Rust.
//!
//! Everything here talks to Envoy through the [`Host`] trait, so it runs and is tested natively;
//! the `mixerless-filter-wasm` crate implements [`Host`] over `proxy_wasm::hostcalls`.
//!
//! ```
//! use mixerless_filter::{fake::FakeHost, Plugin, Stream};
//!
//! let host = FakeHost::default();
//! let mut plugin = Plugin::configure(&host, br#"{"reporter": "destination"}"#).unwrap();
//! let mut stream = Stream::default();
//! plugin.on_request_headers(&host, &mut stream);
//! plugin.on_response_headers(&host, &mut stream);
//! plugin.on_log(&host, &mut stream);
//! assert_eq!(host.counter("istio_requests_total"), 1);
//! ```
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod config;
pub mod derive;
pub mod encode;
pub mod expr;
pub mod fake;
pub mod flags;
pub mod host;
pub mod labels;
pub mod metrics;
pub mod node;
pub mod peer;
mod plugin;
pub mod request;

pub use host::{Headers, Host, HostError, MetricKind};
pub use plugin::{Plugin, Stream};
