//! The mixerless adapter: scrapes Istio sidecars, evaluates the PromQL that HPAs carry in their
//! annotations, and serves the result as Kubernetes external metrics.
//!
//! Layers, each taking the next as a trait or generic: [`api`] (HTTP) → [`provider`] (HPA
//! queries, result policy) → [`querier`] (PromQL evaluation, embedded or remote) → the engine's
//! store ← [`scrape`].
//!
//! ```
//! assert_eq!(mixerless_adapter::NAME, "mixerless-adapter");
//! assert_eq!(mixerless_adapter::quantity::format(10.056).unwrap(), "10056m");
//! ```

pub mod api;
pub mod cli;
pub mod hpa;
pub mod keda;
pub mod kubernetes;
pub mod provider;
pub mod quantity;
pub mod querier;
pub mod scrape;
pub mod selector;
pub mod server;
pub mod telemetry;
pub mod tls;

/// The binary's name, as users type it.
pub const NAME: &str = "mixerless-adapter";
