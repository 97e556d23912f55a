//! An HPA's External metrics as a controller compares them: the target's type and Quantity
//! read into milli units, the selector as the `labelSelector` the controller sends. Used by
//! `explain` and the demo's controller loop, which both act as kube-controller-manager.

use std::collections::BTreeMap;

use crate::manifest::{quantity_text, Hpa, MetricSpec};
use crate::quantity;
use crate::replicas::Target;

/// Why a `spec.metrics` entry is not an External metric a controller can compare.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricError {
    /// A Resource, Pods, Object or ContainerResource metric, or an External one without its block.
    #[error("metric type {0} is not supported here (External only)")]
    NotExternal(String),
    /// `target.type` other than Value or AverageValue (the API server refuses Utilization here).
    #[error("target type {0} is not supported for External metrics")]
    TargetType(String),
    /// The target's type names a field that is absent.
    #[error("metric {metric}: target has no {kind} value")]
    NoValue { metric: String, kind: String },
    /// The target's value does not read as a Quantity.
    #[error("metric {metric}: target {text:?} is not a Quantity")]
    NotAQuantity { metric: String, text: String },
}

/// One External metric of an HPA, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalMetric {
    pub name: String,
    /// `selector.matchLabels` (empty without a selector).
    pub match_labels: BTreeMap<String, String>,
    pub target: Target,
    /// The target as written (`10`, `0.005`).
    pub target_text: String,
}

impl ExternalMetric {
    /// The selector as the HPA controller renders it into `labelSelector` (`k=v,k2=v2`).
    pub fn label_selector(&self) -> String {
        self.match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl MetricSpec {
    /// This entry as an External metric with its target in milli units.
    pub fn external_metric(&self) -> Result<ExternalMetric, MetricError> {
        let Some(ext) = self.external.as_ref().filter(|_| self.kind == "External") else {
            return Err(MetricError::NotExternal(self.kind.clone()));
        };
        let target = &ext.target;
        let (raw, make): (_, fn(i64) -> Target) = match target.kind.as_str() {
            "AverageValue" => (&target.average_value, Target::AverageValue),
            "Value" => (&target.value, Target::Value),
            other => return Err(MetricError::TargetType(other.to_owned())),
        };
        let metric = &ext.metric.name;
        let text = raw
            .as_ref()
            .and_then(quantity_text)
            .ok_or_else(|| MetricError::NoValue {
                metric: metric.clone(),
                kind: target.kind.clone(),
            })?;
        let milli = quantity::parse_milli(&text).ok_or_else(|| MetricError::NotAQuantity {
            metric: metric.clone(),
            text: text.clone(),
        })?;
        Ok(ExternalMetric {
            name: metric.clone(),
            match_labels: ext
                .metric
                .selector
                .as_ref()
                .map(|s| s.match_labels.clone())
                .unwrap_or_default(),
            target: make(milli),
            target_text: text,
        })
    }
}

impl Hpa {
    /// `spec.scaleTargetRef` as kubectl's REFERENCE column shows it (`Deployment/podinfo`).
    pub fn reference(&self) -> String {
        let r = &self.spec.scale_target_ref;
        format!("{}/{}", r.kind, r.name)
    }
}

#[cfg(test)]
#[path = "external/tests.rs"]
mod tests;
