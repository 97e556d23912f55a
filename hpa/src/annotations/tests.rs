use super::*;
use crate::manifest::parse_all;

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
        "annotation \"metric-config.external.prometheus-query.prometheus/other\": no metric's query-name selects \"other\"",
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

/// An HPA named `h` in namespace `n` with these annotations and External metrics (YAML flow
/// mappings for `metric`).
fn hpa(annotations: &[(&str, &str)], metrics: &[&str]) -> Hpa {
    let mut text = String::from(
        "kind: HorizontalPodAutoscaler\nmetadata:\n  name: h\n  namespace: n\n  annotations:\n",
    );
    for (k, v) in annotations {
        text.push_str(&format!("    {k}: {v:?}\n"));
    }
    text.push_str("spec:\n  maxReplicas: 3\n  metrics:\n");
    for m in metrics {
        text.push_str(&format!(
            "  - {{type: External, external: {{metric: {m}}}}}\n"
        ));
    }
    one(&text)
}

/// The query of `metric` or its error message.
fn outcome(h: &Hpa, metric: &str) -> Result<MetricQuery, String> {
    let (qs, errs) = external_queries(h);
    if let Some(q) = qs.into_iter().find(|q| q.metric == metric) {
        return Ok(q);
    }
    Err(errs
        .iter()
        .map(ToString::to_string)
        .find(|e| e.starts_with(&format!("metric {metric}:")))
        .unwrap_or_else(|| format!("no query and no error for {metric}: {errs:?}")))
}

const TYPED: &str = "{name: requests, selector: {matchLabels: {type: prometheus}}}";
const Q: &str = "metric-config.external.requests.prometheus/query";

/// Demonstrates durations read as kube-metrics-adapter reads them (Go's time.ParseDuration):
/// `0s` means the default interval, Go's forms are accepted, and what Go refuses
/// (`30sec`, `soon`, a bare number, days) is an error for that metric naming the key, the value
/// and how to write it; a negative one too. Durations in matchLabels are not read, as there.
#[test]
fn durations_are_go_durations() {
    let secs = |s| Some(Duration::from_secs(s));
    for (key, value, want) in [
        ("interval", "30s", Ok(secs(30))),
        ("interval", "1m30s", Ok(secs(90))),
        ("interval", "1.5m", Ok(secs(90))),
        ("interval", "0s", Ok(None)),
        ("interval", "0", Ok(None)),
        (
            "interval",
            "30sec",
            Err("metric requests: interval \"30sec\" is not a duration: unknown unit \"sec\""),
        ),
        (
            "interval",
            "soon",
            Err("metric requests: interval \"soon\" is not a duration"),
        ),
        (
            "interval",
            "30",
            Err("metric requests: interval \"30\" is not a duration: missing unit"),
        ),
        (
            "interval",
            "1d",
            Err("metric requests: interval \"1d\" is not a duration: unknown unit \"d\""),
        ),
        (
            "interval",
            "-5s",
            Err("metric requests: interval \"-5s\" is not a duration: negative"),
        ),
        (
            "interval",
            "",
            Err("metric requests: interval \"\" is not a duration: empty"),
        ),
        ("min-pod-ready-age", "30s", Ok(None)),
        (
            "min-pod-ready-age",
            "soon",
            Err("metric requests: min-pod-ready-age \"soon\" is not a duration"),
        ),
        (
            "min-pod-ready-age",
            "2 minutes",
            Err("metric requests: min-pod-ready-age \"2 minutes\" is not a duration"),
        ),
    ] {
        let key_text = format!("metric-config.external.requests.prometheus/{key}");
        let h = hpa(&[(Q, "sum(up)"), (&key_text, value)], &[TYPED]);
        match (outcome(&h, "requests"), want) {
            (Ok(q), Ok(interval)) => assert_eq!(q.interval, interval, "{key}: {value}"),
            (Err(e), Err(w)) => {
                assert!(e.starts_with(w), "{key}: {value}: {e}");
                assert!(e.contains("e.g. 30s, 1m"), "{e}");
            }
            (got, want) => panic!("{key}: {value}: got {got:?}, want {want:?}"),
        }
    }
    let h = hpa(
        &[(Q, "sum(up)")],
        &["{name: requests, selector: {matchLabels: {type: prometheus, interval: soon}}}"],
    );
    assert_eq!(outcome(&h, "requests").map(|q| q.interval), Ok(None));
}

/// Demonstrates which collector a metric gets: the `type` label decides, whatever the
/// annotation key's collector segment says; an empty or missing `type` falls back to the metric
/// name (`prometheus`, `prometheus-query`); anything else is refused saying how to write it.
#[test]
fn the_type_label_picks_the_collector() {
    let legacy_q = "metric-config.external.prometheus-query.prometheus/rps";
    let ok = |h: &Hpa, metric: &str, query: &str| match outcome(h, metric) {
        Ok(q) => assert_eq!(q.query, query, "{metric}"),
        Err(e) => panic!("{metric}: {e}"),
    };
    // The key's segment is not the collector: `type: prometheus` decides.
    for segment in ["promethues", "aws", "prometheus"] {
        let key = format!("metric-config.external.requests.{segment}/query");
        ok(&hpa(&[(&key, "sum(a)")], &[TYPED]), "requests", "sum(a)");
    }
    // An empty type label falls back to the metric name.
    let h = hpa(
        &[(legacy_q, "sum(b)")],
        &["{name: prometheus-query, selector: {matchLabels: {type: '', query-name: rps}}}"],
    );
    ok(&h, "prometheus-query", "sum(b)");
    let h = hpa(
        &[(
            "metric-config.external.prometheus.prometheus/query",
            "sum(c)",
        )],
        &["{name: prometheus, selector: {matchLabels: {type: ''}}}"],
    );
    ok(&h, "prometheus", "sum(c)");
    // `type: prometheus-query` names the same collector.
    let h = hpa(
        &[(Q, "sum(d)")],
        &["{name: requests, selector: {matchLabels: {type: prometheus-query}}}"],
    );
    ok(&h, "requests", "sum(d)");
    for (metric, want) in [
        (
            "{name: requests, selector: {matchLabels: {type: ''}}}",
            "metric requests: the selector's matchLabels have no type label, and the metric name is not a collector: add matchLabels type: prometheus",
        ),
        (
            "{name: requests, selector: {matchLabels: {app: x}}}",
            "metric requests: the selector's matchLabels have no type label",
        ),
        (
            "{name: requests}",
            "metric requests: the selector's matchLabels have no type label",
        ),
        (
            "{name: requests, selector: {matchLabels: {type: aws-sqs}}}",
            "metric requests: collector \"aws-sqs\" is not supported (only prometheus)",
        ),
    ] {
        let h = hpa(&[(Q, "sum(up)")], &[metric]);
        let got = outcome(&h, "requests").map(|q| q.query);
        assert!(got.as_ref().is_err_and(|e| e.starts_with(want)), "{metric}: {got:?}");
    }
}

/// Demonstrates that a Prometheus metric without a selector is refused before its query is
/// read, as kube-metrics-adapter does, even when an annotation holds a query; an empty
/// selector is a selector.
#[test]
fn no_selector_is_refused_first() {
    for metric in ["prometheus-query", "prometheus"] {
        let key = format!("metric-config.external.{metric}.prometheus/query");
        let h = hpa(&[(&key, "sum(up)")], &[&format!("{{name: {metric}}}")]);
        assert_eq!(
            outcome(&h, metric).map(|q| q.query),
            Err(format!(
                "metric {metric}: selector for prometheus query is not specified"
            ))
        );
        let h = hpa(
            &[(&key, "sum(up)")],
            &[&format!("{{name: {metric}, selector: {{}}}}")],
        );
        assert_eq!(outcome(&h, metric).map(|q| q.query), Ok("sum(up)".into()));
    }
}

/// Demonstrates `prometheus-server-alias`: recorded for the provider to resolve (an alias it
/// does not know is an error there), and ignored when `prometheus-server` is also given, as in
/// kube-metrics-adapter; either makes the query run away from the default source.
#[test]
fn server_alias_is_kept_for_the_provider() {
    let alias = "metric-config.external.requests.prometheus/prometheus-server-alias";
    let server = "metric-config.external.requests.prometheus/prometheus-server";
    let q = outcome(
        &hpa(&[(Q, "sum(up)"), (alias, " other ")], &[TYPED]),
        "requests",
    )
    .unwrap();
    assert_eq!(q.prometheus_server_alias.as_deref(), Some("other"));
    assert_eq!(q.prometheus_server, None);
    assert!(q.names_a_server());
    let q = outcome(
        &hpa(
            &[(Q, "sum(up)"), (alias, "other"), (server, "http://p:9090")],
            &[TYPED],
        ),
        "requests",
    )
    .unwrap();
    assert_eq!(q.prometheus_server_alias, None);
    assert_eq!(q.prometheus_server.as_deref(), Some("http://p:9090"));
    let q = outcome(&hpa(&[(Q, "sum(up)")], &[TYPED]), "requests").unwrap();
    assert!(!q.names_a_server());
}

/// Demonstrates that a key the collector does not read is an error for its metric naming the
/// key and the known ones (a typo of `prometheus-server` must not serve from the default
/// source), while the HPA's other metrics are served; a named query of the legacy form that no
/// metric selects, and annotations for a metric the HPA does not have, are reported too.
#[test]
fn unknown_keys_are_named() {
    for typo in ["intreval", "prometheus-sever", "querry", "Interval"] {
        let key = format!("metric-config.external.requests.prometheus/{typo}");
        let h = hpa(
            &[
                (Q, "sum(up)"),
                (&key, "x"),
                ("metric-config.external.other.prometheus/query", "sum(o)"),
            ],
            &[
                TYPED,
                "{name: other, selector: {matchLabels: {type: prometheus}}}",
            ],
        );
        let err = outcome(&h, "requests").map(|q| q.query).unwrap_err();
        assert_eq!(
            err,
            format!("metric requests: annotation {key:?}: unknown key {typo:?}; the known keys are query, query-name, interval, prometheus-server, prometheus-server-alias, per-replica, min-pod-ready-age, on-empty")
        );
        assert_eq!(outcome(&h, "other").map(|q| q.query), Ok("sum(o)".into()));
    }
    // A key that the metric's query-name selects is its query, in the current form too.
    let h = hpa(
        &[("metric-config.external.requests.prometheus/rps", "sum(r)")],
        &["{name: requests, selector: {matchLabels: {type: prometheus, query-name: rps}}}"],
    );
    assert_eq!(
        outcome(&h, "requests").map(|q| q.query),
        Ok("sum(r)".into())
    );
    let h = hpa(
        &[
            ("metric-config.external.requests.prometheus/rps", "sum(r)"),
            (
                "metric-config.external.requests.prometheus/query-name",
                "rps",
            ),
        ],
        &[TYPED],
    );
    assert_eq!(
        outcome(&h, "requests").map(|q| q.query),
        Ok("sum(r)".into())
    );
    // per-replica and min-pod-ready-age are known (read by other collectors upstream).
    let h = hpa(
        &[
            (Q, "sum(up)"),
            (
                "metric-config.external.requests.prometheus/per-replica",
                "true",
            ),
        ],
        &[TYPED],
    );
    assert!(outcome(&h, "requests").is_ok());
    // Legacy form: the keys are query names; one nobody selects is reported, the rest served.
    let h = hpa(
        &[
            (
                "metric-config.external.prometheus-query.prometheus/rps",
                "sum(a)",
            ),
            (
                "metric-config.external.prometheus-query.prometheus/rsp",
                "sum(b)",
            ),
            (
                "metric-config.external.prometheus-query.prometheus/interval",
                "10s",
            ),
            ("metric-config.external.reqs.prometheus/query", "sum(c)"),
        ],
        &["{name: prometheus-query, selector: {matchLabels: {query-name: rps}}}"],
    );
    let (qs, errs) = external_queries(&h);
    assert_eq!(qs.len(), 1);
    assert_eq!(
        (qs[0].query.as_str(), qs[0].interval),
        ("sum(a)", Some(Duration::from_secs(10)))
    );
    let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(
        msgs,
        [
            "annotation \"metric-config.external.reqs.prometheus/query\": spec.metrics has no External metric named \"reqs\"",
            "annotation \"metric-config.external.prometheus-query.prometheus/rsp\": no metric's query-name selects \"rsp\", and it is none of the known keys (query, query-name, interval, prometheus-server, prometheus-server-alias, per-replica, min-pod-ready-age, on-empty)",
        ]
    );
}

/// Demonstrates that one metric's annotations under two collector segments are refused
/// (kube-metrics-adapter keeps one segment's keys at random), naming both.
#[test]
fn mixed_collector_segments_are_refused() {
    let h = hpa(
        &[
            (Q, "sum(up)"),
            ("metric-config.external.requests.prom/interval", "30s"),
        ],
        &[TYPED],
    );
    assert_eq!(
        outcome(&h, "requests").map(|q| q.query),
        Err("metric requests: annotations name the collectors [\"prom\", \"prometheus\"]; kube-metrics-adapter reads the keys of one of them, chosen at random: write them all under one".into())
    );
}
