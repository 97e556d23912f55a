//! External metric targets: each target shape, and each way one is refused.

use super::*;
use crate::manifest::parse_all;

/// An HPA whose one metric has `kind` and the `target` flow mapping given.
fn metric(kind: &str, target: &str) -> MetricSpec {
    let text = format!(
        "kind: HorizontalPodAutoscaler
metadata: {{name: h}}
spec:
  scaleTargetRef: {{kind: Deployment, name: podinfo}}
  maxReplicas: 3
  metrics:
  - type: {kind}
    external:
      metric: {{name: m, selector: {{matchLabels: {{b: '2', a: '1'}}}}}}
      target: {target}"
    );
    let mut hpas = parse_all(&text).unwrap();
    hpas.remove(0).spec.metrics.remove(0)
}

/// Demonstrates that both target types read into milli units, from strings or YAML numbers,
/// and that the selector renders sorted by key as the controller sends it.
#[test]
fn reads_value_and_average_value_targets() {
    let cases = [
        (
            "{type: AverageValue, averageValue: '0.005'}",
            Target::AverageValue(5),
            "0.005",
        ),
        (
            "{type: AverageValue, averageValue: 10}",
            Target::AverageValue(10_000),
            "10",
        ),
        ("{type: Value, value: 1500m}", Target::Value(1_500), "1500m"),
        (
            "{type: Value, value: 2k, averageValue: 1}",
            Target::Value(2_000_000),
            "2k",
        ),
    ];
    for (target, want, text) in cases {
        let m = metric("External", target).external_metric().unwrap();
        assert_eq!((m.target, m.target_text.as_str()), (want, text), "{target}");
        assert_eq!(m.label_selector(), "a=1,b=2");
    }
}

/// Demonstrates that each unusable entry is refused with the metric and the problem named.
#[test]
fn refuses_what_a_controller_cannot_compare() {
    let cases = [
        (
            "Pods",
            "{type: Value, value: 1}",
            "metric type Pods is not supported here (External only)",
        ),
        (
            "External",
            "{type: Utilization, averageUtilization: 50}",
            "target type Utilization is not supported for External metrics",
        ),
        (
            "External",
            "{type: Value, averageValue: 1}",
            "metric m: target has no Value value",
        ),
        (
            "External",
            "{type: AverageValue, averageValue: ten}",
            "metric m: target \"ten\" is not a Quantity",
        ),
    ];
    for (kind, target, want) in cases {
        let err = metric(kind, target).external_metric().unwrap_err();
        assert_eq!(err.to_string(), want, "{kind} {target}");
    }
}

/// Demonstrates the REFERENCE column's form.
#[test]
fn reference_is_kind_slash_name() {
    let hpas = parse_all(
        "kind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec: {scaleTargetRef: {kind: Deployment, name: podinfo}}",
    )
    .unwrap();
    assert_eq!(hpas[0].reference(), "Deployment/podinfo");
}
