//! The plugin over a fake host: metadata exchange in both directions, metric names, the id
//! cache, the series cap and custom dimensions.

use super::*;
use crate::fake::FakeHost;
use crate::labels::NAMES;

mod istio;
mod trust;

fn client() -> FakeHost {
    let mut h = FakeHost::with_node(
        "sidecar~10.0.0.1~productpage-v1-abc.default~default.svc.cluster.local",
        &[
            ("NAME", "productpage-v1-abc"),
            ("WORKLOAD_NAME", "productpage-v1"),
            ("NAMESPACE", "default"),
            ("CLUSTER_ID", "client-cluster"),
        ],
        &[
            ("app", "productpage"),
            ("version", "v1"),
            ("service.istio.io/canonical-name", "productpage-v1"),
            ("service.istio.io/canonical-revision", "version-1"),
        ],
    );
    h.set_int("xds.listener_direction", 2);
    h
}

fn server() -> FakeHost {
    let mut h = FakeHost::with_node(
        "sidecar~10.0.0.2~ratings-v1-xyz.default~default.svc.cluster.local",
        &[
            ("NAME", "ratings-v1-xyz"),
            ("WORKLOAD_NAME", "ratings-v1"),
            ("NAMESPACE", "default"),
            ("CLUSTER_ID", "server-cluster"),
        ],
        &[
            ("app", "ratings"),
            ("version", "v1"),
            ("service.istio.io/canonical-name", "ratings"),
            ("service.istio.io/canonical-revision", "version-1"),
        ],
    );
    h.set_int("xds.listener_direction", 1);
    h
}

fn finish(h: &mut FakeHost, code: i64) {
    h.set_int("response.code", code);
    h.set_int("request.duration", 7_300_000);
    h.set_int("request.total_size", 120);
    h.set_int("response.total_size", 340);
}

/// The value of `label` in an encoded stat name.
fn label<'a>(name: &'a str, label: &str) -> Option<&'a str> {
    let start = name.find(&format!("{label}=.="))? + label.len() + 3;
    let rest = &name[start..];
    Some(&rest[..rest.find(";.;")?])
}

/// One request from a client plugin to a server plugin, carrying headers across like Envoy
/// would. Returns what the application behind the server saw of the exchange headers.
fn exchange(c: &mut Plugin, ch: &mut FakeHost, s: &mut Plugin, sh: &mut FakeHost) -> bool {
    let (mut cs, mut ss) = (Stream::default(), Stream::default());
    ch.clear_headers();
    sh.clear_headers();
    c.on_request_headers(ch, &mut cs);
    for name in [METADATA_HEADER, ID_HEADER] {
        if let Some(v) = ch.get_header(Headers::Request, name) {
            sh.put_header(Headers::Request, name, &v);
        }
    }
    s.on_request_headers(sh, &mut ss);
    let app_saw = sh.get_header(Headers::Request, METADATA_HEADER).is_some()
        || sh.get_header(Headers::Request, ID_HEADER).is_some();
    s.on_response_headers(sh, &mut ss);
    for name in [METADATA_HEADER, ID_HEADER] {
        if let Some(v) = sh.get_header(Headers::Response, name) {
            ch.put_header(Headers::Response, name, &v);
        }
    }
    c.on_response_headers(ch, &mut cs);
    assert!(ch.get_header(Headers::Response, METADATA_HEADER).is_none());
    finish(sh, 200);
    finish(ch, 200);
    s.on_log(sh, &mut ss);
    c.on_log(ch, &mut cs);
    app_saw
}

/// Demonstrates metadata exchange both ways: each side labels the other's workload, the
/// application never sees the headers, and the four metrics are recorded once per request.
#[test]
fn exchange_between_client_and_server() {
    let (mut ch, mut sh) = (client(), server());
    let mut c = Plugin::configure(&ch, b"{}").unwrap();
    let mut s = Plugin::configure(&sh, br#"{"disable_host_header_fallback": true}"#).unwrap();
    assert_eq!(
        (
            c.reporter(&ch, &mut Stream::default()),
            s.reporter(&sh, &mut Stream::default())
        ),
        (Reporter::Source, Reporter::Destination)
    );
    for _ in 0..3 {
        assert!(!exchange(&mut c, &mut ch, &mut s, &mut sh));
    }
    for (host, reporter, peer_label, peer) in [
        (&ch, "source", "destination_workload", "ratings-v1"),
        (&sh, "destination", "source_workload", "productpage-v1"),
    ] {
        let names: Vec<String> = host
            .names()
            .into_iter()
            .filter(|n| !n.ends_with("istio_build"))
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
        let total = names
            .iter()
            .find(|n| n.ends_with(";.;istio_requests_total"))
            .unwrap();
        assert_eq!(label(total, "reporter"), Some(reporter));
        assert_eq!(label(total, peer_label), Some(peer));
        assert_eq!(host.values(total).unwrap(), vec![1, 1, 1]);
        let order: Vec<&str> = total
            .split(";.;")
            .filter_map(|chunk| chunk.split_once("=.=").map(|(k, _)| k))
            .collect();
        assert_eq!(order, NAMES);
        let duration = names
            .iter()
            .find(|n| n.ends_with("istio_request_duration_milliseconds"))
            .unwrap();
        assert_eq!(host.values(duration).unwrap(), vec![7, 7, 7]);
        let bytes = names
            .iter()
            .find(|n| n.ends_with("istio_response_bytes"))
            .unwrap();
        assert_eq!(host.values(bytes).unwrap(), vec![340, 340, 340]);
        // Defined once per label tuple, not per request (and istio_build once).
        assert_eq!(host.define_calls(), 5);
    }
    let total = sh
        .names()
        .into_iter()
        .find(|n| n.ends_with("istio_requests_total"))
        .unwrap();
    assert_eq!(
        label(&total, "source_canonical_revision"),
        Some("version-1")
    );
    assert_eq!(label(&total, "destination_service"), Some("ratings"));
}

/// Demonstrates that the server answers only when asked, and a client without the exchange
/// still counts with unknown peer labels.
#[test]
fn server_answers_only_when_asked() {
    let sh = server();
    let mut s = Plugin::configure(&sh, b"{}").unwrap();
    let mut ss = Stream::default();
    s.on_request_headers(&sh, &mut ss);
    s.on_response_headers(&sh, &mut ss);
    assert_eq!(sh.get_header(Headers::Response, METADATA_HEADER), None);
    s.on_log(&sh, &mut ss);
    let total = sh
        .names()
        .into_iter()
        .find(|n| n.ends_with("istio_requests_total"))
        .unwrap();
    assert_eq!(label(&total, "source_workload"), Some("unknown"));
    assert_eq!(label(&total, "source_canonical_revision"), Some("latest"));
    assert_eq!(label(&total, "response_code"), Some("0"));
}

/// Demonstrates that malformed peer headers are dropped (stripped, peer unknown), never stop
/// the request, and are cached neither.
#[test]
fn malformed_peer_headers() {
    let sh = server();
    let mut s = Plugin::configure(&sh, b"{}").unwrap();
    for bad in ["%%%", "AAAA", &"QUFB".repeat(4000)] {
        sh.clear_headers();
        sh.put_header(Headers::Request, METADATA_HEADER, bad);
        sh.put_header(Headers::Request, ID_HEADER, "x");
        let mut ss = Stream::default();
        s.on_request_headers(&sh, &mut ss);
        assert_eq!(sh.get_header(Headers::Request, METADATA_HEADER), None);
        assert_eq!(sh.get_header(Headers::Request, ID_HEADER), None);
        assert!(ss.downstream.is_none() && ss.asked);
        s.on_log(&sh, &mut ss);
    }
    assert_eq!(s.bad_headers, 3);
    assert_eq!(sh.counter("istio_requests_total"), 3);
}

/// Demonstrates the series cap: distinct Host headers beyond `max_series` go to one overflow
/// series that keeps the local labels, and the self-metric counts them.
#[test]
fn series_cap_and_overflow() {
    let ch = client();
    let mut c =
        Plugin::configure(&ch, br#"{"max_series": 5, "metadata_exchange": false}"#).unwrap();
    for i in 0..50 {
        ch.clear_headers();
        ch.put_header(Headers::Request, ":authority", &format!("host-{i}.example"));
        let mut cs = Stream::default();
        c.on_request_headers(&ch, &mut cs);
        c.on_log(&ch, &mut cs);
    }
    assert_eq!(c.series(), 5);
    assert_eq!(ch.counter(crate::metrics::OVERFLOW_METRIC), 45);
    let totals: Vec<String> = ch
        .names()
        .into_iter()
        .filter(|n| n.ends_with(";.;istio_requests_total"))
        .collect();
    assert_eq!(totals.len(), 6);
    let overflow = totals
        .iter()
        .find(|n| n.contains("destination_service=.=overflow;.;"))
        .unwrap();
    assert_eq!(label(overflow, "source_workload"), Some("productpage-v1"));
    assert_eq!(label(overflow, "response_code"), Some("overflow"));
    assert_eq!(ch.values(overflow).unwrap().len(), 45);
    assert_eq!(ch.counter("istio_requests_total"), 50);
}

/// Demonstrates Istio's customisation: overridden, removed, appended and dropped labels, and a
/// custom definition with only its own dimensions.
#[test]
fn custom_dimensions_and_definitions() {
    let mut ch = client();
    ch.set_str("xds.route_name", "client_route");
    let config = br#"{
        "metrics": [
            {"name": "requests_total",
             "dimensions": {"source_workload": "'_' + xds.node.metadata['WORKLOAD_NAME']",
                            "destination_workload": "filter_state['missing']",
                            "route_name": "xds.route_name", "configurable_metric_a": "'gateway'"},
             "tags_to_remove": ["response_flags", "grpc_response_status"]},
            {"name": "request_duration_milliseconds", "drop": true},
            {"name": "custom", "dimensions": {"source_principal": "'malicious'"}}
        ],
        "definitions": [{"name": "custom", "value": "1", "type": "COUNTER"}],
        "metadata_exchange": false
    }"#;
    let mut c = Plugin::configure(&ch, config).unwrap();
    let mut cs = Stream::default();
    finish(&mut ch, 200);
    c.on_log(&ch, &mut cs);
    let names = ch.names();
    assert!(!names
        .iter()
        .any(|n| n.ends_with("istio_request_duration_milliseconds")));
    let total = names
        .iter()
        .find(|n| n.ends_with("istio_requests_total"))
        .unwrap();
    assert_eq!(label(total, "source_workload"), Some("_productpage-v1"));
    assert_eq!(label(total, "destination_workload"), Some("unknown"));
    assert_eq!(label(total, "response_flags"), None);
    assert!(total.ends_with(
        "configurable_metric_a=.=gateway;.;route_name=.=client_route;.;istio_requests_total"
    ));
    assert!(names.contains(&"source_principal=.=malicious;.;istio_custom".to_owned()));
    assert_eq!(ch.counter("istio_custom"), 1);
    // The byte histograms keep the standard 25 labels.
    let bytes = names
        .iter()
        .find(|n| n.ends_with("istio_request_bytes"))
        .unwrap();
    assert_eq!(bytes.matches(";.;").count(), 25);
}

/// Demonstrates that a configured reporter wins over the listener direction, and that
/// `UNSPECIFIED`/no direction reports as source (gateways).
#[test]
fn reporter_choice() {
    let cases: [(&[u8], Option<i64>, Reporter); 5] = [
        (b"{}", Some(1), Reporter::Destination),
        (b"{}", Some(2), Reporter::Source),
        (b"{}", None, Reporter::Source),
        (
            br#"{"reporter":"UNSPECIFIED"}"#,
            Some(1),
            Reporter::Destination,
        ),
        (
            br#"{"reporter":"SERVER_GATEWAY"}"#,
            Some(1),
            Reporter::Waypoint,
        ),
    ];
    for (config, direction, want) in cases {
        let mut h = FakeHost::default();
        if let Some(d) = direction {
            h.set_int("xds.listener_direction", d);
        }
        let plugin = Plugin::configure(&h, config).unwrap();
        let mut stream = Stream::default();
        assert_eq!(plugin.reporter(&h, &mut stream), want);
    }
}

/// Demonstrates the gRPC message counters: Envoy's grpc_stats counts from filter state, with
/// `reporter` and the 19 peer labels; none for plain HTTP, none when the state is missing or
/// malformed.
#[test]
fn grpc_message_counters() {
    let mut sh = server();
    let mut s = Plugin::configure(&sh, b"{}").unwrap();
    let mut grpc = |sh: &mut FakeHost, state: Option<&str>, content_type: &str| {
        sh.clear_headers();
        sh.put_header(Headers::Request, "content-type", content_type);
        sh.properties
            .remove("filter_state.envoy.filters.http.grpc_stats");
        if let Some(state) = state {
            sh.set_str("filter_state.envoy.filters.http.grpc_stats", state);
        }
        let mut ss = Stream::default();
        s.on_request_headers(sh, &mut ss);
        finish(sh, 200);
        s.on_log(sh, &mut ss);
    };
    grpc(&mut sh, Some("3,5"), "application/grpc");
    grpc(&mut sh, Some("1,0"), "application/grpc+proto");
    grpc(&mut sh, Some("7,7"), "text/plain");
    grpc(&mut sh, None, "application/grpc");
    grpc(&mut sh, Some("x,1"), "application/grpc");
    assert_eq!(sh.counter(";.;istio_request_messages_total"), 4);
    assert_eq!(sh.counter(";.;istio_response_messages_total"), 5);
    let names = sh.names();
    let request = names
        .iter()
        .find(|n| n.ends_with(";.;istio_request_messages_total"))
        .unwrap();
    let order: Vec<&str> = request
        .split(";.;")
        .filter_map(|c| c.split_once("=.=").map(|(k, _)| k))
        .collect();
    assert_eq!(order, NAMES[..20]);
    assert_eq!(label(request, "reporter"), Some("destination"));
    assert_eq!(sh.counter(";.;istio_requests_total"), 5);
}
