//! The table the provider serves from: one entry per HPA query with its last outcome, the
//! HPAs for `/status`, and how a reload of the HPAs keeps what did not change.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mixerless_engine::promql;
use serde::Serialize;

use super::{Outcome, Provider};
use crate::hpa::dir::Snapshot;
use crate::hpa::MetricQuery;
use crate::sync;
use mixerless_engine::promql::Query;

/// One served metric: a query of one HPA and its last outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    #[serde(flatten)]
    pub query: MetricQuery,
    /// Its query parsed once, when the HPAs were loaded.
    #[serde(skip)]
    pub(super) parsed: Result<Query, promql::Error>,
    /// Where it is evaluated.
    pub source: String,
    pub interval_s: f64,
    pub last: Option<Outcome>,
    /// The last value served successfully (kept for `/status` after an error).
    pub last_value: Option<f64>,
    #[serde(skip)]
    pub(super) next_due_ms: i64,
    /// Being evaluated now: not started again until its outcome is recorded.
    #[serde(skip)]
    pub(super) in_flight: bool,
}

/// One HPA for `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct HpaStatus {
    pub namespace: String,
    pub name: String,
    pub file: String,
    pub metrics: usize,
    pub errors: Vec<String>,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) entries: Vec<Entry>,
    pub(super) hpas: Vec<HpaStatus>,
    pub(super) file_errors: Vec<(String, String)>,
}

/// What makes two loads' queries the same served metric: namespace, HPA, metric, labels.
type Key = (String, String, String, BTreeMap<String, String>);

fn key(q: &MetricQuery) -> Key {
    (
        q.namespace.clone(),
        q.hpa.clone(),
        q.metric.clone(),
        q.match_labels.clone(),
    )
}

impl Provider {
    /// Replaces the HPAs; a query that did not change keeps its last outcome. Logs every error.
    pub fn set_hpas(&self, snap: &Snapshot) {
        let mut state = sync::write(&self.state);
        let mut old: HashMap<Key, Entry> = state
            .entries
            .drain(..)
            .map(|e| (key(&e.query), e))
            .collect();
        let mut hpas = Vec::new();
        let mut entries = Vec::new();
        for h in &snap.hpas {
            for e in &h.errors {
                tracing::warn!(hpa = %format!("{}/{}", h.namespace, h.name), file = %h.file.display(), "{e}");
            }
            let mut errors = h.errors.clone();
            for q in &h.queries {
                let source = match self.remotes.querier_for(q) {
                    Ok(r) => r.describe(),
                    Err(e) => {
                        let msg = format!("metric {}: {e}", q.metric);
                        tracing::warn!(hpa = %format!("{}/{}", h.namespace, h.name), "{msg}");
                        errors.push(msg);
                        continue;
                    }
                };
                let interval = q.interval.unwrap_or(self.config.default_interval);
                let entry = match old.remove(&key(q)) {
                    Some(prev) if prev.query == *q => prev,
                    _ => Entry {
                        query: q.clone(),
                        parsed: Query::parse(&q.query),
                        source,
                        interval_s: interval.as_secs_f64(),
                        last: None,
                        last_value: None,
                        next_due_ms: 0,
                        in_flight: false,
                    },
                };
                entries.push(entry);
            }
            hpas.push(HpaStatus {
                namespace: h.namespace.clone(),
                name: h.name.clone(),
                file: h.file.display().to_string(),
                metrics: h.queries.len(),
                errors,
            });
        }
        for f in &snap.file_errors {
            tracing::warn!(file = %f.file.display(), "{}", f.error);
        }
        tracing::info!(
            hpas = hpas.len(),
            queries = entries.len(),
            errors = hpas.iter().map(|h| h.errors.len()).sum::<usize>() + snap.file_errors.len(),
            "loaded HPAs"
        );
        self.telemetry.hpa_errors.set(
            (hpas.iter().map(|h| h.errors.len()).sum::<usize>() + snap.file_errors.len()) as i64,
        );
        state.entries = entries;
        state.hpas = hpas;
        state.file_errors = snap
            .file_errors
            .iter()
            .map(|f| (f.file.display().to_string(), f.error.clone()))
            .collect();
    }

    /// The queries evaluated here, on the default querier: the embedded store keeps the
    /// metric names they read.
    pub fn embedded_queries(&self) -> Vec<Query> {
        let state = sync::read(&self.state);
        state
            .entries
            .iter()
            .filter(|e| !e.query.names_a_server())
            .filter_map(|e| e.parsed.as_ref().ok().cloned())
            .collect()
    }

    /// The metric names the API lists in discovery.
    pub fn metric_names(&self) -> BTreeSet<String> {
        let state = sync::read(&self.state);
        state
            .entries
            .iter()
            .map(|e| e.query.metric.clone())
            .collect()
    }
}
