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

/// Ready once every HPA query has an outcome (a value or an error) and none is withheld while
/// the adapter warms up ([`crate::provider::Provider::readiness`]): the HPA's requests go to a
/// replica that can answer them. A 503 says why not.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    match state.provider.readiness(crate::clock::now_ms()) {
        Ok(()) => (StatusCode::OK, "ok".into()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

/// Targets, HPAs, and each query's last value and error.
pub async fn status(State(state): State<AppState>) -> Json<serde_json::Value> {
    let mut body = state.provider.status();
    if let Some(targets) = &state.targets {
        if let serde_json::Value::Object(fields) = targets() {
            for (k, v) in fields {
                body[k] = v;
            }
        }
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
