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
