//! PromQL evaluation over the [`Store`](crate::store::Store), with Prometheus 3 semantics.
//!
//! Split like Prometheus: [`parse`] wraps `promql-parser`, `eval` walks the AST at one
//! timestamp, `functions` holds the function table, `aggregate` and `binary` the operators.

mod aggregate;
mod binary;
mod eval;
mod functions;
pub mod parse;
pub mod query;
mod value;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use promql_parser::parser::Expr;

pub use parse::{metric_names, ParseLimits};
pub use query::Query;
pub use value::{format_value, Sample, Series, Value};

use crate::store::Store;

/// Evaluation limits and defaults.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (Prometheus: 5m).
    pub lookback: Duration,
    /// Most samples one query may hold at once (Prometheus' `--query.max-samples`): loaded by
    /// selectors, produced by subqueries and range-query steps, until released.
    pub max_samples: usize,
    /// Longest one query may run; checked at every selector, range-query and subquery step and
    /// every 1024 iterations of loops over series.
    pub timeout: Duration,
    /// Step of subqueries that give none (Prometheus: the global evaluation interval, 1m).
    pub default_subquery_step: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_subquery_step: Duration::from_secs(60),
        }
    }
}

/// Query errors.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Error {
    /// The expression does not parse.
    #[error("parse error: {0}")]
    Parse(String),
    /// The expression uses something this engine does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Evaluation failed (as it would in Prometheus).
    #[error("{0}")]
    Eval(String),
    /// The query loaded more samples than allowed.
    #[error("query processing would load too many samples into memory in query execution (limit {0} samples)")]
    TooManySamples(usize),
    /// The query ran longer than allowed.
    #[error("query timed out after {0:?}")]
    Timeout(Duration),
    /// A range query with a bad step or range.
    #[error("bad range query: {0}")]
    BadRange(String),
    /// A selector that names no metric, so no metric filter can be derived.
    #[error("selector {0} does not name a metric")]
    NoMetricName(String),
    /// The expression is longer or nests deeper than [`parse::ParseLimits`] allow.
    #[error("parse error: {0}")]
    TooLarge(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The PromQL engine: options only; the data comes with each call.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    /// An engine with these options.
    pub fn new(opts: EngineOptions) -> Engine {
        Engine { opts }
    }

    /// Evaluates `expr` at `time_ms`, like `/api/v1/query`, over a [`Store`] or a store read
    /// per selector (see [`StoreSource`]).
    pub fn instant(&self, source: &dyn StoreSource, expr: &str, time_ms: i64) -> Result<Value> {
        let started = Instant::now();
        let ast = parse::parse(expr)?;
        self.instant_parsed(source, &ast, time_ms, started)
    }

    /// Like [`Engine::instant`], for an expression parsed already; the timeout counts from
    /// `started` (so that it covers the parse as well).
    pub fn instant_parsed(
        &self,
        source: &dyn StoreSource,
        ast: &Expr,
        time_ms: i64,
        started: Instant,
    ) -> Result<Value> {
        eval::Evaluator::new(source, &self.opts, time_ms, time_ms, started).instant(ast, time_ms)
    }

    /// This engine with a timeout no longer than `timeout` (Prometheus' `timeout` parameter,
    /// capped by the engine's own).
    pub fn with_timeout(&self, timeout: Duration) -> Engine {
        let mut opts = self.opts.clone();
        opts.timeout = opts.timeout.min(timeout);
        Engine { opts }
    }

    /// Evaluates `expr` at `start_ms`, `start_ms + step_ms`, … ≤ `end_ms`, like
    /// `/api/v1/query_range`, over a [`Store`] or a store read per selector.
    pub fn range(
        &self,
        source: &dyn StoreSource,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Value> {
        let started = Instant::now();
        let ast = parse::parse(expr)?;
        self.range_parsed(source, &ast, start_ms, end_ms, step_ms, started)
    }

    /// Like [`Engine::range`], for an expression parsed already; the timeout counts from
    /// `started`.
    pub fn range_parsed(
        &self,
        source: &dyn StoreSource,
        ast: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        started: Instant,
    ) -> Result<Value> {
        if step_ms <= 0 {
            return Err(Error::BadRange(format!(
                "step must be positive, got {step_ms} ms"
            )));
        }
        if end_ms < start_ms {
            return Err(Error::BadRange("end is before start".into()));
        }
        if (end_ms - start_ms) / step_ms > 11_000 {
            return Err(Error::BadRange("more than 11000 points per series".into()));
        }
        eval::Evaluator::new(source, &self.opts, start_ms, end_ms, started)
            .range(ast, start_ms, end_ms, step_ms)
    }
}

/// Where an evaluation reads series. Each selector reads the store once, through
/// [`StoreSource::read`], and copies what it keeps, so a store behind a lock is locked per
/// selector, not for the whole query: a long query then never holds writers (scrapes) or the
/// readers queued behind them for longer than one selector takes.
pub trait StoreSource: Sync {
    /// Calls `f` with the store.
    fn read(&self, f: &mut dyn FnMut(&Store));
}

impl StoreSource for Store {
    fn read(&self, f: &mut dyn FnMut(&Store)) {
        f(self);
    }
}

/// Read-locked per selector; a poisoned lock is read anyway (a panic in a writer does not stop
/// queries).
impl StoreSource for std::sync::RwLock<Store> {
    fn read(&self, f: &mut dyn FnMut(&Store)) {
        f(&self.read().unwrap_or_else(|e| e.into_inner()));
    }
}

/// Prometheus' `util/almost.Equal`: equal, both NaN, or within relative `epsilon`.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = 2.2250738585072014e-308;
    if a.is_nan() && b.is_nan() {
        return crate::store::is_stale(a) == crate::store::is_stale(b);
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Metric names an expression reads (used to filter what the store keeps).
pub type MetricNames = BTreeSet<String>;

#[cfg(test)]
mod tests;
