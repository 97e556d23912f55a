//! Istio-standard request metrics for Envoy, as plain Rust.
//!
//! Everything here talks to Envoy through the [`Host`] trait, so it runs and is tested natively;
//! the `mixerless-filter-wasm` crate implements [`Host`] over `proxy_wasm::hostcalls`.
//!
//! ```
//! use mixerless_filter::{config::PluginConfig, fake::FakeHost, Plugin};
//!
//! let host = FakeHost::default();
//! let mut plugin = Plugin::configure(&host, br#"{"reporter": "destination"}"#).unwrap();
//! plugin.on_log(&host);
//! assert_eq!(host.counter("istio_requests_total"), 1);
//! # let _ = PluginConfig::default();
//! ```
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod config;
pub mod fake;
pub mod host;
mod plugin;

pub use host::{Host, HostError, MetricKind};
pub use plugin::Plugin;
