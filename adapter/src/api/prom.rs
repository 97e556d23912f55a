//! A Prometheus-compatible HTTP API over the embedded store (`/api/v1/query`, `query_range`,
//! `series`, `labels`), so Flagger's Prometheus provider and Grafana can read the adapter.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;
use crate::provider::now_ms;

/// What the embedded store and engine answer; implemented by the embedded querier.
pub trait PromBackend: Send + Sync {
    /// The `data` object of an instant query.
    fn query(&self, expr: &str, time_ms: i64) -> Result<serde_json::Value, String>;
    /// The `data` object of a range query.
    fn query_range(
        &self,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<serde_json::Value, String>;
    /// The label sets of series matching any selector in `[start, end]`.
    fn series(
        &self,
        matchers: &[String],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<BTreeMap<String, String>>, String>;
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

/// A query that failed: a parse error is `bad_data` (400) as in Prometheus, the rest
/// `execution` (422).
fn execution(message: String) -> PromError {
    if message.starts_with("parse error") {
        return bad(message);
    }
    PromError {
        code: StatusCode::UNPROCESSABLE_ENTITY,
        kind: "execution",
        message,
    }
}

fn success(data: serde_json::Value) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
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

/// Runs a query evaluation on tokio's blocking pool: an expensive query must not hold an
/// async worker that the external metrics API and the scrapers need.
async fn evaluate(
    state: &AppState,
    eval: impl FnOnce(&dyn PromBackend) -> Result<serde_json::Value, String> + Send + 'static,
) -> Result<Response, PromError> {
    let b = state.prom.clone().ok_or_else(no_store)?;
    match tokio::task::spawn_blocking(move || eval(b.as_ref())).await {
        Ok(result) => result.map(success).map_err(execution),
        Err(e) => Err(execution(format!("query evaluation failed: {e}"))),
    }
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
    evaluate(&state, move |b| b.query(&expr, time)).await
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
    evaluate(&state, move |b| b.query_range(&expr, start, end, step)).await
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
    let b = backend(&state)?;
    let p = params(raw, &body);
    let (matchers, start, end) = series_window(&p)?;
    if matchers.is_empty() {
        return Err(bad("no match[] parameter provided".into()));
    }
    let s = b.series(&matchers, start, end).map_err(bad)?;
    Ok(success(json!(s)))
}

/// `/api/v1/labels`.
pub async fn labels(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, PromError> {
    let b = backend(&state)?;
    let p = params(raw, &body);
    let (mut matchers, start, end) = series_window(&p)?;
    if matchers.is_empty() {
        matchers.push(r#"{__name__=~".+"}"#.to_owned());
    }
    let s = b.series(&matchers, start, end).map_err(bad)?;
    let names: std::collections::BTreeSet<&String> = s.iter().flat_map(|l| l.keys()).collect();
    Ok(success(json!(names)))
}
