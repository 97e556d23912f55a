//! The part of an `autoscaling/v2` HorizontalPodAutoscaler the adapter reads.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::replicas::{Behavior, Limits, Policy, PolicyKind, Rules, SelectPolicy};

/// A HorizontalPodAutoscaler manifest.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hpa {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: Spec,
}

/// `metadata`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// `spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub scale_target_ref: ScaleTargetRef,
    pub min_replicas: Option<i32>,
    #[serde(default)]
    pub max_replicas: i32,
    #[serde(default)]
    pub metrics: Vec<MetricSpec>,
    pub behavior: Option<BehaviorSpec>,
}

/// `spec.scaleTargetRef`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTargetRef {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

/// One entry of `spec.metrics`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MetricSpec {
    #[serde(default, rename = "type")]
    pub kind: String,
    pub external: Option<ExternalSource>,
}

/// `spec.metrics[].external`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExternalSource {
    #[serde(default)]
    pub metric: MetricIdentifier,
    #[serde(default)]
    pub target: MetricTarget,
}

/// `metric: {name, selector}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MetricIdentifier {
    #[serde(default)]
    pub name: String,
    pub selector: Option<LabelSelector>,
}

/// A `metav1.LabelSelector`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

/// `target: {type, value, averageValue}` (Quantity strings, or numbers in YAML).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricTarget {
    #[serde(default, rename = "type")]
    pub kind: String,
    pub value: Option<serde_yaml::Value>,
    pub average_value: Option<serde_yaml::Value>,
}

/// `spec.behavior`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BehaviorSpec {
    pub scale_up: Option<RulesSpec>,
    pub scale_down: Option<RulesSpec>,
}

/// `HPAScalingRules`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RulesSpec {
    pub stabilization_window_seconds: Option<i64>,
    pub select_policy: Option<String>,
    pub policies: Option<Vec<PolicySpec>>,
}

/// `HPAScalingPolicy`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: i32,
    pub period_seconds: i64,
}

/// Renders a YAML scalar Quantity (`"10"`, `10`, `500m`) as text.
pub fn quantity_text(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Hpa {
    /// `namespace/name`, with `default` for a manifest without a namespace (as kubectl applies it).
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace(), self.metadata.name)
    }

    /// The namespace, `default` when the manifest names none.
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("default")
    }

    /// Bounds and behaviour with the API defaults filled in.
    pub fn limits(&self) -> Limits {
        Limits {
            min: self.spec.min_replicas.unwrap_or(1),
            max: self.spec.max_replicas,
            behavior: self.spec.behavior.as_ref().map(|b| Behavior {
                scale_up: rules(b.scale_up.as_ref(), Rules::default_up()),
                scale_down: rules(b.scale_down.as_ref(), Rules::default_down()),
            }),
        }
    }
}

fn rules(spec: Option<&RulesSpec>, default: Rules) -> Rules {
    let Some(spec) = spec else { return default };
    Rules {
        stabilization_window_s: spec
            .stabilization_window_seconds
            .unwrap_or(default.stabilization_window_s),
        select: match spec.select_policy.as_deref() {
            Some("Min") => SelectPolicy::Min,
            Some("Disabled") => SelectPolicy::Disabled,
            _ => SelectPolicy::Max,
        },
        policies: spec.policies.as_ref().map_or(default.policies, |ps| {
            ps.iter()
                .map(|p| Policy {
                    kind: if p.kind == "Pods" {
                        PolicyKind::Pods
                    } else {
                        PolicyKind::Percent
                    },
                    value: p.value,
                    period_s: p.period_seconds,
                })
                .collect()
        }),
    }
}

/// Every HorizontalPodAutoscaler in a (multi-document) YAML or JSON text; other kinds are skipped.
pub fn parse_all(text: &str) -> Result<Vec<Hpa>, serde_yaml::Error> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(doc)?;
        if value.is_null() {
            continue;
        }
        if value.get("kind").and_then(|k| k.as_str()) == Some("HorizontalPodAutoscaler") {
            out.push(serde_yaml::from_value(value)?);
        }
    }
    Ok(out)
}
