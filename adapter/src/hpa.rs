//! HorizontalPodAutoscalers: their manifests, the kube-metrics-adapter annotations that carry
//! the queries, loading them from a directory, and the controller's replica arithmetic.

pub mod annotations;
pub mod dir;
pub mod manifest;
pub mod replicas;

pub use annotations::{external_queries, AnnotationError, MetricQuery, OnEmpty};
pub use manifest::Hpa;
