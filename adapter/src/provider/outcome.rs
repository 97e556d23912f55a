//! What one evaluation of an HPA query gave: a value, an error, or a value withheld while the
//! store's history is short. `/status` shows it as JSON, errors as their messages.

use std::time::Duration;

use serde::{Serialize, Serializer};

use super::policy::PolicyError;
use super::remotes::SourceError;
use crate::querier;

/// The last outcome of one query.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Outcome {
    Value {
        value: f64,
        quantity: String,
        evaluated_ms: i64,
        /// Set when the value was computed from less history than the query reads.
        #[serde(skip_serializing_if = "Option::is_none")]
        partial: Option<String>,
    },
    Error {
        error: EvalError,
        evaluated_ms: i64,
    },
    /// Withheld: the store does not yet hold the history the query reads.
    Warming {
        error: String,
        evaluated_ms: i64,
        /// When the history will be long enough, if a scrape has succeeded.
        ready_ms: Option<i64>,
        /// The history began after the adapter's (the store began keeping a metric when a
        /// new or edited query asked for it): every replica warms up alike, so `/readyz`
        /// ignores it.
        #[serde(skip)]
        late: bool,
    },
}

impl Outcome {
    /// Why it is not a value, for the log.
    pub(super) fn error(&self) -> String {
        match self {
            Outcome::Error { error, .. } => error.to_string(),
            Outcome::Warming { error, .. } => error.clone(),
            Outcome::Value { .. } => String::new(),
        }
    }
}

/// Why an evaluation gave no value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The query reads more history than the store keeps: it can never be right.
    #[error(
        "the query reads {} of history but --retention keeps {}; raise --retention",
        humantime::format_duration(*need),
        humantime::format_duration(*retention)
    )]
    BeyondRetention { need: Duration, retention: Duration },
    /// No querier for it.
    #[error("{0}")]
    Source(#[from] SourceError),
    /// The evaluation passed `--query-timeout`.
    #[error("query timed out after {0:?}")]
    Timeout(Duration),
    /// The querier failed.
    #[error("{0}")]
    Query(#[from] querier::Error),
    /// The result is not servable.
    #[error("{0}")]
    Policy(#[from] PolicyError),
}

impl Serialize for EvalError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
