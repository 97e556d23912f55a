//! Peer metadata against the verified peer certificate: which claims label a request, which
//! are refused (counted, logged once), and that a cached peer is checked again per connection.

use super::*;
use crate::metrics::REJECTED_METRIC;
use crate::peer::base64;
use crate::peer::wire::{Struct, Value};

const PROD_CHECKOUT: &str = "spiffe://cluster.local/ns/prod/sa/checkout";
const ATTACKER: &str = "spiffe://cluster.local/ns/attacker/sa/evil";
const LOCAL: &str = "spiffe://cluster.local/ns/default/sa/ratings";

/// A claim in Istio's node-metadata shape: workload `checkout` of namespace `namespace`, with a
/// `SERVICE_ACCOUNT` when `sa` is not empty.
fn claim(namespace: &str, sa: &str) -> String {
    let s = |v: &str| Value::String(v.to_owned());
    let mut fields = vec![
        ("CLUSTER_ID".to_owned(), s("prod-cluster")),
        (
            "LABELS".to_owned(),
            Value::Struct(Struct(vec![
                ("app".to_owned(), s("checkout")),
                ("version".to_owned(), s("v2")),
                ("service.istio.io/canonical-name".to_owned(), s("checkout")),
                ("service.istio.io/canonical-revision".to_owned(), s("v2")),
            ])),
        ),
        ("NAMESPACE".to_owned(), s(namespace)),
        ("WORKLOAD_NAME".to_owned(), s("checkout-v2")),
    ];
    if !sa.is_empty() {
        fields.push(("SERVICE_ACCOUNT".to_owned(), s(sa)));
    }
    base64::encode(&Struct(fields).encode())
}

/// One inbound request carrying `header`, on a connection whose verified client certificate
/// has URI SAN `san` (`None`: plaintext). Returns the `istio_requests_total` name it counted in.
fn request(s: &mut Plugin, sh: &mut FakeHost, header: &str, san: Option<&str>) -> String {
    sh.properties.remove("connection.mtls");
    sh.properties.remove("connection.uri_san_peer_certificate");
    sh.properties.remove("connection.uri_san_local_certificate");
    if let Some(san) = san {
        sh.properties.insert("connection.mtls".into(), vec![1]);
        sh.set_str("connection.uri_san_peer_certificate", san);
        sh.set_str("connection.uri_san_local_certificate", LOCAL);
    }
    sh.clear_headers();
    sh.put_header(Headers::Request, METADATA_HEADER, header);
    sh.put_header(
        Headers::Request,
        ID_HEADER,
        "sidecar~10.9.9.9~x.prod~prod.svc",
    );
    let mut ss = Stream::default();
    s.on_request_headers(sh, &mut ss);
    s.on_response_headers(sh, &mut ss);
    finish(sh, 200);
    let counts = |sh: &FakeHost| -> Vec<(String, usize)> {
        sh.names()
            .into_iter()
            .filter(|n| n.ends_with(";.;istio_requests_total"))
            .map(|n| (n.clone(), sh.values(&n).map_or(0, |v| v.len())))
            .collect()
    };
    let before = counts(sh);
    s.on_log(sh, &mut ss);
    let mut grew = counts(sh)
        .into_iter()
        .filter(|(n, len)| !before.iter().any(|(b, l)| b == n && l == len));
    let name = grew.next().map(|(n, _)| n).unwrap_or_default();
    assert!(grew.next().is_none(), "one request, one series");
    name
}

/// The labels [`source_labels`] reads, in its order.
type SourceLabels<'a> = [&'a str; 9];

/// A case: name, header, peer SAN, expected labels, expected rejections.
type Case = (
    &'static str,
    String,
    Option<&'static str>,
    SourceLabels<'static>,
    u64,
);

/// The peer labels of a requests_total name, in a fixed order.
fn source_labels(name: &str) -> SourceLabels<'_> {
    [
        "source_workload",
        "source_canonical_service",
        "source_canonical_revision",
        "source_workload_namespace",
        "source_principal",
        "source_app",
        "source_version",
        "source_cluster",
        "connection_security_policy",
    ]
    .map(|l| label(name, l).unwrap_or("<missing>"))
}

/// Demonstrates each case of the check on a server sidecar: a claim the certificate agrees
/// with labels the request; one it contradicts (namespace, service account, a non-SPIFFE
/// certificate) gives the labels of a request without metadata, with namespace and principal
/// from the certificate, and is counted; without mTLS the claim is trusted, as in Istio.
#[test]
fn claims_against_the_peer_certificate() {
    let trusted = |ns: &'static str, principal: &'static str, policy: &'static str| {
        [
            "checkout-v2",
            "checkout",
            "v2",
            ns,
            principal,
            "checkout",
            "v2",
            "prod-cluster",
            policy,
        ]
    };
    let refused = |ns: &'static str, principal: &'static str| {
        [
            "unknown",
            "unknown",
            "latest",
            ns,
            principal,
            "unknown",
            "unknown",
            "unknown",
            "mutual_tls",
        ]
    };
    let cases: [Case; 6] = [
        (
            "claim matches the certificate",
            claim("prod", "checkout"),
            Some(PROD_CHECKOUT),
            trusted("prod", PROD_CHECKOUT, "mutual_tls"),
            0,
        ),
        (
            "namespace mismatch",
            claim("prod", ""),
            Some(ATTACKER),
            refused("attacker", ATTACKER),
            1,
        ),
        (
            "service account mismatch",
            claim("prod", "payments"),
            Some(PROD_CHECKOUT),
            refused("prod", PROD_CHECKOUT),
            1,
        ),
        (
            "non-SPIFFE certificate",
            claim("prod", ""),
            Some("urn:example:prod:checkout"),
            refused("unknown", "urn:example:prod:checkout"),
            1,
        ),
        (
            "verified certificate without a URI SAN",
            claim("prod", ""),
            Some(""),
            {
                // Istio's rule: mutual_tls needs both SANs.
                let mut r = refused("unknown", "unknown");
                r[8] = "none";
                r
            },
            1,
        ),
        (
            "no mTLS: trusted as in Istio",
            claim("prod", "payments"),
            None,
            trusted("prod", "unknown", "none"),
            0,
        ),
    ];
    for (name, header, san, want, rejected) in cases {
        let mut sh = server();
        let mut s = Plugin::configure(&sh, b"{}").unwrap();
        let total = request(&mut s, &mut sh, &header, san);
        assert_eq!(source_labels(&total), want, "{name}");
        assert_eq!(sh.counter(REJECTED_METRIC), rejected, "{name}");
        // The headers never reach the application, trusted or not.
        assert_eq!(sh.get_header(Headers::Request, METADATA_HEADER), None);
    }
}

/// Demonstrates that a decoded peer served from the cache is checked against each request's
/// own certificate: the same header is trusted on a matching connection, refused on an
/// attacker's, and trusted again after.
#[test]
fn cached_peer_is_checked_per_connection() {
    let mut sh = server();
    let mut s = Plugin::configure(&sh, b"{}").unwrap();
    let header = claim("prod", "checkout");
    let first = request(&mut s, &mut sh, &header, Some(PROD_CHECKOUT));
    let forged = request(&mut s, &mut sh, &header, Some(ATTACKER));
    let again = request(&mut s, &mut sh, &header, Some(PROD_CHECKOUT));
    assert_eq!(s.peers.len(), 1, "one decoded peer, served from the cache");
    assert_eq!(label(&first, "source_workload"), Some("checkout-v2"));
    assert_eq!(label(&forged, "source_workload"), Some("unknown"));
    assert_eq!(
        label(&forged, "source_workload_namespace"),
        Some("attacker")
    );
    assert_eq!(again, first);
    assert_eq!(sh.values(&first).unwrap(), vec![1, 1]);
    assert_eq!(sh.counter(REJECTED_METRIC), 1);
}

/// Demonstrates that rejections are counted per request but logged once per distinct claim
/// and certificate, and at most 64 distinct ones per VM.
#[test]
fn rejections_are_counted_and_logged_boundedly() {
    let mut sh = server();
    let mut s = Plugin::configure(&sh, b"{}").unwrap();
    let header = claim("prod", "");
    for _ in 0..3 {
        request(&mut s, &mut sh, &header, Some(ATTACKER));
    }
    assert_eq!(s.rejections.logged.len(), 1);
    for i in 0..200 {
        let san = format!("spiffe://cluster.local/ns/attacker-{i}/sa/evil");
        request(&mut s, &mut sh, &header, Some(&san));
    }
    assert_eq!(sh.counter(REJECTED_METRIC), 203);
    assert_eq!(s.rejections.logged.len(), 64);
}

/// Demonstrates the check on a client sidecar: an upstream answer the upstream certificate
/// contradicts is dropped, and the client labels the destination from istiod's endpoint
/// metadata instead, as it does for an upstream that never answered.
#[test]
fn client_refuses_a_forged_upstream_answer() {
    let mut ch = client();
    ch.set_str("upstream.uri_san_peer_certificate", ATTACKER);
    ch.set_str(
        "upstream.uri_san_local_certificate",
        "spiffe://cluster.local/ns/default/sa/productpage",
    );
    ch.properties.insert(
        "xds.upstream_host_metadata".into(),
        crate::request::tests::metadata(Struct(vec![(
            "workload".into(),
            Value::String("evil-v1;attacker;evil;v1;attack-cluster".into()),
        )])),
    );
    let mut c = Plugin::configure(&ch, b"{}").unwrap();
    let mut cs = Stream::default();
    c.on_request_headers(&ch, &mut cs);
    ch.put_header(Headers::Response, METADATA_HEADER, &claim("prod", ""));
    c.on_response_headers(&ch, &mut cs);
    finish(&mut ch, 200);
    c.on_log(&ch, &mut cs);
    let total = ch
        .names()
        .into_iter()
        .find(|n| n.ends_with(";.;istio_requests_total"))
        .unwrap();
    for (l, want) in [
        ("destination_workload", "evil-v1"),
        ("destination_workload_namespace", "attacker"),
        ("destination_principal", ATTACKER),
        ("destination_canonical_service", "evil"),
        ("destination_cluster", "attack-cluster"),
        ("destination_app", "unknown"),
    ] {
        assert_eq!(label(&total, l), Some(want), "{l}");
    }
    assert_eq!(ch.counter(REJECTED_METRIC), 1);
}
