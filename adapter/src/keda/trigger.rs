//! A trigger's metadata (`ScaledObject.spec.triggers[].metadata`, sent by KEDA with every call):
//! the PromQL `query`, the per-replica `threshold`, the `activationThreshold`, and optional
//! `interval`, `prometheusUrl` and `ignoreNullValues`.

pub mod cache;

use std::collections::HashMap;
use std::time::Duration;

use mixerless_engine::promql::Query;

/// Why a trigger's metadata is refused (gRPC `InvalidArgument`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A required key is absent or empty.
    #[error("trigger metadata has no {0:?}")]
    Missing(&'static str),
    /// A number that does not parse or is out of range.
    #[error("trigger metadata {key:?}: {value:?} {why}")]
    Number {
        key: &'static str,
        value: String,
        why: &'static str,
    },
    /// `interval` is not a duration.
    #[error(
        "trigger metadata \"interval\": {value:?} is not a duration such as 5s or 1m: {message}"
    )]
    Interval { value: String, message: String },
    /// `ignoreNullValues` is not a boolean.
    #[error("trigger metadata \"ignoreNullValues\": {0:?} is not true or false")]
    Bool(String),
    /// The query does not parse.
    #[error("trigger metadata \"query\": {0}")]
    Query(String),
}

/// One trigger, as KEDA describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// Parsed once per trigger ([`cache`]); the evaluation, the store's filter and the
    /// warm-up read this parse.
    pub query: Query,
    /// The value per replica the HPA aims at (`targetSizeFloat`).
    pub threshold: f64,
    /// Active when the value is above this (KEDA's Prometheus scaler: `>`).
    pub activation: f64,
    /// How often `StreamIsActive` re-evaluates when no scrape lands (remote Prometheus).
    pub interval: Option<Duration>,
    /// Evaluate on this Prometheus-compatible API instead of the adapter's own store.
    pub prometheus_url: Option<String>,
    /// NaN and ±Inf read as 0, as KEDA's Prometheus scaler does by default.
    pub ignore_null_values: bool,
}

impl Trigger {
    /// Reads and checks the metadata; the query must parse.
    pub fn from_metadata(meta: &HashMap<String, String>) -> Result<Self, Error> {
        let get = |k: &str| meta.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let query = get("query").ok_or(Error::Missing("query"))?;
        let query = Query::parse(query).map_err(|e| Error::Query(e.to_string()))?;
        let threshold =
            number(get("threshold"), "threshold")?.ok_or(Error::Missing("threshold"))?;
        if threshold <= 0.0 {
            return Err(Error::Number {
                key: "threshold",
                value: threshold.to_string(),
                why: "is not above 0 (it is the value per replica)",
            });
        }
        let activation = number(get("activationThreshold"), "activationThreshold")?.unwrap_or(0.0);
        let interval = get("interval")
            .map(|v| {
                humantime::parse_duration(v)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| Error::Interval {
                        value: v.to_owned(),
                        message: "want a positive duration".into(),
                    })
            })
            .transpose()?;
        let ignore_null_values = match get("ignoreNullValues") {
            None => true,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => return Err(Error::Bool(v.to_owned())),
        };
        Ok(Self {
            query,
            threshold,
            activation,
            interval,
            prometheus_url: get("prometheusUrl").map(str::to_owned),
            ignore_null_values,
        })
    }

    /// The metric name KEDA registers for this trigger and sends back in `GetMetrics`: the same
    /// for the same query (and server) across calls and restarts, so a hash of them.
    pub fn metric_name(&self) -> String {
        let mut h = Fnv::default();
        h.write(self.query.text().as_bytes());
        if let Some(url) = &self.prometheus_url {
            h.write(b"\0");
            h.write(url.as_bytes());
        }
        format!("mixerless-{:016x}", h.0)
    }
}

fn number(v: Option<&str>, key: &'static str) -> Result<Option<f64>, Error> {
    let Some(v) = v else { return Ok(None) };
    match v.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(Some(n)),
        Ok(_) => Err(Error::Number {
            key,
            value: v.to_owned(),
            why: "is not finite",
        }),
        Err(_) => Err(Error::Number {
            key,
            value: v.to_owned(),
            why: "is not a number",
        }),
    }
}

/// FNV-1a (64 bit): std's hashers may change between Rust releases and a metric name must
/// not; six lines do not warrant a crate.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
#[path = "trigger/tests.rs"]
mod tests;
