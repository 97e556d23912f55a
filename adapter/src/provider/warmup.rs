//! The warm-up: whether the embedded store holds the history a query reads (its
//! [`window`](mixerless_engine::promql::query::window)). After a start, or for a metric the
//! store began keeping for a new or edited query, the history is short; a value computed from
//! it would be wrong (a third of a rate), so it is withheld or served marked partial
//! ([`super::PartialData`]).

use std::time::Duration;

use super::{EvalError, Provider, Since};
use crate::hpa::MetricQuery;
use mixerless_engine::promql::Query;

/// Whether the embedded store holds the history a query reads.
pub(super) enum Coverage {
    Full,
    Short {
        have_ms: i64,
        need_ms: i64,
        ready_ms: Option<i64>,
        late: bool,
    },
    Never(EvalError),
}

/// How much history the store holds for one query (see [`Provider::history`]).
struct Held {
    /// The window the query reads.
    need: Duration,
    /// How long the history is at the evaluation time (`None`: no scrape yet).
    have_ms: Option<i64>,
    /// It began after the adapter's first scrape.
    late: bool,
    /// The store does not keep a metric the query reads (it has no history of it at all).
    unkept: bool,
}

impl Held {
    /// Where the history began, for messages.
    fn since_what(&self) -> &'static str {
        if self.late {
            "since it began keeping the metrics the query reads"
        } else {
            "since its first successful scrape"
        }
    }
}

impl Provider {
    /// The window `query` reads and how much of it the embedded store holds at `now`; `None`
    /// without an embedded store.
    fn history(&self, query: &Query, now: i64) -> Option<Held> {
        let since = self.data_since.as_ref()?;
        let names = query.metric_names().ok().filter(|n| !n.is_empty());
        let per_metric = names.and_then(|n| self.metric_since.as_ref().and_then(|f| f(n)));
        let (since, late) = match per_metric {
            Some(Since::At { ms, late }) => (Some(ms), late),
            Some(Since::NotYet { late }) => (None, late),
            Some(Since::NotKept) => (None, true),
            None => (since(), false),
        };
        Some(Held {
            need: query.window(),
            have_ms: since.map(|t| now - t),
            late,
            unkept: per_metric == Some(Since::NotKept),
        })
    }

    /// Why `query` evaluated at `time_ms` on the embedded store reads partial data: its window
    /// reaches back before the store's history of its metrics begins (for `/api/v1` warnings).
    pub fn short_history(&self, query: &Query, time_ms: i64) -> Option<String> {
        let held = self.history(query, time_ms)?;
        if held.unkept {
            // Not a short history but none: the caller names the metrics not kept.
            return None;
        }
        match held.have_ms {
            None if held.late => Some(
                "no scrape has succeeded since the adapter began keeping the metrics the query reads: the result has no data".into(),
            ),
            None => Some(
                "no scrape has succeeded since the adapter started: the result has no data".into(),
            ),
            Some(have) if have < held.need.as_millis() as i64 => Some(format!(
                "the query reads {} of history and the adapter holds {} of it ({}): the result is computed from partial data",
                humantime::format_duration(held.need),
                whole_seconds(have),
                held.since_what()
            )),
            _ => None,
        }
    }

    /// How much of `parsed`'s window (the query of `q`) the store holds at `now`.
    pub(super) fn coverage(&self, q: &MetricQuery, parsed: Option<&Query>, now: i64) -> Coverage {
        if q.names_a_server() {
            return Coverage::Full;
        }
        let Some(Held {
            need,
            have_ms: have,
            late,
            ..
        }) = parsed.and_then(|p| self.history(p, now))
        else {
            return Coverage::Full;
        };
        if need > self.config.retention {
            return Coverage::Never(EvalError::BeyondRetention {
                need,
                retention: self.config.retention,
            });
        }
        let need_ms = need.as_millis() as i64;
        match have {
            None => Coverage::Short {
                have_ms: 0,
                need_ms,
                ready_ms: None,
                late,
            },
            Some(have) if have >= need_ms => Coverage::Full,
            Some(have) => Coverage::Short {
                have_ms: have,
                need_ms,
                ready_ms: Some(now - have + need_ms),
                late,
            },
        }
    }
}

/// `ms` as a duration in whole seconds (`20s`, `1m 5s`), for messages.
pub(super) fn whole_seconds(ms: i64) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_secs((ms / 1000).max(0) as u64))
}
