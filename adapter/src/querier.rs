//! PromQL evaluation behind one trait: the embedded store and engine, or a remote
//! Prometheus-compatible HTTP API. The provider and `explain` only see [`Querier`]; the
//! `/api/v1` handlers see [`backend::PromBackend`], admitted by a [`gate::QueryGate`].

pub mod backend;
pub mod embedded;
pub mod gate;
pub mod remote;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use mixerless_engine::promql;

use mixerless_engine::promql::Query;

/// Why a query produced no value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The expression does not parse or cannot be evaluated here.
    #[error("query: {0}")]
    Query(#[from] promql::Error),
    /// The remote API refused the query (a 4xx answer): its error type and message.
    #[error("query: {kind}: {message}")]
    Refused { kind: String, message: String },
    /// The evaluation ended without an answer (its task panicked).
    #[error("query: query evaluation failed: {0}")]
    Failed(String),
    /// The remote API could not be reached or answered with an error.
    #[error("prometheus {url}: {message}")]
    Remote { url: String, message: String },
    /// The answer is not the JSON a Prometheus API returns.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub t_ms: i64,
    pub v: f64,
}

/// The result of an instant query, independent of where it was evaluated.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar {
        t_ms: i64,
        v: f64,
    },
    Vector(Vec<Sample>),
    /// A range vector (the HPA cannot use it); its series count.
    Matrix(usize),
    String(String),
}

/// A boxed future, so that queriers can live behind `dyn` (per-HPA servers).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Evaluates instant queries.
pub trait Querier: Send + Sync {
    /// Evaluates `query` at `time_ms` (Unix milliseconds).
    fn instant<'a>(&'a self, query: &'a Query, time_ms: i64)
        -> BoxFuture<'a, Result<Value, Error>>;

    /// Where the answers come from, for logs and `/status`.
    fn describe(&self) -> String;
}

/// Stack of every thread that parses or evaluates PromQL (the `/api/v1` threads and the tokio
/// runtime's): `--query-max-depth` bounds how deep they recurse, and the engine's tests
/// evaluate the default depth on a quarter of this in an unoptimized build.
pub const EVALUATION_STACK: usize = 8 << 20;

#[cfg(test)]
#[path = "querier/tests.rs"]
mod tests;
