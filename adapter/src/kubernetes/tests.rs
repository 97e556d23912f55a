//! `--kube` against a replayed API-server conversation: no kube-apiserver runs here, so a local
//! HTTP server answers the requests the adapter makes (pod and HPA lists, Event creation) with
//! bodies in kube-apiserver's wire format, and records what the adapter sent.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::*;

const PODS: &str = r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1042"},"items":[
 {"metadata":{"name":"podinfo-7d9f8c-abcde","namespace":"test","labels":{"app":"podinfo"},
   "annotations":{"sidecar.istio.io/status":"{\"containers\":[\"istio-proxy\"]}"}},
  "spec":{"containers":[{"name":"podinfo","image":"podinfo"},{"name":"istio-proxy","image":"proxyv2"}]},
  "status":{"phase":"Running","podIP":"10.0.0.7"}},
 {"metadata":{"name":"podinfo-7d9f8c-pending","namespace":"test","labels":{"app":"podinfo"}},
  "spec":{"containers":[{"name":"podinfo","image":"podinfo"},{"name":"istio-proxy","image":"proxyv2"}]},
  "status":{"phase":"Pending"}},
 {"metadata":{"name":"no-sidecar","namespace":"test","labels":{"app":"podinfo"}},
  "spec":{"containers":[{"name":"job","image":"busybox"}]},
  "status":{"phase":"Running","podIP":"10.0.0.9"}}]}"#;

const HPAS: &str = r#"{"kind":"HorizontalPodAutoscalerList","apiVersion":"autoscaling/v2","metadata":{"resourceVersion":"1043"},"items":[
 {"metadata":{"name":"podinfo-total","namespace":"test","annotations":{
   "metric-config.external.prometheus-query.prometheus/processed-requests-per-second":"sum(rate(istio_requests_total{reporter=\"destination\"}[1m]))"}},
  "spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"podinfo"},"minReplicas":1,"maxReplicas":5,
   "metrics":[{"type":"External","external":{"metric":{"name":"prometheus-query","selector":{"matchLabels":{"query-name":"processed-requests-per-second"}}},
     "target":{"type":"AverageValue","averageValue":"10"}}}]},
  "status":{"currentReplicas":1,"desiredReplicas":1}},
 {"metadata":{"name":"broken","namespace":"test","annotations":{
   "metric-config.external.errors.prometheus/query":"sum(rate(x[1m])"}},
  "spec":{"scaleTargetRef":{"kind":"Deployment","name":"podinfo"},"maxReplicas":5,
   "metrics":[{"type":"External","external":{"metric":{"name":"errors","selector":{"matchLabels":{"type":"prometheus"}}},
     "target":{"type":"Value","value":"1"}}}]}}]}"#;

#[derive(Default)]
struct Recorded {
    requests: Mutex<Vec<String>>,
    events: Mutex<Vec<Value>>,
}

async fn api_server() -> (String, Arc<Recorded>, tokio::task::JoinHandle<()>) {
    let rec = Arc::new(Recorded::default());
    let app =
        Router::new()
            .route(
                "/api/v1/namespaces/{ns}/pods",
                get(
                    |State(r): State<Arc<Recorded>>,
                     Path(ns): Path<String>,
                     RawQuery(q): RawQuery| async move {
                        r.requests
                            .lock()
                            .unwrap()
                            .push(format!("GET pods {ns} {}", q.unwrap_or_default()));
                        ([("content-type", "application/json")], PODS)
                    },
                ),
            )
            .route(
                "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
                get(
                    |State(r): State<Arc<Recorded>>, Path(ns): Path<String>| async move {
                        r.requests.lock().unwrap().push(format!("GET hpas {ns}"));
                        ([("content-type", "application/json")], HPAS)
                    },
                ),
            )
            .route(
                "/api/v1/namespaces/{ns}/events",
                post(
                    |State(r): State<Arc<Recorded>>,
                     Path(ns): Path<String>,
                     Json(mut ev): Json<Value>| async move {
                        r.requests.lock().unwrap().push(format!("POST events {ns}"));
                        r.events.lock().unwrap().push(ev.clone());
                        ev["metadata"]["name"] = json!("broken.17a1");
                        (axum::http::StatusCode::CREATED, Json(ev))
                    },
                ),
            )
            .with_state(rec.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, rec, task)
}

fn config() -> KubeConfig {
    KubeConfig {
        namespaces: vec!["test".into()],
        pod_selector: "app=podinfo".into(),
        port: 15020,
        path: "/stats/prometheus".into(),
        resync: Duration::from_secs(10),
    }
}

/// Demonstrates `--kube` over a replayed API-server conversation: only the Running pod with a
/// sidecar becomes a target (with namespace and pod labels), the HPA list is resolved like
/// manifests (the broken one reported), and each problem is posted once as a Warning Event on
/// its HPA.
#[tokio::test]
async fn discovers_pods_lists_hpas_and_posts_events() {
    let (url, rec, server) = api_server().await;
    let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
    let cfg = config();

    let targets = pods::discover(&client, &cfg, "kubernetes-pods")
        .await
        .unwrap();
    assert_eq!(targets.len(), 1, "{targets:?}");
    assert_eq!(targets[0].url, "http://10.0.0.7:15020/stats/prometheus");
    let labels: Vec<(&str, &str)> = targets[0]
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("instance", "10.0.0.7:15020"),
            ("job", "kubernetes-pods"),
            ("namespace", "test"),
            ("pod", "podinfo-7d9f8c-abcde")
        ]
    );

    let snap = hpas::list(&client, &cfg).await.unwrap();
    assert_eq!(snap.hpas.len(), 2);
    let total = snap
        .hpas
        .iter()
        .find(|h| h.name == "podinfo-total")
        .unwrap();
    assert_eq!(total.queries.len(), 1);
    assert_eq!(
        total.queries[0].query,
        r#"sum(rate(istio_requests_total{reporter="destination"}[1m]))"#
    );
    let broken = snap.hpas.iter().find(|h| h.name == "broken").unwrap();
    assert!(
        broken.errors[0].contains("metric errors: query does not parse"),
        "{:?}",
        broken.errors
    );

    let mut seen = std::collections::HashSet::new();
    assert_eq!(events::report(&client, &snap, &mut seen).await.unwrap(), 1);
    assert_eq!(
        events::report(&client, &snap, &mut seen).await.unwrap(),
        0,
        "reported once"
    );
    let ev = rec.events.lock().unwrap()[0].clone();
    assert_eq!(ev["involvedObject"]["kind"], "HorizontalPodAutoscaler");
    assert_eq!(ev["involvedObject"]["name"], "broken");
    assert_eq!(ev["reason"], events::REASON);
    assert_eq!(ev["type"], "Warning");
    assert!(ev["message"]
        .as_str()
        .unwrap()
        .contains("query does not parse"));

    let requests = rec.requests.lock().unwrap().clone();
    assert_eq!(
        requests,
        [
            "GET pods test &labelSelector=app%3Dpodinfo",
            "GET hpas test",
            "POST events test"
        ]
    );
    server.abort();
}
