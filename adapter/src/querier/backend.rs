//! What the `/api/v1` handlers evaluate on: the embedded store and engine, as typed values
//! (the handlers write the JSON), every evaluation within the [`QueryLimits`] and, at the
//! handlers, admitted by the [`QueryGate`]. HPA evaluations never pass the gate.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mixerless_engine::promql::{self, Engine};

use super::embedded::QueryLimits;
use super::gate::QueryGate;
use crate::store::MetricStore;
use mixerless_engine::promql::Query;

/// What the `/api/v1` handlers read. Queries arrive parsed: the handlers parse each once, on
/// the evaluation thread.
pub trait PromBackend: Send + Sync {
    /// An instant query.
    fn query(
        &self,
        query: &Query,
        time_ms: i64,
        budget: Budget,
    ) -> Result<promql::Value, QueryError>;
    /// A range query.
    fn query_range(
        &self,
        query: &Query,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        budget: Budget,
    ) -> Result<promql::Value, QueryError>;
    /// The label sets of series matching any selector in `[start, end]`.
    fn series(
        &self,
        matchers: &[String],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<BTreeMap<String, String>>, QueryError>;
    /// The bound on evaluations at once, if any.
    fn gate(&self) -> Option<&QueryGate> {
        None
    }
    /// The metric names among `names` whose samples are not kept: a query finds none.
    fn unkept(&self, names: &BTreeSet<String>) -> Vec<String> {
        let _ = names;
        Vec::new()
    }
}

/// The time one evaluation may take: from `started` (before its expression was parsed), at
/// most `timeout` (the request's `timeout` parameter) where given, and never more than
/// `--query-timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub started: Instant,
    pub timeout: Option<Duration>,
}

/// Why a query failed, as Prometheus' API classes it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The expression or a matcher does not parse: 400 `bad_data`.
    #[error("{0}")]
    BadData(String),
    /// The evaluation ran out of time: 503 `timeout`.
    #[error("{0}")]
    Timeout(String),
    /// Any other evaluation error, the samples limit included: 422 `execution`.
    #[error("{0}")]
    Execution(String),
}

impl From<promql::Error> for QueryError {
    fn from(e: promql::Error) -> Self {
        match e {
            promql::Error::Parse(_) | promql::Error::TooLarge(_) => {
                QueryError::BadData(e.to_string())
            }
            promql::Error::Timeout(_) => QueryError::Timeout(e.to_string()),
            _ => QueryError::Execution(e.to_string()),
        }
    }
}

/// The embedded store and engine for `/api/v1`.
pub struct StoreBackend {
    store: Arc<MetricStore>,
    engine: Engine,
    gate: QueryGate,
}

impl StoreBackend {
    /// Evaluates on `store` within `limits`.
    pub fn new(store: Arc<MetricStore>, limits: &QueryLimits) -> Self {
        Self {
            store,
            engine: limits.engine(),
            // A waiting request gets a slot within one timeout unless the queue is longer
            // than the slots: every running evaluation ends within the timeout.
            gate: QueryGate::new(limits.concurrency, limits.timeout),
        }
    }

    /// The engine with the request's `timeout` where it is shorter than `--query-timeout`.
    fn engine_for(&self, budget: Budget) -> Cow<'_, Engine> {
        match budget.timeout {
            Some(t) => Cow::Owned(self.engine.with_timeout(t)),
            None => Cow::Borrowed(&self.engine),
        }
    }
}

impl PromBackend for StoreBackend {
    fn query(
        &self,
        query: &Query,
        time_ms: i64,
        budget: Budget,
    ) -> Result<promql::Value, QueryError> {
        Ok(self.engine_for(budget).instant_parsed(
            self.store.source(),
            query.ast(),
            time_ms,
            budget.started,
        )?)
    }

    fn query_range(
        &self,
        query: &Query,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        budget: Budget,
    ) -> Result<promql::Value, QueryError> {
        Ok(self.engine_for(budget).range_parsed(
            self.store.source(),
            query.ast(),
            start_ms,
            end_ms,
            step_ms,
            budget.started,
        )?)
    }

    /// Series are found by evaluating each selector as a range vector over `[start, end]`,
    /// which returns every matching series with its full label set.
    fn series(
        &self,
        matchers: &[String],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<BTreeMap<String, String>>, QueryError> {
        let range_s = ((end_ms - start_ms) / 1000).max(1);
        let mut out: BTreeSet<BTreeMap<String, String>> = BTreeSet::new();
        for m in matchers {
            let v =
                self.engine
                    .instant(self.store.source(), &format!("{m}[{range_s}s]"), end_ms)?;
            if let promql::Value::Matrix(series) = v {
                out.extend(series.iter().map(|s| {
                    s.labels
                        .iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect()
                }));
            }
        }
        Ok(out.into_iter().collect())
    }

    fn gate(&self) -> Option<&QueryGate> {
        Some(&self.gate)
    }

    fn unkept(&self, names: &BTreeSet<String>) -> Vec<String> {
        self.store.unkept(names)
    }
}
