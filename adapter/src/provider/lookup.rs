//! The external metrics API's answers: the last outcome of every query that serves a metric
//! in a namespace and matches a request's selector.

use std::collections::BTreeMap;

use super::{Outcome, Provider};
use crate::selector::Selector;
use crate::sync;

/// What the API needs to answer a request, or why it cannot.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LookupError {
    /// No HPA in the namespace defines the metric.
    #[error("the server could not find the metric {metric} for namespace {namespace}")]
    NotFound { namespace: String, metric: String },
    /// Not evaluated yet, or the last value is too old.
    #[error("{0}")]
    Unavailable(String),
    /// The query failed or its result is not servable.
    #[error("{0}")]
    Failed(String),
}

/// A value to serve.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedValue {
    pub metric: String,
    pub labels: BTreeMap<String, String>,
    pub quantity: String,
    pub timestamp_ms: i64,
}

impl Provider {
    /// The values for one API request: every entry of `metric` in `namespace` whose labels match.
    pub fn lookup(
        &self,
        namespace: &str,
        metric: &str,
        selector: &Selector,
        now: i64,
    ) -> Result<Vec<ServedValue>, LookupError> {
        let state = sync::read(&self.state);
        let mut known = false;
        let mut out: Vec<(ServedValue, &str)> = Vec::new();
        for e in &state.entries {
            let q = &e.query;
            if q.namespace != namespace || q.metric != metric {
                continue;
            }
            known = true;
            if !selector.matches(&q.match_labels) {
                continue;
            }
            let who = format!("metric {metric} of HPA {namespace}/{}", q.hpa);
            let stale_ms = (e.interval_s * 1000.0) as i64 * i64::from(self.config.stale_intervals);
            let (quantity, at) = match &e.last {
                None => {
                    return Err(LookupError::Unavailable(format!(
                        "{who}: not evaluated yet"
                    )))
                }
                Some(Outcome::Error { error, .. }) => {
                    return Err(LookupError::Failed(format!("{who}: {error}")))
                }
                Some(Outcome::Warming { error, .. }) => {
                    return Err(LookupError::Unavailable(format!("{who}: {error}")))
                }
                Some(Outcome::Value {
                    quantity,
                    evaluated_ms,
                    ..
                }) => (quantity, *evaluated_ms),
            };
            if now - at > stale_ms {
                return Err(LookupError::Unavailable(format!(
                    "{who}: last value is {}s old (evaluation stalled)",
                    (now - at) / 1000
                )));
            }
            // Two HPAs with the same metric and labels: one value if they agree on the query.
            if let Some((prev, prev_query)) = out.iter().find(|(v, _)| v.labels == q.match_labels) {
                if *prev_query != q.query {
                    return Err(LookupError::Failed(format!(
                        "{who}: another HPA defines {metric} with the same labels {:?} and a different query",
                        prev.labels
                    )));
                }
                continue;
            }
            out.push((
                ServedValue {
                    metric: metric.to_owned(),
                    labels: q.match_labels.clone(),
                    quantity: quantity.clone(),
                    timestamp_ms: at,
                },
                &q.query,
            ));
        }
        if !known {
            return Err(LookupError::NotFound {
                namespace: namespace.to_owned(),
                metric: metric.to_owned(),
            });
        }
        Ok(out.into_iter().map(|(v, _)| v).collect())
    }
}
