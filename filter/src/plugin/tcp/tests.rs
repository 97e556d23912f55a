//! TCP connections over a fake host: Istio's TCP label set on both sides, bytes reported on the
//! tick and at close, silent and closed-twice connections, the series cap.

use crate::fake::FakeHost;
use crate::metrics::OVERFLOW_METRIC;
use crate::peer::wire::{Struct, Value};
use crate::request::tests::metadata;
use crate::Plugin;

const NETWORK: &[u8] = br#"{"type":"NETWORK","tcp_reporting_duration":"1s"}"#;

fn client(workload: &str) -> FakeHost {
    let mut h = FakeHost::with_node(
        "sidecar~10.0.0.1~productpage-v1-abc.default~default.svc.cluster.local",
        &[
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
    h.set_str(
        "xds.cluster_name",
        "outbound|9000||server.default.svc.cluster.local",
    );
    let service = Struct(vec![
        (
            "host".into(),
            Value::String("server.default.svc.cluster.local".into()),
        ),
        ("name".into(), Value::String("server".into())),
        ("namespace".into(), Value::String("default".into())),
    ]);
    let services = Struct(vec![(
        "services".into(),
        Value::List(vec![Value::Struct(service)]),
    )]);
    h.properties
        .insert("xds.cluster_metadata".into(), metadata(services));
    let endpoint = Struct(vec![("workload".into(), Value::String(workload.into()))]);
    h.properties
        .insert("xds.upstream_host_metadata".into(), metadata(endpoint));
    h
}

fn server() -> FakeHost {
    let mut h = FakeHost::with_node(
        "sidecar~10.0.0.2~ratings-v1-xyz.default~default.svc.cluster.local",
        &[
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

/// The labels of an encoded stat name, in order, and the metric name.
fn split(name: &str) -> (Vec<(String, String)>, String) {
    let mut parts: Vec<&str> = name.split(";.;").collect();
    let metric = parts.pop().unwrap_or_default().to_owned();
    let labels = parts
        .iter()
        .map(|p| {
            let (k, v) = p.split_once("=.=").unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (labels, metric)
}

/// The one defined stat of `metric`, as labels and values.
fn only(host: &FakeHost, metric: &str) -> (Vec<(String, String)>, Vec<u64>) {
    let names: Vec<String> = host
        .names()
        .into_iter()
        .filter(|n| n.ends_with(&format!(";.;{metric}")))
        .collect();
    assert_eq!(names.len(), 1, "{metric}: {names:?}");
    (split(&names[0]).0, host.values(&names[0]).unwrap())
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Demonstrates Istio's TCP labels on the client (peer from endpoint metadata), opened at the
/// first upstream byte, bytes as deltas on each tick and the rest at close.
#[test]
fn client_connection() {
    let host = client("ratings-v1;default;ratings;version-1;server-cluster");
    let mut p = Plugin::configure(&host, NETWORK).unwrap();
    assert_eq!(p.tick_ms(), 1000);
    p.on_new_connection(&host, 7);
    p.on_downstream_data(&host, 7, 100);
    assert_eq!(host.counter("istio_tcp_connections_opened_total"), 0);
    p.on_upstream_data(&host, 7, 40);
    p.on_tick(&host);
    p.on_downstream_data(&host, 7, 5);
    p.on_tick(&host);
    p.on_tick(&host);
    p.on_upstream_data(&host, 7, 6);
    p.on_connection_closed(&host, 7);
    p.on_connection_closed(&host, 7);
    let want = pairs(&[
        ("reporter", "source"),
        ("source_workload", "productpage-v1"),
        ("source_canonical_service", "productpage-v1"),
        ("source_canonical_revision", "version-1"),
        ("source_workload_namespace", "default"),
        ("source_principal", "unknown"),
        ("source_app", "productpage"),
        ("source_version", "v1"),
        ("source_cluster", "client-cluster"),
        ("destination_workload", "ratings-v1"),
        ("destination_workload_namespace", "default"),
        ("destination_principal", "unknown"),
        ("destination_app", "unknown"),
        ("destination_version", "unknown"),
        ("destination_service", "server.default.svc.cluster.local"),
        ("destination_canonical_service", "ratings"),
        ("destination_canonical_revision", "version-1"),
        ("destination_service_name", "server"),
        ("destination_service_namespace", "default"),
        ("destination_cluster", "server-cluster"),
        ("request_protocol", "tcp"),
        ("response_flags", "-"),
        ("connection_security_policy", "unknown"),
    ]);
    assert_eq!(
        only(&host, "istio_tcp_connections_opened_total"),
        (want.clone(), vec![1])
    );
    assert_eq!(
        only(&host, "istio_tcp_connections_closed_total"),
        (want.clone(), vec![1])
    );
    assert_eq!(
        only(&host, "istio_tcp_received_bytes_total"),
        (want.clone(), vec![100, 5])
    );
    assert_eq!(
        only(&host, "istio_tcp_sent_bytes_total"),
        (want, vec![40, 6])
    );
    assert_eq!(p.open_connections(), 0);
    assert!(!host
        .names()
        .iter()
        .any(|n| n.contains("istio_requests_total")));
}

/// Demonstrates the server side: opened at the first downstream byte, peer unknown without an
/// exchange, `destination_service` from the local canonical service, policy `none`.
#[test]
fn server_connection() {
    let host = server();
    let mut p = Plugin::configure(&host, NETWORK).unwrap();
    p.on_new_connection(&host, 3);
    p.on_upstream_data(&host, 3, 9);
    assert_eq!(host.counter("istio_tcp_connections_opened_total"), 0);
    p.on_downstream_data(&host, 3, 11);
    assert_eq!(host.counter("istio_tcp_connections_opened_total"), 1);
    p.on_tick(&host);
    let (labels, values) = only(&host, "istio_tcp_sent_bytes_total");
    assert_eq!(values, vec![9]);
    let get = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(labels.len(), 23);
    assert_eq!(get("reporter"), Some("destination"));
    assert_eq!(get("source_workload"), Some("unknown"));
    assert_eq!(get("source_canonical_revision"), Some("latest"));
    assert_eq!(get("destination_workload"), Some("ratings-v1"));
    assert_eq!(get("destination_service"), Some("ratings"));
    assert_eq!(get("destination_service_name"), Some("ratings"));
    assert_eq!(get("connection_security_policy"), Some("none"));
    assert_eq!(get("response_code"), None);
    assert_eq!(get("grpc_response_status"), None);
}

/// Demonstrates that a connection that never sends is counted opened and closed at close, with
/// no bytes, and that a close for an unknown id does nothing.
#[test]
fn silent_connection() {
    let host = server();
    let mut p = Plugin::configure(&host, NETWORK).unwrap();
    p.on_connection_closed(&host, 99);
    p.on_new_connection(&host, 1);
    p.on_tick(&host);
    assert_eq!(host.counter("istio_tcp_connections_opened_total"), 0);
    p.on_connection_closed(&host, 1);
    assert_eq!(host.counter("istio_tcp_connections_opened_total"), 1);
    assert_eq!(host.counter("istio_tcp_connections_closed_total"), 1);
    assert_eq!(
        only(&host, "istio_tcp_sent_bytes_total").1,
        Vec::<u64>::new()
    );
}

/// Demonstrates that distinct peers beyond `max_series` go to the overflow series, with exact
/// totals.
#[test]
fn series_cap() {
    let config = br#"{"type":"NETWORK","max_series":2}"#;
    let mut total = 0;
    let mut host = client("w0;default;w0;v1;c");
    let mut p = Plugin::configure(&host, config).unwrap();
    for i in 0..5u32 {
        let endpoint = Struct(vec![(
            "workload".into(),
            Value::String(format!("w{i};default;w{i};v1;c")),
        )]);
        host.properties
            .insert("xds.upstream_host_metadata".into(), metadata(endpoint));
        p.on_new_connection(&host, i);
        p.on_upstream_data(&host, i, 10);
        p.on_connection_closed(&host, i);
        total += 10;
    }
    assert_eq!(p.series(), 2);
    assert_eq!(host.counter("istio_tcp_connections_closed_total"), 5);
    assert_eq!(host.counter("istio_tcp_sent_bytes_total"), total);
    assert_eq!(host.counter(OVERFLOW_METRIC), 3);
    let opened = host
        .names()
        .into_iter()
        .filter(|n| n.ends_with("istio_tcp_connections_opened_total"))
        .count();
    assert_eq!(opened, 3);
}

/// Demonstrates that `metrics[]` applies to the TCP families by their Istio names.
#[test]
fn configuration_applies() {
    let config = br#"{"type":"NETWORK","metrics":[{"name":"tcp_sent_bytes_total","drop":true},{"name":"istio_tcp_connections_opened_total","tags_to_remove":["source_principal"],"dimensions":{"peer_port":"'9000'"}}]}"#;
    let host = server();
    let mut p = Plugin::configure(&host, config).unwrap();
    p.on_new_connection(&host, 1);
    p.on_downstream_data(&host, 1, 3);
    p.on_upstream_data(&host, 1, 3);
    p.on_connection_closed(&host, 1);
    assert_eq!(host.counter("istio_tcp_sent_bytes_total"), 0);
    assert_eq!(host.counter("istio_tcp_received_bytes_total"), 3);
    let (labels, _) = only(&host, "istio_tcp_connections_opened_total");
    assert_eq!(labels.len(), 23);
    assert!(!labels.iter().any(|(k, _)| k == "source_principal"));
    assert_eq!(
        labels.last(),
        Some(&("peer_port".to_owned(), "9000".to_owned()))
    );
}
