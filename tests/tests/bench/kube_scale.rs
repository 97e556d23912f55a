//! Benchmarks of `--kube` at cluster scale (scripts/bench-kube-scale.sh writes BENCHMARKS.md):
//! API-server bytes per minute at 10,000 pods, watch against the re-list every 10 s that the
//! adapter did before, measured on the same fake API server in the same run; the latency from a
//! pod event to its first scrape; and N sidecar-sized targets at 5 s (CPU, RSS per target,
//! scrapes done vs due).

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mixerless_e2e::istio;
use mixerless_e2e::kube_api::{Kind, KubeApi};
use mixerless_harness::{paths, process};
use serde_json::{json, Value};

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

fn status(base: &str) -> anyhow::Result<Value> {
    Ok(client().get(format!("{base}/status")).send()?.json()?)
}

/// Targets on the adapter's `/status` (`usize::MAX` while it does not answer).
fn target_count(base: &str) -> usize {
    status(base)
        .ok()
        .and_then(|s| s["targets"].as_array().map(Vec::len))
        .unwrap_or(usize::MAX)
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn adapter(
    dir: &Path,
    port: u16,
    env: &[(&str, String)],
    args: &[String],
) -> anyhow::Result<std::process::Child> {
    let profile = std::env::var("ADAPTER_PROFILE").unwrap_or_else(|_| "release".into());
    let out = std::fs::File::create(dir.join("adapter.log"))?;
    let mut cmd = process::guarded(process::binary_in(&profile, "mixerless-adapter")?);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Ok(cmd.spawn()?)
}

fn pod(name: &str, ip: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "test", "labels": {"app": "podinfo",
            "pod-template-hash": "7d9f8c6b5", "security.istio.io/tlsMode": "istio",
            "service.istio.io/canonical-name": "podinfo", "service.istio.io/canonical-revision": "v1"},
            "annotations": {"sidecar.istio.io/status": "{\"initContainers\":[\"istio-init\"],\"containers\":[\"istio-proxy\"],\"volumes\":[\"istio-envoy\",\"istio-data\",\"istio-podinfo\",\"istio-token\",\"istiod-ca-cert\"],\"imagePullSecrets\":null,\"revision\":\"default\"}",
                "prometheus.io/path": "/stats/prometheus", "prometheus.io/port": "15020", "prometheus.io/scrape": "true"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "podinfo-7d9f8c6b5",
                "uid": "0b7c2a9e-3f61-4d8e-9a4b-2f5c6d7e8f90", "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"containers": [
            {"name": "podinfo", "image": "ghcr.io/stefanprodan/podinfo:6.5.4", "ports": [{"containerPort": 9898, "protocol": "TCP"}],
             "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
            {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.0", "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local", "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"],
             "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}}],
            "nodeName": "node-1", "serviceAccountName": "default", "restartPolicy": "Always"},
        "status": {"phase": "Running", "podIP": ip, "hostIP": "10.128.0.4", "qosClass": "Burstable",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"},
                {"type": "ContainersReady", "status": "True"}, {"type": "PodScheduled", "status": "True"}]}
    })
}

/// API-server bytes per minute for 10,000 pods (and the example HPAs), by watch and by
/// re-list every 10 s; and pod event → first scrape latency.
#[test]
#[ignore = "benchmark: scripts/bench-kube-scale.sh"]
fn bench_discovery() -> anyhow::Result<()> {
    let pods: usize = std::env::var("PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let api = KubeApi::start()?;
    let kc = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kc)?;
    // One exposition server that notes when it is first asked for anything.
    let first_hit = Arc::new(Mutex::new(None::<Instant>));
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let metrics_port = listener.local_addr()?.port();
    {
        let first_hit = first_hit.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut conn: TcpStream = conn;
                let mut hit = first_hit
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                hit.get_or_insert_with(Instant::now);
                drop(hit);
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
        });
    }
    let port = paths::free_port();
    let mut child = adapter(
        dir.path(),
        port,
        &[("KUBECONFIG", kc.display().to_string())],
        &[
            "--kube".into(),
            "--kube-metrics-port".into(),
            metrics_port.to_string(),
            "--scrape-interval".into(),
            "5s".into(),
        ],
    )?;
    let base = format!("https://127.0.0.1:{port}");
    let wait = |n: usize, limit: Duration| -> anyhow::Result<()> {
        let t0 = Instant::now();
        while target_count(&base) != n {
            anyhow::ensure!(t0.elapsed() < limit, "not {n} targets in {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    };
    wait(0, Duration::from_secs(30))?;
    // Event → first scrape, one pod at a time, with nothing else to scrape.
    let mut lat = Vec::new();
    for i in 0..5 {
        *first_hit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        let t0 = Instant::now();
        api.put(Kind::Pod, pod(&format!("lat-{i}"), "127.0.0.1"));
        while first_hit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none()
        {
            anyhow::ensure!(
                t0.elapsed() < Duration::from_secs(20),
                "no scrape of the new pod"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let hit = first_hit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .unwrap_or(t0);
        lat.push(hit.duration_since(t0).as_secs_f64() * 1000.0);
        api.delete(Kind::Pod, "test", &format!("lat-{i}"));
        wait(0, Duration::from_secs(20))?;
    }
    let _ = child.kill();
    let _ = child.wait();
    // 10,000 pods, scraped at a port no one listens on (each scrape fails at once), by a
    // fresh adapter.
    let closed = paths::free_port().to_string();
    let port = paths::free_port();
    let mut child = adapter(
        dir.path(),
        port,
        &[("KUBECONFIG", kc.display().to_string())],
        &[
            "--kube".into(),
            "--kube-metrics-port".into(),
            closed,
            "--scrape-interval".into(),
            "5s".into(),
        ],
    )?;
    let base = format!("https://127.0.0.1:{port}");
    let t0 = Instant::now();
    while target_count(&base) != 0 {
        anyhow::ensure!(
            t0.elapsed() < Duration::from_secs(30),
            "second adapter not up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for i in 0..pods {
        api.put(
            Kind::Pod,
            pod(&format!("podinfo-7d9f8c6b5-{i:05}"), "127.0.0.1"),
        );
    }
    let t0 = Instant::now();
    while target_count(&base) != pods {
        anyhow::ensure!(
            t0.elapsed() < Duration::from_secs(120),
            "not {pods} targets"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = t0.elapsed();
    // A quiet minute, then a minute with churn: 1 pod changed per second.
    let b0 = api.bytes_sent();
    std::thread::sleep(Duration::from_secs(60));
    let quiet = api.bytes_sent() - b0;
    let b1 = api.bytes_sent();
    for i in 0..60 {
        let mut p = pod(&format!("podinfo-7d9f8c6b5-{i:05}"), "127.0.0.1");
        p["metadata"]["labels"]["churn"] = json!("1");
        api.put(Kind::Pod, p);
        std::thread::sleep(Duration::from_secs(1));
    }
    let churn = api.bytes_sent() - b1;
    // What the re-list every 10 s cost: the same list, as the adapter made it, six times a minute.
    let b2 = api.bytes_sent();
    let list = reqwest::blocking::get(format!("{}/api/v1/pods", api.url()))?
        .bytes()?
        .len();
    let list_bytes = api.bytes_sent() - b2;
    let relist = 6 * list_bytes;
    lat.sort_by(f64::total_cmp);
    println!(
        "RESULT kube_discovery pods={pods} list_body_bytes={list} relist_bytes_per_min={relist} watch_quiet_bytes_per_min={quiet} watch_churn_bytes_per_min={churn} ratio_relist_to_watch_churn={:.0} first_scrape_ms p50={:.0} min={:.0} max={:.0} initial_sync_s={:.2} adapter_rss_mib={}",
        relist as f64 / churn.max(1) as f64,
        lat.get(lat.len() / 2).copied().unwrap_or(f64::NAN),
        lat.first().copied().unwrap_or(f64::NAN),
        lat.last().copied().unwrap_or(f64::NAN),
        took.as_secs_f64(),
        rss_kib(child.id()) / 1024
    );
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}

/// The store's series count, from the adapter's `/metrics`.
fn store_series(base: &str) -> String {
    let text = client()
        .get(format!("{base}/metrics"))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("mixerless_adapter_store_series "))
        .unwrap_or("?")
        .to_owned()
}

/// A sidecar-sized exposition: 5 label sets (25 Istio labels) × (istio_requests_total and
/// three 20-bucket histograms) = 335 series.
fn sidecar_body() -> String {
    let mut out = String::new();
    for code in ["200", "201", "404", "500", "503"] {
        let set = istio::labels(
            "destination",
            &[("response_code", code), ("destination_workload", "podinfo")],
        );
        let labels: Vec<String> = set.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let labels = labels.join(",");
        out.push_str(&format!("istio_requests_total{{{labels}}} 1027\n"));
        for h in [
            "istio_request_duration_milliseconds",
            "istio_request_bytes",
            "istio_response_bytes",
        ] {
            let mut n = 0;
            for le in [
                0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
                10000.0, 30000.0, 60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
            ] {
                n += 50;
                out.push_str(&format!("{h}_bucket{{{labels},le=\"{le}\"}} {n}\n"));
            }
            out.push_str(&format!("{h}_bucket{{{labels},le=\"+Inf\"}} 1027\n"));
            out.push_str(&format!(
                "{h}_sum{{{labels}}} 52000.5\n{h}_count{{{labels}}} 1027\n"
            ));
        }
    }
    out
}

/// `n` fake sidecars on loopback, each its own listener (a pod is its own host, so the adapter
/// keeps a connection per target, as it does in a cluster), all serving `body`; their ports.
fn sidecars(n: usize, body: Arc<String>) -> anyhow::Result<Vec<u16>> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let mut ports = Vec::with_capacity(n);
    let mut listeners = Vec::with_capacity(n);
    for _ in 0..n {
        let l = TcpListener::bind("127.0.0.1:0")?;
        l.set_nonblocking(true)?;
        ports.push(l.local_addr()?.port());
        listeners.push(l);
    }
    std::thread::spawn(move || {
        rt.block_on(async move {
            for l in listeners {
                let Ok(l) = tokio::net::TcpListener::from_std(l) else {
                    continue;
                };
                let body = body.clone();
                tokio::spawn(async move {
                    while let Ok((mut conn, _)) = l.accept().await {
                        let body = body.clone();
                        tokio::spawn(async move {
                            let head = format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\n\r\n", body.len());
                            let mut buf = [0u8; 4096];
                            while conn.read(&mut buf).await.is_ok_and(|r| r > 0) {
                                if conn.write_all(head.as_bytes()).await.is_err()
                                    || conn.write_all(body.as_bytes()).await.is_err()
                                {
                                    return;
                                }
                            }
                        });
                    }
                });
            }
            std::future::pending::<()>().await;
        });
    });
    Ok(ports)
}

/// N sidecar-sized targets at 5 s, each its own fake sidecar: the adapter's CPU over 20 s,
/// scrapes done vs due, and RSS per target (the RSS slope from N/2 to N targets).
#[test]
#[ignore = "benchmark: scripts/bench-kube-scale.sh"]
fn bench_targets() -> anyhow::Result<()> {
    let n: usize = std::env::var("SCRAPE_TARGETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir()?;
    let body = Arc::new(sidecar_body());
    let series = body.lines().count();
    let ports = sidecars(n, body)?;
    let hpa = dir.path().join("hpa");
    std::fs::create_dir_all(&hpa)?;
    for f in [
        "HorizontalPodAutoscaler-podinfo-total.yaml",
        "HorizontalPodAutoscaler-podinfo-latency-avg.yaml",
        "HorizontalPodAutoscaler-podinfo-p95.yaml",
    ] {
        std::fs::copy(paths::root().join("istio").join(f), hpa.join(f))?;
    }
    let sd = dir.path().join("targets.json");
    std::fs::write(&sd, "[]")?;
    let port = paths::free_port();
    let mut args: Vec<String> = vec![
        "--hpa-dir".into(),
        hpa.display().to_string(),
        "--file-sd".into(),
        sd.display().to_string(),
        "--scrape-concurrency".into(),
        "256".into(),
        "--partial-data".into(),
        "serve".into(),
        "--max-series".into(),
        "10000000".into(),
    ];
    // KEEP_METRICS="" keeps only what the HPA queries read (default: `istio_.*` too).
    let keep = std::env::var("KEEP_METRICS").ok();
    if let Some(k) = &keep {
        args.extend(["--keep-metrics".into(), k.clone()]);
    }
    // KEEP_ALIVE=1: a connection per target kept open between scrapes.
    let keep_alive = std::env::var("KEEP_ALIVE").is_ok_and(|v| v == "1");
    if keep_alive {
        args.push("--scrape-keep-alive".into());
    }
    let mut child = adapter(dir.path(), port, &[], &args)?;
    let base = format!("https://127.0.0.1:{port}");
    let t0 = Instant::now();
    while status(&base).is_err() {
        anyhow::ensure!(t0.elapsed() < Duration::from_secs(30), "adapter not up");
        std::thread::sleep(Duration::from_millis(200));
    }
    // RSS per target is the slope between N/2 and N targets: what does not grow with the
    // targets (bodies in flight, up to --scrape-concurrency of them) cancels out.
    let write_targets = |n: usize| -> anyhow::Result<()> {
        let groups: Vec<Value> = ports[..n]
            .iter()
            .map(|port| {
                json!({"targets": [format!("127.0.0.1:{port}")],
                "labels": {"__metrics_path__": "/stats/prometheus"}})
            })
            .collect();
        std::fs::write(&sd, serde_json::to_string(&groups)?)?;
        Ok(())
    };
    let half = n / 2;
    write_targets(half)?;
    std::thread::sleep(Duration::from_secs(30));
    let rss0 = rss_kib(child.id());
    write_targets(n)?;
    std::thread::sleep(Duration::from_secs(30));
    let before = status(&base)?;
    let cpu0 = cpu_seconds(child.id());
    let t1 = Instant::now();
    std::thread::sleep(Duration::from_secs(20));
    let cpu = cpu_seconds(child.id()) - cpu0;
    let wall = t1.elapsed().as_secs_f64();
    let after = status(&base)?;
    let scrapes = |s: &Value| {
        s["targets"].as_array().map_or(0.0, |t| {
            t.iter()
                .map(|t| t["scrapes"].as_f64().unwrap_or(0.0))
                .sum::<f64>()
        })
    };
    let done = scrapes(&after) - scrapes(&before);
    let due = n as f64 * wall / 5.0;
    let up = after["targets"]
        .as_array()
        .map_or(0, |t| t.iter().filter(|t| t["health"] == "up").count());
    let rss1 = rss_kib(child.id());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "RESULT kube_targets keep_metrics={:?} keep_alive={keep_alive} targets={n} series_per_target={series} cpu_cores={:.3} scrapes={done:.0}/{due:.0} ({:.1}%) up={up} targets_per_core={:.0} rss_mib={} rss_half_mib={} rss_per_target_kib={:.1} store_series={} loadavg={}",
        keep.as_deref().unwrap_or("istio_.*"),
        cpu / wall,
        100.0 * done / due,
        n as f64 / (cpu / wall),
        rss1 / 1024,
        rss0 / 1024,
        (rss1.saturating_sub(rss0)) as f64 / (n - half).max(1) as f64,
        store_series(&base),
        load.split_whitespace().take(3).collect::<Vec<_>>().join("/"),
    );
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}
