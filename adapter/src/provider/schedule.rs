//! When queries run: each at its interval, none twice at once, every outcome recorded as soon
//! as it is in.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use mixerless_engine::promql;

use super::{Outcome, Provider};
use crate::clock::now_ms;
use crate::hpa::MetricQuery;
use crate::sync;
use mixerless_engine::promql::Query;

/// A query taken to be evaluated.
pub(super) struct Due {
    /// Its entry's index when taken.
    pub(super) index: usize,
    pub(super) query: MetricQuery,
    pub(super) parsed: Result<Query, promql::Error>,
}

impl Provider {
    /// The queries due at `now` and not being evaluated, marked as being evaluated.
    fn take_due(&self, now: i64) -> Vec<Due> {
        let _ = self
            .started_ms
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        let mut state = sync::write(&self.state);
        state
            .entries
            .iter_mut()
            .enumerate()
            .filter(|(_, e)| e.next_due_ms <= now && !e.in_flight)
            .map(|(index, e)| {
                e.in_flight = true;
                Due {
                    index,
                    query: e.query.clone(),
                    parsed: e.parsed.clone(),
                }
            })
            .collect()
    }

    /// Evaluates every query that is due and waits for them; returns how many ran.
    pub async fn evaluate_due(&self, now: i64) -> usize {
        let due = self.take_due(now);
        // Each outcome is recorded as soon as it is in: a slow query (up to --query-timeout)
        // must not hold back the other HPAs' fresh values.
        let mut evals: futures_util::stream::FuturesUnordered<_> = due
            .iter()
            .map(|d| async move { (d, self.evaluate(d, now).await) })
            .collect();
        while let Some((d, outcome)) = futures_util::StreamExt::next(&mut evals).await {
            self.record(d.index, &d.query, now, outcome);
        }
        due.len()
    }

    /// Runs the evaluation loop forever. Each due query is evaluated in a task of its own, so a
    /// slow one (up to `--query-timeout`) neither delays the others' values nor their next
    /// evaluations; it is not started again while it runs.
    pub async fn run(self: Arc<Self>) {
        loop {
            let now = now_ms();
            for d in self.take_due(now) {
                let p = self.clone();
                tokio::spawn(async move {
                    let outcome = p.evaluate(&d, now).await;
                    p.record(d.index, &d.query, now, outcome);
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Records the outcome of entry `i` (query `q`, evaluated at `now`), unless a reload
    /// replaced the entries meanwhile.
    fn record(&self, i: usize, q: &MetricQuery, now: i64, outcome: Outcome) {
        let mut state = sync::write(&self.state);
        // A reload meanwhile may have moved the entry (it keeps an unchanged query's state) or
        // dropped it.
        let at = match state.entries.get(i) {
            Some(e) if e.query == *q => Some(i),
            _ => state.entries.iter().position(|e| e.query == *q),
        };
        let Some(e) = at.and_then(|i| state.entries.get_mut(i)) else {
            return;
        };
        e.in_flight = false;
        let interval = q.interval.unwrap_or(self.config.default_interval);
        e.next_due_ms = now + interval.as_millis() as i64;
        let who = format!("{}/{}", q.namespace, q.hpa);
        match (&outcome, &e.last) {
            // Served as soon as the history is long enough, not up to an interval later.
            (Outcome::Warming { ready_ms, .. }, prev) => {
                e.next_due_ms = e.next_due_ms.min(ready_ms.unwrap_or(now + 1000));
                if !matches!(prev, Some(Outcome::Warming { .. })) {
                    tracing::info!(hpa = %who, metric = %q.metric, "withheld: {}", outcome.error());
                }
            }
            (
                Outcome::Value {
                    partial: Some(p), ..
                },
                prev,
            ) if !matches!(
                prev,
                Some(Outcome::Value {
                    partial: Some(_),
                    ..
                })
            ) =>
            {
                tracing::warn!(hpa = %who, metric = %q.metric, "serving a partial value: {p}");
            }
            (Outcome::Value { partial: None, .. }, Some(Outcome::Warming { .. })) => {
                tracing::info!(hpa = %who, metric = %q.metric, "history covers the query's window: serving");
            }
            _ => {}
        }
        if let Outcome::Value { value, .. } = &outcome {
            e.last_value = Some(*value);
        }
        if let (Outcome::Error { error, .. }, prev) = (&outcome, &e.last) {
            let repeated = matches!(prev, Some(Outcome::Error { error: p, .. }) if p == error);
            if !repeated {
                tracing::warn!(hpa = %who, metric = %q.metric, "{error}");
            }
        }
        e.last = Some(outcome);
    }
}
