//! One evaluation of an HPA query: the warm-up check, the querier within `--query-timeout`,
//! the result policy.

use std::time::Duration;

use super::schedule::Due;
use super::warmup::{whole_seconds, Coverage};
use super::{policy, EvalError, Outcome, PartialData, Provider};
use crate::querier;

impl Provider {
    pub(super) async fn evaluate(&self, due: &Due, now: i64) -> Outcome {
        let q = &due.query;
        let partial = match self.coverage(q, due.parsed.as_ref().ok(), now) {
            Coverage::Full => None,
            Coverage::Never(error) => {
                self.telemetry.query_errors.inc();
                return Outcome::Error {
                    error,
                    evaluated_ms: now,
                };
            }
            Coverage::Short {
                have_ms,
                need_ms,
                ready_ms,
                late,
            } => {
                let since = if late {
                    "since it began keeping the metrics the query reads, for a new or edited query"
                } else {
                    "since its first successful scrape"
                };
                let have = format!(
                    "the adapter holds {} of history ({since}) and the query reads {}",
                    whole_seconds(have_ms),
                    humantime::format_duration(Duration::from_millis(need_ms as u64))
                );
                match (self.config.partial_data, ready_ms) {
                    (PartialData::Serve, Some(_)) => Some(have),
                    (_, None) => {
                        let error = if late {
                            "warming up: no scrape has succeeded since the adapter began keeping the metrics the query reads"
                        } else {
                            "warming up: no scrape has succeeded since the adapter started"
                        };
                        return Outcome::Warming {
                            error: error.into(),
                            evaluated_ms: now,
                            ready_ms: None,
                            late,
                        };
                    }
                    (PartialData::Refuse, Some(ready)) => {
                        return Outcome::Warming {
                            error: format!(
                                "warming up: {have}; served from {} (--partial-data serve serves it now, marked partial)",
                                humantime::format_rfc3339_seconds(
                                    std::time::UNIX_EPOCH
                                        + Duration::from_millis(ready.max(0) as u64)
                                )
                            ),
                            evaluated_ms: now,
                            ready_ms: Some(ready),
                            late,
                        }
                    }
                }
            }
        };
        let started = std::time::Instant::now();
        let result = self.value_of(due, now).await;
        self.telemetry
            .query_duration
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok((value, quantity)) => Outcome::Value {
                value,
                quantity,
                evaluated_ms: now,
                partial,
            },
            Err(error) => {
                self.telemetry.query_errors.inc();
                Outcome::Error {
                    error,
                    evaluated_ms: now,
                }
            }
        }
    }

    /// The value to serve for `due` at `now` and its Quantity text.
    async fn value_of(&self, due: &Due, now: i64) -> Result<(f64, String), EvalError> {
        let querier = self.remotes.querier_for(&due.query)?;
        let query = due.parsed.clone().map_err(querier::Error::Query)?;
        let timeout = self.config.query_timeout;
        let v = tokio::time::timeout(timeout, querier.instant(&query, now))
            .await
            .map_err(|_| EvalError::Timeout(timeout))??;
        Ok(policy::apply(&v, due.query.on_empty)?)
    }
}
