//! HorizontalPodAutoscalers: the `mixerless-hpa` crate under the path the adapter's modules
//! (and code written before the crate) name, `crate::hpa::…` and `mixerless_adapter::hpa::…`.

pub use mixerless_hpa::{
    annotations, dir, external, external_queries, manifest, replicas, table, AnnotationError, Hpa,
    MetricQuery, OnEmpty,
};
