//! The simulated Istio exchange (`tests/istio-exchange`) alone in real Envoy sidecars behaves as
//! Istio 1.18–1.23's exchange filter: inbound it strips the peer's headers and answers with its
//! own only when asked; outbound it replaces the request's headers with its own and strips the
//! upstream's answer. The filter's tests with Istio in front (`filter_istio`) rely on this.

use mixerless_e2e::app::RecordingApp;
use mixerless_e2e::envoy::Envoy;
use mixerless_e2e::http;
use mixerless_e2e::istio::{self, Chain, CLIENT_ID, SERVER_ID, SIM_VERSION};
use mixerless_filter::peer::wire::{Struct, Value};
use mixerless_filter::peer::{base64, ID_HEADER, METADATA_HEADER};

/// Decodes an `x-envoy-peer-metadata` value.
fn decode(header: &str) -> Struct {
    let bytes = base64::decode(header).unwrap_or_else(|| panic!("not base64: {header}"));
    Struct::decode(&bytes).unwrap()
}

/// A client's own exchange headers, as the test itself sends them (no `ISTIO_VERSION`).
fn client_headers() -> [(&'static str, String); 2] {
    let s = |v: &str| Value::String(v.to_owned());
    let metadata = Struct(vec![
        ("NAMESPACE".into(), s("default")),
        ("WORKLOAD_NAME".into(), s("curl")),
        (
            "LABELS".into(),
            Value::Struct(Struct(vec![("app".into(), s("curl"))])),
        ),
    ]);
    [
        (METADATA_HEADER, base64::encode(&metadata.encode())),
        (
            ID_HEADER,
            "sidecar~127.0.0.9~curl.default~default.svc.cluster.local".into(),
        ),
    ]
}

/// Demonstrates the inbound half: a request with exchange headers reaches the app without them
/// and its response carries exactly one copy of each of the server sidecar's (its node metadata
/// plus `ISTIO_VERSION: 1.23-sim`); a request without them gets none.
#[test]
fn inbound_strips_and_answers_only_when_asked() -> anyhow::Result<()> {
    let app = RecordingApp::start()?;
    let server = Envoy::start(&istio::server(Chain::SIM, app.port())?.render())?;
    let headers = client_headers();
    let asked: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();

    let resp = http::request("GET", &server.listener_url("/ok"), &asked, "")?;
    assert_eq!(resp.status, 200);
    let metadata = resp.all(METADATA_HEADER);
    assert_eq!(metadata.len(), 1, "{:?}", resp.headers);
    assert_eq!(resp.all(ID_HEADER), [SERVER_ID]);
    let sent = decode(metadata[0]);
    assert_eq!(sent.str("ISTIO_VERSION"), Some(SIM_VERSION));
    assert_eq!(sent.str("WORKLOAD_NAME"), Some("ratings-v1"));
    assert_eq!(sent.str("CLUSTER_ID"), Some("server-cluster"));
    let labels = sent.child("LABELS").unwrap();
    assert_eq!(labels.str("pod-template-hash"), Some("7dbf9c"));
    assert_eq!(
        labels.str("service.istio.io/canonical-revision"),
        Some("version-1")
    );

    let resp = http::request("GET", &server.listener_url("/unavailable"), &[], "")?;
    assert_eq!(resp.status, 503);
    assert_eq!(resp.all(METADATA_HEADER), Vec::<&str>::new());
    assert_eq!(resp.all(ID_HEADER), Vec::<&str>::new());

    let seen = app.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["/ok", "/unavailable"]);
    assert!(seen.iter().all(|s| s.exchange.is_empty()), "{seen:#?}");
    Ok(())
}

/// Demonstrates the outbound half: the client sidecar replaces whatever exchange headers the
/// caller sent with exactly one copy of its own, and strips the server sidecar's answer, so
/// neither the caller nor (behind a server sidecar) the app sees any.
#[test]
fn outbound_replaces_and_strips() -> anyhow::Result<()> {
    let app = RecordingApp::start()?;
    let direct = Envoy::start(&istio::client(Chain::SIM, app.port())?.render())?;
    let headers = client_headers();
    let forged: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    for with in [&forged[..], &[]] {
        let resp = http::request("GET", &direct.listener_url("/ok"), with, "")?;
        assert_eq!(resp.status, 200);
    }
    let seen = app.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        let metadata = s.values(METADATA_HEADER);
        assert_eq!(metadata.len(), 1, "{s:?}");
        assert_eq!(s.values(ID_HEADER), [CLIENT_ID]);
        let sent = decode(metadata[0]);
        assert_eq!(sent.str("ISTIO_VERSION"), Some(SIM_VERSION));
        assert_eq!(sent.str("WORKLOAD_NAME"), Some("productpage-v1"));
        assert_eq!(
            sent.child("LABELS").and_then(|l| l.str("app")),
            Some("productpage")
        );
    }

    let behind = RecordingApp::start()?;
    let server = Envoy::start(&istio::server(Chain::SIM, behind.port())?.render())?;
    let client = Envoy::start(&istio::client(Chain::SIM, server.listener_port())?.render())?;
    for path in ["/ok", "/unavailable"] {
        let resp = http::request("GET", &client.listener_url(path), &[], "")?;
        assert_eq!(resp.status, if path == "/ok" { 200 } else { 503 });
        assert_eq!(resp.all(METADATA_HEADER), Vec::<&str>::new(), "{path}");
        assert_eq!(resp.all(ID_HEADER), Vec::<&str>::new(), "{path}");
    }
    let seen = behind.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.exchange.is_empty()), "{seen:#?}");
    Ok(())
}
