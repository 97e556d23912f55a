//! The plugin behind Istio's own exchange (inside istio-proxy): peers from filter state of every
//! release, exchange headers left to Istio in `auto`, the legacy attribute names of Envoy before
//! 1.30, and Istio's expression and `metrics[]` semantics.

use super::*;
use crate::peer::{flat, pairs};

/// What the application (request) or the client (response) sees of one exchange header.
fn seen(h: &FakeHost, map: Headers) -> (Option<String>, Option<String>) {
    (
        h.get_header(map, METADATA_HEADER),
        h.get_header(map, ID_HEADER),
    )
}

fn total(h: &FakeHost) -> String {
    h.names()
        .into_iter()
        .find(|n| n.ends_with(";.;istio_requests_total"))
        .unwrap()
}

/// Demonstrates the server side behind Istio's exchange: the downstream peer comes from the
/// filter-state FlatNode (1.18–1.23), Struct (1.25+) or object (1.24), and in `auto` the filter
/// answers with no header of its own (Istio's exchange adds its own after this filter).
#[test]
fn inbound_behind_istio_every_release() {
    let flat_node = |h: &mut FakeHost| {
        h.properties
            .insert("downstream_peer".into(), flat::tests::ratings());
    };
    let structure = |h: &mut FakeHost| {
        h.properties.insert(
            "filter_state.downstream_peer".into(),
            pairs::tests::ratings(),
        );
    };
    let object = |h: &mut FakeHost| {
        for (f, v) in [
            ("workload", "ratings-v1"),
            ("namespace", "default"),
            ("service", "ratings"),
            ("revision", "version-1"),
            ("app", "ratings"),
            ("version", "v1"),
            ("cluster", "server-cluster"),
        ] {
            h.set_str(&format!("filter_state.downstream_peer.{f}"), v);
        }
    };
    type Put<'a> = &'a dyn Fn(&mut FakeHost);
    let releases: [(&str, Put<'_>); 3] = [
        ("1.18-1.23", &flat_node),
        ("1.25+", &structure),
        ("1.24", &object),
    ];
    for (release, put) in releases {
        let mut sh = server();
        put(&mut sh);
        let mut s = Plugin::configure(&sh, b"{}").unwrap();
        let mut ss = Stream::default();
        s.on_request_headers(&sh, &mut ss);
        s.on_response_headers(&sh, &mut ss);
        assert_eq!(seen(&sh, Headers::Response), (None, None), "{release}");
        assert!(ss.istio, "{release}");
        finish(&mut sh, 503);
        s.on_log(&sh, &mut ss);
        let t = total(&sh);
        for (l, v) in [
            ("source_workload", "ratings-v1"),
            ("source_workload_namespace", "default"),
            ("source_canonical_service", "ratings"),
            ("source_canonical_revision", "version-1"),
            ("source_app", "ratings"),
            ("source_version", "v1"),
            ("source_cluster", "server-cluster"),
            ("response_code", "503"),
        ] {
            assert_eq!(label(&t, l), Some(v), "{release} {l}");
        }
    }
}

/// Demonstrates the client side behind Istio's exchange: the request already carries Istio's
/// headers, so the filter neither replaces them nor strips the upstream's answer (Istio's
/// exchange reads it after this filter); the upstream peer comes from filter state at the end
/// of the stream, else from the header the filter saw.
#[test]
fn outbound_behind_istio() {
    for with_state in [true, false] {
        let mut ch = client();
        let mut c = Plugin::configure(&ch, b"{}").unwrap();
        let mut cs = Stream::default();
        ch.put_header(Headers::Request, METADATA_HEADER, "istio-sent");
        ch.put_header(Headers::Request, ID_HEADER, "istio-id");
        c.on_request_headers(&ch, &mut cs);
        assert_eq!(
            seen(&ch, Headers::Request),
            (Some("istio-sent".into()), Some("istio-id".into()))
        );
        // The server (ours alone, or Istio) answers with its metadata.
        let server_node = Node::read(&server()).unwrap();
        ch.put_header(
            Headers::Response,
            METADATA_HEADER,
            &server_node.exchange_header,
        );
        ch.put_header(Headers::Response, ID_HEADER, &server_node.id);
        c.on_response_headers(&ch, &mut cs);
        assert_eq!(
            seen(&ch, Headers::Response),
            (
                Some(server_node.exchange_header.clone()),
                Some(server_node.id.clone())
            )
        );
        if with_state {
            // Istio's exchange stored a different upstream (to tell the two apart).
            let other = flat::tests::flat_node(&[(4, "reviews-v2"), (1, "default")], &[]);
            ch.properties.insert("upstream_peer".into(), other);
        }
        finish(&mut ch, 200);
        c.on_log(&ch, &mut cs);
        let want = if with_state {
            "reviews-v2"
        } else {
            "ratings-v1"
        };
        assert_eq!(label(&total(&ch), "destination_workload"), Some(want));
    }
}

/// Demonstrates `on` (always speak the exchange, as before `auto`) and `off` (never touch an
/// exchange header, yet still read Istio's filter state); `true`/`false` are `on`/`off`.
#[test]
fn on_and_off() {
    for config in [
        &br#"{"metadata_exchange": "on"}"#[..],
        br#"{"metadata_exchange": true}"#,
    ] {
        let ch = client();
        let mut c = Plugin::configure(&ch, config).unwrap();
        let mut cs = Stream::default();
        ch.put_header(Headers::Request, ID_HEADER, "istio-id");
        c.on_request_headers(&ch, &mut cs);
        assert!(ch
            .get_header(Headers::Request, ID_HEADER)
            .unwrap()
            .starts_with("sidecar~"));
    }
    for config in [
        &br#"{"metadata_exchange": "off"}"#[..],
        br#"{"metadata_exchange": false}"#,
    ] {
        let mut sh = server();
        sh.properties
            .insert("downstream_peer".into(), flat::tests::ratings());
        let mut s = Plugin::configure(&sh, config).unwrap();
        let mut ss = Stream::default();
        sh.put_header(Headers::Request, METADATA_HEADER, "left-alone");
        s.on_request_headers(&sh, &mut ss);
        s.on_response_headers(&sh, &mut ss);
        assert_eq!(
            sh.get_header(Headers::Request, METADATA_HEADER).as_deref(),
            Some("left-alone")
        );
        assert_eq!(seen(&sh, Headers::Response), (None, None));
        finish(&mut sh, 200);
        s.on_log(&sh, &mut ss);
        assert_eq!(label(&total(&sh), "source_workload"), Some("ratings-v1"));
    }
    let err = Plugin::configure(&client(), br#"{"metadata_exchange": "sometimes"}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid plugin configuration: metadata_exchange: expected auto, on, off, true or false, got a string"
    );
}

/// Demonstrates that a filter-state peer of the wrong shape makes the peer unknown for that
/// request (no header fallback, no endpoint fallback), while the request is still counted.
#[test]
fn unusable_filter_state() {
    let mut sh = server();
    let mut truncated = flat::tests::ratings();
    truncated.truncate(30);
    sh.properties.insert("downstream_peer".into(), truncated);
    let mut s = Plugin::configure(&sh, b"{}").unwrap();
    let mut ss = Stream::default();
    s.on_request_headers(&sh, &mut ss);
    s.on_response_headers(&sh, &mut ss);
    assert_eq!(seen(&sh, Headers::Response), (None, None));
    finish(&mut sh, 200);
    s.on_log(&sh, &mut ss);
    assert_eq!(label(&total(&sh), "source_workload"), Some("unknown"));
    assert_eq!(sh.counter("istio_requests_total"), 1);
}

/// A host that serves only the legacy attribute names (Envoy before 1.30, Istio 1.18–1.21).
fn legacy(xds: FakeHost) -> FakeHost {
    let mut h = FakeHost::default();
    for (k, v) in &xds.properties {
        let name = k.strip_prefix("xds.").unwrap_or(k);
        h.properties.insert(name.to_owned(), v.clone());
    }
    h
}

/// Demonstrates the legacy attribute names: the node metadata, listener direction and cluster
/// metadata are found, the exchange works, and `xds.*` and legacy expressions both evaluate.
#[test]
fn legacy_attribute_names() {
    let mut ch = legacy(client());
    let mut sh = legacy(server());
    let svc = crate::request::tests::metadata(crate::peer::wire::Struct(vec![(
        "services".into(),
        crate::peer::wire::Value::List(vec![crate::peer::wire::Value::Struct(
            crate::peer::wire::Struct(vec![
                (
                    "host".into(),
                    crate::peer::wire::Value::String("ratings.default.svc.cluster.local".into()),
                ),
                (
                    "name".into(),
                    crate::peer::wire::Value::String("ratings".into()),
                ),
                (
                    "namespace".into(),
                    crate::peer::wire::Value::String("default".into()),
                ),
            ]),
        )]),
    )]));
    ch.set_str(
        "cluster_name",
        "outbound|9080||ratings.default.svc.cluster.local",
    );
    ch.properties.insert("cluster_metadata".into(), svc);
    let config = br#"{"metrics": [{"name": "requests_total", "dimensions": {
        "new_style": "xds.node.metadata['WORKLOAD_NAME']",
        "old_style": "node.metadata['NAMESPACE']"}}]}"#;
    let mut c = Plugin::configure(&ch, config).unwrap();
    let mut s = Plugin::configure(&sh, b"{}").unwrap();
    assert_eq!(c.names, AttributeNames::Legacy);
    assert_eq!(c.reporter(&ch, &mut Stream::default()), Reporter::Source);
    assert_eq!(
        s.reporter(&sh, &mut Stream::default()),
        Reporter::Destination
    );
    exchange(&mut c, &mut ch, &mut s, &mut sh);
    let client_total = total(&ch);
    for (l, v) in [
        ("source_workload", "productpage-v1"),
        ("destination_workload", "ratings-v1"),
        ("destination_service", "ratings.default.svc.cluster.local"),
        ("new_style", "productpage-v1"),
        ("old_style", "default"),
    ] {
        assert_eq!(label(&client_total, l), Some(v), "{l}");
    }
    assert_eq!(
        label(&total(&sh), "source_workload"),
        Some("productpage-v1")
    );
}

/// Demonstrates `filter_state.*_peer.<field>` and `.labels['k']` dimensions (Istio's Telemetry
/// examples), from Istio's filter state or from our own exchange alike, and an entry without a
/// name adding its dimensions to custom metrics too, as Istio's stats filter does.
#[test]
fn peer_expressions_and_unnamed_entries() {
    let config = br#"{
        "metrics": [{"dimensions": {
            "peer_type": "filter_state.downstream_peer.type",
            "peer_team": "filter_state.downstream_peer.labels['version']",
            "peer_zone": "filter_state.downstream_peer.labels['zone']"}}],
        "definitions": [{"name": "hits", "value": "1"}]
    }"#;
    let mut sh = server();
    sh.properties
        .insert("downstream_peer".into(), flat::tests::ratings());
    let mut s = Plugin::configure(&sh, config).unwrap();
    let mut ss = Stream::default();
    s.on_request_headers(&sh, &mut ss);
    finish(&mut sh, 200);
    s.on_log(&sh, &mut ss);
    let t = total(&sh);
    assert_eq!(label(&t, "peer_type"), Some("deployment"));
    assert_eq!(label(&t, "peer_team"), Some("v1"));
    assert_eq!(label(&t, "peer_zone"), Some("unknown"));
    assert!(sh.names().contains(
        &"peer_team=.=v1;.;peer_type=.=deployment;.;peer_zone=.=unknown;.;istio_hits".to_owned()
    ));
    let err = Plugin::configure(
        &server(),
        br#"{"metrics": [{"dimensions": {"x": "filter_state.upstream_peer.labels"}}]}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("expected a peer field"), "{err}");
}
