//! HorizontalPodAutoscalers without a cluster: the manifest model, kube-metrics-adapter's
//! annotations, Kubernetes Quantities and label selectors, kube-controller-manager's replica
//! arithmetic, and the `kubectl get hpa` table. Pure (no runtime, no network; [`dir`] reads
//! files), shared by the adapter, the demo and the fuzz targets.
//!
//! ```
//! use mixerless_hpa::{external::ExternalMetric, manifest, replicas::Target, table};
//!
//! let hpas = manifest::parse_all(
//!     "kind: HorizontalPodAutoscaler
//! metadata: {name: podinfo, namespace: test}
//! spec:
//!   scaleTargetRef: {kind: Deployment, name: podinfo}
//!   maxReplicas: 5
//!   metrics:
//!   - type: External
//!     external:
//!       metric: {name: prometheus-query, selector: {matchLabels: {query-name: rps}}}
//!       target: {type: AverageValue, averageValue: 10}",
//! )
//! .unwrap();
//! let m: ExternalMetric = hpas[0].spec.metrics[0].external_metric().unwrap();
//! assert_eq!(m.target, Target::AverageValue(10_000));
//! assert_eq!(m.label_selector(), "query-name=rps");
//! assert_eq!(table::target_cell(m.target, Some(10_056)), "10056m/10 (avg)");
//! ```

pub mod annotations;
pub mod dir;
pub mod external;
pub mod manifest;
pub mod quantity;
pub mod replicas;
pub mod selector;
pub mod table;

pub use annotations::{external_queries, AnnotationError, MetricQuery, OnEmpty};
pub use manifest::Hpa;
