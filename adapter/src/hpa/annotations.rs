//! kube-metrics-adapter's annotation grammar (`pkg/annotations/parser.go`) for Prometheus
//! External metrics, in both forms:
//! `metric-config.external.<name>.prometheus/query` with `matchLabels.type: prometheus`, and the
//! legacy `metric-config.external.prometheus-query.prometheus/<query-name>` with
//! `matchLabels.query-name`. Unlike kube-metrics-adapter, a malformed `metric-config.` key is
//! reported, not silently ignored.

use std::collections::BTreeMap;
use std::time::Duration;

use super::manifest::Hpa;

/// Why an HPA metric cannot be served.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnnotationError {
    /// A `metric-config.` key that is not `metric-config.<type>.<name>.<collector>/<key>`.
    #[error("annotation {key:?} is not metric-config.<type>.<metric>.<collector>/<key>")]
    MalformedKey { key: String },
    /// The metric's collector is not Prometheus.
    #[error("metric {metric}: collector {collector:?} is not supported (only prometheus)")]
    UnsupportedCollector { metric: String, collector: String },
    /// The legacy form needs a selector to name the query.
    #[error("metric {metric}: selector for prometheus query is not specified")]
    NoSelector { metric: String },
    /// Neither `query` nor `query-name`.
    #[error("metric {metric}: query or query name not specified on metric")]
    NoQuery { metric: String },
    /// `query-name` names no annotation.
    #[error("metric {metric}: no prometheus query defined for query-name {name:?}")]
    MissingNamedQuery { metric: String, name: String },
    /// `interval` is not a duration.
    #[error("metric {metric}: interval {value:?} is not a duration like 30s or 1m")]
    BadInterval { metric: String, value: String },
    /// `on-empty` is neither `error` nor `zero`.
    #[error("metric {metric}: on-empty {value:?} is neither error nor zero")]
    BadOnEmpty { metric: String, value: String },
    /// The PromQL does not parse.
    #[error("metric {metric}: query does not parse: {message}")]
    BadQuery { metric: String, message: String },
}

/// What an empty result becomes: by default an error the HPA sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnEmpty {
    #[default]
    Error,
    /// `on-empty: zero` (our extension): an empty vector is served as 0.
    Zero,
}

/// One External metric of one HPA, resolved to the PromQL behind it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MetricQuery {
    pub namespace: String,
    pub hpa: String,
    /// The HPA metric name (the API's resource name).
    pub metric: String,
    /// The HPA selector's `matchLabels`, served as `metricLabels` and matched against requests.
    pub match_labels: BTreeMap<String, String>,
    pub query: String,
    /// `interval`: how often the query is evaluated (else the server default).
    #[serde(skip)]
    pub interval: Option<Duration>,
    /// `prometheus-server`: this metric's Prometheus instead of the default.
    pub prometheus_server: Option<String>,
    pub on_empty: OnEmpty,
}

struct Config {
    collector: String,
    entries: BTreeMap<String, String>,
}

/// The annotation configs of an HPA keyed by (metric type, metric name), plus key errors.
fn configs(hpa: &Hpa) -> (BTreeMap<(String, String), Config>, Vec<AnnotationError>) {
    let mut out: BTreeMap<(String, String), Config> = BTreeMap::new();
    let mut errors = Vec::new();
    for (key, value) in &hpa.metadata.annotations {
        let Some(rest) = key.strip_prefix("metric-config.") else {
            continue;
        };
        let parsed = rest.split_once('/').and_then(|(left, config_key)| {
            let parts: Vec<&str> = left.split('.').collect();
            match parts.as_slice() {
                [kind, name, collector]
                    if !config_key.is_empty() && !config_key.contains('/') && !name.is_empty() =>
                {
                    Some((*kind, *name, *collector, config_key))
                }
                _ => None,
            }
        });
        let Some((kind, name, collector, config_key)) = parsed else {
            errors.push(AnnotationError::MalformedKey { key: key.clone() });
            continue;
        };
        let kind = match kind {
            "pods" | "object" => kind.to_owned(),
            _ => "external".to_owned(),
        };
        // The first collector seen for a metric wins, as upstream (here deterministically: the
        // annotations are sorted by key).
        let entry = out
            .entry((kind, name.to_owned()))
            .or_insert_with(|| Config {
                collector: collector.to_owned(),
                entries: BTreeMap::new(),
            });
        if entry.collector == collector {
            entry.entries.insert(config_key.to_owned(), value.clone());
        }
    }
    (out, errors)
}

/// The External metrics of `hpa` served from Prometheus, and an error per metric (or key) that
/// cannot be: one bad metric never hides the others.
pub fn external_queries(hpa: &Hpa) -> (Vec<MetricQuery>, Vec<AnnotationError>) {
    let (configs, mut errors) = configs(hpa);
    let mut queries = Vec::new();
    for spec in &hpa.spec.metrics {
        if spec.kind != "External" {
            continue;
        }
        let Some(ext) = &spec.external else { continue };
        let name = &ext.metric.name;
        let match_labels = ext
            .metric
            .selector
            .as_ref()
            .map(|s| s.match_labels.clone())
            .unwrap_or_default();
        match resolve(hpa, name, &match_labels, &configs) {
            Ok(q) => queries.push(q),
            Err(e) => errors.push(e),
        }
    }
    (queries, errors)
}

fn resolve(
    hpa: &Hpa,
    name: &str,
    match_labels: &BTreeMap<String, String>,
    configs: &BTreeMap<(String, String), Config>,
) -> Result<MetricQuery, AnnotationError> {
    let metric = name.to_owned();
    let config = configs.get(&("external".to_owned(), metric.clone()));
    // matchLabels first, annotations override them (upstream's order).
    let mut entries = match_labels.clone();
    if let Some(c) = config {
        entries.extend(c.entries.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let collector = match_labels
        .get("type")
        .cloned()
        .unwrap_or_else(|| metric.clone());
    if collector != "prometheus" && collector != "prometheus-query" {
        return Err(AnnotationError::UnsupportedCollector { metric, collector });
    }
    if let Some(c) = config {
        if c.collector != "prometheus" {
            return Err(AnnotationError::UnsupportedCollector {
                metric,
                collector: c.collector.clone(),
            });
        }
    }
    let query = match entries.get("query") {
        Some(q) => q.clone(),
        None => {
            if match_labels.is_empty() && !entries.contains_key("query-name") {
                return Err(AnnotationError::NoSelector { metric });
            }
            let Some(query_name) = entries.get("query-name") else {
                return Err(AnnotationError::NoQuery { metric });
            };
            match entries.get(query_name) {
                Some(q) => q.clone(),
                None => {
                    return Err(AnnotationError::MissingNamedQuery {
                        metric,
                        name: query_name.clone(),
                    })
                }
            }
        }
    };
    // The engine's parse: within --query-max-length and --query-max-depth (a query nested
    // thousands deep is refused before it can overflow a stack) and with promql-parser's
    // panics caught, so a hostile annotation is reported like any query that does not parse.
    if let Err(e) = mixerless_engine::promql::parse::parse(&query) {
        let message = e.to_string();
        return Err(AnnotationError::BadQuery {
            metric,
            message: message
                .strip_prefix("parse error: ")
                .unwrap_or(&message)
                .to_owned(),
        });
    }
    let interval = match entries.get("interval") {
        None => None,
        Some(v) => Some(
            humantime::parse_duration(v.trim())
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| AnnotationError::BadInterval {
                    metric: metric.clone(),
                    value: v.clone(),
                })?,
        ),
    };
    let on_empty = match entries.get("on-empty").map(|s| s.trim()) {
        None | Some("error") => OnEmpty::Error,
        Some("zero") => OnEmpty::Zero,
        Some(other) => {
            return Err(AnnotationError::BadOnEmpty {
                metric,
                value: other.to_owned(),
            })
        }
    };
    Ok(MetricQuery {
        namespace: hpa.namespace().to_owned(),
        hpa: hpa.metadata.name.clone(),
        metric,
        match_labels: match_labels.clone(),
        query: query.trim().to_owned(),
        interval,
        prometheus_server: entries
            .get("prometheus-server")
            .map(|s| s.trim().to_owned()),
        on_empty,
    })
}

#[cfg(test)]
#[path = "annotations/tests.rs"]
mod tests;
