//! `--kube` objects in kube-apiserver's wire format, and a local HTTP server that takes the
//! Events the adapter posts and records them.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::*;

const PODS: &str = r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1042"},"items":[
 {"metadata":{"name":"podinfo-7d9f8c-abcde","namespace":"test","labels":{"app":"podinfo"},
   "annotations":{"sidecar.istio.io/status":"{\"containers\":[\"istio-proxy\"]}"}},
  "spec":{"containers":[{"name":"podinfo","image":"podinfo"},{"name":"istio-proxy","image":"proxyv2"}]},
  "status":{"phase":"Running","podIP":"10.0.0.7","conditions":[{"type":"Ready","status":"True"}]}},
 {"metadata":{"name":"podinfo-7d9f8c-unready","namespace":"test","labels":{"app":"podinfo"}},
  "spec":{"containers":[{"name":"podinfo","image":"podinfo"},{"name":"istio-proxy","image":"proxyv2"}]},
  "status":{"phase":"Running","podIP":"10.0.0.8","conditions":[{"type":"Ready","status":"False"}]}},
 {"metadata":{"name":"podinfo-7d9f8c-pending","namespace":"test","labels":{"app":"podinfo"}},
  "spec":{"containers":[{"name":"podinfo","image":"podinfo"},{"name":"istio-proxy","image":"proxyv2"}]},
  "status":{"phase":"Pending"}},
 {"metadata":{"name":"no-sidecar","namespace":"test","labels":{"app":"podinfo"}},
  "spec":{"containers":[{"name":"job","image":"busybox"}]},
  "status":{"phase":"Running","podIP":"10.0.0.9","conditions":[{"type":"Ready","status":"True"}]}}]}"#;

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
    let app = Router::new()
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
    }
}

/// Demonstrates `--kube` over objects in kube-apiserver's wire format: only the Running, Ready
/// pod with a sidecar becomes a target (with namespace and pod labels), the HPAs are resolved
/// like manifests (the broken one reported), and each problem is posted once as a Warning Event
/// on its HPA. (The watch protocol itself is tested end to end against a fake API server in
/// `tests/tests/kube_watch.rs`.)
#[tokio::test]
async fn keeps_ready_sidecar_pods_resolves_hpas_and_posts_events() {
    let (url, rec, server) = api_server().await;
    let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
    let cfg = config();

    let pods: kube::core::ObjectList<k8s_openapi::api::core::v1::Pod> =
        serde_json::from_str(PODS).unwrap();
    let targets: Vec<_> = pods
        .items
        .iter()
        .filter_map(|p| pods::target(p, &cfg, "kubernetes-pods"))
        .collect();
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

    let items: kube::core::ObjectList<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler> =
        serde_json::from_str(HPAS).unwrap();
    let mut snap = crate::hpa::dir::Snapshot::default();
    for item in &items.items {
        snap.hpas.push(hpas::load(item).unwrap());
    }
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
    assert_eq!(requests, ["POST events test"]);
    server.abort();
}

fn pod(name: &str, rv: &str) -> k8s_openapi::api::core::v1::Pod {
    serde_json::from_value(
        json!({"metadata":{"name":name,"namespace":"test","resourceVersion":rv}}),
    )
    .unwrap()
}

/// Demonstrates the mirror's relist semantics: objects applied before a relist but not listed
/// in it are gone when it completes, and nothing is reported until every watch has listed.
#[test]
fn mirror_replaces_its_objects_at_the_end_of_a_relist() {
    use kube::runtime::watcher::Event;
    let keep = |p: &k8s_openapi::api::core::v1::Pod| p.metadata.resource_version.clone();
    let mut m = watch::Mirror::new(2);
    assert!(!m.apply(0, Event::Init, &keep));
    assert!(!m.apply(0, Event::InitApply(pod("a", "1")), &keep));
    assert!(m.apply(0, Event::InitDone, &keep));
    assert!(!m.synced(), "the second watch has not listed");
    assert!(m.apply(1, Event::Init, &keep) | m.apply(1, Event::InitDone, &keep));
    assert!(m.synced());
    assert!(m.apply(0, Event::Apply(pod("b", "2")), &keep));
    assert!(m.apply(0, Event::Apply(pod("a", "3")), &keep));
    assert_eq!(m.count(), 2);
    // A 410 Gone: the watch lists again; "b" was deleted meanwhile.
    assert!(!m.apply(0, Event::Init, &keep));
    assert!(!m.apply(0, Event::InitApply(pod("a", "4")), &keep));
    assert_eq!(m.count(), 2, "the old view serves until the list completes");
    assert!(m.apply(0, Event::InitDone, &keep));
    let kept: Vec<_> = m
        .values()
        .map(|((_, n), v)| (n.clone(), v.clone()))
        .collect();
    assert_eq!(kept, [("a".to_owned(), Some("4".to_owned()))]);
    assert!(m.apply(0, Event::Delete(pod("a", "5")), &keep));
    assert!(
        !m.apply(0, Event::Delete(pod("a", "5")), &keep),
        "already gone"
    );
    assert_eq!(m.count(), 0);
}
