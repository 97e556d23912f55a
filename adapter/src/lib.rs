//! The mixerless adapter: scrapes Istio sidecars, evaluates the PromQL that HPAs carry in their
//! annotations, and serves the result as Kubernetes external metrics.
//!
//! ```
//! assert_eq!(mixerless_adapter::NAME, "mixerless-adapter");
//! ```

/// The binary's name, as users type it.
pub const NAME: &str = "mixerless-adapter";
