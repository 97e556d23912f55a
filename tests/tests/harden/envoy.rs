//! Adversarial traffic against real Envoy with the filter: forged `x-envoy-peer-metadata` whose
//! values carry quotes, backslashes, newlines, braces and the stat-name separators, oversized
//! fields, and a flood of distinct Hosts, paths and response codes. No label value may break a
//! stat name or the exposition text, and the series count stays at the configured cap.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use mixerless_adapter::querier::embedded::Embedded;
use mixerless_adapter::scrape::Sink as _;
use mixerless_adapter::telemetry::Telemetry;
use mixerless_filter::labels::NAMES;
use mixerless_filter::peer::wire::{Struct, Value};
use mixerless_harness::bootstrap::{Bootstrap, Route};
use mixerless_harness::envoy::Envoy;
use mixerless_harness::{http, stats};

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// A peer header in Istio's node-metadata shape with these workload, namespace and labels.
fn peer_header(workload: &str, namespace: &str, labels: &[(&str, &str)]) -> String {
    let labels = Struct(
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), s(v)))
            .collect(),
    );
    let st = Struct(vec![
        ("CLUSTER_ID".into(), s("c l")),
        ("LABELS".into(), Value::Struct(labels)),
        ("NAMESPACE".into(), s(namespace)),
        ("WORKLOAD_NAME".into(), s(workload)),
    ]);
    mixerless_filter::peer::base64::encode(&st.encode())
}

fn server(config: &str) -> Bootstrap {
    let mut b = Bootstrap::inbound(config);
    b.routes = [200u16, 201, 404, 429, 500, 503]
        .iter()
        .map(|code| Route::Direct {
            prefix: format!("/c{code}"),
            status: *code,
            body: String::new(),
        })
        .collect();
    b
}

/// Parses Envoy's whole `/stats/prometheus` text strictly with the adapter's own scrape path
/// (the engine's parser, as `serve` ingests a target): any broken line fails it.
fn strict_ingest(text: &str) -> anyhow::Result<usize> {
    let store = Embedded::new(
        Duration::from_secs(600),
        Duration::from_secs(10),
        Arc::new(Telemetry::new()),
    );
    store.set_queries(&["istio_requests_total".to_owned()]);
    store
        .ingest(
            &mixerless_adapter::scrape::Target {
                url: "http://x/stats/prometheus".into(),
                labels: vec![
                    ("job".into(), "envoy".into()),
                    ("instance".into(), "x".into()),
                ],
                ..Default::default()
            },
            1,
            text.as_bytes(),
            mixerless_adapter::scrape::Format::Text004,
        )
        .map(|stored| stored.samples)
        .map_err(|e| anyhow::anyhow!("Envoy's exposition does not parse strictly: {e}"))
}

/// Demonstrates that forged peer metadata with quotes, backslashes, newlines, braces, commas and
/// the `=.=`/`;.;` separators in every field (trusted as Istio trusts it without mTLS) becomes
/// label values that keep all 25 labels apart, reach the exposition escaped (the engine's strict
/// parser reads the whole text back to the same values, with only `;`, `=` and control
/// characters replaced), and that a peer with an over-long field is refused as a whole.
#[test]
fn hostile_peer_values_cannot_break_stat_names_or_exposition() -> anyhow::Result<()> {
    let envoy = Envoy::start(&server(r#"{"reporter": "destination"}"#).render())?;
    let hostile = peer_header(
        "evil\"} 1\nfake{a=\"b",
        "ns\\x",
        &[
            ("app", "a,b{c}"),
            ("version", "v=.=1;.;x"),
            ("service.istio.io/canonical-name", "q\"uote\\"),
            ("service.istio.io/canonical-revision", "é ü"),
        ],
    );
    let oversized = peer_header(&"w".repeat(600), "test", &[("app", "big")]);
    let hostile_host = "h'o(st);.;x=.=y";
    for _ in 0..2 {
        for (header, path) in [(&hostile, "/c200"), (&oversized, "/c503")] {
            let resp = http::request(
                "GET",
                &envoy.listener_url(path),
                &[
                    ("host", hostile_host),
                    ("x-envoy-peer-metadata", header),
                    ("x-envoy-peer-metadata-id", "sidecar~1.2.3.4~evil.x~x.svc"),
                ],
                "",
            )?;
            assert_eq!(resp.status.to_string(), &path[2..], "{path}");
        }
    }
    let names: BTreeSet<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
    envoy.eventually(Duration::from_secs(15), |samples| {
        let all = stats::find(samples, "istio_requests_total", &[]);
        let total: f64 = all.iter().map(|s| s.value).sum();
        if total != 4.0 {
            return Err(format!("{total} requests counted, want 4: {all:#?}"));
        }
        Ok(())
    })?;
    let text = http::get(&envoy.admin_url("/stats/prometheus"))?.body;
    strict_ingest(&text)?;
    let samples = stats::parse(&text)?;
    for s in samples.iter().filter(|s| s.name.starts_with("istio_")) {
        let got: BTreeSet<String> = s.labels.keys().filter(|k| *k != "le").cloned().collect();
        // istio_build is the proxy's own gauge: Istio labels it with component and tag only.
        let want: BTreeSet<String> = if s.name == "istio_build" {
            ["component", "tag"].map(String::from).into()
        } else {
            names.clone()
        };
        assert_eq!(got, want, "{} has other labels: {s:?}", s.name);
        for v in s.labels.values() {
            assert!(
                !v.contains(";.;") && !v.contains("=.=") && !v.contains('\n'),
                "a separator survived in {v:?}"
            );
        }
    }
    for s in &samples {
        assert!(
            !s.name.contains("=.=") && !s.name.contains(";.;") && !s.name.contains("evil"),
            "a hostile value leaked into a metric name: {}",
            s.name
        );
    }
    // The forged values, sanitized only where they would form a separator.
    let forged = stats::find(
        &samples,
        "istio_requests_total",
        &[
            ("source_workload", "evil\"} 1_fake{a_\"b"),
            ("source_workload_namespace", "ns\\x"),
            ("source_app", "a,b{c}"),
            ("source_version", "v_._1_._x"),
            ("source_canonical_service", "q\"uote\\"),
            ("source_canonical_revision", "é ü"),
            ("source_cluster", "c l"),
            ("response_code", "200"),
        ],
    );
    assert_eq!(forged.len(), 1, "forged peer series: {forged:#?}");
    assert_eq!(forged[0].value, 2.0);
    let refused = stats::find(
        &samples,
        "istio_requests_total",
        &[("source_workload", "unknown"), ("response_code", "503")],
    );
    assert_eq!(
        refused.iter().map(|s| s.value).sum::<f64>(),
        2.0,
        "the peer with a 600-byte field is refused as a whole: {refused:#?}"
    );
    Ok(())
}

/// Demonstrates the cap under a mixed flood: 1,000 requests over distinct Hosts, paths and six
/// response codes with `max_series: 50` give at most 50 label sets plus the overflow series,
/// every request is counted, the overflow counter holds exactly the requests beyond the cap, and
/// the exposition still parses strictly.
#[test]
fn mixed_flood_stays_at_the_cap_with_overflow_counted() -> anyhow::Result<()> {
    const REQUESTS: usize = 1_000;
    const CAP: usize = 50;
    let envoy = Envoy::start(&server(&format!(r#"{{"max_series": {CAP}}}"#)).render())?;
    let codes = [200, 201, 404, 429, 500, 503];
    for i in 0..REQUESTS {
        let url = envoy.listener_url(&format!("/c{}/item/{i}", codes[i % codes.len()]));
        let host = format!("svc-{i}.ns-{}.svc.cluster.local", i % 7);
        http::request("GET", &url, &[("host", &host)], "")?;
    }
    envoy.eventually(Duration::from_secs(20), |samples| {
        let all = stats::find(samples, "istio_requests_total", &[]);
        let total: f64 = all.iter().map(|s| s.value).sum();
        let overflow = stats::sum(samples, "mixerless_series_overflow_total", &[]);
        let capped: f64 = all
            .iter()
            .filter(|s| s.label("destination_service") != Some("overflow"))
            .map(|s| s.value)
            .sum();
        if total != REQUESTS as f64 {
            return Err(format!("{total} counted of {REQUESTS}"));
        }
        if all.len() > CAP + 1 {
            return Err(format!("{} series, cap {CAP} + overflow", all.len()));
        }
        if overflow != REQUESTS as f64 - capped || overflow < (REQUESTS - CAP) as f64 {
            return Err(format!(
                "overflow {overflow}, {capped} in capped series, {} series",
                all.len()
            ));
        }
        Ok(())
    })?;
    let text = http::get(&envoy.admin_url("/stats/prometheus"))?.body;
    let kept = strict_ingest(&text).context("flooded exposition")?;
    assert!(kept > 0);
    Ok(())
}
