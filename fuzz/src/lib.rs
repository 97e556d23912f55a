//! The adapter's pure modules — Quantity, labelSelector, HPA manifests and annotations — built
//! from the adapter's own source files (`src/hpa`, `src/quantity.rs` and `src/selector.rs` are
//! symlinks into `adapter/src/`) without the service's dependencies (kube, hyper, rustls, ...):
//! instrumented, those would take the fuzz build from minutes to most of an hour.

pub mod hpa {
    //! The HPA modules that read manifests and annotations (not `dir`, which is I/O).
    pub mod annotations;
    pub mod manifest;
    pub mod replicas;

    pub use annotations::{external_queries, AnnotationError, MetricQuery, OnEmpty};
    pub use manifest::Hpa;
}
pub mod quantity;
pub mod selector;

/// libfuzzer-sys aborts in its panic hook, so even a panic the code under test catches on
/// purpose (the adapter and the engine catch promql-parser's panics) would count as a crash.
/// Targets that go through such code call this first: the default hook prints and returns, and
/// a panic that escapes the target still aborts (libfuzzer-sys checks the unwound result).
pub fn allow_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| drop(std::panic::take_hook()));
}
