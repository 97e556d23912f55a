//! The parameters of `/api/v1` requests, read as Prometheus reads them.

use std::time::Duration;

use axum::body::Bytes;

use super::answer::{bad, PromError};
use crate::clock::now_ms;

/// The request's parameters, the body's (a POSTed form) before the URL's: as in Prometheus
/// (Go's `Request.FormValue`), a parameter given in both is taken from the body.
pub(super) fn params(raw: Option<String>, body: &Bytes) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    if let Some(q) = raw.as_deref() {
        out.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
    }
    out
}

pub(super) fn get<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Prometheus' time format: Unix seconds (fractional) or RFC 3339, within the years
/// Prometheus can represent (its `MinTime`/`MaxTime`, about ±292 million years); a time
/// beyond is refused, not clamped.
pub(super) fn parse_time(s: &str) -> Result<i64, PromError> {
    // i64 milliseconds, as Prometheus' timestamps.
    const LIMIT_S: f64 = (i64::MAX / 1000) as f64;
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() && f.abs() <= LIMIT_S {
            return Ok((f * 1000.0).round() as i64);
        }
        return Err(bad(format!(
            "cannot parse {s:?} to a valid timestamp: it is outside the range Prometheus can represent"
        )));
    }
    humantime::parse_rfc3339_weak(s)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .ok_or_else(|| bad(format!("cannot parse {s:?} to a valid timestamp")))
}

/// Prometheus' duration format: seconds (fractional) or `5m`, `1h30m`.
pub(super) fn parse_step(s: &str) -> Result<i64, PromError> {
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() && f.abs() <= (i64::MAX / 1000) as f64 {
            return Ok((f * 1000.0).round() as i64);
        }
        return Err(bad(format!(
            "cannot parse {s:?} to a valid duration: it is out of range"
        )));
    }
    humantime::parse_duration(s)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .ok_or_else(|| bad(format!("cannot parse {s:?} to a valid duration")))
}

/// The optional `timeout` parameter (Prometheus: the evaluation timeout, capped by
/// `--query-timeout`); a value that does not parse is refused, as Prometheus does.
pub(super) fn parse_timeout(p: &[(String, String)]) -> Result<Option<Duration>, PromError> {
    let Some(s) = get(p, "timeout") else {
        return Ok(None);
    };
    match parse_step(s) {
        Ok(ms) if ms > 0 => Ok(Some(Duration::from_millis(ms as u64))),
        Ok(_) => Err(bad(format!(
            "invalid parameter \"timeout\": {s:?} is not a positive duration"
        ))),
        Err(e) => Err(bad(format!("invalid parameter \"timeout\": {}", e.message))),
    }
}

pub(super) fn series_window(p: &[(String, String)]) -> Result<(Vec<String>, i64, i64), PromError> {
    let end = get(p, "end").map_or(Ok(now_ms()), parse_time)?;
    let start = get(p, "start").map_or(Ok(end - 5 * 60 * 1000), parse_time)?;
    let matchers: Vec<String> = p
        .iter()
        .filter(|(k, _)| k == "match[]")
        .map(|(_, v)| v.clone())
        .collect();
    Ok((matchers, start, end))
}
