//! `/healthz`, `/readyz`, `/status`, `/metrics`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;

use super::AppState;

/// Alive as long as it answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready once every HPA query has an outcome (a value or an error), so the HPA's first request
/// is not answered "not evaluated yet".
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.provider.all_evaluated() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "queries not evaluated yet")
    }
}

/// Targets, HPAs, and each query's last value and error.
pub async fn status(State(state): State<AppState>) -> Json<serde_json::Value> {
    let mut body = state.provider.status();
    if let Some(targets) = &state.targets {
        body["targets"] = targets();
    }
    Json(body)
}

/// The adapter's own metrics.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.telemetry.encode(),
    )
}
