//! `external.metrics.k8s.io/v1beta1`: discovery and `ExternalMetricValueList`s.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::clock::now_ms;
use crate::provider::LookupError;

const GROUP: &str = "external.metrics.k8s.io";
const GROUP_VERSION: &str = "external.metrics.k8s.io/v1beta1";

fn group() -> Value {
    json!({
        "name": GROUP,
        "versions": [{"groupVersion": GROUP_VERSION, "version": "v1beta1"}],
        "preferredVersion": {"groupVersion": GROUP_VERSION, "version": "v1beta1"},
    })
}

/// `GET /apis`: an `APIGroupList` with the one group.
pub async fn api_group_list() -> Json<Value> {
    Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group()]}))
}

/// `GET /apis/external.metrics.k8s.io`: the `APIGroup`.
pub async fn api_group() -> Json<Value> {
    let mut g = group();
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Json(g)
}

/// `GET /apis/external.metrics.k8s.io/v1beta1`: one resource per metric name the HPAs define.
pub async fn resource_list(State(state): State<AppState>) -> Json<Value> {
    let resources: Vec<Value> = state
        .provider
        .metric_names()
        .into_iter()
        .map(|name| {
            json!({"name": name, "singularName": "", "namespaced": true,
                   "kind": "ExternalMetricValueList", "verbs": ["get"]})
        })
        .collect();
    Json(json!({"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": GROUP_VERSION, "resources": resources}))
}

fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `GET .../namespaces/{ns}/{metric}?labelSelector=...`: the `ExternalMetricValueList`.
pub async fn metric_values(
    State(state): State<AppState>,
    Path((namespace, metric)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let raw = params.get("labelSelector").map_or("", String::as_str);
    let selector = crate::selector::parse(raw).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let values = state
        .provider
        .lookup(&namespace, &metric, &selector, now_ms())
        .map_err(|e| match e {
            LookupError::NotFound { .. } => ApiError::not_found(e.to_string()),
            LookupError::Unavailable(m) => ApiError::unavailable(m),
            LookupError::Failed(m) => ApiError::internal(m),
        })?;
    let items: Vec<Value> = values
        .into_iter()
        .map(|v| {
            json!({
                "metricName": v.metric,
                "metricLabels": if v.labels.is_empty() { Value::Null } else { json!(v.labels) },
                "timestamp": rfc3339(v.timestamp_ms),
                "value": v.quantity,
            })
        })
        .collect();
    Ok(Json(json!({
        "kind": "ExternalMetricValueList",
        "apiVersion": GROUP_VERSION,
        "metadata": {},
        "items": items,
    })))
}
