//! The HorizontalPodAutoscalers the demo runs: read from the same YAML files the adapter
//! serves (`autoscaling/v2` or `v2beta2`, External metrics), only the fields a controller needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mixerless_adapter::hpa::replicas::Target;
use mixerless_adapter::quantity;
use serde::Deserialize;

/// Why an HPA file cannot drive the demo.
#[derive(Debug, thiserror::Error)]
pub enum HpaError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The YAML is not an HPA.
    #[error("{path}: not a HorizontalPodAutoscaler: {source}")]
    Parse {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    /// The HPA is valid YAML but unusable here.
    #[error("{path}: {what}")]
    Invalid { path: PathBuf, what: String },
    /// The directory holds no HPA files.
    #[error("no HorizontalPodAutoscaler-*.yaml in {0}")]
    None(PathBuf),
}

/// One External metric of an HPA.
#[derive(Debug, Clone)]
pub struct Metric {
    pub name: String,
    pub selector: BTreeMap<String, String>,
    pub target: Target,
    /// The target as written (`10`, `0.005`), for the TARGETS column.
    pub target_text: String,
}

impl Metric {
    /// The selector as the HPA controller renders it into `labelSelector` (`k=v,k2=v2`).
    pub fn label_selector(&self) -> String {
        self.selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// An HPA as the demo's controller loop uses it.
#[derive(Debug, Clone)]
pub struct Hpa {
    pub name: String,
    pub namespace: String,
    /// `Deployment/podinfo`.
    pub reference: String,
    pub min: i32,
    pub max: i32,
    pub metrics: Vec<Metric>,
    pub file: PathBuf,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    kind: String,
    metadata: Meta,
    spec: Spec,
}

#[derive(Deserialize)]
struct Meta {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    scale_target_ref: TargetRef,
    #[serde(default)]
    min_replicas: Option<i32>,
    max_replicas: i32,
    #[serde(default)]
    metrics: Vec<MetricSpec>,
}

#[derive(Deserialize)]
struct TargetRef {
    kind: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricSpec {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    external: Option<External>,
}

#[derive(Deserialize)]
struct External {
    metric: MetricId,
    target: TargetSpec,
}

#[derive(Deserialize)]
struct MetricId {
    name: String,
    #[serde(default)]
    selector: Option<Selector>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Selector {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetSpec {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    value: Option<serde_yaml::Value>,
    #[serde(default)]
    average_value: Option<serde_yaml::Value>,
}

/// The `HorizontalPodAutoscaler-*.yaml` files of `dir`, sorted by name.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("HorizontalPodAutoscaler-")
                    && (n.ends_with(".yaml") || n.ends_with(".yml"))
            })
        })
        .collect();
    files.sort();
    files
}

/// Reads every HPA file of `dir`.
pub fn load_dir(dir: &Path) -> Result<Vec<Hpa>, HpaError> {
    let files = files_in(dir);
    if files.is_empty() {
        return Err(HpaError::None(dir.to_owned()));
    }
    files.iter().map(|f| load(f)).collect()
}

/// Reads one HPA file.
pub fn load(path: &Path) -> Result<Hpa, HpaError> {
    let text = std::fs::read_to_string(path).map_err(|source| HpaError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path)
}

fn parse(text: &str, path: &Path) -> Result<Hpa, HpaError> {
    let invalid = |what: String| HpaError::Invalid {
        path: path.to_owned(),
        what,
    };
    let doc: Doc = serde_yaml::from_str(text).map_err(|source| HpaError::Parse {
        path: path.to_owned(),
        source,
    })?;
    if doc.kind != "HorizontalPodAutoscaler" {
        return Err(invalid(format!(
            "kind is {}, not HorizontalPodAutoscaler",
            doc.kind
        )));
    }
    let mut metrics = Vec::new();
    for m in doc.spec.metrics {
        let Some(ext) = m.external.filter(|_| m.kind == "External") else {
            return Err(invalid(format!(
                "metric type {} is not supported here (External only)",
                m.kind
            )));
        };
        let (raw, make): (_, fn(i64) -> Target) = match ext.target.kind.as_str() {
            "AverageValue" => (ext.target.average_value, Target::AverageValue),
            "Value" => (ext.target.value, Target::Value),
            other => {
                return Err(invalid(format!(
                    "target type {other} is not supported for External metrics"
                )))
            }
        };
        let text = match raw {
            Some(serde_yaml::Value::String(s)) => s,
            Some(serde_yaml::Value::Number(n)) => n.to_string(),
            _ => {
                return Err(invalid(format!(
                    "metric {}: target has no {} value",
                    ext.metric.name, ext.target.kind
                )))
            }
        };
        let milli = quantity::parse_milli(&text).ok_or_else(|| {
            invalid(format!(
                "metric {}: target {text:?} is not a Quantity",
                ext.metric.name
            ))
        })?;
        metrics.push(Metric {
            name: ext.metric.name,
            selector: ext
                .metric
                .selector
                .map(|s| s.match_labels)
                .unwrap_or_default(),
            target: make(milli),
            target_text: text,
        });
    }
    if metrics.is_empty() {
        return Err(invalid("no External metrics".into()));
    }
    let min = doc.spec.min_replicas.unwrap_or(1);
    if min < 1 || doc.spec.max_replicas < min {
        return Err(invalid(format!(
            "replicas bounds min {min}, max {} are not valid",
            doc.spec.max_replicas
        )));
    }
    Ok(Hpa {
        name: doc.metadata.name,
        namespace: doc.metadata.namespace.unwrap_or_else(|| "default".into()),
        reference: format!(
            "{}/{}",
            doc.spec.scale_target_ref.kind, doc.spec.scale_target_ref.name
        ),
        min,
        max: doc.spec.max_replicas,
        metrics,
        file: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOTAL: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: podinfo-total
  namespace: test
  annotations:
    metric-config.external.prometheus-query.prometheus/processed-requests-per-second: |
      sum(rate(istio_requests_total{destination_workload_namespace="test",reporter="destination"}[1m]))
spec:
  maxReplicas: 5
  minReplicas: 1
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  metrics:
  - type: External
    external:
      metric:
        name: prometheus-query
        selector: {matchLabels: {query-name: processed-requests-per-second}}
      target: {type: AverageValue, averageValue: "0.005"}
"#;

    /// Demonstrates that the walk-through's HPA shape is read with its target in milli units.
    #[test]
    fn reads_the_walkthrough_hpa() {
        let h = parse(TOTAL, Path::new("x.yaml")).unwrap();
        assert_eq!(
            (h.name.as_str(), h.namespace.as_str()),
            ("podinfo-total", "test")
        );
        assert_eq!(h.reference, "Deployment/podinfo");
        assert_eq!((h.min, h.max), (1, 5));
        assert_eq!(h.metrics[0].name, "prometheus-query");
        assert_eq!(
            h.metrics[0].label_selector(),
            "query-name=processed-requests-per-second"
        );
        assert_eq!(h.metrics[0].target, Target::AverageValue(5));
        assert_eq!(h.metrics[0].target_text, "0.005");
    }

    /// Demonstrates that a bad target is rejected with the metric and value named.
    #[test]
    fn rejects_a_bad_target() {
        let bad = TOTAL.replace(r#"averageValue: "0.005""#, r#"averageValue: "ten""#);
        let err = parse(&bad, Path::new("x.yaml")).unwrap_err().to_string();
        assert!(
            err.contains("prometheus-query") && err.contains("\"ten\""),
            "{err}"
        );
    }
}
