//! The manifests for KEDA users: `istio/components/keda` (no APIService; the external scaler and
//! `/api/v1` behind KEDA's client CA) and the examples in `istio/keda/` (ScaledObjects for the
//! `external-push` and `prometheus` triggers, a TriggerAuthentication for TLS). KEDA objects are
//! validated against `../shared/conformance/keda/*.yaml` with scripts/validate-istio-crds.py, as
//! the Istio objects are against Istio's CRDs; their trigger metadata is read by the adapter's
//! own parser.

use std::collections::HashMap;
use std::process::Command;

use super::common::{
    file_objects, istio, kubernetes_validate, kustomize, kustomize_with, run, venv, Objects,
};
use mixerless_harness::paths;
use serde_yaml::Value;

fn examples() -> Objects {
    let mut objs = file_objects(&istio().join("keda"), "ScaledObject-");
    objs.extend(file_objects(
        &istio().join("keda"),
        "TriggerAuthentication-",
    ));
    objs
}

fn args(objs: &Objects) -> Vec<String> {
    let dep = objs
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("a Deployment");
    dep["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// Demonstrates that the KEDA variant drops the APIService and nothing else, serves the scaler
/// with TLS and KEDA's client CA on a port the Service exposes, puts `/api/v1` behind the same
/// CA, mounts what it names, and uses only flags `serve --help` lists.
#[test]
fn keda_variant_serves_keda_instead_of_the_apiservice() {
    let base = kustomize(&istio());
    let keda = kustomize_with(&["components/keda"]);
    assert_eq!(keda.len(), base.len() - 1);
    assert!(keda.iter().all(|o| o["kind"] != "APIService"));
    let a = args(&keda);
    for want in [
        "--keda-grpc=0.0.0.0:9443",
        "--keda-tls-cert-file=/var/run/mixerless/serving/tls.crt",
        "--keda-tls-private-key-file=/var/run/mixerless/serving/tls.key",
        "--keda-client-ca-file=/var/run/mixerless/keda-client-ca/ca.crt",
        "--requestheader-client-ca-file=/var/run/mixerless/keda-client-ca/ca.crt",
        "--requestheader-allowed-names=keda-operator",
    ] {
        assert!(a.iter().any(|x| x == want), "{want} not in {a:?}");
    }
    let out = Command::new(paths::root().join("target/debug/mixerless-adapter"))
        .args(["serve", "--help"])
        .output()
        .expect("run `cargo build -p mixerless-adapter`");
    let help = String::from_utf8_lossy(&out.stdout);
    for arg in &a[1..] {
        let flag = arg.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "{flag} is not a flag of serve"
        );
    }
    let dep = keda.iter().find(|o| o["kind"] == "Deployment").unwrap();
    let pod = &dep["spec"]["template"]["spec"];
    let mount = pod["containers"][0]["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/var/run/mixerless/keda-client-ca")
        .expect("the client CA mounted");
    let vol = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("its volume");
    assert_eq!(vol["secret"]["secretName"], "mixerless-keda-client-ca");
    let svc = keda.iter().find(|o| o["kind"] == "Service").unwrap();
    let port = svc["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["port"] == 9443)
        .expect("the Service exposes 9443");
    assert_eq!(port["targetPort"], "grpc-keda");
    assert!(pod["containers"][0]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "grpc-keda" && p["containerPort"] == 9443));
}

/// Demonstrates that the variant's Kubernetes objects pass the OpenAPI schemas of 1.26 and 1.37.
#[test]
fn keda_variant_validates_against_the_openapi_schemas() {
    let objs: Objects = kustomize_with(&["components/keda"])
        .into_iter()
        .filter(|o| {
            !super::common::api_group(o).ends_with("istio.io")
                && super::common::api_group(o) != "cert-manager.io"
        })
        .collect();
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

/// Demonstrates that each example validates against KEDA's CRD schema (and that a broken copy
/// does not), that the ScaledObjects point at what the KEDA variant serves, and that the adapter
/// accepts their trigger metadata.
#[test]
fn keda_examples_validate_against_kedas_crds() {
    let objs = examples();
    let kinds: Vec<&str> = objs.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        ["ScaledObject", "ScaledObject", "TriggerAuthentication"]
    );
    let auth = &objs[2];
    let auth_name = auth["metadata"]["name"].as_str().unwrap();
    let params: Vec<&str> = auth["spec"]["secretTargetRef"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r["parameter"].as_str().unwrap())
        .collect();
    for so in &objs[..2] {
        let t = &so["spec"]["triggers"][0];
        assert_eq!(t["authenticationRef"]["name"], auth_name);
        assert_eq!(so["metadata"]["namespace"], auth["metadata"]["namespace"]);
        assert_eq!(so["spec"]["minReplicaCount"], 0);
        let meta: HashMap<String, String> = serde_yaml::from_value(t["metadata"].clone()).unwrap();
        let trigger = mixerless_adapter::keda::Trigger::from_metadata(&meta)
            .unwrap_or_else(|e| panic!("{}: {e}", so["metadata"]["name"].as_str().unwrap()));
        assert!(trigger.query.text().contains(r#"reporter="source""#));
        let need: &[&str] = match t["type"].as_str().unwrap() {
            "external-push" => {
                assert_eq!(
                    meta["scalerAddress"],
                    "mixerless-adapter.kube-system.svc:9443"
                );
                &["caCert", "tlsClientCert", "tlsClientKey"]
            }
            "prometheus" => {
                assert_eq!(
                    meta["serverAddress"],
                    "https://mixerless-adapter.kube-system.svc:443"
                );
                assert_eq!(meta["authModes"], "tls");
                &["ca", "cert", "key"]
            }
            other => panic!("unexpected trigger type {other}"),
        };
        for p in need {
            assert!(params.contains(p), "{p} not in {params:?}");
        }
    }
    let Some(dir) = paths::shared_data("conformance/keda", "validating the KEDA examples") else {
        return;
    };
    let crds = tempfile::NamedTempFile::new().unwrap();
    let text = [
        "keda.sh_scaledobjects.yaml",
        "keda.sh_triggerauthentications.yaml",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
    .collect::<Vec<_>>()
    .join("\n---\n");
    std::fs::write(crds.path(), text).unwrap();
    let validate = |objs: &[Value]| {
        let file = tempfile::NamedTempFile::new().unwrap();
        let stream: Vec<String> = objs
            .iter()
            .map(|o| serde_yaml::to_string(o).unwrap())
            .collect();
        std::fs::write(file.path(), stream.join("---\n")).unwrap();
        run(Command::new(venv("python"))
            .arg(paths::root().join("scripts/validate-istio-crds.py"))
            .arg(crds.path())
            .arg(file.path()))
    };
    let (ok, log) = validate(&objs);
    assert!(ok, "{log}");
    assert_eq!(log.matches("ok ").count(), objs.len(), "{log}");
    // A broken copy: a trigger without its type.
    let mut broken = objs[0].clone();
    broken["spec"]["triggers"][0]
        .as_mapping_mut()
        .unwrap()
        .remove("type");
    let (ok, log) = validate(&[broken]);
    assert!(!ok && log.contains("type"), "{log}");
}
