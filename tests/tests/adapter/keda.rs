//! KEDA's external scaler end to end, driven by a gRPC client that is not ours: Python
//! `grpcio` with stubs generated at test time from the proto (`tests/keda/scaler_client.py`),
//! against `mixerless-adapter serve --keda-grpc` scraping a real Envoy with the filter.

mod client;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mixerless_e2e::certs;
use mixerless_harness::process::{binary, Proc};
use mixerless_harness::{bootstrap::Bootstrap, envoy::Envoy, http, paths};
use serde_json::{json, Value};

use client::Keda;

fn error_of<T: std::fmt::Debug>(r: Result<T, (String, String)>) -> (String, String) {
    match r {
        Ok(v) => panic!("expected an error status, got {v:?}"),
        Err(e) => e,
    }
}

fn meta(query: &str, threshold: &str, extra: &[(&str, &str)]) -> Value {
    let mut m = json!({"query": query, "threshold": threshold});
    for (k, v) in extra {
        m[*k] = json!(v);
    }
    m
}

fn poll<T>(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        match f() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = format!("{e:#}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{what} not within {timeout:?} ({last})")
}

fn https() -> anyhow::Result<reqwest::blocking::Client> {
    Ok(reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(5))
        .build()?)
}

/// `/api/v1/query` of the adapter: the single sample's value (0 for an empty vector).
fn api_value(base: &str, query: &str) -> anyhow::Result<f64> {
    let body: Value = https()?
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", query)])
        .send()?
        .json()?;
    let result = body["data"]["result"].as_array().context("no result")?;
    match result.as_slice() {
        [] => Ok(0.0),
        [one] => Ok(one["value"][1].as_str().context("no value")?.parse()?),
        _ => bail!("{} series: {body}", result.len()),
    }
}

/// The adapter's external metric `query-name=<name>` for an HPA in namespace `test`, as a
/// plain number (the values here are whole request counts).
fn external_value(base: &str, name: &str) -> anyhow::Result<f64> {
    let list: Value = https()?
        .get(format!("{base}/apis/external.metrics.k8s.io/v1beta1/namespaces/test/prometheus-query?labelSelector=query-name%3D{name}"))
        .send()?
        .json()?;
    let q = list["items"][0]["value"]
        .as_str()
        .with_context(|| format!("no item: {list}"))?;
    match q.strip_suffix('m') {
        Some(milli) => Ok(milli.parse::<f64>()? / 1000.0),
        None => Ok(q.parse()?),
    }
}

const TOTAL: &str =
    r#"sum(istio_requests_total{reporter="destination",destination_workload_namespace="test"})"#;
const RATE: &str = r#"sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test"}[5s]))"#;

const HPA: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: podinfo
  namespace: test
  annotations:
    metric-config.external.prometheus-query.prometheus/total: |
      sum(istio_requests_total{reporter="destination",destination_workload_namespace="test"})
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  maxReplicas: 5
  metrics:
  - type: External
    external:
      metric: {name: prometheus-query, selector: {matchLabels: {query-name: total}}}
      target: {type: AverageValue, averageValue: "10"}
"#;

fn adapter(d: &Path, extra: &[String]) -> anyhow::Result<(Proc, String, String)> {
    let hpa_dir = d.join("hpa");
    std::fs::create_dir_all(&hpa_dir)?;
    std::fs::write(hpa_dir.join("hpa.yaml"), HPA)?;
    let (port, grpc) = (paths::free_port(), paths::free_port());
    let mut args = vec![
        "serve".into(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--hpa-dir".into(),
        hpa_dir.display().to_string(),
        "--keda-grpc".into(),
        format!("127.0.0.1:{grpc}"),
    ];
    args.extend_from_slice(extra);
    let proc = Proc::spawn("adapter", d, &binary("mixerless-adapter")?, &args)?;
    Ok((
        proc,
        format!("https://127.0.0.1:{port}"),
        format!("127.0.0.1:{grpc}"),
    ))
}

/// Demonstrates the scaler as KEDA sees it, against real Envoy: every error status with a
/// message naming the problem; a trigger over a family the store did not keep warms up from
/// KEDA's first call and then answers; an idle service is inactive with value 0; the stream
/// says so at once, turns active within one scrape interval of a request, and inactive again
/// once the window has passed; and the values equal the external metrics API's and
/// `/api/v1/query`'s for the same query (the exact number of requests sent).
#[test]
fn scaler_against_real_envoy() -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("mixerless-keda-")
        .tempdir()?;
    let d = dir.path();
    let envoy = Envoy::start(&Bootstrap::inbound(r#"{"reporter": "destination"}"#).render())?;
    let (mut adapter, base, grpc) = adapter(
        d,
        &[
            "--target".into(),
            envoy.admin_url("/stats/prometheus"),
            "--scrape-interval".into(),
            "1s".into(),
            "--query-max-samples".into(),
            "1000".into(),
        ],
    )?;
    let mut keda = Keda::start(&grpc, &[])?;
    poll(
        "the adapter's first scrape",
        Duration::from_secs(20),
        || {
            adapter.ensure_running()?;
            Ok(https()?
                .get(format!("{base}/readyz"))
                .send()?
                .status()
                .is_success()
                .then_some(()))
        },
    )?;

    // Errors: each a status naming the problem.
    let (code, details) =
        error_of(keda.call("IsActive", &meta("sum(rate(x[1m])", "1", &[]), None)?);
    assert_eq!(code, "INVALID_ARGUMENT");
    assert!(
        details.contains("trigger metadata \"query\": parse error"),
        "{details}"
    );
    let (code, details) = error_of(keda.call("GetMetricSpec", &json!({"query": TOTAL}), None)?);
    assert_eq!(code, "INVALID_ARGUMENT");
    assert!(details.contains("no \"threshold\""), "{details}");
    let (code, details) =
        error_of(keda.call("GetMetrics", &meta(TOTAL, "1", &[]), Some("s0-prometheus"))?);
    assert_eq!(code, "NOT_FOUND");
    assert!(details.contains("\"s0-prometheus\""), "{details}");
    let two = r#"vector(1) or label_replace(vector(2), "x", "y", "", "")"#;
    let (code, details) = error_of(keda.call("IsActive", &meta(two, "1", &[]), None)?);
    assert_eq!(code, "FAILED_PRECONDITION");
    assert!(details.contains("returned 2 series"), "{details}");
    let heavy = "count_over_time(vector(1)[10m:100ms])";
    let (code, details) = error_of(keda.call("IsActive", &meta(heavy, "1", &[]), None)?);
    assert_eq!(code, "INTERNAL");
    assert!(
        details.contains(heavy) && details.contains("1000"),
        "{details}"
    );
    let closed = format!("http://127.0.0.1:{}", paths::free_port());
    let (code, details) = error_of(keda.call(
        "IsActive",
        &meta(TOTAL, "1", &[("prometheusUrl", &closed)]),
        None,
    )?);
    assert_eq!(code, "UNAVAILABLE");
    assert!(details.contains(&closed), "{details}");
    let id = keda.send(json!({"rpc": "StreamIsActive", "metadata": meta(TOTAL, "0", &[])}))?;
    let a = keda.answer(id, Duration::from_secs(10)).context("stream")?;
    assert_eq!(a["code"], "INVALID_ARGUMENT", "{a}");
    assert!(
        a["details"]
            .as_str()
            .unwrap_or_default()
            .contains("threshold"),
        "{a}"
    );

    // A family the store did not keep: kept from the first call, then answered.
    let live = "sum(max_over_time(envoy_server_live[2s]))";
    let (code, details) = error_of(keda.metric(&meta(live, "1", &[]))?);
    assert_eq!(code, "UNAVAILABLE");
    assert!(
        details.contains("warming up") && details.contains("envoy_server_live"),
        "{details}"
    );
    let v = poll("the new family warmed up", Duration::from_secs(15), || {
        Ok(keda.metric(&meta(live, "1", &[]))?.ok())
    })?;
    assert_eq!(v, 1.0, "envoy_server_live");
    assert_eq!(api_value(&base, live)?, 1.0);

    // Idle: no series yet, so an empty result: inactive and 0 (once rate[5s] is warm).
    let rate = meta(RATE, "10", &[("activationThreshold", "0")]);
    let v = poll("rate[5s] warmed up", Duration::from_secs(15), || {
        Ok(keda.metric(&rate)?.ok())
    })?;
    assert_eq!(v, 0.0);
    assert!(!keda.active(&rate)?);

    // One request creates the series; once two scrapes hold its constant value, the service is
    // idle again with the series present (the case of a scaled-to-zero workload's callers).
    http::get(&envoy.listener_url("/"))?;
    let mut sent = 1;
    poll("the series scraped", Duration::from_secs(10), || {
        Ok((api_value(&base, TOTAL)? == 1.0).then_some(()))
    })?;
    std::thread::sleep(Duration::from_secs(6));
    assert!(!keda.active(&rate)?, "idle for 6 s: rate[5s] is 0");

    let stream = keda.send(json!({"rpc": "StreamIsActive", "metadata": rate}))?;
    let first = keda
        .answer(stream, Duration::from_secs(5))
        .context("no state at once")?;
    assert_eq!(first["ok"]["result"], false, "{first}");
    // Nothing more while idle.
    assert!(keda.answer(stream, Duration::from_secs(2)).is_none());

    let t0 = Instant::now();
    http::get(&envoy.listener_url("/"))?;
    sent += 1;
    let on = keda
        .answer(stream, Duration::from_secs(5))
        .context("no change to active")?;
    let took = t0.elapsed();
    assert_eq!(on["ok"]["result"], true, "{on}");
    // The next scrape (at most 1 s later) sees it; evaluation and delivery take milliseconds.
    assert!(
        took <= Duration::from_millis(1750),
        "active {took:?} after the request"
    );
    println!("inactive -> active {took:?} after the first request (scrape interval 1s)");

    // More load, then quiet: the stream goes back to inactive once rate[5s] has passed it.
    for _ in 0..19 {
        http::get(&envoy.listener_url("/"))?;
        sent += 1;
    }
    let t1 = Instant::now();
    let off = keda
        .answer(stream, Duration::from_secs(12))
        .context("no change to inactive")?;
    assert_eq!(off["ok"]["result"], false, "{off}");
    let idle = t1.elapsed();
    assert!(
        idle >= Duration::from_secs(4),
        "inactive {idle:?} after the last request"
    );
    println!("active -> inactive {idle:?} after the last request (rate[5s])");

    // The same query three ways: all the number of requests sent.
    let total = meta(TOTAL, "10", &[]);
    let want = f64::from(sent);
    poll(
        "GetMetrics, /api/v1 and external metrics agree",
        Duration::from_secs(10),
        || {
            let g = keda.metric(&total)?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let a = api_value(&base, TOTAL)?;
            let e = external_value(&base, "total")?;
            anyhow::ensure!(
                g == want && a == want && e == want,
                "GetMetrics {g}, /api/v1 {a}, external {e}, sent {want}"
            );
            Ok(Some(()))
        },
    )?;
    assert!(keda.active(&total)?);
    adapter.ensure_running()?;
    Ok(())
}

/// Demonstrates TLS with a client-certificate check, as KEDA's `caCert`, `tlsClientCert` and
/// `tlsClientKey` use it: a client with a certificate from the CA is served, one without is
/// refused in the handshake.
#[test]
fn scaler_over_tls_requires_client_certificate() -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("mixerless-keda-tls-")
        .tempdir()?;
    let d = dir.path();
    certs::ca(d, "/CN=keda-ca")?;
    certs::issue(
        d,
        "server",
        "/CN=mixerless-adapter",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )?;
    certs::issue(
        d,
        "keda",
        "/CN=keda-operator",
        "extendedKeyUsage=clientAuth\n",
    )?;
    let p = |f: &str| d.join(f).display().to_string();
    let (mut adapter, _, grpc) = adapter(
        d,
        &[
            "--keda-tls-cert-file".into(),
            p("server.pem"),
            "--keda-tls-private-key-file".into(),
            p("server.key"),
            "--keda-client-ca-file".into(),
            p("ca.pem"),
        ],
    )?;
    let one = meta("vector(1)", "1", &[]);
    let mut keda = Keda::start(
        &grpc,
        &[
            "--ca".into(),
            p("ca.pem"),
            "--cert".into(),
            p("keda.pem"),
            "--key".into(),
            p("keda.key"),
        ],
    )?;
    let active = poll("served over TLS", Duration::from_secs(15), || {
        adapter.ensure_running()?;
        Ok(keda.call("IsActive", &one, None)?.ok())
    })?;
    assert_eq!(active["result"], true);
    let mut anonymous = Keda::start(&grpc, &["--ca".into(), p("ca.pem")])?;
    let (code, details) = error_of(anonymous.call("IsActive", &one, None)?);
    assert_eq!(code, "UNAVAILABLE", "{details}");
    Ok(())
}

/// Demonstrates that the project's copy of the contract is KEDA's.
#[test]
fn proto_is_kedas() -> anyhow::Result<()> {
    let Some(theirs) = paths::shared_data(
        "conformance/keda/externalscaler.proto",
        "the proto comparison",
    ) else {
        return Ok(());
    };
    let ours: PathBuf = paths::root().join("adapter/proto/externalscaler.proto");
    assert_eq!(
        std::fs::read_to_string(ours)?,
        std::fs::read_to_string(theirs)?
    );
    Ok(())
}

/// Go's `url.QueryEscape`, which KEDA's Prometheus scaler applies to the query: letters,
/// digits and `-_.~` stay, a space becomes `+`, every other byte `%XX`.
fn go_query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// How KEDA's Prometheus scaler (`pkg/scalers/prometheus_scaler.go`, `ExecutePromQuery`,
/// `ignoreNullValues` at its default true) reads an answer: a non-2xx status is an error; no
/// element is 0; more than one is an error; the value is `value[1]` as a string; NaN and ±Inf
/// are 0.
fn keda_reads(status: u16, body: &str) -> Result<f64, String> {
    if !(200..=299).contains(&status) {
        return Err(format!(
            "prometheus query api returned error. status: {status}"
        ));
    }
    let v: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let result = v["data"]["result"]
        .as_array()
        .ok_or_else(|| format!("result is not an array of elements: {body}"))?;
    match result.as_slice() {
        [] => Ok(0.0),
        [one] => {
            let s = one["value"][1]
                .as_str()
                .ok_or_else(|| format!("value is not a string: {one}"))?;
            let f: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
            Ok(if f.is_finite() { f } else { 0.0 })
        }
        _ => Err("returned multiple elements".into()),
    }
}

/// Demonstrates KEDA's built-in `prometheus` trigger with `serverAddress` set to the adapter:
/// the exact request it sends (`/api/v1/query?query=<QueryEscape>&time=<RFC 3339 UTC>`, its
/// `namespace` parameter, Go's headers, a bearer header as `authModes: bearer` adds, and the
/// client certificate of `authModes: tls`) is answered as it reads answers: the number of
/// requests sent; 0 at a `time` before them; 0 for an empty result; an error for two series
/// and for a client without a certificate when the adapter requires one.
#[test]
fn prometheus_trigger_requests() -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("mixerless-keda-prom-")
        .tempdir()?;
    let d = dir.path();
    certs::ca(d, "/CN=keda-ca")?;
    certs::issue(
        d,
        "keda",
        "/CN=keda-operator",
        "extendedKeyUsage=clientAuth\n",
    )?;
    let envoy = Envoy::start(&Bootstrap::inbound(r#"{"reporter": "destination"}"#).render())?;
    let (mut adapter, base, _) = adapter(
        d,
        &[
            "--target".into(),
            envoy.admin_url("/stats/prometheus"),
            "--scrape-interval".into(),
            "1s".into(),
            "--requestheader-client-ca-file".into(),
            d.join("ca.pem").display().to_string(),
            "--requestheader-allowed-names".into(),
            "keda-operator".into(),
        ],
    )?;
    let started = std::time::SystemTime::now();
    let pem = std::fs::read_to_string(d.join("keda.pem"))?
        + &std::fs::read_to_string(d.join("keda.key"))?;
    let tls_client = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .identity(reqwest::Identity::from_pem(pem.as_bytes())?)
        .timeout(Duration::from_secs(5))
        .build()?;
    let keda = |client: &reqwest::blocking::Client, query: &str, at: std::time::SystemTime| {
        // time.Now().UTC().Format(time.RFC3339): whole seconds, `Z`.
        let secs = at.duration_since(std::time::UNIX_EPOCH)?.as_secs();
        let t = humantime_rfc3339(secs);
        let url = format!(
            "{base}/api/v1/query?query={}&time={t}&namespace=test",
            go_query_escape(query)
        );
        let r = client
            .get(url)
            .header("User-Agent", "Go-http-client/1.1")
            .header("Accept-Encoding", "gzip")
            .header("Authorization", "Bearer not-checked-by-the-adapter")
            .send()?;
        let status = r.status().as_u16();
        anyhow::Ok(keda_reads(status, &r.text()?))
    };
    poll("the adapter serving", Duration::from_secs(20), || {
        adapter.ensure_running()?;
        Ok(https()?
            .get(format!("{base}/readyz"))
            .send()?
            .status()
            .is_success()
            .then_some(()))
    })?;
    for _ in 0..7 {
        http::get(&envoy.listener_url("/"))?;
    }
    let now = std::time::SystemTime::now;
    let v = poll("the requests scraped", Duration::from_secs(10), || {
        Ok(keda(&tls_client, TOTAL, now())?.ok().filter(|v| *v == 7.0))
    })?;
    assert_eq!(v, 7.0);
    // `time` is read: before the requests there was no series.
    assert_eq!(
        keda(&tls_client, TOTAL, started - Duration::from_secs(600))?,
        Ok(0.0)
    );
    let nowhere = r#"sum(istio_requests_total{destination_workload_namespace="nowhere"})"#;
    assert_eq!(keda(&tls_client, nowhere, now())?, Ok(0.0));
    let two = r#"vector(1) or label_replace(vector(2), "x", "y", "", "")"#;
    assert_eq!(
        keda(&tls_client, two, now())?,
        Err("returned multiple elements".into())
    );
    let anonymous = https()?;
    assert_eq!(
        keda(&anonymous, TOTAL, now())?,
        Err("prometheus query api returned error. status: 401".into())
    );
    Ok(())
}

/// `secs` as Go's `time.RFC3339` in UTC (`2006-01-02T15:04:05Z`).
fn humantime_rfc3339(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(secs);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    assert!(s.ends_with('Z') && !s.contains('.'), "{s}");
    s
}
