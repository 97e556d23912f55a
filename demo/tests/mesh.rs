//! The demo's mesh with real Envoys: the client sidecar follows replica changes live (EDS from a
//! file replaced by rename) and every replica's sidecar reports what it served.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mixerless_demo::envoy::{Common, PluginConfigs};
use mixerless_demo::mesh::{AppConfig, Mesh};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn common(dir: &Path) -> Common {
    let root = root();
    let envoy =
        std::env::var_os("ENVOY_BIN").map_or_else(|| root.join(".venv/bin/envoy"), PathBuf::from);
    assert!(
        envoy.exists(),
        "no Envoy at {}: run `make deps`",
        envoy.display()
    );
    let filter = root.join("dist/mixerless-filter.wasm");
    assert!(
        filter.exists(),
        "no filter at {}: run `make wasm`",
        filter.display()
    );
    let tags = std::fs::read_to_string(root.join("istio/envoy/stats_tags.yaml")).unwrap();
    Common {
        envoy_bin: envoy,
        filter,
        stats_tags: serde_yaml::from_str(&tags).unwrap(),
        plugins: PluginConfigs::from_manifests(&root.join("istio")),
        dir: dir.to_owned(),
    }
}

/// Sends `n` requests through the client sidecar; returns the pods that answered.
async fn hosts(mesh: &Mesh, n: usize) -> BTreeSet<String> {
    let client = reqwest::Client::new();
    let mut seen = BTreeSet::new();
    for _ in 0..n {
        let resp = client.get(mesh.client_url()).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.unwrap();
        seen.insert(body["hostname"].as_str().unwrap().to_owned());
    }
    seen
}

/// The `istio_requests_total` lines a sidecar exposes.
async fn request_lines(admin_port: u16) -> Vec<String> {
    let text = reqwest::get(format!("http://127.0.0.1:{admin_port}/stats/prometheus"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("istio_requests_total{"))
        .map(str::to_owned)
        .collect()
}

/// Sum of the `istio_requests_total` lines that carry every label in `labels`.
fn count(lines: &[String], labels: &[&str]) -> f64 {
    lines
        .iter()
        .filter(|l| labels.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Demonstrates that scaling 1 → 3 → 1 replicas changes who answers through the client sidecar
/// without restarting it, and that client and server sidecars report each request with the
/// other side's workload (metadata exchange), as in a mesh.
#[tokio::test(flavor = "current_thread")]
async fn client_sidecar_follows_replica_changes() {
    let dir = tempfile::tempdir().unwrap();
    let app = AppConfig {
        latency: Duration::from_millis(1),
        workers: 4,
    };
    let port = mixerless_demo::procs::loopback_port(None).unwrap();
    let mut mesh = Mesh::start(common(dir.path()), app, 1, port).await.unwrap();
    let first = mesh.replicas[0].pod.clone();
    assert_eq!(hosts(&mesh, 6).await, BTreeSet::from([first.clone()]));

    mesh.scale_to(3).await.unwrap();
    let all: BTreeSet<String> = mesh.replicas.iter().map(|r| r.pod.clone()).collect();
    assert_eq!(all.len(), 3);
    // Envoy picks the file up within a moment of the rename.
    let mut seen = BTreeSet::new();
    let mut sent = 6;
    for _ in 0..50 {
        seen.extend(hosts(&mesh, 6).await);
        sent += 6;
        if seen == all {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen, all,
        "all three replicas answer through the client sidecar"
    );

    // Stats flush every second. Each replica's sidecar counted what it served as the
    // destination, knowing the caller from the peer metadata the client sidecar sent; the client
    // sidecar counted as the source, knowing podinfo's app label from the metadata sent back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for r in &mesh.replicas {
        let lines = request_lines(r.sidecar.admin_port).await;
        let served = count(
            &lines,
            &[
                r#"reporter="destination""#,
                r#"source_workload="loadtester""#,
                r#"destination_workload="podinfo""#,
                r#"destination_workload_namespace="test""#,
            ],
        );
        assert!(served >= 1.0, "{} counted its requests: {lines:?}", r.pod);
    }
    let lines = request_lines(mesh.client.admin_port).await;
    let counted = count(
        &lines,
        &[
            r#"reporter="source""#,
            r#"source_workload="loadtester""#,
            r#"destination_app="podinfo""#,
            r#"destination_service="podinfo.test.svc.cluster.local""#,
        ],
    );
    assert_eq!(
        counted, sent as f64,
        "the client sidecar counted what it sent: {lines:?}"
    );

    mesh.scale_to(1).await.unwrap();
    assert_eq!(hosts(&mesh, 12).await, BTreeSet::from([first]));
    let file_sd: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(mesh.file_sd()).unwrap()).unwrap();
    // One podinfo sidecar and the loadtester's.
    assert_eq!(file_sd.as_array().map(Vec::len), Some(2));
    mesh.stop().await;
}
