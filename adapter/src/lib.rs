//! The mixerless adapter: scrapes Istio sidecars, evaluates the PromQL that HPAs carry in their
//! annotations, and serves the result as Kubernetes external metrics.
//!
//! Layers that point one way, each taking the next as a trait or generic (drawn in
//! `adapter/README.md`): [`api`] (HTTP) → [`provider`] (HPA queries, result policy) →
//! [`querier`] (PromQL evaluation, embedded or remote) → [`store`] (the embedded store) ←
//! [`scrape`]; [`keda`] (KEDA's gRPC scaler) sits beside `api`. Beneath them all: [`clock`]
//! and the engine (its `promql::Query` is a query parsed once).
//!
//! ```
//! assert_eq!(mixerless_adapter::NAME, "mixerless-adapter");
//! assert_eq!(mixerless_adapter::quantity::format(10.056).unwrap(), "10056m");
//! ```

pub mod api;
pub mod cli;
pub mod clock;
pub mod hpa;
pub mod keda;
pub mod kubernetes;
pub mod provider;
pub mod querier;
pub mod scrape;
pub mod server;
pub mod sources;
pub mod store;
mod sync;
pub mod telemetry;
pub mod tls;

// Kubernetes value types from the pure HPA crate, at their old paths.
pub use mixerless_hpa::{quantity, selector};

/// The binary's name, as users type it.
pub const NAME: &str = "mixerless-adapter";
