//! The filter in real Envoy: a client sidecar (OUTBOUND, `reporter="source"`) calls a server
//! sidecar (INBOUND, `reporter="destination"`); both exchange metadata and must report exactly
//! Istio's 25-label series, as istio/proxy's `stats_test.go` checks.

use std::collections::BTreeMap;
use std::time::Duration;

use mixerless_e2e::istio::{self, expect_exactly, labels, LabelSet};
use mixerless_filter::labels::NAMES;
use mixerless_harness::bootstrap::{Bootstrap, Route};
use mixerless_harness::envoy::Envoy;
use mixerless_harness::{http, paths, stats};

fn direct(prefix: &str, status: u16) -> Route {
    Route::Direct {
        prefix: prefix.into(),
        status,
        body: format!("{status}\n"),
    }
}

/// The server sidecar of pod `ratings-v1` (Istio's test node metadata), answering itself:
/// `/ok` 200, `/missing` 404, `/unavailable` 503, `/grpc` 200 with `grpc-status: 7`, and no
/// route at all for anything else (Envoy's own 404 with flag `NR`).
fn server(plugin_config: &str) -> Bootstrap {
    let mut b = Bootstrap::inbound(plugin_config);
    b.node_id = istio::SERVER_ID.into();
    b.metadata = istio::ratings_metadata();
    b.routes = vec![
        direct("/ok", 200),
        direct("/missing", 404),
        direct("/unavailable", 503),
        Route::DirectWithHeaders {
            prefix: "/grpc".into(),
            status: 200,
            body: String::new(),
            headers: vec![
                ("content-type".into(), "application/grpc".into()),
                ("grpc-status".into(), "7".into()),
            ],
        },
    ];
    b
}

fn send(envoy: &Envoy, path: &str, headers: &[(&str, &str)], times: usize) -> Vec<http::Response> {
    (0..times)
        .map(|_| http::request("GET", &envoy.listener_url(path), headers, "").unwrap())
        .collect()
}

/// Demonstrates Istio's labels on both sides of a real client → server call with metadata
/// exchange: exact 25-label sets for 200, 404 (from the app and from Envoy: `NR`), 503,
/// a gRPC status, and an unreachable upstream (`UF`, peer unknown, Host fallback); counts and
/// histogram `_count`s equal the requests; the exchange headers never reach the caller.
#[test]
fn client_and_server_report_istio_labels() -> anyhow::Result<()> {
    let server = Envoy::start(&server(r#"{"disable_host_header_fallback": true}"#).render())?;
    let mut client = Bootstrap::outbound("{}", server.listener_port());
    let dead_port = paths::free_port();
    client.routes.insert(
        0,
        Route::Cluster {
            prefix: "/dead".into(),
            cluster: "dead".into(),
        },
    );
    client.clusters.push(("dead".into(), dead_port));
    let client = Envoy::start(&client.render())?;

    let grpc = [("content-type", "application/grpc")];
    type Step<'a> = (&'a str, &'a [(&'a str, &'a str)], usize, u16);
    let plan: [Step<'_>; 6] = [
        ("/ok", &[], 10, 200),
        ("/missing", &[], 3, 404),
        ("/nothing-here", &[], 2, 404),
        ("/unavailable", &[], 4, 503),
        ("/grpc", &grpc, 2, 200),
        ("/dead", &[], 1, 503),
    ];
    for (path, headers, times, status) in plan {
        for resp in send(&client, path, headers, times) {
            assert_eq!(resp.status, status, "{path}");
            assert_eq!(resp.header("x-envoy-peer-metadata"), None, "{path}");
            assert_eq!(resp.header("x-envoy-peer-metadata-id"), None, "{path}");
        }
    }

    let host = format!("127.0.0.1:{}", client.listener_port());
    let grpc7 = [("request_protocol", "grpc"), ("grpc_response_status", "7")];
    let source: BTreeMap<LabelSet, f64> = [
        (labels("source", &[]), 10.0),
        (labels("source", &[("response_code", "404")]), 5.0),
        (labels("source", &[("response_code", "503")]), 4.0),
        (labels("source", &grpc7), 2.0),
        (
            labels(
                "source",
                &[
                    ("destination_workload", "unknown"),
                    ("destination_workload_namespace", "unknown"),
                    ("destination_app", "unknown"),
                    ("destination_version", "unknown"),
                    ("destination_service", &host),
                    ("destination_canonical_service", "unknown"),
                    ("destination_canonical_revision", "latest"),
                    ("destination_service_name", &host),
                    ("destination_service_namespace", "unknown"),
                    ("destination_cluster", "unknown"),
                    ("response_code", "503"),
                    ("response_flags", "UF"),
                ],
            ),
            1.0,
        ),
    ]
    .into_iter()
    .collect();
    expect_exactly(&client, "source", &source);

    let d = |more: &[(&str, &str)]| {
        let mut c = vec![
            ("destination_service", "ratings"),
            ("destination_service_name", "ratings"),
            ("connection_security_policy", "none"),
        ];
        c.extend_from_slice(more);
        labels("destination", &c)
    };
    let destination: BTreeMap<LabelSet, f64> = [
        (d(&[]), 10.0),
        (d(&[("response_code", "404")]), 3.0),
        (
            d(&[("response_code", "404"), ("response_flags", "NR")]),
            2.0,
        ),
        (d(&[("response_code", "503")]), 4.0),
        (d(&grpc7), 2.0),
    ]
    .into_iter()
    .collect();
    expect_exactly(&server, "destination", &destination);

    // Every label the filter emits was extracted: no family with chunks left in its name.
    let samples = server.scrape()?;
    assert!(
        samples.iter().all(|s| !s.name.contains("___")),
        "mangled names remain"
    );
    let one = stats::find(&samples, "istio_requests_total", &[]);
    let names: Vec<&str> = one[0].labels.keys().map(String::as_str).collect();
    let mut want: Vec<&str> = NAMES.to_vec();
    want.sort_unstable();
    assert_eq!(names, want);
    Ok(())
}

/// Demonstrates that malformed peer metadata (bad base64, truncated protobuf, oversized
/// header) leaves the peer unknown, lets the request through, and logs one line each.
#[test]
fn malformed_peer_metadata_is_ignored() -> anyhow::Result<()> {
    let server = Envoy::start(&server(r#"{"disable_host_header_fallback": true}"#).render())?;
    let oversized = "QUFB".repeat(3000);
    let bad = [
        "!!not-base64!!",
        "ChYKCU5BTUVTUEFDRRIJGgdkZWZh",
        oversized.as_str(),
    ];
    for value in bad {
        let resp = http::request(
            "GET",
            &server.listener_url("/ok"),
            &[
                ("x-envoy-peer-metadata", value),
                ("x-envoy-peer-metadata-id", "evil"),
            ],
            "",
        )?;
        assert_eq!(resp.status, 200);
        // Asked, so the server still answers with its own metadata.
        assert!(resp.header("x-envoy-peer-metadata").is_some());
    }
    let want: BTreeMap<LabelSet, f64> = [(
        labels(
            "destination",
            &[
                ("source_workload", "unknown"),
                ("source_canonical_service", "unknown"),
                ("source_canonical_revision", "latest"),
                ("source_workload_namespace", "unknown"),
                ("source_app", "unknown"),
                ("source_version", "unknown"),
                ("source_cluster", "unknown"),
                ("destination_service", "ratings"),
                ("destination_service_name", "ratings"),
                ("connection_security_policy", "none"),
            ],
        ),
        3.0,
    )]
    .into_iter()
    .collect();
    expect_exactly(&server, "destination", &want);
    let lines = server.log_lines("ignoring x-envoy-peer-metadata", 3);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].contains("not base64"), "{}", lines[0]);
    assert!(lines[1].contains("truncated protobuf"), "{}", lines[1]);
    assert!(lines[2].contains("more than 8192"), "{}", lines[2]);
    Ok(())
}

/// Demonstrates the series cap in real Envoy: 300 requests with distinct (and hostile) Host
/// headers make at most `max_series` label sets plus one overflow series, every request is
/// still counted, and the overflow is logged once.
#[test]
fn host_flood_stays_under_the_cap() -> anyhow::Result<()> {
    let server = Envoy::start(&server(r#"{"max_series": 20}"#).render())?;
    for i in 0..300 {
        let host = match i % 3 {
            0 => format!("svc-{i}.example"),
            1 => format!("x=.=y;.;z-{i}"),
            _ => format!("h{i}.;.evil"),
        };
        let resp = http::request("GET", &server.listener_url("/ok"), &[("host", &host)], "")?;
        assert_eq!(resp.status, 200, "{host}");
    }
    server.eventually(Duration::from_secs(15), |samples| {
        let all = stats::find(samples, "istio_requests_total", &[]);
        let total: f64 = all.iter().map(|s| s.value).sum();
        let overflow = stats::sum(samples, "mixerless_series_overflow_total", &[]);
        if total != 300.0 || overflow != 280.0 {
            return Err(format!(
                "total {total}, overflow {overflow} ({} series)",
                all.len()
            ));
        }
        if all.len() != 21 {
            return Err(format!("{} series, want 20 + overflow", all.len()));
        }
        if samples.iter().any(|s| s.name.contains("___")) {
            return Err("a hostile Host broke a stat name".into());
        }
        let of = stats::find(
            samples,
            "istio_requests_total",
            &[("destination_service", "overflow")],
        );
        match of.as_slice() {
            [s] if s.value == 280.0 && s.label("destination_workload") == Some("ratings-v1") => {
                Ok(())
            }
            other => Err(format!("overflow series: {other:?}")),
        }
    })?;
    let lines = server.log_lines("more than 20 label sets", 2);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    Ok(())
}
