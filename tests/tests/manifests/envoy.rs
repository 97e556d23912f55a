//! The shipped configuration against the real things: the Wasm configuration the EnvoyFilter
//! patches in and a bootstrap with the shipped `stats_tags` pass `envoy --mode validate`; a real
//! Envoy 1.40 runs the EnvoyFilter's inbound configuration under traffic; and real Prometheus
//! 2.42, with the shipped static scrape job pointed at that Envoy, collects
//! `istio_requests_total` with the filter's labels.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::common::{docs, istio};
use mixerless_harness::bootstrap::Bootstrap;
use mixerless_harness::envoy::{self, Envoy};
use mixerless_harness::{http, paths};
use serde_json::{json, Value};

/// The EnvoyFilter's Wasm extension config named `name`, as istio-agent hands it to Envoy: the
/// `remote` (oci:// or https://) code replaced by the downloaded module, here the built one.
fn extension_config(name: &str) -> Value {
    let path = istio().join("components/envoyfilter/EnvoyFilter-mixerless-stats.yaml");
    let ef = docs(&std::fs::read_to_string(path).unwrap()).remove(0);
    let patch = ef["spec"]["configPatches"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["applyTo"] == "EXTENSION_CONFIG" && p["patch"]["value"]["name"] == name)
        .unwrap_or_else(|| panic!("no extension config {name}"))
        .clone();
    let mut typed: Value = serde_json::to_value(&patch["patch"]["value"]["typed_config"]).unwrap();
    let code = typed
        .pointer_mut("/config/vm_config/code")
        .expect("vm_config.code");
    assert!(code["remote"]["http_uri"]["uri"].is_string());
    let wasm = paths::filter_wasm().unwrap();
    *code = json!({"local": {"filename": wasm}});
    typed
}

/// A test bootstrap (sidecar of podinfo in namespace test, shipped stats_tags) whose wasm
/// filter is the EnvoyFilter's extension config `name`.
fn bootstrap_with(name: &str, direction: &'static str) -> String {
    let mut b = Bootstrap::inbound("{}");
    b.direction = Some(direction);
    let mut config: Value = serde_json::from_str(&b.render()).unwrap();
    let filters = config
        .pointer_mut(
            "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/http_filters",
        )
        .and_then(Value::as_array_mut)
        .unwrap();
    assert_eq!(filters[0]["name"], "envoy.filters.http.wasm");
    filters[0]["typed_config"] = extension_config(name);
    config.to_string()
}

/// Demonstrates that Envoy 1.40 accepts both Wasm configurations the EnvoyFilter patches in
/// (module loaded, plugin configured) and a bootstrap carrying the shipped stats_tags, and
/// rejects a broken one (the check can fail).
#[test]
fn envoy_validates_the_patched_wasm_configs_and_stats_tags() {
    for (name, direction) in [
        ("mixerless-stats-inbound", "INBOUND"),
        ("mixerless-stats-outbound", "OUTBOUND"),
    ] {
        let boot = bootstrap_with(name, direction);
        assert!(boot.contains("\"stats_tags\""));
        let result = envoy::validate(&boot).unwrap();
        assert!(result.is_ok(), "{name}: {}", result.unwrap_err());
    }
    let broken = bootstrap_with("mixerless-stats-inbound", "INBOUND")
        .replace("envoy.wasm.runtime.v8", "envoy.wasm.runtime.none");
    assert!(envoy::validate(&broken).unwrap().is_err());
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A Prometheus process, killed on drop (and with the test thread, via pdeathsig).
struct Prometheus {
    child: Child,
    port: u16,
}

impl Prometheus {
    fn start(config: &Path, data: &Path) -> Self {
        let port = free_port();
        let child = mixerless_harness::process::guarded("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--storage.tsdb.retention.time=1h")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (make deps installs it)");
        Self { child, port }
    }

    fn query(&self, q: &str) -> anyhow::Result<Value> {
        let body = ureq::get(&format!("http://127.0.0.1:{}/api/v1/query", self.port))
            .query("query", q)
            .call()?
            .into_string()?;
        Ok(serde_json::from_str(&body)?)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped static job, pointed at `target`, scraping every second.
fn static_job(target: &str) -> serde_yaml::Value {
    let path = istio().join("prometheus/scrape-configs.yaml");
    let shipped: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut job = shipped["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "istio-sidecars-static")
        .expect("the static job")
        .clone();
    job["scrape_interval"] = "1s".into();
    job["static_configs"][0]["targets"] = serde_yaml::Value::Sequence(vec![target.into()]);
    job
}

/// Demonstrates that real Prometheus 2.42, configured with the shipped static scrape job,
/// collects `istio_requests_total` from a real Envoy running the EnvoyFilter's inbound
/// configuration, with the filter's labels and the job's own, and the right count.
#[test]
fn prometheus_collects_the_filter_series_with_the_shipped_job() {
    let envoy = Envoy::start(&bootstrap_with("mixerless-stats-inbound", "INBOUND")).unwrap();
    for _ in 0..7 {
        assert_eq!(http::get(&envoy.listener_url("/")).unwrap().status, 200);
    }
    let dir = tempfile::tempdir().unwrap();
    let job = static_job(&format!("127.0.0.1:{}", envoy.admin_port()));
    let config = serde_yaml::to_string(&serde_yaml::Mapping::from_iter([
        (
            "global".into(),
            serde_yaml::from_str("{scrape_interval: 1s}").unwrap(),
        ),
        (
            "scrape_configs".into(),
            serde_yaml::Value::Sequence(vec![job]),
        ),
    ]))
    .unwrap();
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let check = Command::new("promtool")
        .args(["check", "config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let prom = Prometheus::start(&config_path, &dir.path().join("data"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let series = loop {
        let last = prom.query("istio_requests_total");
        if let Ok(v) = &last {
            let result = &v["data"]["result"];
            if result.as_array().is_some_and(|r| !r.is_empty()) && result[0]["value"][1] == "7" {
                break result.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no istio_requests_total of 7: {last:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(series.as_array().unwrap().len(), 1, "{series}");
    let m = &series[0]["metric"];
    for (k, v) in [
        ("job", "istio-sidecars-static"),
        ("namespace", "test"),
        ("reporter", "destination"),
        ("destination_workload", "podinfo"),
        ("destination_workload_namespace", "test"),
        ("destination_canonical_service", "podinfo"),
        ("response_code", "200"),
        ("request_protocol", "http"),
    ] {
        assert_eq!(m[k], v, "{k} in {m}");
    }
    // Every label of the filter, except grpc_response_status: "" for plain HTTP, and Prometheus
    // stores no empty label.
    for label in mixerless_filter::labels::NAMES {
        assert_eq!(
            m[label].is_string(),
            label != "grpc_response_status",
            "{label} in {m}"
        );
    }
    // With the host-header fallback off (inbound), destination_service is the local canonical name.
    assert_eq!(m["destination_service"], "podinfo", "{m}");
}

/// `proxyStatsMatcher.inclusionPrefixes` from the generated mesh config.
fn inclusion_prefixes() -> Vec<String> {
    let path = istio().join("mesh/IstioOperator-mixerless-mesh-config.yaml");
    let op = docs(&std::fs::read_to_string(path).unwrap()).remove(0);
    op["spec"]["meshConfig"]["defaultConfig"]["proxyStatsMatcher"]["inclusionPrefixes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

/// Runs the inbound filter behind an Envoy `stats_matcher` inclusion list of `prefixes` (as
/// Istio's bootstrap builds it) and returns how many requests `istio_requests_total` shows.
fn counted_behind_matcher(prefixes: &[String]) -> f64 {
    let mut config: Value =
        serde_json::from_str(&bootstrap_with("mixerless-stats-inbound", "INBOUND")).unwrap();
    let patterns: Vec<Value> = prefixes.iter().map(|p| json!({"prefix": p})).collect();
    config["stats_config"]["stats_matcher"] = json!({"inclusion_list": {"patterns": patterns}});
    let envoy = Envoy::start(&config.to_string()).unwrap();
    for _ in 0..3 {
        assert_eq!(http::get(&envoy.listener_url("/")).unwrap().status, 200);
    }
    // Give a matched stat several stats flushes (1 s each) to show up; an excluded one never does.
    let deadline = Instant::now() + Duration::from_secs(4);
    loop {
        let samples = envoy.scrape().unwrap();
        let n = mixerless_harness::stats::sum(&samples, "istio_requests_total", &[]);
        if n >= 3.0 || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Demonstrates that Envoy's stats matcher sees the filter's stats under the shipped
/// `proxyStatsMatcher` prefix: with it the requests are counted; with only Istio's `reporter=`
/// prefix (which matched the old, unprefixed Wasm stats) they are not.
#[test]
fn proxy_stats_matcher_lets_the_filter_series_through() {
    let prefixes = inclusion_prefixes();
    let mut with = vec!["reporter=".to_owned(), "cluster_manager".to_owned()];
    with.extend(prefixes);
    assert_eq!(counted_behind_matcher(&with), 3.0);
    assert_eq!(counted_behind_matcher(&["reporter=".to_owned()]), 0.0);
}

/// The EnvoyFilter's HTTP_FILTER patch value for `context`, with its ADS config source swapped
/// for a file holding the extension config, as istiod and istio-agent would deliver it by ECDS.
fn ecds_bootstrap(context: &str, dir: &Path) -> String {
    let path = istio().join("components/envoyfilter/EnvoyFilter-mixerless-stats.yaml");
    let ef = docs(&std::fs::read_to_string(path).unwrap()).remove(0);
    let patch = ef["spec"]["configPatches"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["applyTo"] == "HTTP_FILTER" && p["match"]["context"] == context)
        .unwrap()
        .clone();
    assert_eq!(patch["patch"]["operation"], "INSERT_BEFORE");
    assert_eq!(
        patch["match"]["listener"]["filterChain"]["filter"]["subFilter"]["name"],
        "envoy.filters.http.router"
    );
    let mut filter: Value = serde_json::to_value(&patch["patch"]["value"]).unwrap();
    let name = filter["name"].as_str().unwrap().to_owned();
    let ecds = dir.join("ecds.json");
    let response = json!({"resources": [{
        "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
        "name": name,
        "typed_config": extension_config(&name),
    }]});
    std::fs::write(&ecds, response.to_string()).unwrap();
    let source = filter
        .pointer_mut("/config_discovery/config_source")
        .unwrap();
    assert_eq!(source["ads"], json!({}));
    source.as_object_mut().unwrap().remove("ads");
    source["path_config_source"] = json!({"path": ecds});

    let mut config: Value = serde_json::from_str(&Bootstrap::inbound("{}").render()).unwrap();
    let filters = config
        .pointer_mut(
            "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/http_filters",
        )
        .and_then(Value::as_array_mut)
        .unwrap();
    // Where the patch puts it: before the router (the test bootstrap's own wasm filter goes).
    filters.retain(|f| f["name"] != "envoy.filters.http.wasm");
    assert_eq!(filters.last().unwrap()["name"], "envoy.filters.http.router");
    filters.insert(filters.len() - 1, filter);
    config.to_string()
}

/// Demonstrates that the EnvoyFilter's HTTP_FILTER patch, as written (name, config_discovery,
/// type_urls), makes a real Envoy fetch the extension config by ECDS and count requests with
/// the inbound reporter.
#[test]
fn envoyfilter_http_filter_loads_the_module_by_ecds() {
    let dir = tempfile::tempdir().unwrap();
    let envoy = Envoy::start(&ecds_bootstrap("SIDECAR_INBOUND", dir.path())).unwrap();
    for _ in 0..4 {
        assert_eq!(http::get(&envoy.listener_url("/")).unwrap().status, 200);
    }
    let n = envoy
        .eventually(Duration::from_secs(10), |s| {
            let n = mixerless_harness::stats::sum(
                s,
                "istio_requests_total",
                &[("reporter", "destination")],
            );
            if n >= 4.0 {
                Ok(n)
            } else {
                Err(format!("istio_requests_total {n}"))
            }
        })
        .unwrap();
    assert_eq!(n, 4.0);
}
