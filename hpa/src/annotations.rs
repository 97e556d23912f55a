//! kube-metrics-adapter's annotation grammar (`pkg/annotations/parser.go`) for Prometheus
//! External metrics, in both forms:
//! `metric-config.external.<name>.prometheus/query` with `matchLabels.type: prometheus`, and the
//! legacy `metric-config.external.prometheus-query.prometheus/<query-name>` with
//! `matchLabels.query-name`. Each means what it meant there (`pkg/collector/collector.go`,
//! `prometheus_collector.go`): the `type` label (else the metric name) picks the collector, a
//! metric without a selector is refused, durations are Go durations and `interval: 0s` is the
//! default interval. Where kube-metrics-adapter is silent (a malformed key, a key it does not
//! read, keys under two collector segments) the problem is reported here, for its metric.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::manifest::Hpa;

/// Why an HPA metric cannot be served.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnnotationError {
    /// A `metric-config.` key that is not `metric-config.<type>.<name>.<collector>/<key>`.
    #[error("annotation {key:?} is not metric-config.<type>.<metric>.<collector>/<key>")]
    MalformedKey { key: String },
    /// A key the Prometheus collector does not read (a typo of one it does, most likely).
    #[error(
        "metric {metric}: annotation {key:?}: unknown key {name:?}; the known keys are {}",
        KNOWN_KEYS.join(", ")
    )]
    UnknownKey {
        metric: String,
        key: String,
        name: String,
    },
    /// A named query of the legacy form that no metric's `query-name` selects.
    #[error(
        "annotation {key:?}: no metric's query-name selects {name:?}, and it is none of the \
         known keys ({})",
        KNOWN_KEYS.join(", ")
    )]
    UnusedNamedQuery { key: String, name: String },
    /// Annotations for an External metric name that `spec.metrics` does not have.
    #[error("annotation {key:?}: spec.metrics has no External metric named {metric:?}")]
    NoSuchMetric { key: String, metric: String },
    /// One metric's annotations under several collector segments.
    #[error(
        "metric {metric}: annotations name the collectors {collectors:?}; kube-metrics-adapter \
         reads the keys of one of them, chosen at random: write them all under one"
    )]
    MixedCollectors {
        metric: String,
        collectors: Vec<String>,
    },
    /// The metric's collector is not Prometheus.
    #[error("metric {metric}: collector {collector:?} is not supported (only prometheus)")]
    UnsupportedCollector { metric: String, collector: String },
    /// No `type` label, and a metric name that names no collector.
    #[error(
        "metric {metric}: the selector's matchLabels have no type label, and the metric name \
         is not a collector: add matchLabels type: prometheus (or use the legacy metric name \
         prometheus-query with matchLabels query-name)"
    )]
    NoCollector { metric: String },
    /// The metric has no selector (kube-metrics-adapter refuses it before reading any query).
    #[error("metric {metric}: selector for prometheus query is not specified")]
    NoSelector { metric: String },
    /// Neither `query` nor `query-name`.
    #[error("metric {metric}: query or query name not specified on metric")]
    NoQuery { metric: String },
    /// `query-name` names no annotation.
    #[error("metric {metric}: no prometheus query defined for query-name {name:?}")]
    MissingNamedQuery { metric: String, name: String },
    /// A duration annotation (`interval`, `min-pod-ready-age`) Go's `time.ParseDuration` would
    /// refuse, or a negative one.
    #[error(
        "metric {metric}: {key} {value:?} is not a duration: {why} (write it as Go does, \
         e.g. 30s, 1m, 1m30s, 500ms)"
    )]
    BadDuration {
        metric: String,
        key: String,
        value: String,
        why: String,
    },
    /// `on-empty` is neither `error` nor `zero`.
    #[error("metric {metric}: on-empty {value:?} is neither error nor zero")]
    BadOnEmpty { metric: String, value: String },
    /// The PromQL does not parse.
    #[error("metric {metric}: query does not parse: {message}")]
    BadQuery { metric: String, message: String },
}

/// The config keys the Prometheus collector reads; in the legacy form, a key may also be a
/// query name that a metric's `query-name` selects.
pub const KNOWN_KEYS: [&str; 8] = [
    "query",
    "query-name",
    "interval",
    "prometheus-server",
    "prometheus-server-alias",
    "per-replica",
    "min-pod-ready-age",
    "on-empty",
];

/// kube-metrics-adapter's legacy metric name: its annotations hold named queries.
const LEGACY_METRIC: &str = "prometheus-query";

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
    /// `prometheus-server-alias`: this metric's Prometheus by a name `serve` maps to a URL
    /// (`--prometheus-server-alias NAME=URL`); ignored when `prometheus_server` is set, as in
    /// kube-metrics-adapter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus_server_alias: Option<String>,
    pub on_empty: OnEmpty,
}

impl MetricQuery {
    /// Whether the query runs on another Prometheus than the default source.
    pub fn names_a_server(&self) -> bool {
        self.prometheus_server.is_some() || self.prometheus_server_alias.is_some()
    }
}

/// The annotations of one (metric type, metric name), by config key.
#[derive(Default)]
struct Config {
    entries: BTreeMap<String, Entry>,
}

/// One `metric-config.<type>.<metric>.<collector>/<config key>: value` annotation.
struct Entry {
    collector: String,
    /// The whole annotation key, for messages.
    key: String,
    value: String,
}

impl Config {
    fn collectors(&self) -> Vec<String> {
        let set: std::collections::BTreeSet<&String> =
            self.entries.values().map(|e| &e.collector).collect();
        set.into_iter().cloned().collect()
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|e| e.value.as_str())
    }
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
        out.entry((kind, name.to_owned()))
            .or_default()
            .entries
            .insert(
                config_key.to_owned(),
                Entry {
                    collector: collector.to_owned(),
                    key: key.clone(),
                    value: value.clone(),
                },
            );
    }
    (out, errors)
}

/// The External metrics of `hpa` served from Prometheus, and an error per metric (or key) that
/// cannot be: one bad metric never hides the others.
pub fn external_queries(hpa: &Hpa) -> (Vec<MetricQuery>, Vec<AnnotationError>) {
    let (configs, mut errors) = configs(hpa);
    let mut queries = Vec::new();
    let externals: Vec<_> = hpa
        .spec
        .metrics
        .iter()
        .filter(|m| m.kind == "External")
        .filter_map(|m| m.external.as_ref())
        .collect();
    for ((kind, metric), config) in &configs {
        if kind != "external" {
            continue;
        }
        if !externals.iter().any(|e| &e.metric.name == metric) {
            if let Some(entry) = config.entries.values().next() {
                errors.push(AnnotationError::NoSuchMetric {
                    key: entry.key.clone(),
                    metric: metric.clone(),
                });
            }
        }
    }
    // Keys of the legacy form's annotations that some metric's query-name selects.
    let selected: Vec<&str> = externals
        .iter()
        .filter(|e| e.metric.name == LEGACY_METRIC)
        .filter_map(|e| {
            let labels = e.metric.selector.as_ref().map(|s| &s.match_labels);
            let annotated = configs
                .get(&("external".to_owned(), LEGACY_METRIC.to_owned()))
                .and_then(|c| c.get("query-name"));
            annotated.or_else(|| labels?.get("query-name").map(String::as_str))
        })
        .collect();
    if let Some(c) = configs.get(&("external".to_owned(), LEGACY_METRIC.to_owned())) {
        for (name, entry) in &c.entries {
            if !KNOWN_KEYS.contains(&name.as_str()) && !selected.contains(&name.as_str()) {
                errors.push(AnnotationError::UnusedNamedQuery {
                    key: entry.key.clone(),
                    name: name.clone(),
                });
            }
        }
    }
    for ext in externals {
        match resolve(hpa, &ext.metric, &configs) {
            Ok(q) => queries.push(q),
            Err(e) => errors.push(e),
        }
    }
    (queries, errors)
}

fn resolve(
    hpa: &Hpa,
    id: &crate::manifest::MetricIdentifier,
    configs: &BTreeMap<(String, String), Config>,
) -> Result<MetricQuery, AnnotationError> {
    let metric = id.name.clone();
    let match_labels = id
        .selector
        .as_ref()
        .map(|s| s.match_labels.clone())
        .unwrap_or_default();
    let empty = Config::default();
    let config = configs
        .get(&("external".to_owned(), metric.clone()))
        .unwrap_or(&empty);
    // The `type` label picks the collector; without one (or empty) the metric name does, as
    // in kube-metrics-adapter. The annotation key's collector segment does not.
    let collector = match match_labels.get("type").filter(|t| !t.is_empty()) {
        Some(t) => t.clone(),
        None if metric == "prometheus" || metric == LEGACY_METRIC => metric.clone(),
        None => return Err(AnnotationError::NoCollector { metric }),
    };
    if collector != "prometheus" && collector != LEGACY_METRIC {
        return Err(AnnotationError::UnsupportedCollector { metric, collector });
    }
    if id.selector.is_none() {
        return Err(AnnotationError::NoSelector { metric });
    }
    let collectors = config.collectors();
    if collectors.len() > 1 {
        return Err(AnnotationError::MixedCollectors { metric, collectors });
    }
    // A key is a known one or the query `query-name` selects (either form may name one).
    let query_name = config
        .get("query-name")
        .or_else(|| match_labels.get("query-name").map(String::as_str));
    if metric != LEGACY_METRIC {
        if let Some((name, entry)) = config.entries.iter().find(|(name, _)| {
            !KNOWN_KEYS.contains(&name.as_str()) && Some(name.as_str()) != query_name
        }) {
            return Err(AnnotationError::UnknownKey {
                metric,
                key: entry.key.clone(),
                name: name.clone(),
            });
        }
    }
    // matchLabels first, annotations override them (upstream's order).
    let mut entries = match_labels.clone();
    entries.extend(
        config
            .entries
            .iter()
            .map(|(k, e)| (k.clone(), e.value.clone())),
    );
    let query = match entries.get("query") {
        Some(q) => q.clone(),
        None => {
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
    // Durations come from the annotations only (kube-metrics-adapter's parser reads them
    // there, never from matchLabels); `interval: 0s` means the default interval.
    let duration = |key: &str| -> Result<Option<Duration>, AnnotationError> {
        let Some(value) = config.get(key) else {
            return Ok(None);
        };
        go_duration::parse(value)
            .map(|d| Some(d).filter(|d| !d.is_zero()))
            .map_err(|why| AnnotationError::BadDuration {
                metric: metric.clone(),
                key: key.to_owned(),
                value: value.to_owned(),
                why,
            })
    };
    let interval = duration("interval")?;
    // Read by kube-metrics-adapter's pod collectors only; checked so a typo is not silent.
    duration("min-pod-ready-age")?;
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
    let prometheus_server = entries
        .get("prometheus-server")
        .map(|s| s.trim().to_owned());
    Ok(MetricQuery {
        namespace: hpa.namespace().to_owned(),
        hpa: hpa.metadata.name.clone(),
        metric,
        match_labels,
        query: query.trim().to_owned(),
        interval,
        prometheus_server_alias: entries
            .get("prometheus-server-alias")
            .filter(|_| prometheus_server.is_none())
            .map(|s| s.trim().to_owned()),
        prometheus_server,
        on_empty,
    })
}

#[path = "annotations/go_duration.rs"]
mod go_duration;

#[cfg(test)]
#[path = "annotations/tests.rs"]
mod tests;
