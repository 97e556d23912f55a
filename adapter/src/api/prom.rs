//! A Prometheus-compatible HTTP API over the embedded store (`/api/v1/query`, `query_range`,
//! `series`, `labels`), so Flagger's Prometheus provider and Grafana can read the adapter.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::AppState;
use crate::provider::now_ms;

/// What the embedded store and engine answer; implemented by the embedded querier.
pub trait PromBackend: Send + Sync {
    /// The `data` object of an instant query.
    fn query(&self, expr: &str, time_ms: i64) -> Result<serde_json::Value, QueryError>;
    /// The `data` object of a range query.
    fn query_range(
        &self,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<serde_json::Value, QueryError>;
    /// The label sets of series matching any selector in `[start, end]`.
    fn series(
        &self,
        matchers: &[String],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<BTreeMap<String, String>>, QueryError>;
    /// The bound on evaluations at once, if any.
    fn gate(&self) -> Option<&QueryGate> {
        None
    }
    /// The metric names among `names` whose samples are not kept: a query finds none.
    fn unkept(&self, names: &std::collections::BTreeSet<String>) -> Vec<String> {
        let _ = names;
        Vec::new()
    }
}

/// Why a query failed, as Prometheus' API classes it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The expression or a matcher does not parse: 400 `bad_data`.
    #[error("{0}")]
    BadData(String),
    /// The evaluation ran out of time: 503 `timeout`.
    #[error("{0}")]
    Timeout(String),
    /// Any other evaluation error, the samples limit included: 422 `execution`.
    #[error("{0}")]
    Execution(String),
}

impl From<QueryError> for PromError {
    fn from(e: QueryError) -> Self {
        let (code, kind) = match &e {
            QueryError::BadData(_) => (StatusCode::BAD_REQUEST, "bad_data"),
            QueryError::Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            QueryError::Execution(_) => (StatusCode::UNPROCESSABLE_ENTITY, "execution"),
        };
        PromError {
            code,
            kind,
            message: e.to_string(),
        }
    }
}

/// At most `slots` `/api/v1` evaluations at once (`--query-concurrency`, Prometheus'
/// `--query.max-concurrency`), and at most half of them (at least one) long ones: more than
/// [`QueryGate::LONG_STEPS`] evaluation steps. Selectors are bounded by the samples limit, so
/// only many steps (subqueries, range queries) make a query run up to the timeout; the other
/// half of the slots stays free for short queries however many long ones arrive. A request
/// waits up to `wait` for its slot(s), then gets 503 `unavailable`, so a flood of expensive
/// queries queues neither without bound nor in memory.
#[derive(Debug)]
pub struct QueryGate {
    slots: Arc<Semaphore>,
    long: Arc<Semaphore>,
    size: usize,
    long_size: usize,
    wait: Duration,
}

/// The slots one evaluation holds; dropping it frees them.
#[derive(Debug)]
pub struct Admission {
    _slot: OwnedSemaphorePermit,
    _long: Option<OwnedSemaphorePermit>,
}

impl QueryGate {
    /// Evaluation steps above which a query takes a long-query slot as well.
    pub const LONG_STEPS: u64 = 10_000;

    /// A gate of `slots` (at least one) where a request waits up to `wait`.
    pub fn new(slots: usize, wait: Duration) -> Self {
        let size = slots.max(1);
        let long_size = (size / 2).max(1);
        Self {
            slots: Arc::new(Semaphore::new(size)),
            long: Arc::new(Semaphore::new(long_size)),
            size,
            long_size,
            wait,
        }
    }

    /// Slots for an evaluation of `steps` steps, held until it ends (also when the client has
    /// gone).
    pub async fn admit(&self, steps: u64) -> Result<Admission, PromError> {
        let acquire = async {
            let long = if steps > Self::LONG_STEPS {
                Some(self.long.clone().acquire_owned().await?)
            } else {
                None
            };
            let slot = self.slots.clone().acquire_owned().await?;
            Ok::<_, tokio::sync::AcquireError>(Admission {
                _slot: slot,
                _long: long,
            })
        };
        match tokio::time::timeout(self.wait, acquire).await {
            Ok(Ok(admission)) => Ok(admission),
            _ => Err(PromError {
                code: StatusCode::SERVICE_UNAVAILABLE,
                kind: "unavailable",
                message: format!(
                    "too many queries: {} are being evaluated (--query-concurrency; {} of them with more than {} steps) and none finished within {:?}",
                    self.size, self.long_size, Self::LONG_STEPS, self.wait
                ),
            }),
        }
    }
}

/// Evaluation steps of `expr` over `points` evaluation times (see [`QueryGate`]); an
/// expression that does not parse is short (its evaluation reports the error).
fn steps(expr: &str, points: i64) -> u64 {
    let minute = Duration::from_secs(60);
    mixerless_engine::promql::parse::steps(expr, minute)
        .unwrap_or(1)
        .saturating_mul(u64::try_from(points.max(1)).unwrap_or(1))
}

fn params(raw: Option<String>, body: &Bytes) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = raw
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    out.extend(form_urlencoded::parse(body).into_owned());
    out
}

fn get<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A Prometheus API error (`{"status":"error","errorType":...}`).
#[derive(Debug)]
pub struct PromError {
    code: StatusCode,
    kind: &'static str,
    message: String,
}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        (
            self.code,
            Json(json!({"status": "error", "errorType": self.kind, "error": self.message})),
        )
            .into_response()
    }
}

fn bad(message: String) -> PromError {
    PromError {
        code: StatusCode::BAD_REQUEST,
        kind: "bad_data",
        message,
    }
}

/// Prometheus' success envelope; `warnings` (Prometheus' field for results to take with care)
/// only when there are some.
fn success(data: serde_json::Value, warnings: Option<String>) -> Response {
    match warnings {
        Some(w) => Json(json!({"status": "success", "data": data, "warnings": [w]})),
        None => Json(json!({"status": "success", "data": data})),
    }
    .into_response()
}

/// Prometheus' time format: Unix seconds (fractional) or RFC 3339.
fn parse_time(s: &str) -> Result<i64, PromError> {
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() {
            return Ok((f * 1000.0).round() as i64);
        }
    }
    humantime::parse_rfc3339_weak(s)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .ok_or_else(|| bad(format!("cannot parse {s:?} to a valid timestamp")))
}

/// Prometheus' duration format: seconds (fractional) or `5m`, `1h30m`.
fn parse_step(s: &str) -> Result<i64, PromError> {
    if let Ok(f) = s.parse::<f64>() {
        return Ok((f * 1000.0).round() as i64);
    }
    humantime::parse_duration(s)
        .map(|d| d.as_millis() as i64)
        .map_err(|_| bad(format!("cannot parse {s:?} to a valid duration")))
}

fn backend(state: &AppState) -> Result<&dyn PromBackend, PromError> {
    state.prom.as_deref().ok_or_else(no_store)
}

fn no_store() -> PromError {
    PromError {
        code: StatusCode::NOT_FOUND,
        kind: "unavailable",
        message: "no embedded store: the adapter reads a remote Prometheus (--prometheus-url)"
            .into(),
    }
}

/// Runs a query evaluation off the async workers (an expensive query must not hold one that the
/// external metrics API and the scrapers need), once the backend's [`QueryGate`] admits it. The
/// slot is released when the evaluation ends, not when the client leaves.
async fn evaluate(
    state: &AppState,
    steps: u64,
    warning: Option<String>,
    eval: impl FnOnce(&dyn PromBackend) -> Result<serde_json::Value, QueryError> + Send + 'static,
) -> Result<Response, PromError> {
    let b = state.prom.clone().ok_or_else(no_store)?;
    let permit = match b.gate() {
        Some(g) => Some(g.admit(steps).await?),
        None => None,
    };
    let run = move || {
        let _permit = permit;
        eval(b.as_ref())
    };
    match on_low_priority_thread(run).await {
        Ok(result) => result
            .map(|data| success(data, warning))
            .map_err(PromError::from),
        Err(e) => Err(PromError::from(QueryError::Execution(format!(
            "query evaluation failed: {e}"
        )))),
    }
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
) -> Result<T, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("api-query".into())
        .spawn(move || {
            // On Linux a thread id names one thread; failing to lower it costs nothing else.
            let _ =
                rustix::process::setpriority_process(Some(rustix::thread::gettid()), QUERY_NICE);
            let _ = tx.send(f());
        })
        .map_err(|e| e.to_string())?;
    rx.await.map_err(|e| e.to_string())
}

/// What to take with care in the result of `expr` from `time_ms` on: history shorter than it
/// reads (after a (re)start, or a metric kept only since a new query asked for it), as the HPA
/// path says, and metric names the store does not keep (it holds no samples of them).
fn warnings(state: &AppState, expr: &str, time_ms: i64) -> Option<String> {
    let mut w: Vec<String> = state
        .provider
        .short_history(expr, time_ms)
        .into_iter()
        .collect();
    if let (Some(b), Ok(names)) = (&state.prom, mixerless_engine::promql::metric_names(expr)) {
        let unkept = b.unkept(&names);
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
    let warning = warnings(&state, &expr, time);
    evaluate(&state, steps(&expr, 1), warning, move |b| {
        b.query(&expr, time)
    })
    .await
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
    let points = (end - start) / step + 1;
    let warning = warnings(&state, &expr, start);
    evaluate(&state, steps(&expr, points), warning, move |b| {
        b.query_range(&expr, start, end, step)
    })
    .await
}

fn series_window(p: &[(String, String)]) -> Result<(Vec<String>, i64, i64), PromError> {
    let end = get(p, "end").map_or(Ok(now_ms()), parse_time)?;
    let start = get(p, "start").map_or(Ok(end - 5 * 60 * 1000), parse_time)?;
    let matchers: Vec<String> = p
        .iter()
        .filter(|(k, _)| k == "match[]")
        .map(|(_, v)| v.clone())
        .collect();
    Ok((matchers, start, end))
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
    evaluate(&state, 1, None, move |b| {
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
    evaluate(&state, 1, None, move |b| {
        let s = b.series(&matchers, start, end)?;
        let names: std::collections::BTreeSet<&String> = s.iter().flat_map(|l| l.keys()).collect();
        Ok(json!(names))
    })
    .await
}
