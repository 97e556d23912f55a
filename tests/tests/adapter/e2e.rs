//! The adapter end to end: real Envoy with the filter, real load (`hey -c 2 -q 10`),
//! `mixerless-adapter serve` as a process scraping that Envoy, real Prometheus 2.42 scraping
//! the same Envoy, and `kubectl get --raw` against the adapter with a client certificate.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mixerless_e2e::certs;
use mixerless_harness::process::{binary, Proc};
use mixerless_harness::{bootstrap::Bootstrap, envoy::Envoy, paths, prometheus};
use serde_json::Value;

fn client(identity: Option<&str>) -> anyhow::Result<reqwest::blocking::Client> {
    let mut b = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(5));
    if let Some(pem) = identity {
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes())?);
    }
    Ok(b.build()?)
}

fn wait_for(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        match f() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = format!("{e:#}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("{what} not within {timeout:?} ({last})")
}

/// The three HPAs of the walk-through (requests per second, average latency, P95 latency),
/// plus one whose query does not parse.
const HPAS: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: podinfo-total
  namespace: test
  annotations:
    metric-config.external.prometheus-query.prometheus/processed-requests-per-second: |
      sum(rate(istio_requests_total{destination_workload_namespace="test",reporter="destination"}[1m]))
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  minReplicas: 1
  maxReplicas: 5
  metrics:
  - type: External
    external:
      metric: {name: prometheus-query, selector: {matchLabels: {query-name: processed-requests-per-second}}}
      target: {type: AverageValue, averageValue: "10"}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: podinfo-latency-avg
  namespace: test
  annotations:
    metric-config.external.prometheus-query.prometheus/latency-average: |
      sum(rate(istio_request_duration_milliseconds_sum{destination_workload_namespace="test",reporter="destination"}[1m]))
      /sum(rate(istio_request_duration_milliseconds_count{destination_workload_namespace="test",reporter="destination"}[1m]))
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  maxReplicas: 5
  metrics:
  - type: External
    external:
      metric: {name: prometheus-query, selector: {matchLabels: {query-name: latency-average}}}
      target: {type: AverageValue, averageValue: "0.005"}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: podinfo-p95
  namespace: test
  annotations:
    metric-config.external.prometheus-query.prometheus/p95-latency: |
      histogram_quantile(0.95,sum(irate(istio_request_duration_milliseconds_bucket{destination_workload_namespace="test",destination_canonical_service="podinfo"}[5m]))by (le))
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  maxReplicas: 5
  metrics:
  - type: External
    external:
      metric: {name: prometheus-query, selector: {matchLabels: {query-name: p95-latency}}}
      target: {type: AverageValue, averageValue: "4"}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: broken
  namespace: test
  annotations:
    metric-config.external.errors.prometheus/query: sum(rate(istio_requests_total[1m])
spec:
  scaleTargetRef: {kind: Deployment, name: podinfo}
  maxReplicas: 5
  metrics:
  - type: External
    external:
      metric: {name: errors, selector: {matchLabels: {type: prometheus}}}
      target: {type: Value, value: "1"}
"#;

const QUERIES: [(&str, &str); 3] = [
    (
        "processed-requests-per-second",
        r#"sum(rate(istio_requests_total{destination_workload_namespace="test",reporter="destination"}[1m]))"#,
    ),
    (
        "latency-average",
        r#"sum(rate(istio_request_duration_milliseconds_sum{destination_workload_namespace="test",reporter="destination"}[1m])) / sum(rate(istio_request_duration_milliseconds_count{destination_workload_namespace="test",reporter="destination"}[1m]))"#,
    ),
    (
        "p95-latency",
        r#"histogram_quantile(0.95,sum(irate(istio_request_duration_milliseconds_bucket{destination_workload_namespace="test",destination_canonical_service="podinfo"}[5m]))by (le))"#,
    ),
];

/// Bad scrape targets on one local port: `/garbage` answers text that is not exposition,
/// `/huge` a body over the adapter's cap, anything else 404. Plus a port that accepts and
/// never answers.
struct BadTargets {
    port: u16,
    hang_port: u16,
    _hang: TcpListener,
}

fn bad_targets() -> anyhow::Result<BadTargets> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = stream;
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]);
                let path = req.split_whitespace().nth(1).unwrap_or("/");
                let (status, body) = match path {
                    "/garbage" => ("200 OK", "garbage{{{ not exposition\n".to_owned()),
                    "/huge" => ("200 OK", "x 1\n".repeat(600_000)),
                    _ => ("404 Not Found", "no\n".to_owned()),
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    // Accepted by the kernel's backlog, never read: the scrape must time out.
    let hang = TcpListener::bind("127.0.0.1:0")?;
    Ok(BadTargets {
        port,
        hang_port: hang.local_addr()?.port(),
        _hang: hang,
    })
}

/// A CA, a client certificate signed by it with CN `front-proxy-client` (the aggregator's),
/// made with openssl as a cluster's PKI would be. Returns (ca.pem, client cert+key PEM).
fn pki(dir: &Path) -> anyhow::Result<(PathBuf, String)> {
    certs::ca(dir, "/CN=front-proxy-ca")?;
    certs::issue(
        dir,
        "client",
        "/CN=front-proxy-client",
        "extendedKeyUsage=clientAuth\n",
    )?;
    let pem = std::fs::read_to_string(dir.join("client.pem"))?
        + &std::fs::read_to_string(dir.join("client.key"))?;
    Ok((dir.join("ca.pem"), pem))
}

fn prometheus_value(port: u16, query: &str) -> anyhow::Result<f64> {
    let body: Value = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/query"))
        .query(&[("query", query)])
        .send()?
        .text()
        .map(|t| serde_json::from_str::<Value>(&t))??;
    let v = body["data"]["result"][0]["value"][1]
        .as_str()
        .with_context(|| format!("no value for {query}: {body}"))?;
    Ok(v.parse()?)
}

fn kubectl(kubeconfig: &Path, path: &str) -> anyhow::Result<(bool, String)> {
    let bin = std::env::var_os("KUBECTL")
        .map_or_else(|| paths::root().join(".venv/bin/kubectl"), PathBuf::from);
    let out = Command::new(bin)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["get", "--raw", path])
        .output()
        .context("run kubectl (make deps installs it)")?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Ok((out.status.success(), text))
}

fn kubeconfig(path: &Path, server: &str, client_pem: Option<&str>) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    let b64 = |s: &str| {
        // kubeconfig wants base64 data; openssl does it without another crate.
        let mut child = Command::new("openssl")
            .args(["base64", "-A"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("openssl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(s.as_bytes())
            .expect("write");
        String::from_utf8(child.wait_with_output().expect("base64").stdout).expect("utf8")
    };
    // Without a certificate the client offers a bearer token, which the adapter does not
    // accept (kubectl would prompt for a password with no credentials at all).
    let mut user = String::from("{token: not-a-client-certificate}");
    if let Some(pem) = client_pem {
        let split = pem
            .find("-----BEGIN PRIVATE KEY-----")
            .context("no key in PEM")?;
        user = String::new();
        write!(
            user,
            "{{client-certificate-data: {}, client-key-data: {}}}",
            b64(&pem[..split]),
            b64(&pem[split..])
        )?;
    }
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: adapter\n  cluster: {{server: \"{server}\", insecure-skip-tls-verify: true}}\n\
             users:\n- name: aggregator\n  user: {user}\ncontexts:\n- name: adapter\n  context: {{cluster: adapter, user: aggregator}}\ncurrent-context: adapter\n"
        ),
    )?;
    Ok(())
}

/// Demonstrates the whole path: with real Envoy under real load, the adapter's three example
/// HPA values (read with kubectl through a client certificate, as the aggregator would) agree
/// with real Prometheus' answers for the same queries on the same Envoy; an HPA whose query
/// does not parse is reported while the others are served; hanging, garbage, 404 and huge
/// targets are counted and shown down without affecting the answers; requests without a
/// client certificate, with a bad selector or for unknown metrics get Status errors; and the
/// remote mode (`--prometheus-url`) serves the same values from Prometheus.
#[test]
fn adapter_agrees_with_prometheus_under_real_load() -> anyhow::Result<()> {
    let adapter_bin = binary("mixerless-adapter")?;
    let dir = tempfile::Builder::new()
        .prefix("mixerless-adapter-e2e-")
        .tempdir()?;
    let d = dir.path();
    let hpa_dir = d.join("hpa");
    std::fs::create_dir_all(&hpa_dir)?;
    std::fs::write(hpa_dir.join("hpas.yaml"), HPAS)?;
    let (ca, client_pem) = pki(d)?;

    // Half the requests are delayed 3 ms by Envoy's fault filter (after ours, so the filter
    // measures it), so the latency queries have something to agree on.
    let mut bootstrap: Value =
        serde_json::from_str(&Bootstrap::inbound(r#"{"reporter": "destination"}"#).render())?;
    let filters = bootstrap
        .pointer_mut(
            "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/http_filters",
        )
        .and_then(Value::as_array_mut)
        .context("no http_filters in the bootstrap")?;
    filters.insert(
        1,
        serde_json::json!({"name": "envoy.filters.http.fault", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
            "delay": {"fixed_delay": "0.003s", "percentage": {"numerator": 50, "denominator": "HUNDRED"}}}}),
    );
    let envoy = Envoy::start(&bootstrap.to_string())?;
    let stats_url = envoy.admin_url("/stats/prometheus");
    let bad = bad_targets()?;

    // Prometheus scrapes the same Envoy every second.
    let (mut prometheus, prom_port) = prometheus::start(
        d,
        &prometheus::envoy_stats_config("1s", &[envoy.admin_port()]),
    )?;

    let port = paths::free_port();
    let mut adapter = Proc::spawn(
        "adapter",
        d,
        &adapter_bin,
        &[
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--hpa-dir".into(),
            hpa_dir.display().to_string(),
            "--target".into(),
            stats_url,
            "--target".into(),
            format!("http://127.0.0.1:{}/garbage", bad.port),
            "--target".into(),
            format!("http://127.0.0.1:{}/huge", bad.port),
            "--target".into(),
            format!("http://127.0.0.1:{}/stats/prometheus", bad.port),
            "--target".into(),
            format!("http://127.0.0.1:{}/stats/prometheus", bad.hang_port),
            "--scrape-interval".into(),
            "1s".into(),
            "--scrape-timeout".into(),
            "500ms".into(),
            "--scrape-body-limit".into(),
            "1000000".into(),
            // Prometheus here started with the adapter and holds the same seconds of history:
            // the comparison is of values over that short history, served marked partial.
            "--partial-data".into(),
            "serve".into(),
            "--requestheader-client-ca-file".into(),
            ca.display().to_string(),
            "--requestheader-allowed-names".into(),
            "front-proxy-client".into(),
        ],
    )?;
    let remote_port = paths::free_port();
    let mut remote = Proc::spawn(
        "adapter-remote",
        d,
        &adapter_bin,
        &[
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{remote_port}"),
            "--hpa-dir".into(),
            hpa_dir.display().to_string(),
            "--prometheus-url".into(),
            format!("http://127.0.0.1:{prom_port}"),
            "--query-interval".into(),
            "1s".into(),
        ],
    )?;

    // Prometheus must be scraping before the load starts, or its rate sees less of it.
    wait_for("prometheus scraping envoy", Duration::from_secs(20), || {
        prometheus.ensure_running()?;
        Ok(prometheus_value(prom_port, "count_over_time(up[1m])")? >= 2.0)
    })?;
    // Real load: 2 connections at 10 requests/s each.
    let hey = Proc::spawn(
        "hey",
        d,
        Path::new("hey"),
        &[
            "-c".into(),
            "2".into(),
            "-q".into(),
            "10".into(),
            "-z".into(),
            "30s".into(),
            envoy.listener_url("/"),
        ],
    )?;

    let authed = client(Some(&client_pem))?;
    let base = format!("https://127.0.0.1:{port}");
    let remote_base = format!("https://127.0.0.1:{remote_port}");
    wait_for("adapters ready", Duration::from_secs(20), || {
        adapter.ensure_running()?;
        remote.ensure_running()?;
        prometheus.ensure_running()?;
        Ok(authed.get(format!("{base}/readyz")).send()?.status() == 200
            && authed.get(format!("{remote_base}/readyz")).send()?.status() == 200)
    })?;

    // kubectl through a kubeconfig with the aggregator's client certificate.
    let kc = d.join("kubeconfig");
    kubeconfig(&kc, &base, Some(&client_pem))?;
    let (ok, text) = kubectl(&kc, "/apis/external.metrics.k8s.io/v1beta1")?;
    assert!(ok, "kubectl discovery failed: {text}");
    let discovery: Value = serde_json::from_str(&text)?;
    assert_eq!(discovery["kind"], "APIResourceList");
    assert_eq!(discovery["groupVersion"], "external.metrics.k8s.io/v1beta1");
    let names: Vec<&str> = discovery["resources"]
        .as_array()
        .context("resources")?
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["prometheus-query"],
        "the unparsable HPA's metric is not listed"
    );

    // Wait until rate[1m] has a few seconds of load behind it in both.
    std::thread::sleep(Duration::from_secs(8));
    let metric_path = |name: &str| {
        format!("/apis/external.metrics.k8s.io/v1beta1/namespaces/test/prometheus-query?labelSelector=query-name%3D{name}")
    };
    let adapter_value = |name: &str| -> anyhow::Result<(f64, Value)> {
        let (ok, text) = kubectl(&kc, &metric_path(name))?;
        anyhow::ensure!(ok, "kubectl get {name}: {text}");
        let list: Value = serde_json::from_str(&text)?;
        let q = list["items"][0]["value"]
            .as_str()
            .with_context(|| format!("no item: {list}"))?;
        let milli = parse_quantity(q).with_context(|| format!("bad quantity {q}"))?;
        Ok((milli, list))
    };
    let remote_value = |name: &str| -> anyhow::Result<f64> {
        let list: Value = authed
            .get(format!("{remote_base}{}", metric_path(name)))
            .send()?
            .text()
            .map(|t| serde_json::from_str::<Value>(&t))??;
        parse_quantity(
            list["items"][0]["value"]
                .as_str()
                .with_context(|| format!("{list}"))?,
        )
    };
    // The remote mode reads Prometheus every second; until Prometheus' P95 window holds bucket
    // increases its answer is NaN, which the remote adapter refuses (500). A loaded machine
    // can take longer than the sleep above.
    wait_for("values in both adapters", Duration::from_secs(20), || {
        for (name, _) in QUERIES {
            adapter_value(name)?;
            remote_value(name)?;
        }
        Ok(true)
    })?;
    let mut report = Vec::new();
    for (name, query) in QUERIES {
        let (ours, list) = adapter_value(name)?;
        let theirs = prometheus_value(prom_port, query)?;
        let via_remote = remote_value(name)?;
        report.push(format!(
            "{name}: adapter {ours}, prometheus {theirs}, remote mode {via_remote}"
        ));
        let item = &list["items"][0];
        assert_eq!(item["metricName"], "prometheus-query");
        assert_eq!(item["metricLabels"]["query-name"], name);
        assert!(
            item["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{item}"
        );
        // The two scrape at different moments (1 s apart at most) and the adapter serves a
        // value up to one query interval (1 s) old. The rate[1m] of a load that started a few
        // seconds ago still grows by 20/60 per second, so 3 s of skew explain 1 rps; the
        // average latency is steady (10 % or 0.5 ms). The P95 uses irate, i.e. only the ~20
        // requests between the last two scrapes, which differ between the two: one slow
        // request moves it to the next histogram bucket, so it must agree within one bucket.
        let close = |a: f64, b: f64| match name {
            "latency-average" => (a - b).abs() <= 0.1 * b.abs() + 0.5,
            "p95-latency" => bucket(a).abs_diff(bucket(b)) <= 1,
            _ => (a - b).abs() <= 0.1 * b.abs() + 3.0 * 20.0 / 60.0,
        };
        assert!(
            close(ours, theirs),
            "{name}: adapter {ours} vs prometheus {theirs}\n{report:#?}"
        );
        assert!(
            close(via_remote, theirs),
            "{name}: remote mode {via_remote} vs prometheus {theirs}"
        );
    }
    println!("{}", report.join("\n"));
    let (rps, _) = adapter_value("processed-requests-per-second")?;
    assert!(rps > 1.0, "rate under load is {rps}");
    let (avg, _) = adapter_value("latency-average")?;
    assert!(
        (0.8..2.5).contains(&avg),
        "average latency {avg} ms with half the requests 3 ms late"
    );
    let (p95, _) = adapter_value("p95-latency")?;
    assert!(
        (1.0..=25.0).contains(&p95),
        "p95 {p95} ms with half the requests 3 ms late"
    );

    // Without a client certificate: refused.
    let anon = d.join("kubeconfig-anonymous");
    kubeconfig(&anon, &base, None)?;
    let (ok, text) = kubectl(&anon, "/apis/external.metrics.k8s.io/v1beta1")?;
    assert!(
        !ok && text.contains("You must be logged in")
            && text.contains("client certificate signed by the request-header CA is required"),
        "kubectl without a client certificate was not refused: {text}"
    );

    // Malformed requests: Status 400 / 404.
    for (path, code, reason) in [
        ("/apis/external.metrics.k8s.io/v1beta1/namespaces/test/prometheus-query?labelSelector=query-name%20in%20(x", 400, "BadRequest"),
        ("/apis/external.metrics.k8s.io/v1beta1/namespaces/nope/prometheus-query", 404, "NotFound"),
        ("/apis/external.metrics.k8s.io/v1beta1/namespaces/test/nope", 404, "NotFound"),
    ] {
        let r = authed.get(format!("{base}{path}")).send()?;
        assert_eq!(r.status().as_u16(), code, "{path}");
        let status: Value = r.text().map(|t| serde_json::from_str::<Value>(&t))??;
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["reason"], reason, "{status}");
    }

    // The broken HPA and the bad targets are reported; the answers above were unaffected.
    let status: Value = authed
        .get(format!("{base}/status"))
        .send()?
        .text()
        .map(|t| serde_json::from_str::<Value>(&t))??;
    let broken = status["hpas"]
        .as_array()
        .context("hpas")?
        .iter()
        .find(|h| h["name"] == "broken")
        .context("broken HPA")?;
    assert!(
        broken["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("metric errors: query does not parse")),
        "{broken}"
    );
    let targets = status["targets"].as_array().context("targets")?;
    let target = |suffix: &str, port: u16| {
        targets
            .iter()
            .find(|t| {
                t["url"]
                    .as_str()
                    .is_some_and(|u| u.ends_with(suffix) && u.contains(&format!(":{port}/")))
            })
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        target("/stats/prometheus", envoy.admin_port())["health"],
        "up"
    );
    for (t, error) in [
        (target("/garbage", bad.port), "parse"),
        (target("/huge", bad.port), "body larger than 1000000 bytes"),
        (target("/stats/prometheus", bad.port), "HTTP status 404"),
        (target("/stats/prometheus", bad.hang_port), "timed out"),
    ] {
        assert_eq!(t["health"], "down", "{t}");
        assert!(
            t["last_error"].as_str().is_some_and(|e| e.contains(error)),
            "{t}"
        );
    }
    let metrics = authed.get(format!("{base}/metrics")).send()?.text()?;
    for reason in ["parse", "too_large", "http_status", "timeout"] {
        assert!(
            metrics.contains(&format!("reason=\"{reason}\"")),
            "no {reason} scrape error counted"
        );
    }
    let log = adapter.log();
    assert!(
        log.contains("query does not parse"),
        "the adapter log names the broken HPA:\n{log}"
    );

    // A new manifest in --hpa-dir is picked up without a restart (current annotation form).
    std::fs::write(
        hpa_dir.join("extra.yaml"),
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: extra\n  namespace: test\n  annotations:\n    metric-config.external.extra-rps.prometheus/query: sum(rate(istio_requests_total[1m]))\nspec:\n  scaleTargetRef: {kind: Deployment, name: podinfo}\n  maxReplicas: 3\n  metrics:\n  - {type: External, external: {metric: {name: extra-rps, selector: {matchLabels: {type: prometheus}}}, target: {type: Value, value: \"1\"}}}\n",
    )?;
    wait_for(
        "the new HPA's metric served",
        Duration::from_secs(10),
        || {
            let list: Value = authed
            .get(format!("{base}/apis/external.metrics.k8s.io/v1beta1/namespaces/test/extra-rps?labelSelector=type%3Dprometheus"))
            .send()?
            .text()
            .map(|t| serde_json::from_str::<Value>(&t))??;
            Ok(list["items"][0]["value"].is_string())
        },
    )?;

    // `explain` against the live adapter: the row shows the value it read and the replica
    // count the controller's arithmetic gives for it (AverageValue 10, 1 replica).
    let out = Command::new(&adapter_bin)
        .args(["explain", "--hpa"])
        .arg(hpa_dir.join("hpas.yaml"))
        .args(["--adapter", &base, "--replicas", "1", "--client-cert"])
        .arg({
            let p = d.join("client-all.pem");
            std::fs::write(&p, &client_pem)?;
            p
        })
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    let total = text
        .lines()
        .find(|l| l.contains("podinfo-total"))
        .context("no podinfo-total row")?;
    let shown = total
        .split_whitespace()
        .find_map(|cell| cell.strip_suffix("/10"))
        .with_context(|| format!("no TARGETS cell in {total}"))?;
    let usage = parse_quantity(shown)?;
    let ratio = usage / 10.0;
    let want = if (0.9..=1.1).contains(&ratio) {
        1.0
    } else {
        (usage / 10.0).ceil().max(1.0)
    };
    assert!(total.contains("(avg)"), "{total}");
    assert!(
        total.contains(&format!("   {want} (")),
        "explain row {total:?}: want {want} replicas for {usage}"
    );
    drop(hey);
    Ok(())
}

/// The index of the Istio duration bucket (`le` of the filter's default boundaries) holding `v`.
fn bucket(v: f64) -> usize {
    const LE: [f64; 11] = [
        0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
    ];
    LE.iter().position(|le| v <= *le + 1e-9).unwrap_or(LE.len())
}

/// A canonical Quantity (`10056m`, `20`, `2500k`) as a number.
fn parse_quantity(q: &str) -> anyhow::Result<f64> {
    let (num, mult) = match q.chars().last() {
        Some('m') => (&q[..q.len() - 1], 1e-3),
        Some('k') => (&q[..q.len() - 1], 1e3),
        Some('M') => (&q[..q.len() - 1], 1e6),
        _ => (q, 1.0),
    };
    Ok(num.parse::<f64>()? * mult)
}
