//! Prometheus' answer envelopes: `{"status":"success","data":...}` and its errors.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::querier::backend::QueryError;
use crate::querier::gate::Busy;

/// A Prometheus API error (`{"status":"error","errorType":...}`).
#[derive(Debug)]
pub struct PromError {
    pub(super) code: StatusCode,
    pub(super) kind: &'static str,
    pub(super) message: String,
}

impl From<Busy> for PromError {
    fn from(e: Busy) -> Self {
        PromError {
            code: StatusCode::SERVICE_UNAVAILABLE,
            kind: "unavailable",
            message: e.to_string(),
        }
    }
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

pub(super) fn bad(message: String) -> PromError {
    PromError {
        code: StatusCode::BAD_REQUEST,
        kind: "bad_data",
        message,
    }
}

/// Prometheus' success envelope; `warnings` (Prometheus' field for results to take with care)
/// only when there are some.
pub(super) fn success(data: serde_json::Value, warnings: Option<String>) -> Response {
    match warnings {
        Some(w) => Json(json!({"status": "success", "data": data, "warnings": [w]})),
        None => Json(json!({"status": "success", "data": data})),
    }
    .into_response()
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

pub(super) fn no_store() -> PromError {
    PromError {
        code: StatusCode::NOT_FOUND,
        kind: "unavailable",
        message: "no embedded store: the adapter reads a remote Prometheus (--prometheus-url)"
            .into(),
    }
}
