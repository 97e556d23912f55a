//! The embedded store: the engine's [`Store`] behind one `RwLock`, the metric names it keeps,
//! its limits and their counters. The scraper writes into it (its `Sink` is implemented over
//! this store in `scrape`), the embedded querier and the `/api/v1` backend read it; it knows
//! none of them.
//!
//! Scrapes take the write lock briefly per target; evaluations read-lock it per selector
//! ([`promql::StoreSource`]), not per query: std's `RwLock` makes new readers wait behind a
//! waiting writer, so a query holding the lock for its whole run (up to `--query-timeout`)
//! held up every scrape's ingest and, behind it, every HPA evaluation; in
//! `tests/tests/harden_queries.rs` that made a cheap HPA query miss its 500 ms timeout. A
//! snapshot of the store per query would copy every sample.

mod ingest;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use mixerless_engine::promql;
use mixerless_engine::store::{History, Store, StoreConfig};

pub use ingest::{IngestError, Stored};

use crate::clock::now_ms;
use crate::sync;
use crate::telemetry::Telemetry;
use mixerless_engine::promql::Query;

/// Where the embedded store's history of the metrics one query reads begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// The store does not keep one of them (yet: a query just added, before the store heard
    /// of it; or an `/api/v1` query over a metric no HPA reads).
    NotKept,
    /// No scrape has succeeded since the store began keeping one of them.
    NotYet {
        /// After the store's first scrape: a metric it began keeping later.
        late: bool,
    },
    /// At this timestamp (ms): the latest start among them.
    At {
        ms: i64,
        /// After the store's first scrape: a metric it began keeping later.
        late: bool,
    },
}

/// The embedded store.
pub struct MetricStore {
    store: RwLock<Store>,
    telemetry: Arc<Telemetry>,
    /// How long a metric name no query reads any more stays kept: the retention, so a query
    /// added again within it finds the history it would have had ([`MetricStore::keep`]).
    grace: Duration,
}

impl MetricStore {
    /// An empty store keeping `retention` of samples; it stores nothing until
    /// [`MetricStore::keep`] names the metrics that queries read.
    pub fn new(retention: Duration, telemetry: Arc<Telemetry>) -> Self {
        Self {
            store: RwLock::new(Store::new(StoreConfig {
                retention,
                max_series: 1_000_000,
                metric_filter: Some(HashSet::new()),
            })),
            telemetry,
            grace: retention,
        }
    }

    /// Bounds the store: at most `max_series` series in all, at most `sample_limit` samples
    /// of kept metrics from one scrape and at most `target_series_limit` series held for one
    /// target (0: none), past which that scrape fails.
    pub fn set_store_limits(
        &self,
        max_series: usize,
        sample_limit: usize,
        target_series_limit: usize,
    ) {
        let mut store = sync::write(&self.store);
        store.set_max_series(max_series);
        store.set_sample_limit(sample_limit);
        store.set_target_series_limit(target_series_limit);
    }

    /// Keeps the metric names `queries` read; a query whose selectors name none adds none. A
    /// name no query reads any more stays kept for the retention (an HPA removed and added
    /// again, a half-written file that was read, keeps its history); a new name's history
    /// begins at the next successful scrape, and queries reading it warm up as after a restart.
    pub fn keep<'a>(&self, queries: impl IntoIterator<Item = &'a Query>) {
        let mut names: HashSet<String> = HashSet::new();
        for q in queries {
            if let Ok(n) = q.metric_names() {
                names.extend(n.iter().cloned());
            }
        }
        tracing::info!(metrics = ?names.iter().collect::<BTreeSet<_>>(), "store keeps these metric names");
        sync::write(&self.store).keep_metrics(&names, now_ms(), self.grace);
    }

    /// [`MetricStore::keep`] for query texts; one that does not parse adds none (its HPA
    /// already reports the error).
    pub fn set_queries(&self, queries: &[String]) {
        let parsed: Vec<Query> = queries
            .iter()
            .filter_map(|q| Query::parse(q).ok())
            .collect();
        self.keep(&parsed);
    }

    /// Also keeps every metric whose whole name matches the regular expression `pattern`
    /// (`--keep-metrics`; empty: none), for `/api/v1` clients.
    pub fn set_keep_pattern(&self, pattern: &str) -> Result<(), regex::Error> {
        let re = if pattern.is_empty() {
            None
        } else {
            Some(regex::Regex::new(&format!("^(?:{pattern})$"))?)
        };
        sync::write(&self.store).set_keep_pattern(re);
        Ok(())
    }

    /// Where the store's history of the metrics `query` reads begins: the latest start among
    /// them ([`Since::NotKept`] when it does not keep one). `None` when the query names none
    /// (or does not parse).
    #[cfg(test)]
    pub fn since(&self, query: &str) -> Option<Since> {
        let q = Query::parse(query).ok()?;
        let names = q.metric_names().ok().filter(|n| !n.is_empty())?;
        self.since_names(names)
    }

    /// Where the history of `names` (at least one) begins.
    pub fn since_names(&self, names: &BTreeSet<String>) -> Option<Since> {
        let store = sync::read(&self.store);
        let first = store.first_scrape();
        let mut latest = Some(i64::MIN);
        for n in names {
            latest = match (latest, store.history(n)) {
                (_, History::NotKept) => return Some(Since::NotKept),
                (Some(l), History::Since(t)) => Some(l.max(t)),
                _ => None,
            };
        }
        Some(match latest {
            Some(ms) => Since::At {
                ms,
                late: first.is_some_and(|f| ms > f),
            },
            None => Since::NotYet {
                late: first.is_some(),
            },
        })
    }

    /// The names in `names` whose samples the store does not keep (no query reads them and
    /// `--keep-metrics` does not match them): a query over them finds nothing.
    pub fn unkept(&self, names: &BTreeSet<String>) -> Vec<String> {
        let store = sync::read(&self.store);
        names
            .iter()
            .filter(|n| store.history(n) == History::NotKept)
            .cloned()
            .collect()
    }

    /// The store as the engine reads it: locked per selector.
    pub fn source(&self) -> &dyn promql::StoreSource {
        &self.store
    }
}

#[cfg(test)]
#[path = "store/tests.rs"]
mod tests;
