//! The HorizontalPodAutoscalers the demo runs: read from the same YAML files the adapter
//! serves (`autoscaling/v2` or `v2beta2`, External metrics) into the adapter's manifest model,
//! with the External metrics a controller compares.

use std::path::{Path, PathBuf};

use mixerless_hpa::external::{ExternalMetric, MetricError};
use mixerless_hpa::manifest;

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
    /// A metric the controller cannot compare.
    #[error("{path}: {source}")]
    Metric { path: PathBuf, source: MetricError },
    /// The HPA is valid YAML but unusable here.
    #[error("{path}: {what}")]
    Invalid { path: PathBuf, what: String },
    /// The directory holds no HPA files.
    #[error("no HorizontalPodAutoscaler-*.yaml in {0}")]
    None(PathBuf),
}

/// An HPA as the demo's controller loop uses it: the manifest and its External metrics.
#[derive(Debug, Clone)]
pub struct Hpa {
    pub manifest: manifest::Hpa,
    /// `spec.metrics`, each checked.
    pub metrics: Vec<ExternalMetric>,
    pub file: PathBuf,
}

impl Hpa {
    /// `metadata.name`.
    pub fn name(&self) -> &str {
        &self.manifest.metadata.name
    }
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
    let manifest: manifest::Hpa = serde_yaml::from_str(text).map_err(|source| HpaError::Parse {
        path: path.to_owned(),
        source,
    })?;
    if manifest.kind != "HorizontalPodAutoscaler" {
        return Err(invalid(format!(
            "kind is {}, not HorizontalPodAutoscaler",
            manifest.kind
        )));
    }
    // The manifest model defaults what is absent; the API server requires these.
    if manifest.metadata.name.is_empty() {
        return Err(invalid("metadata.name is missing".into()));
    }
    if manifest.spec.scale_target_ref.name.is_empty() {
        return Err(invalid("spec.scaleTargetRef.name is missing".into()));
    }
    let metrics = manifest
        .spec
        .metrics
        .iter()
        .map(manifest::MetricSpec::external_metric)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| HpaError::Metric {
            path: path.to_owned(),
            source,
        })?;
    if metrics.is_empty() {
        return Err(invalid("no External metrics".into()));
    }
    let limits = manifest.limits();
    // minReplicas 0 as the API server allows it with HPAScaleToZero (on by default from
    // Kubernetes 1.37) when the HPA has an External metric, as every HPA here has.
    if limits.min < 0 || limits.max < limits.min.max(1) {
        return Err(invalid(format!(
            "replicas bounds min {}, max {} are not valid",
            limits.min, limits.max
        )));
    }
    Ok(Hpa {
        manifest,
        metrics,
        file: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mixerless_hpa::replicas::Target;

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
            (h.name(), h.manifest.namespace()),
            ("podinfo-total", "test")
        );
        assert_eq!(h.manifest.reference(), "Deployment/podinfo");
        let limits = h.manifest.limits();
        assert_eq!((limits.min, limits.max), (1, 5));
        assert_eq!(h.metrics[0].name, "prometheus-query");
        assert_eq!(
            h.metrics[0].label_selector(),
            "query-name=processed-requests-per-second"
        );
        assert_eq!(h.metrics[0].target, Target::AverageValue(5));
        assert_eq!(h.metrics[0].target_text, "0.005");
    }

    /// Demonstrates that what the manifest model defaults but the API server requires is
    /// refused by name: the HPA's name, its scale target and its maxReplicas.
    #[test]
    fn rejects_missing_required_fields() {
        let cases = [
            ("  name: podinfo-total\n", "metadata.name is missing"),
            (
                "  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}\n",
                "spec.scaleTargetRef.name is missing",
            ),
            (
                "  maxReplicas: 5\n",
                "replicas bounds min 1, max 0 are not valid",
            ),
        ];
        for (line, want) in cases {
            let err = parse(&TOTAL.replace(line, ""), Path::new("x.yaml"))
                .unwrap_err()
                .to_string();
            assert_eq!(err, format!("x.yaml: {want}"), "without {line:?}");
        }
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
