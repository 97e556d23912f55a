//! A Prometheus-compatible HTTP API over the embedded store (`/api/v1/query`, `query_range`,
//! `series`, `labels`), so Flagger's Prometheus provider and Grafana can read the adapter.

mod answer;
mod params;

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use mixerless_engine::promql::parse as promql_parse;
use serde_json::json;

pub use answer::PromError;

use answer::{bad, no_store, success};
use params::{get, params, parse_step, parse_time, parse_timeout, series_window};

use super::AppState;
use crate::clock::now_ms;
use crate::querier::backend::{Budget, PromBackend, QueryError};
use crate::querier::EVALUATION_STACK;
use mixerless_engine::promql::Query;

fn backend(state: &AppState) -> Result<&dyn PromBackend, PromError> {
    state.prom.as_deref().ok_or_else(no_store)
}

/// Runs a series or labels lookup off the async workers (an expensive one must not hold a
/// worker that the external metrics API and the scrapers need), once the backend's
/// [`QueryGate`](crate::querier::gate::QueryGate) admits it. The slot is released when the lookup ends, not when the client
/// leaves.
async fn evaluate(
    state: &AppState,
    eval: impl FnOnce(&dyn PromBackend) -> Result<serde_json::Value, QueryError> + Send + 'static,
) -> Result<Response, PromError> {
    let b = state.prom.clone().ok_or_else(no_store)?;
    let permit = match b.gate() {
        Some(g) => Some(g.admit(1).await?),
        None => None,
    };
    let run = move || {
        let _permit = permit;
        eval(b.as_ref())
    };
    on_low_priority_thread(run)
        .await?
        .map(|data| success(data, None))
        .map_err(PromError::from)
}

/// What an `/api/v1/query` or `query_range` request evaluates.
#[derive(Debug, Clone, Copy)]
enum Times {
    Instant { time: i64 },
    Range { start: i64, end: i64, step: i64 },
}

impl Times {
    fn points(self) -> u64 {
        match self {
            Times::Instant { .. } => 1,
            Times::Range { start, end, step } => {
                u64::try_from((end - start) / step + 1).unwrap_or(1)
            }
        }
    }

    /// The earliest evaluation time.
    fn first(self) -> i64 {
        match self {
            Times::Instant { time } => time,
            Times::Range { start, .. } => start,
        }
    }
}

/// Evaluates `expr` at `times` the way the whole of it stays off the async workers and inside
/// the limits: a short-query slot of the [`QueryGate`](crate::querier::gate::QueryGate) first, then, on a low-priority thread,
/// one parse (size and depth limits first, within the timeout), the step count (a long query
/// trades its slot for a long-query one), the short-history warning and the evaluation.
async fn evaluate_query(
    state: &AppState,
    expr: String,
    times: Times,
    timeout: Option<Duration>,
) -> Result<Response, PromError> {
    let b = state.prom.clone().ok_or_else(no_store)?;
    // Refused at once, without a slot or a thread: one pass over text the body limit bounds.
    promql_parse::check_size(&expr, promql_parse::limits()).map_err(QueryError::from)?;
    let arrived = Instant::now();
    let admission = match b.gate() {
        Some(g) => Some(g.admit(1).await?),
        None => None,
    };
    let provider = state.provider.clone();
    let runtime = tokio::runtime::Handle::current();
    let run = move || -> Result<Response, PromError> {
        let budget = Budget {
            started: Instant::now(),
            timeout,
        };
        let query = Query::parse(&expr).map_err(QueryError::from)?;
        let minute = Duration::from_secs(60);
        let steps = promql_parse::steps_of(query.ast(), minute).saturating_mul(times.points());
        let _admission = match (admission, b.gate()) {
            (Some(a), Some(g)) => Some(g.widen(a, steps, arrived, &runtime)?),
            _ => None,
        };
        let warning = warnings(&provider, b.as_ref(), &query, times.first());
        let value = match times {
            Times::Instant { time } => b.query(&query, time, budget),
            Times::Range { start, end, step } => b.query_range(&query, start, end, step, budget),
        }?;
        Ok(success(value.to_api_json(), warning))
    };
    on_low_priority_thread(run).await?
}

/// Nice value of `/api/v1` evaluation threads: CFS then gives them almost none of the CPU
/// the async workers, scrapes and HPA evaluations want when they compete, and all of it when
/// idle. `scripts/bench-queries.sh` (external metrics GET p99 at 200 req/s with hostile queries
/// burning both cores): 9.0 ms at the API's priority, 4.0–8.3 ms at nice 10, 1.8–3.1 ms at 19.
const QUERY_NICE: i32 = 19;

/// Runs `f` on a thread of its own (the gate bounds how many) at [`QUERY_NICE`]: not on the
/// blocking pool, whose threads also ingest scrapes and evaluate HPA queries, and whose nice
/// value an unprivileged process could not lower again.
async fn on_low_priority_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PromError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("api-query".into())
        .stack_size(EVALUATION_STACK)
        .spawn(move || {
            // On Linux a thread id names one thread; failing to lower it costs nothing else.
            let _ =
                rustix::process::setpriority_process(Some(rustix::thread::gettid()), QUERY_NICE);
            let _ = tx.send(f());
        })
        .map_err(failed)?;
    rx.await.map_err(failed)
}

/// The error of an evaluation whose thread could not start or ended without an answer.
fn failed(e: impl std::fmt::Display) -> PromError {
    PromError::from(QueryError::Execution(format!(
        "query evaluation failed: {e}"
    )))
}

/// What to take with care in the result of `query` from `time_ms` on: history shorter than it
/// reads (after a (re)start, or a metric kept only since a new query asked for it), as the HPA
/// path says, and metric names the store does not keep (it holds no samples of them).
fn warnings(
    provider: &crate::provider::Provider,
    backend: &dyn PromBackend,
    query: &Query,
    time_ms: i64,
) -> Option<String> {
    let mut w: Vec<String> = provider.short_history(query, time_ms).into_iter().collect();
    if let Ok(names) = query.metric_names() {
        let unkept = backend.unkept(names);
        if !unkept.is_empty() {
            w.push(format!(
                "the adapter does not keep {}: no HPA query reads it and --keep-metrics does not match it, so the result has none of its samples",
                unkept.join(", ")
            ));
        }
    }
    (!w.is_empty()).then(|| w.join("; "))
}

/// `/api/v1/query`.
pub async fn query(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, PromError> {
    let p = params(raw, &body);
    let expr = get(&p, "query")
        .ok_or_else(|| bad("parameter query is required".into()))?
        .to_owned();
    let time = get(&p, "time").map_or(Ok(now_ms()), parse_time)?;
    let timeout = parse_timeout(&p)?;
    evaluate_query(&state, expr, Times::Instant { time }, timeout).await
}

/// `/api/v1/query_range`.
pub async fn query_range(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, PromError> {
    let p = params(raw, &body);
    let (Some(expr), Some(start), Some(end), Some(step)) = (
        get(&p, "query"),
        get(&p, "start"),
        get(&p, "end"),
        get(&p, "step"),
    ) else {
        return Err(bad(
            "parameters query, start, end and step are required".into()
        ));
    };
    let start = parse_time(start)?;
    let end = parse_time(end)?;
    let step = parse_step(step)?;
    if step <= 0 {
        return Err(bad(
            "zero or negative query resolution step widths are not accepted".into(),
        ));
    }
    if end < start {
        return Err(bad("end timestamp must not be before start time".into()));
    }
    if (end - start) / step > 11_000 {
        return Err(bad(
            "exceeded maximum resolution of 11,000 points per timeseries".into(),
        ));
    }
    let expr = expr.to_owned();
    let timeout = parse_timeout(&p)?;
    evaluate_query(&state, expr, Times::Range { start, end, step }, timeout).await
}

/// `/api/v1/series`.
pub async fn series(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, PromError> {
    backend(&state)?;
    let p = params(raw, &body);
    let (matchers, start, end) = series_window(&p)?;
    if matchers.is_empty() {
        return Err(bad("no match[] parameter provided".into()));
    }
    evaluate(&state, move |b| {
        b.series(&matchers, start, end).map(|s| json!(s))
    })
    .await
}

/// `/api/v1/labels`.
pub async fn labels(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, PromError> {
    backend(&state)?;
    let p = params(raw, &body);
    let (mut matchers, start, end) = series_window(&p)?;
    if matchers.is_empty() {
        matchers.push(r#"{__name__=~".+"}"#.to_owned());
    }
    evaluate(&state, move |b| {
        let s = b.series(&matchers, start, end)?;
        let names: std::collections::BTreeSet<&String> = s.iter().flat_map(|l| l.keys()).collect();
        Ok(json!(names))
    })
    .await
}
