//! The fast-scaling HPA examples in `istio/fast-scaling/`: a 15 s window for 1 <-> N and a
//! callers'-side query for scale to zero. They pass the Kubernetes schemas, the adapter loads
//! them without an error, and they say what they rely on.

use super::common::{file_objects, istio, kubernetes_validate, Objects};
use std::time::Duration;

fn hpas() -> Objects {
    file_objects(&istio().join("fast-scaling"), "HorizontalPodAutoscaler-")
}

/// Demonstrates that both HPAs pass kubernetes-validate's strict check (1.26 and 1.37).
#[test]
fn fast_hpas_validate_against_the_openapi_schemas() {
    let objs = hpas();
    assert_eq!(objs.len(), 2);
    for version in ["1.26.0", "1.37.0"] {
        let (ok, log) = kubernetes_validate(&objs, version);
        assert!(ok, "kubernetes-validate {version}:\n{log}");
        assert_eq!(
            log.matches("passed for resource").count(),
            objs.len(),
            "{log}"
        );
    }
}

/// Demonstrates what each recipe rests on: the adapter loads both with their 2 s interval; the
/// fast one reads a 15 s window and smooths scale-down with a stabilization window; the zero one
/// has `minReplicas: 0`, an AverageValue target (the only External target computable from zero
/// pods) and a query on the callers' side keyed on `destination_service`.
#[test]
fn fast_hpas_load_and_rest_on_what_they_say() {
    let snap = mixerless_adapter::hpa::dir::load(&istio().join("fast-scaling"));
    assert!(snap.file_errors.is_empty(), "{:?}", snap.file_errors);
    assert_eq!(snap.hpas.len(), 2);
    for h in &snap.hpas {
        assert!(h.errors.is_empty(), "{}: {:?}", h.name, h.errors);
        assert_eq!(h.queries.len(), 1, "{}", h.name);
        let q = &h.queries[0];
        assert_eq!(q.interval, Some(Duration::from_secs(2)), "{}", h.name);
        let window = mixerless_engine::promql::Query::parse(&q.query)
            .unwrap()
            .window();
        match h.name.as_str() {
            "podinfo-fast" => assert_eq!(window, Duration::from_secs(15)),
            "podinfo-zero" => {
                assert_eq!(window, Duration::from_secs(30));
                assert!(
                    q.query.contains(r#"reporter="source""#)
                        && q.query.contains("destination_service=")
                );
            }
            other => panic!("unexpected HPA {other}"),
        }
    }
    for o in hpas() {
        let spec = &o["spec"];
        assert_eq!(
            spec["metrics"][0]["external"]["target"]["type"],
            "AverageValue"
        );
        match o["metadata"]["name"].as_str().unwrap() {
            "podinfo-fast" => {
                assert_eq!(spec["minReplicas"], 1);
                assert!(
                    spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"].as_u64()
                        >= Some(60)
                );
            }
            _ => assert_eq!(spec["minReplicas"], 0),
        }
    }
}
