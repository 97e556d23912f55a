//! The embedded store and PromQL engine as the HPAs' [`Querier`]. Every evaluation runs on
//! tokio's blocking pool under the [`QueryLimits`] (time and samples), like `/api/v1`
//! evaluations ([`super::backend`]), but never waits at the [`super::gate::QueryGate`]. The
//! result is the engine's value, read without a text form in between.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use mixerless_engine::promql::{self, Engine, EngineOptions};

use super::{BoxFuture, Error, Querier, Sample, Value};
use crate::store::MetricStore;
use crate::telemetry::Telemetry;
use mixerless_engine::promql::Query;

/// Limits of one query evaluation, HPA queries and `/api/v1` alike.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Longest one evaluation runs (`--query-timeout`).
    pub timeout: Duration,
    /// Most samples one evaluation holds at once (`--query-max-samples`).
    pub max_samples: usize,
    /// Most `/api/v1` evaluations at once (`--query-concurrency`); more wait up to `timeout`.
    pub concurrency: usize,
}

impl QueryLimits {
    /// `--query-max-samples`' default: see its `--help`.
    pub const DEFAULT_MAX_SAMPLES: usize = 1_000_000;
    /// `--query-concurrency`'s default.
    pub const DEFAULT_CONCURRENCY: usize = 4;

    /// The defaults, with `timeout`.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            max_samples: Self::DEFAULT_MAX_SAMPLES,
            concurrency: Self::DEFAULT_CONCURRENCY,
        }
    }

    /// An engine that evaluates within these limits.
    pub fn engine(&self) -> Engine {
        Engine::new(EngineOptions {
            timeout: self.timeout,
            max_samples: self.max_samples,
            ..EngineOptions::default()
        })
    }
}

/// The HPA querier over the embedded store.
pub struct Embedded {
    store: Arc<MetricStore>,
    engine: Arc<Engine>,
}

impl Embedded {
    /// Evaluates on `store` within `limits`.
    pub fn over(store: Arc<MetricStore>, limits: &QueryLimits) -> Self {
        Self {
            store,
            engine: Arc::new(limits.engine()),
        }
    }

    /// A querier over a store of its own keeping `retention` of samples (it keeps nothing
    /// until [`MetricStore::keep`] names the metrics); one evaluation stops with an error
    /// after `query_timeout`, the other limits are the defaults.
    pub fn new(retention: Duration, query_timeout: Duration, telemetry: Arc<Telemetry>) -> Self {
        Self::over(
            Arc::new(MetricStore::new(retention, telemetry)),
            &QueryLimits::with_timeout(query_timeout),
        )
    }

    /// The store it reads.
    pub fn store(&self) -> &Arc<MetricStore> {
        &self.store
    }
}

/// The querier reads its store, and whoever holds one (tests, a one-process tool) may feed
/// the store through it.
impl Deref for Embedded {
    type Target = MetricStore;
    fn deref(&self) -> &MetricStore {
        &self.store
    }
}

impl Querier for Embedded {
    /// Evaluates on the blocking pool, so an expensive HPA query holds neither an async worker
    /// nor the other HPAs' evaluations; it passes no gate.
    fn instant<'a>(
        &'a self,
        query: &'a Query,
        time_ms: i64,
    ) -> BoxFuture<'a, Result<Value, Error>> {
        let (store, engine, query) = (self.store.clone(), self.engine.clone(), query.clone());
        Box::pin(async move {
            let v = tokio::task::spawn_blocking(move || {
                let started = std::time::Instant::now();
                engine.instant_parsed(store.source(), query.ast(), time_ms, started)
            })
            .await
            .map_err(|e| Error::Failed(e.to_string()))??;
            Ok(value(v))
        })
    }

    fn describe(&self) -> String {
        "embedded store".into()
    }
}

/// The engine's value as the querier's.
fn value(v: promql::Value) -> Value {
    match v {
        promql::Value::Scalar { t, v } => Value::Scalar { t_ms: t, v },
        promql::Value::Vector(samples) => Value::Vector(
            samples
                .into_iter()
                .map(|s| Sample {
                    labels: s
                        .labels
                        .iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                    t_ms: s.t,
                    v: s.v,
                })
                .collect(),
        ),
        promql::Value::Matrix(series) => Value::Matrix(series.len()),
        promql::Value::String { v, .. } => Value::String(v),
    }
}
