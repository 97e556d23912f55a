use super::*;
use crate::hpa::manifest::parse_all;

const CURRENT: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: podinfo
  namespace: test
  annotations:
    metric-config.external.processed-events-per-second.prometheus/query: |
      scalar(sum(rate(istio_requests_total{destination_workload="podinfo"}[1m])))
    metric-config.external.processed-events-per-second.prometheus/interval: "30s"
    metric-config.external.processed-events-per-second.prometheus/prometheus-server: http://prom.ns.svc
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  minReplicas: 1
  maxReplicas: 10
  metrics:
  - type: External
    external:
      metric:
        name: processed-events-per-second
        selector: {matchLabels: {type: prometheus}}
      target: {type: AverageValue, averageValue: "10"}
"#;

const LEGACY: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: podinfo-legacy
  namespace: test
  annotations:
    metric-config.external.prometheus-query.prometheus/processed-requests-per-second: |
      sum(rate(istio_requests_total{destination_workload="podinfo"}[1m]))
spec:
  scaleTargetRef: {kind: Deployment, name: podinfo}
  maxReplicas: 10
  metrics:
  - type: External
    external:
      metric:
        name: prometheus-query
        selector: {matchLabels: {query-name: processed-requests-per-second}}
      target: {type: AverageValue, averageValue: 10}
"#;

fn one(text: &str) -> Hpa {
    parse_all(text).unwrap().remove(0)
}

/// Demonstrates the current form: query, interval and per-HPA server come from the annotations.
#[test]
fn current_form() {
    let (qs, errs) = external_queries(&one(CURRENT));
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(qs.len(), 1);
    let q = &qs[0];
    assert_eq!(q.namespace, "test");
    assert_eq!(q.hpa, "podinfo");
    assert_eq!(q.metric, "processed-events-per-second");
    assert_eq!(
        q.query,
        r#"scalar(sum(rate(istio_requests_total{destination_workload="podinfo"}[1m])))"#
    );
    assert_eq!(q.interval, Some(Duration::from_secs(30)));
    assert_eq!(q.prometheus_server.as_deref(), Some("http://prom.ns.svc"));
    assert_eq!(
        q.match_labels.get("type").map(String::as_str),
        Some("prometheus")
    );
    assert_eq!(q.on_empty, OnEmpty::Error);
}

/// Demonstrates the legacy form: `query-name` in matchLabels picks the annotation of that name.
#[test]
fn legacy_form() {
    let (qs, errs) = external_queries(&one(LEGACY));
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(qs[0].metric, "prometheus-query");
    assert_eq!(
        qs[0].query,
        r#"sum(rate(istio_requests_total{destination_workload="podinfo"}[1m]))"#
    );
    assert_eq!(qs[0].interval, None);
}

/// Demonstrates each error the grammar reports, and that a bad metric leaves the good one served.
#[test]
fn errors_name_the_problem_and_spare_the_rest() {
    let text = r#"
kind: HorizontalPodAutoscaler
metadata:
  name: mixed
  annotations:
    metric-config.external.good.prometheus/query: sum(up)
    metric-config.external.bad.prometheus/query: sum(rate(up[1m])
    metric-config.external.slow.prometheus/query: sum(up)
    metric-config.external.slow.prometheus/interval: soon
    metric-config.external.empty.prometheus/query: sum(up)
    metric-config.external.empty.prometheus/on-empty: maybe
    metric-config.external.prometheus-query.prometheus/other: sum(up)
    metric-config.external.too.many.dots.prometheus/query: sum(up)
    unrelated/annotation: ignored
spec:
  maxReplicas: 3
  metrics:
  - {type: External, external: {metric: {name: good, selector: {matchLabels: {type: prometheus}}}}}
  - {type: External, external: {metric: {name: bad, selector: {matchLabels: {type: prometheus}}}}}
  - {type: External, external: {metric: {name: slow, selector: {matchLabels: {type: prometheus}}}}}
  - {type: External, external: {metric: {name: empty, selector: {matchLabels: {type: prometheus}}}}}
  - {type: External, external: {metric: {name: prometheus-query, selector: {matchLabels: {query-name: missing}}}}}
  - {type: External, external: {metric: {name: prometheus-query}}}
  - {type: External, external: {metric: {name: sqs, selector: {matchLabels: {type: aws-sqs}}}}}
  - {type: Resource, resource: {name: cpu}}
"#;
    let (qs, errs) = external_queries(&one(text));
    assert_eq!(qs.len(), 1);
    assert_eq!(qs[0].metric, "good");
    assert_eq!(qs[0].namespace, "default");
    let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
    let want = [
        "annotation \"metric-config.external.too.many.dots.prometheus/query\" is not",
        "metric bad: query does not parse",
        "metric slow: interval \"soon\" is not a duration",
        "metric empty: on-empty \"maybe\" is neither error nor zero",
        "metric prometheus-query: no prometheus query defined for query-name \"missing\"",
        "metric prometheus-query: selector for prometheus query is not specified",
        "metric sqs: collector \"aws-sqs\" is not supported",
    ];
    assert_eq!(msgs.len(), want.len(), "{msgs:#?}");
    for w in want {
        assert!(
            msgs.iter().any(|m| m.starts_with(w)),
            "no error starting {w:?} in {msgs:#?}"
        );
    }
}

/// Demonstrates `on-empty: zero` and that annotations override matchLabels.
#[test]
fn on_empty_zero() {
    let text = r#"
kind: HorizontalPodAutoscaler
metadata:
  name: h
  namespace: n
  annotations:
    metric-config.external.errors.prometheus/query: sum(rate(istio_requests_total{response_code=~"5.."}[1m]))
    metric-config.external.errors.prometheus/on-empty: zero
spec:
  maxReplicas: 3
  metrics:
  - {type: External, external: {metric: {name: errors, selector: {matchLabels: {type: prometheus, query: "sum(up)"}}}}}
"#;
    let (qs, errs) = external_queries(&one(text));
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(qs[0].on_empty, OnEmpty::Zero);
    assert!(
        qs[0].query.contains("response_code"),
        "the annotation overrides matchLabels"
    );
}
