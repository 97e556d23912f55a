//! The walk-through's three HPAs (requests per second, average latency, P95), shipped in both of
//! kube-metrics-adapter's annotation forms: legacy (`istio/HorizontalPodAutoscaler-*.yaml`) and
//! current (`istio/hpa-query-form/`). Their annotations follow the grammar, their queries parse
//! with promql-parser, and the adapter loads every one of them without an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::common::{file_objects, istio, name, Objects};
use serde_yaml::Value;

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Form {
    /// `metric-config.external.prometheus-query.prometheus/<query-name>`, matchLabels `query-name`.
    Legacy,
    /// `metric-config.external.<metric>.prometheus/query`, matchLabels `type: prometheus`.
    Query,
}

fn forms() -> [(Form, PathBuf); 2] {
    [
        (Form::Legacy, istio()),
        (Form::Query, istio().join("hpa-query-form")),
    ]
}

fn hpas(dir: &Path) -> Objects {
    file_objects(dir, "HorizontalPodAutoscaler-")
}

/// kube-metrics-adapter's key grammar (`pkg/annotations/parser.go`): `metric-config.` prefix,
/// exactly one `/`, exactly four `.`-separated parts before it. Returns (type, metric,
/// collector, config key), or None where KMA would silently ignore the key.
fn parse_key(key: &str) -> Option<(&str, &str, &str, &str)> {
    let rest = key.strip_prefix("metric-config.")?;
    let (left, config_key) = key.split_once('/')?;
    if config_key.contains('/') || rest.is_empty() {
        return None;
    }
    let parts: Vec<&str> = left.split('.').collect();
    match parts.as_slice() {
        ["metric-config", kind, metric, collector] => Some((kind, metric, collector, config_key)),
        _ => None,
    }
}

fn is_metric_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The query each External metric of an HPA resolves to, as kube-metrics-adapter resolves it:
/// metric name → (query, matchLabels).
fn resolve(hpa: &Value, form: Form) -> BTreeMap<String, (String, BTreeMap<String, String>)> {
    let mut configs: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
    for (k, v) in hpa["metadata"]["annotations"].as_mapping().unwrap() {
        let key = k.as_str().unwrap();
        if !key.starts_with("metric-config.") {
            continue;
        }
        let (kind, metric, collector, config_key) =
            parse_key(key).unwrap_or_else(|| panic!("{key}: KMA would ignore this key"));
        assert_eq!(kind, "external", "{key}");
        assert_eq!(collector, "prometheus", "{key}");
        assert!(is_metric_name(metric), "{key}: metric names are [a-z0-9-]");
        assert!(config_key.len() <= 63, "{key}");
        configs
            .entry((kind.into(), metric.into()))
            .or_default()
            .insert(config_key.into(), v.as_str().unwrap().trim().to_owned());
    }
    let mut out = BTreeMap::new();
    for m in hpa["spec"]["metrics"].as_sequence().unwrap() {
        assert_eq!(m["type"], "External", "{}", name(hpa));
        let metric = m["external"]["metric"]["name"].as_str().unwrap();
        let labels: BTreeMap<String, String> =
            serde_yaml::from_value(m["external"]["metric"]["selector"]["matchLabels"].clone())
                .unwrap();
        let config = configs
            .get(&("external".into(), metric.into()))
            .unwrap_or_else(|| panic!("{}: no annotations for metric {metric}", name(hpa)));
        let query = match form {
            Form::Legacy => {
                assert_eq!(metric, "prometheus-query");
                let q = &labels["query-name"];
                config
                    .get(q)
                    .unwrap_or_else(|| panic!("no query named {q}"))
            }
            Form::Query => {
                assert_eq!(labels.get("type").map(String::as_str), Some("prometheus"));
                &config["query"]
            }
        };
        out.insert(metric.to_owned(), (query.clone(), labels));
    }
    out
}

/// Demonstrates that every HPA's annotations follow kube-metrics-adapter's grammar in its form,
/// each External metric resolves to one query, and the queries parse with promql-parser.
#[test]
fn annotations_follow_the_grammar_and_queries_parse() {
    for (form, dir) in forms() {
        let hpas = hpas(&dir);
        assert_eq!(hpas.len(), 3, "{}", dir.display());
        for hpa in &hpas {
            assert_eq!(hpa["apiVersion"], "autoscaling/v2");
            assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "podinfo");
            for (metric, (query, _)) in resolve(hpa, form) {
                promql_parser::parser::parse(&query)
                    .unwrap_or_else(|e| panic!("{} {metric}: {e}\n{query}", name(hpa)));
            }
        }
    }
    assert!(parse_key("metric-config.external.a.b.prometheus/query").is_none());
    assert!(parse_key("metric-config.external.rps/query").is_none());
    assert!(promql_parser::parser::parse("sum(rate(istio_requests_total[1m])").is_err());
}

/// Demonstrates that the two forms carry the same three HPAs: same names, targets and queries,
/// reading the metrics of the walk-through (request count, duration sum/count, buckets).
#[test]
fn both_forms_carry_the_same_three_queries() {
    let mut by_form = Vec::new();
    for (form, dir) in forms() {
        let mut m = BTreeMap::new();
        for hpa in hpas(&dir) {
            let queries: Vec<String> = resolve(&hpa, form).into_values().map(|(q, _)| q).collect();
            let target = hpa["spec"]["metrics"][0]["external"]["target"].clone();
            m.insert(name(&hpa).to_owned(), (queries, target));
        }
        by_form.push(m);
    }
    assert_eq!(by_form[0], by_form[1]);
    let reads = |hpa: &str, what: &[&str]| {
        let q = &by_form[0][hpa].0[0];
        what.iter().all(|w| q.contains(w)) && q.contains(r#"destination_workload_namespace="test""#)
    };
    assert!(reads("podinfo-total", &["rate(istio_requests_total{"]));
    assert!(reads(
        "podinfo-latency-avg",
        &[
            "istio_request_duration_milliseconds_sum",
            "istio_request_duration_milliseconds_count"
        ]
    ));
    assert!(reads(
        "podinfo-p95",
        &[
            "histogram_quantile(0.95",
            "istio_request_duration_milliseconds_bucket"
        ]
    ));
}

/// Demonstrates that the adapter (`--hpa-dir`) loads every HPA shipped in istio/ and accepts
/// each query (no file or annotation error), and that a broken copy is reported.
#[test]
fn the_adapter_loads_every_hpa() {
    for (form, dir) in forms() {
        let snap = mixerless_adapter::hpa::dir::load(&dir);
        assert!(snap.file_errors.is_empty(), "{:?}", snap.file_errors);
        assert_eq!(snap.hpas.len(), 3, "{}", dir.display());
        for h in &snap.hpas {
            assert!(h.errors.is_empty(), "{}: {:?}", h.name, h.errors);
            assert_eq!(h.queries.len(), 1, "{}", h.name);
        }
        for hpa in hpas(&dir) {
            let want = resolve(&hpa, form);
            let loaded = snap.hpas.iter().find(|h| h.name == name(&hpa)).unwrap();
            let q = &loaded.queries[0];
            assert_eq!(want[&q.metric].0, q.query.trim(), "{}", loaded.name);
            assert_eq!(want[&q.metric].1, q.match_labels, "{}", loaded.name);
        }
    }

    let broken = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(istio().join("HorizontalPodAutoscaler-podinfo-total.yaml"))
        .unwrap()
        .replace("[1m]))", "[1m])");
    std::fs::write(broken.path().join("HorizontalPodAutoscaler-bad.yaml"), text).unwrap();
    let snap = mixerless_adapter::hpa::dir::load(broken.path());
    assert_eq!(snap.hpas.len(), 1);
    assert!(
        !snap.hpas[0].errors.is_empty(),
        "a query that does not parse is reported"
    );
}
