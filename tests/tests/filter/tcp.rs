//! The filter as a network filter in real Envoy: a client sidecar (OUTBOUND `tcp_proxy`) and a
//! server sidecar (INBOUND `tcp_proxy`) in front of a TCP echo server report Istio's TCP metrics
//! with exact label sets and byte counts on both sides, including a connection still open after
//! a reporting interval; bad connections (half-closed, reset, silent, 10,000 short ones) are
//! counted exactly, within the series cap, and Envoy keeps serving.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Shutdown;
use std::time::Duration;

use mixerless_e2e::istio::{self, Chain, LabelSet};
use mixerless_e2e::tcp::{self, Echo};
use mixerless_harness::envoy::Envoy;
use mixerless_harness::stats::{self, Sample};
use mixerless_harness::{paths, prometheus};
use serde_json::json;

/// The network variant, reporting open connections every second.
const CONFIG: &str = r#"{"type": "NETWORK", "tcp_reporting_duration": "1s"}"#;

const TCP_METRICS: [&str; 4] = [
    "istio_tcp_connections_opened_total",
    "istio_tcp_connections_closed_total",
    "istio_tcp_sent_bytes_total",
    "istio_tcp_received_bytes_total",
];

/// Istio's TCP labels for productpage-v1 → ratings-v1: case A's, less `response_code` and
/// `grpc_response_status`, with `request_protocol="tcp"` and `changes`.
fn tcp_labels(reporter: &str, changes: &[(&str, &str)]) -> LabelSet {
    let mut set = istio::labels(reporter, &[("request_protocol", "tcp")]);
    set.remove("response_code");
    set.remove("grpc_response_status");
    for (k, v) in changes {
        set.insert((*k).to_owned(), (*v).to_owned());
    }
    set
}

/// What the server sidecar (ratings) reports for a client that sent no peer metadata: a
/// plain TCP client, its source unknown, no mTLS.
fn server_side_without_peer() -> LabelSet {
    tcp_labels(
        "destination",
        &[
            ("destination_service", "ratings"),
            ("destination_service_name", "ratings"),
            ("source_workload", "unknown"),
            ("source_canonical_service", "unknown"),
            ("source_canonical_revision", "latest"),
            ("source_workload_namespace", "unknown"),
            ("source_app", "unknown"),
            ("source_version", "unknown"),
            ("source_cluster", "unknown"),
            ("connection_security_policy", "none"),
        ],
    )
}

/// The server sidecar (ratings-v1, INBOUND) in front of `app_port`.
fn server(config: &str, app_port: u16) -> anyhow::Result<Envoy> {
    let b = istio::server(
        Chain {
            sim: None,
            filter: Some(config),
        },
        app_port,
    )?;
    Envoy::start(&tcp::render(&b, "app")?)
}

/// The client sidecar (productpage-v1, OUTBOUND) in front of `upstream_port`, whose endpoint
/// carries istiod's `istio.workload` metadata for ratings-v1 (no TCP exchange: the filter falls
/// back to it, as Istio's does).
fn client(config: &str, upstream_port: u16) -> anyhow::Result<Envoy> {
    let mut b = istio::client(
        Chain {
            sim: None,
            filter: Some(config),
        },
        upstream_port,
    )?;
    b.endpoint_metadata = vec![(
        "server".into(),
        json!({"filter_metadata": {"istio": {
            "workload": "ratings-v1;default;ratings;version-1;server-cluster"
        }}}),
    )];
    Envoy::start(&tcp::render(&b, "server")?)
}

/// Every series of the four TCP metrics with `reporter`, as (metric, labels) → value.
fn tcp_series(samples: &[Sample], reporter: &str) -> BTreeMap<(String, LabelSet), f64> {
    let mut out = BTreeMap::new();
    for name in TCP_METRICS {
        for s in stats::find(samples, name, &[("reporter", reporter)]) {
            out.insert((name.to_owned(), s.labels.clone()), s.value);
        }
    }
    out
}

/// The four metrics of one label set with these values (opened, closed, sent, received).
fn expect(labels: &LabelSet, values: [f64; 4]) -> BTreeMap<(String, LabelSet), f64> {
    TCP_METRICS
        .iter()
        .zip(values)
        .map(|(name, v)| (((*name).to_owned(), labels.clone()), v))
        .collect()
}

/// Waits until the TCP series of `reporter` are exactly `want`.
fn wait_for(envoy: &Envoy, reporter: &str, want: &BTreeMap<(String, LabelSet), f64>) {
    let result = envoy.eventually(Duration::from_secs(15), |samples| {
        let got = tcp_series(samples, reporter);
        if &got == want {
            Ok(())
        } else {
            Err(format!(
                "reporter={reporter}:\n got {got:#?}\nwant {want:#?}"
            ))
        }
    });
    if let Err(e) = result {
        let log = envoy.log();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        panic!("{e}\nenvoy log tail:\n{}", tail.join("\n"));
    }
}

/// Demonstrates Istio's TCP metrics on both sides of client → server → echo: a connection
/// still open is reported opened with its bytes after a reporting interval (and not closed);
/// then three more connections with known byte counts and the first one's close bring every
/// counter to its exact total; no HTTP metric appears, and `istio_build` is there once.
#[test]
fn client_and_server_report_tcp_metrics() -> anyhow::Result<()> {
    let echo = Echo::start()?;
    let server = server(CONFIG, echo.port())?;
    let client = client(CONFIG, server.listener_port())?;
    // Endpoint metadata has no app or version (Istio's case F).
    let source = tcp_labels(
        "source",
        &[
            ("destination_app", "unknown"),
            ("destination_version", "unknown"),
        ],
    );
    let destination = server_side_without_peer();

    // One connection stays open: its bytes show up after a reporting interval.
    let mut open = tcp::connect(client.listener_port())?;
    tcp::round_trip(&mut open, 1234)?;
    tcp::round_trip(&mut open, 766)?;
    wait_for(
        &client,
        "source",
        &expect(&source, [1.0, 0.0, 2000.0, 2000.0]),
    );
    wait_for(
        &server,
        "destination",
        &expect(&destination, [1.0, 0.0, 2000.0, 2000.0]),
    );

    // Three more, closed by the client after their echo: 100, 1000 and 65,536 bytes each way.
    let mut total = 2000.0;
    for len in [100, 1000, 65_536] {
        let mut conn = tcp::connect(client.listener_port())?;
        tcp::round_trip(&mut conn, len)?;
        conn.shutdown(Shutdown::Write)?;
        assert_eq!(tcp::drain(&mut conn)?, 0);
        total += len as f64;
    }
    tcp::round_trip(&mut open, 10)?;
    total += 10.0;
    drop(open);
    wait_for(
        &client,
        "source",
        &expect(&source, [4.0, 4.0, total, total]),
    );
    wait_for(
        &server,
        "destination",
        &expect(&destination, [4.0, 4.0, total, total]),
    );

    for envoy in [&client, &server] {
        let samples = envoy.scrape()?;
        assert!(stats::find(&samples, "istio_requests_total", &[]).is_empty());
        let build = stats::find(&samples, "istio_build", &[]);
        assert_eq!(build.len(), 1, "{build:?}");
        assert_eq!(build[0].value, 1.0);
        assert_eq!(
            build[0].labels,
            [("component", "proxy"), ("tag", "mixerless-0.1.0")]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<LabelSet>()
        );
    }
    Ok(())
}

/// Demonstrates bad connections on a server sidecar: half-closed (the client closes its side
/// first and still reads the echo), reset with unread data (RST), silent (never sends), one to a
/// dead upstream (`UF`, over the cap of one series: counted in the overflow series), and 10,000
/// short connections: every count exact, at most one series, and Envoy still serves.
#[test]
fn bad_connections_are_counted_exactly() -> anyhow::Result<()> {
    let echo = Echo::start()?;
    let config = r#"{"type": "NETWORK", "tcp_reporting_duration": "1s", "max_series": 1}"#;
    let server = server(config, echo.port())?;
    let port = server.listener_port();

    // Half-closed: 300 bytes, then our side closes; the echo still comes back.
    let mut half = tcp::connect(port)?;
    half.write_all(&[7u8; 300])?;
    half.shutdown(Shutdown::Write)?;
    assert_eq!(tcp::drain(&mut half)?, 300);
    // Reset: 500 bytes echoed and never read, so closing sends RST.
    let mut reset = tcp::connect(port)?;
    reset.write_all(&[1u8; 500])?;
    std::thread::sleep(Duration::from_millis(200));
    drop(reset);
    // Silent: connects, never sends, closes.
    let silent = tcp::connect(port)?;
    std::thread::sleep(Duration::from_millis(200));
    drop(silent);
    // 10,000 short connections, 4 threads: 16 bytes each way.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || -> anyhow::Result<()> {
                for _ in 0..2500 {
                    let mut c = tcp::connect(port)?;
                    tcp::round_trip(&mut c, 16)?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread")?;
    }
    let connections = 10_003.0;
    let bytes = 300.0 + 500.0 + 10_000.0 * 16.0;
    let labels = |flags: &str| {
        let mut l = server_side_without_peer();
        l.insert("response_flags".into(), flags.into());
        l
    };
    let ok = labels("-");
    wait_for(
        &server,
        "destination",
        &expect(&ok, [connections, connections, bytes, bytes]),
    );

    // The echo goes away: a new connection fails upstream (`UF`), a second label set, over the
    // cap of one: it is counted in the overflow series with the local labels kept.
    let echo_port = echo.port();
    drop(echo);
    let mut dead = tcp::connect(port)?;
    let _ = tcp::drain(&mut dead);
    let result = server.eventually(Duration::from_secs(15), |samples| {
        let got = tcp_series(samples, "destination");
        let overflow = stats::sum(samples, "mixerless_series_overflow_total", &[]);
        let sets: std::collections::BTreeSet<&LabelSet> = got.keys().map(|(_, l)| l).collect();
        let opened = stats::sum(samples, "istio_tcp_connections_opened_total", &[]);
        let closed = stats::sum(samples, "istio_tcp_connections_closed_total", &[]);
        if sets.len() == 2 && overflow == 1.0 && opened == connections + 1.0 && closed == opened {
            Ok(sets
                .into_iter()
                .find(|l| **l != ok)
                .cloned()
                .unwrap_or_default())
        } else {
            Err(format!(
                "overflow {overflow}, opened {opened}, closed {closed}, sets {sets:#?}"
            ))
        }
    })?;
    assert_eq!(
        result.get("source_workload").map(String::as_str),
        Some("overflow")
    );
    assert_eq!(
        result.get("destination_workload").map(String::as_str),
        Some("ratings-v1")
    );
    assert_eq!(
        result.get("response_flags").map(String::as_str),
        Some("overflow")
    );

    // Envoy still serves: the echo is back on its port and a round trip passes through.
    let echo = Echo::start_on(echo_port)?;
    let mut again = tcp::connect(port)?;
    tcp::round_trip(&mut again, 16)?;
    drop(again);
    let mut want = expect(
        &ok,
        [
            connections + 1.0,
            connections + 1.0,
            bytes + 16.0,
            bytes + 16.0,
        ],
    );
    want.extend(expect(&result, [1.0, 1.0, 0.0, 0.0]));
    wait_for(&server, "destination", &want);
    drop(echo);
    let log = server.log();
    assert!(!log.contains("panicked"), "a panic in the log:\n{log}");
    Ok(())
}

/// The shipped static scrape job (`istio/prometheus/scrape-configs.yaml`), every second, at
/// `targets`.
fn prometheus_config(targets: &[String]) -> anyhow::Result<String> {
    let path = paths::root().join("istio/prometheus/scrape-configs.yaml");
    let shipped: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(path)?)?;
    let mut job = shipped["scrape_configs"]
        .as_sequence()
        .and_then(|jobs| {
            jobs.iter()
                .find(|j| j["job_name"] == "istio-sidecars-static")
        })
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no istio-sidecars-static job"))?;
    job["scrape_interval"] = "1s".into();
    job["static_configs"][0]["targets"] =
        serde_yaml::Value::Sequence(targets.iter().map(|t| t.as_str().into()).collect());
    let config = json!({"global": {"scrape_interval": "1s"}, "scrape_configs": [job]});
    Ok(serde_yaml::to_string(&config)?)
}

/// Demonstrates that upstream Prometheus 2.42 with the shipped static job scrapes the TCP series
/// of both sidecars: one connection of 321 bytes each way is 321 in `istio_tcp_sent_bytes_total`
/// and `istio_tcp_received_bytes_total` for each reporter, with `request_protocol="tcp"`, no
/// `response_code`, and the job's labels; `istio_build` comes along.
#[test]
fn prometheus_scrapes_the_tcp_series() -> anyhow::Result<()> {
    let echo = Echo::start()?;
    let server = server(CONFIG, echo.port())?;
    let client = client(CONFIG, server.listener_port())?;
    let mut conn = tcp::connect(client.listener_port())?;
    tcp::round_trip(&mut conn, 321)?;
    drop(conn);

    let dir = tempfile::tempdir()?;
    let targets = [client.admin_port(), server.admin_port()].map(|p| format!("127.0.0.1:{p}"));
    let (mut prom, port) = prometheus::start(dir.path(), &prometheus_config(&targets)?)?;
    let query = |q: &str| -> anyhow::Result<Vec<serde_json::Value>> {
        let body = ureq::get(&format!("http://127.0.0.1:{port}/api/v1/query"))
            .query("query", q)
            .call()?
            .into_string()?;
        let v: serde_json::Value = serde_json::from_str(&body)?;
        Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let (sent, received) = loop {
        prom.ensure_running()?;
        let sent = query("istio_tcp_sent_bytes_total").unwrap_or_default();
        let received = query("istio_tcp_received_bytes_total").unwrap_or_default();
        let all_321 =
            |r: &[serde_json::Value]| r.len() == 2 && r.iter().all(|s| s["value"][1] == "321");
        if all_321(&sent) && all_321(&received) {
            break (sent, received);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not 321 twice: sent {sent:?} received {received:?}\n{}",
            prom.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let mut reporters = Vec::new();
    for series in sent.iter().chain(&received) {
        let m = &series["metric"];
        assert_eq!(m["job"], "istio-sidecars-static", "{m}");
        assert_eq!(m["namespace"], "test", "{m}");
        assert_eq!(m["request_protocol"], "tcp", "{m}");
        assert!(
            m["response_code"].is_null() && m["grpc_response_status"].is_null(),
            "{m}"
        );
        assert_eq!(m["destination_workload"], "ratings-v1", "{m}");
        // Istio's 23 TCP labels, plus __name__, job, instance and namespace.
        assert_eq!(m.as_object().map(|o| o.len()), Some(23 + 4), "{m}");
        reporters.push(m["reporter"].as_str().unwrap_or_default().to_owned());
    }
    reporters.sort();
    assert_eq!(
        reporters,
        ["destination", "destination", "source", "source"]
    );
    let closed = query("sum(istio_tcp_connections_closed_total)")?;
    assert_eq!(
        closed.first().map(|s| s["value"][1].clone()),
        Some("2".into())
    );
    let build = query(r#"istio_build{component="proxy"}"#)?;
    assert_eq!(build.len(), 2, "{build:?}");
    Ok(())
}

/// The EnvoyFilter component's TCP patch for `context` (its NETWORK_FILTER value) with the ADS
/// source swapped for a file holding its EXTENSION_CONFIG, the module read from `dist/`, as
/// istiod and istio-agent would deliver it by ECDS.
fn envoyfilter_tcp_filter(
    context: &str,
    dir: &std::path::Path,
) -> anyhow::Result<serde_json::Value> {
    let path = paths::root().join("istio/components/envoyfilter/EnvoyFilter-mixerless-stats.yaml");
    let ef: serde_json::Value = serde_yaml::from_str(&std::fs::read_to_string(path)?)?;
    let patches = ef["spec"]["configPatches"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("no configPatches"))?;
    let find = |apply: &str, f: &dyn Fn(&serde_json::Value) -> bool| {
        patches
            .iter()
            .find(|p| p["applyTo"] == apply && f(p))
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no {apply} patch"))
    };
    let patch = find("NETWORK_FILTER", &|p| p["match"]["context"] == context)?;
    let mut filter = patch["patch"]["value"].clone();
    let name = filter["name"].as_str().unwrap_or_default().to_owned();
    let ext = find("EXTENSION_CONFIG", &|p| {
        p["patch"]["value"]["name"] == name.as_str()
    })?;
    let mut typed = ext["patch"]["value"]["typed_config"].clone();
    typed["config"]["vm_config"]["code"] = json!({"local": {"filename": paths::filter_wasm()?}});
    let ecds = dir.join("ecds.json");
    let response = json!({"resources": [{
        "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
        "name": name,
        "typed_config": typed,
    }]});
    std::fs::write(&ecds, response.to_string())?;
    let source = &mut filter["config_discovery"]["config_source"];
    anyhow::ensure!(source["ads"] == json!({}), "the patch reads ADS: {source}");
    if let Some(s) = source.as_object_mut() {
        s.remove("ads");
    }
    source["path_config_source"] = json!({"path": ecds});
    Ok(filter)
}

/// Demonstrates that the EnvoyFilter component's TCP patch, as written (network filter before
/// `tcp_proxy`, ECDS, the extension config's plugin configuration), makes a real inbound
/// sidecar report a connection's bytes with Istio's TCP labels.
#[test]
fn envoyfilter_tcp_patch_reports_connections() -> anyhow::Result<()> {
    let echo = Echo::start()?;
    let dir = tempfile::tempdir()?;
    let b = istio::server(
        Chain {
            sim: None,
            filter: None,
        },
        echo.port(),
    )?;
    let mut config: serde_json::Value = serde_json::from_str(&tcp::render(&b, "app")?)?;
    let filters = config
        .pointer_mut("/static_resources/listeners/0/filter_chains/0/filters")
        .and_then(serde_json::Value::as_array_mut)
        .ok_or_else(|| anyhow::anyhow!("no listener filters"))?;
    assert_eq!(filters.len(), 1, "tcp_proxy alone");
    filters.insert(0, envoyfilter_tcp_filter("SIDECAR_INBOUND", dir.path())?);
    let server = Envoy::start(&config.to_string())?;
    let mut conn = tcp::connect(server.listener_port())?;
    tcp::round_trip(&mut conn, 4321)?;
    drop(conn);
    let labels = server_side_without_peer();
    wait_for(
        &server,
        "destination",
        &expect(&labels, [1.0, 1.0, 4321.0, 4321.0]),
    );
    Ok(())
}
