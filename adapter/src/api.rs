//! The HTTP API: `external.metrics.k8s.io/v1beta1` for the HPA, a Prometheus-compatible
//! `/api/v1/*` over the embedded store, and the operational endpoints. One [`app`] serves the
//! real server and the tests.

pub mod auth;
pub mod body;
pub mod error;
pub mod external;
pub mod ops;
pub mod prom;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::provider::Provider;
use crate::telemetry::{RequestLabels, Telemetry};

pub use crate::querier::backend::PromBackend;
pub use auth::{Auth, ClientIdentity};
pub use body::{BODY_DRAIN_LIMIT, BODY_LIMIT, BODY_READ_TIMEOUT};
pub use error::ApiError;

/// Reports the scrape targets for `/status`: an object whose fields (`targets`,
/// `target_errors`) join it.
pub type TargetsStatus = dyn Fn() -> serde_json::Value + Send + Sync;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub provider: Arc<Provider>,
    pub telemetry: Arc<Telemetry>,
    /// The embedded store and engine, when the adapter scrapes (else `/api/v1/*` answers 404).
    pub prom: Option<Arc<dyn PromBackend>>,
    pub targets: Option<Arc<TargetsStatus>>,
    pub auth: Auth,
}

/// The router.
pub fn app(state: AppState) -> Router {
    let ext = "/apis/external.metrics.k8s.io";
    Router::new()
        .route("/apis", get(external::api_group_list))
        .route(ext, get(external::api_group))
        .route(&format!("{ext}/v1beta1"), get(external::resource_list))
        .route(
            &format!("{ext}/v1beta1/namespaces/{{namespace}}/{{metric}}"),
            get(external::metric_values),
        )
        .route("/api/v1/query", get(prom::query).post(prom::query))
        .route(
            "/api/v1/query_range",
            get(prom::query_range).post(prom::query_range),
        )
        .route("/api/v1/series", get(prom::series).post(prom::series))
        .route("/api/v1/labels", get(prom::labels).post(prom::labels))
        .route("/healthz", get(ops::healthz))
        .route("/livez", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/status", get(ops::status))
        .route("/metrics", get(ops::metrics))
        .fallback(error::not_found)
        .layer(middleware::from_fn(body::read_whole))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_client,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    state
        .telemetry
        .request_duration
        .observe(started.elapsed().as_secs_f64());
    state
        .telemetry
        .requests
        .get_or_create(&RequestLabels {
            path,
            code: resp.status().as_u16().to_string(),
        })
        .inc();
    resp
}

#[cfg(test)]
#[path = "api/tests.rs"]
mod tests;
