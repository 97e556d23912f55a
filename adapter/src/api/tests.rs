//! Handlers through `app(state).oneshot(request)`, over a provider with a fake querier.

use std::sync::Arc;

use mixerless_engine::exposition::Format;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use super::*;
use crate::hpa::dir;
use crate::provider::ProviderConfig;
use crate::querier::gate::QueryGate;
use crate::querier::{self, BoxFuture, Querier};
use mixerless_engine::promql::Query;

/// Answers `sum(rps)` with 10.056, `vector(0)[0:0]`-like matrix for `matrix`, errors otherwise.
struct Fake;

impl Querier for Fake {
    fn instant<'a>(
        &'a self,
        q: &'a Query,
        t: i64,
    ) -> BoxFuture<'a, Result<querier::Value, querier::Error>> {
        let v = match q.text() {
            "sum(rps)" => Ok(querier::Value::Scalar { t_ms: t, v: 10.056 }),
            "sum(big)" => Ok(querier::Value::Scalar { t_ms: t, v: 2.5e6 }),
            _ => Ok(querier::Value::Vector(vec![])),
        };
        Box::pin(async move { v })
    }
    fn describe(&self) -> String {
        "fake".into()
    }
}

const HPAS: &str = r#"
kind: HorizontalPodAutoscaler
metadata:
  name: rps
  namespace: test
  annotations:
    metric-config.external.prometheus-query.prometheus/processed-requests-per-second: sum(rps)
    metric-config.external.prometheus-query.prometheus/big: sum(big)
spec:
  maxReplicas: 5
  metrics:
  - {type: External, external: {metric: {name: prometheus-query, selector: {matchLabels: {query-name: processed-requests-per-second}}}, target: {type: AverageValue, averageValue: "10"}}}
  - {type: External, external: {metric: {name: prometheus-query, selector: {matchLabels: {query-name: big}}}, target: {type: Value, value: "10"}}}
---
kind: HorizontalPodAutoscaler
metadata:
  name: broken
  namespace: test
  annotations:
    metric-config.external.errors.prometheus/query: sum(rate(x[1m])
    metric-config.external.empty.prometheus/query: sum(nothing)
spec:
  maxReplicas: 5
  metrics:
  - {type: External, external: {metric: {name: errors, selector: {matchLabels: {type: prometheus}}}}}
  - {type: External, external: {metric: {name: empty, selector: {matchLabels: {type: prometheus}}}}}
"#;

async fn state(auth: Auth) -> AppState {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = std::env::temp_dir().join(format!("mixerless-api-test-{}-{n}", std::process::id()));
    let _ = std::fs::create_dir_all(&tmp);
    let file = tmp.join("hpa.yaml");
    std::fs::write(&file, HPAS).unwrap();
    let snap = dir::load(&tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    let telemetry = Arc::new(Telemetry::new());
    let provider = Arc::new(Provider::new(
        ProviderConfig::default(),
        Arc::new(Fake),
        None,
        telemetry.clone(),
    ));
    provider.set_hpas(&snap);
    provider.evaluate_due(crate::clock::now_ms()).await;
    AppState {
        provider,
        telemetry,
        prom: None,
        targets: None,
        auth,
    }
}

async fn get(state: &AppState, uri: &str, id: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::get(uri).body(Body::empty()).unwrap();
    if let Some(cn) = id {
        req.extensions_mut().insert(ClientIdentity {
            common_name: cn.into(),
        });
    }
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, body)
}

const BASE: &str = "/apis/external.metrics.k8s.io/v1beta1";

/// Demonstrates discovery: the group list, the group, and one resource per metric name.
#[tokio::test]
async fn discovery_documents() {
    let s = state(Auth::default()).await;
    let (code, body) = get(&s, "/apis", None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["kind"], "APIGroupList");
    assert_eq!(
        body["groups"][0]["preferredVersion"]["groupVersion"],
        "external.metrics.k8s.io/v1beta1"
    );
    let (_, body) = get(&s, "/apis/external.metrics.k8s.io", None).await;
    assert_eq!(body["kind"], "APIGroup");
    let (code, body) = get(&s, BASE, None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["kind"], "APIResourceList");
    let names: Vec<&str> = body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["empty", "prometheus-query"],
        "the unparsable metric is not listed"
    );
    assert_eq!(body["resources"][0]["kind"], "ExternalMetricValueList");
    assert_eq!(body["resources"][0]["namespaced"], true);
}

/// Demonstrates the value list the HPA reads: canonical Quantity, metricLabels, timestamp.
#[tokio::test]
async fn external_metric_value_list() {
    let s = state(Auth::default()).await;
    let uri = format!(
        "{BASE}/namespaces/test/prometheus-query?labelSelector=query-name%3Dprocessed-requests-per-second"
    );
    let (code, body) = get(&s, &uri, None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "ExternalMetricValueList");
    assert_eq!(body["apiVersion"], "external.metrics.k8s.io/v1beta1");
    assert_eq!(body["metadata"], serde_json::json!({}));
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["metricName"], "prometheus-query");
    assert_eq!(items[0]["value"], "10056m");
    assert_eq!(
        items[0]["metricLabels"]["query-name"],
        "processed-requests-per-second"
    );
    let ts = items[0]["timestamp"].as_str().unwrap();
    assert!(
        ts.len() == 20 && ts.ends_with('Z'),
        "second precision RFC 3339: {ts}"
    );
    let (_, body) = get(
        &s,
        &format!("{BASE}/namespaces/test/prometheus-query?labelSelector=query-name%20in%20(big)"),
        None,
    )
    .await;
    assert_eq!(body["items"][0]["value"], "2500k");
    // No selector: both queries' items, which the HPA would sum.
    let (_, body) = get(
        &s,
        &format!("{BASE}/namespaces/test/prometheus-query"),
        None,
    )
    .await;
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
}

/// Demonstrates Status errors: bad selector 400, unknown namespace/metric 404, empty result 500
/// naming the HPA, unknown path 404.
#[tokio::test]
async fn malformed_requests_get_status_errors() {
    let s = state(Auth::default()).await;
    let cases = [
        (
            format!("{BASE}/namespaces/test/prometheus-query?labelSelector=query-name%20in%20(a"),
            400,
            "BadRequest",
            "invalid labelSelector",
        ),
        (
            format!("{BASE}/namespaces/nope/prometheus-query"),
            404,
            "NotFound",
            "could not find the metric prometheus-query for namespace nope",
        ),
        (
            format!("{BASE}/namespaces/test/nope"),
            404,
            "NotFound",
            "could not find the metric nope",
        ),
        (
            format!("{BASE}/namespaces/test/empty"),
            500,
            "InternalError",
            "HPA test/broken: query returned no series",
        ),
        ("/openapi/v2".to_owned(), 404, "NotFound", "/openapi/v2"),
    ];
    for (uri, code, reason, message) in cases {
        let (status, body) = get(&s, &uri, None).await;
        assert_eq!(status.as_u16(), code, "{uri}: {body}");
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["status"], "Failure");
        assert_eq!(body["code"], code);
        assert_eq!(body["reason"], reason);
        assert!(
            body["message"].as_str().unwrap().contains(message),
            "{uri}: {body}"
        );
    }
}

/// Demonstrates `/status` (HPA errors named), `/readyz`, `/metrics`, and `/api/v1` without a store.
#[tokio::test]
async fn operational_endpoints() {
    let s = state(Auth::default()).await;
    let (code, body) = get(&s, "/status", None).await;
    assert_eq!(code, StatusCode::OK);
    let broken = body["hpas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "broken")
        .unwrap();
    assert!(
        broken["errors"][0]
            .as_str()
            .unwrap()
            .contains("metric errors: query does not parse"),
        "{broken}"
    );
    let rps = body["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["query"] == "sum(rps)")
        .unwrap();
    assert_eq!(rps["last"]["quantity"], "10056m");
    assert_eq!(get(&s, "/readyz", None).await.0, StatusCode::OK);
    assert_eq!(get(&s, "/healthz", None).await.0, StatusCode::OK);
    let (_, text) = get(&s, "/metrics", None).await;
    let text = text.as_str().unwrap().to_owned();
    assert!(text.contains("mixerless_adapter_hpa_errors 1"), "{text}");
    assert!(
        text.contains("mixerless_adapter_query_errors_total 1"),
        "{text}"
    );
    assert_eq!(
        get(&s, "/api/v1/query?query=up", None).await.0,
        StatusCode::NOT_FOUND
    );
}

/// Demonstrates client-certificate auth: no certificate 401, a name not allowed 403, the
/// allowed name served; probes need no certificate.
#[tokio::test]
async fn client_certificate_is_required() {
    let s = state(Auth {
        require_client_cert: true,
        allowed_names: vec!["front-proxy-client".into()],
    })
    .await;
    let (code, body) = get(&s, BASE, None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(body["reason"], "Unauthorized");
    let (code, _) = get(&s, BASE, Some("someone-else")).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, _) = get(&s, BASE, Some("front-proxy-client")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(get(&s, "/healthz", None).await.0, StatusCode::OK);
}

/// Demonstrates the Prometheus-compatible API over the embedded store: instant and range
/// queries, series and labels, and `bad_data` errors for missing or malformed parameters.
#[tokio::test]
async fn prometheus_api_over_the_embedded_store() {
    use crate::scrape::Sink as _;
    let mut s = state(Auth::default()).await;
    let embedded = Arc::new(crate::store::MetricStore::new(
        std::time::Duration::from_secs(600),
        s.telemetry.clone(),
    ));
    embedded.set_queries(&["sum(rate(req_total[1m]))".into()]);
    let t0: i64 = 1_700_000_000_000;
    let target = crate::scrape::Target {
        url: "http://a:1/stats/prometheus".into(),
        labels: vec![
            ("instance".to_owned(), "a:1".to_owned()),
            ("job".to_owned(), "envoy-stats".to_owned()),
        ],
        ..Default::default()
    };
    for k in 0..7i64 {
        let body = format!(
            "# TYPE req_total counter\nreq_total{{code=\"200\"}} {}\n",
            k * 50
        );
        embedded
            .ingest(&target, t0 + k * 10_000, body.as_bytes(), Format::Text004)
            .unwrap();
    }
    s.prom = Some(Arc::new(crate::querier::backend::StoreBackend::new(
        embedded,
        &crate::querier::embedded::QueryLimits::with_timeout(std::time::Duration::from_secs(10)),
    )));
    let end = (t0 + 60_000) / 1000;
    let (code, body) = get(
        &s,
        &format!("/api/v1/query?query=sum(rate(req_total%5B1m%5D))&time={end}"),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["resultType"], "vector");
    assert_eq!(body["data"]["result"][0]["value"][1], "5");
    let (code, body) = get(
        &s,
        &format!(
            "/api/v1/query_range?query=req_total&start={}&end={end}&step=30",
            end - 60
        ),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    assert_eq!(
        body["data"]["result"][0]["values"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let (_, body) = get(
        &s,
        &format!(
            "/api/v1/series?match%5B%5D=req_total&start={}&end={end}",
            end - 60
        ),
        None,
    )
    .await;
    assert_eq!(body["data"][0]["__name__"], "req_total");
    assert_eq!(body["data"][0]["instance"], "a:1");
    let (_, body) = get(
        &s,
        &format!("/api/v1/labels?start={}&end={end}", end - 60),
        None,
    )
    .await;
    assert_eq!(
        body["data"],
        serde_json::json!(["__name__", "code", "instance", "job"])
    );
    for (uri, want) in [
        ("/api/v1/query".to_owned(), "parameter query is required"),
        (
            "/api/v1/query?query=up&time=yesterday".to_owned(),
            "cannot parse \"yesterday\"",
        ),
        (
            format!("/api/v1/query_range?query=up&start={end}&end={end}&step=0"),
            "zero or negative",
        ),
        ("/api/v1/series".to_owned(), "no match[] parameter"),
    ] {
        let (code, body) = get(&s, &uri, None).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["errorType"], "bad_data");
        assert!(
            body["error"].as_str().unwrap().contains(want),
            "{uri}: {body}"
        );
    }
    let (code, body) = get(&s, "/api/v1/query?query=sum(", None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().unwrap().starts_with("parse error"),
        "{body}"
    );
    // A metric the store does not keep: success with no data, and a warning that says why,
    // in instant and range queries alike; a kept one gets none.
    assert_eq!(body.get("warnings"), None);
    for uri in [
        format!("/api/v1/query?query=sum(rate(other_total%5B1m%5D))%20%2B%20req_total&time={end}"),
        format!(
            "/api/v1/query_range?query=other_total%20or%20req_total&start={}&end={end}&step=30",
            end - 60
        ),
    ] {
        let (code, body) = get(&s, &uri, None).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        assert_eq!(
            body["warnings"],
            serde_json::json!(["the adapter does not keep other_total: no HPA query reads it and --keep-metrics does not match it, so the result has none of its samples"]),
            "{uri}"
        );
    }
    let (_, body) = get(
        &s,
        &format!("/api/v1/query?query=req_total&time={end}"),
        None,
    )
    .await;
    assert_eq!(body.get("warnings"), None, "{body}");
}

/// Demonstrates the query limits' answers, as Prometheus gives them: a query past the timeout
/// is 503 `timeout`, one holding too many samples 422 `execution`, and a query beyond
/// `--query-concurrency` that finds no free slot in time 503 `unavailable`; once the slot is
/// free the same query succeeds.
#[tokio::test]
async fn query_limits_answer_like_prometheus() {
    use crate::querier::backend::StoreBackend;
    use crate::querier::embedded::QueryLimits;
    use crate::scrape::Sink as _;
    let mut s = state(Auth::default()).await;
    let store = Arc::new(crate::store::MetricStore::new(
        std::time::Duration::from_secs(600),
        s.telemetry.clone(),
    ));
    let limits = QueryLimits {
        timeout: std::time::Duration::from_millis(200),
        max_samples: 5,
        concurrency: 1,
    };
    let embedded = Arc::new(StoreBackend::new(store.clone(), &limits));
    store.set_queries(&["req_total".into()]);
    let t0: i64 = 1_700_000_000_000;
    let target = crate::scrape::Target {
        url: "http://a:1/stats/prometheus".into(),
        labels: vec![("instance".to_owned(), "a:1".to_owned())],
        ..Default::default()
    };
    for k in 0..7i64 {
        let body = format!("req_total {}\n", k * 50);
        store
            .ingest(&target, t0 + k * 10_000, body.as_bytes(), Format::Text004)
            .unwrap();
    }
    s.prom = Some(embedded.clone());
    let end = (t0 + 60_000) / 1000;
    let q = |expr: &str| {
        format!(
            "/api/v1/query?query={}&time={end}",
            form_urlencoded::byte_serialize(expr.as_bytes()).collect::<String>()
        )
    };
    let (code, body) = get(&s, &q("count_over_time(req_total[1m])"), None).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errorType"], "execution");
    assert_eq!(
        body["error"],
        "query processing would load too many samples into memory in query execution (limit 5 samples)"
    );
    let (code, body) = get(
        &s,
        &q("max_over_time(max_over_time((vector(1) > 2)[1000s:1ms])[1000s:1ms])"),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["errorType"], "timeout");
    assert_eq!(body["error"], "query timed out after 200ms");

    let slot = embedded.gate().unwrap().admit(1).await.unwrap();
    let (code, body) = get(&s, &q("req_total"), None).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["errorType"], "unavailable");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("too many queries: 1 are being evaluated (--query-concurrency; 1 of them with more than 10000 steps) and none finished within 200ms"),
        "{body}"
    );
    drop(slot);
    let (code, body) = get(&s, &q("req_total"), None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["result"][0]["value"][1], "300");
}

/// Demonstrates that long queries (more than 10,000 steps) hold at most half the slots, so
/// short ones still get the rest, and that every request gives up after its wait.
#[tokio::test]
async fn long_queries_leave_slots_for_short_ones() {
    use axum::response::IntoResponse as _;
    let gate = QueryGate::new(4, std::time::Duration::from_millis(50));
    let long = QueryGate::LONG_STEPS + 1;
    let a = gate.admit(long).await.unwrap();
    let _b = gate.admit(long).await.unwrap();
    let refused = prom::PromError::from(gate.admit(long).await.unwrap_err()).into_response();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let _c = gate.admit(1).await.unwrap();
    let _d = gate.admit(QueryGate::LONG_STEPS).await.unwrap();
    assert!(gate.admit(1).await.is_err(), "all four slots are taken");
    drop(a);
    let _e = gate.admit(long).await.unwrap();
}

/// Demonstrates how a query found long after its parse trades its short slot: it gives the
/// slot back (short queries get it meanwhile), waits for a long-query slot only for what is
/// left of its wait, and keeps a short admission as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_query_trades_its_slot_within_one_wait() {
    let wait = std::time::Duration::from_millis(200);
    let gate = std::sync::Arc::new(QueryGate::new(2, wait));
    let long = QueryGate::LONG_STEPS + 1;
    let runtime = tokio::runtime::Handle::current();
    // The one long-query slot is taken.
    let held = gate.admit(long).await.unwrap();
    let arrived = std::time::Instant::now();
    let short = gate.admit(1).await.unwrap();
    let (g, rt) = (gate.clone(), runtime.clone());
    let refused = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let r = g.widen(short, long, arrived, &rt);
        (r.is_err(), started.elapsed())
    });
    // While it waits, its short slot is free for a short query.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let other = gate.admit(1).await.expect("the traded slot is free");
    let (was_refused, waited) = refused.await.unwrap();
    assert!(was_refused, "the long slot stayed taken");
    assert!(
        waited < wait + std::time::Duration::from_millis(100),
        "{waited:?}"
    );
    drop((held, other));
    // With the long slot free it is admitted; a short query keeps its admission.
    let short = gate.admit(1).await.unwrap();
    let (g, rt) = (gate.clone(), runtime.clone());
    let now = std::time::Instant::now();
    let widened = tokio::task::spawn_blocking(move || g.widen(short, long, now, &rt).is_ok());
    assert!(widened.await.unwrap());
    let short = gate.admit(1).await.unwrap();
    let (g, rt) = (gate.clone(), runtime);
    assert!(
        tokio::task::spawn_blocking(move || g.widen(short, 1, now, &rt).is_ok())
            .await
            .unwrap()
    );
}
