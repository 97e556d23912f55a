//! `x-envoy-peer-metadata` decoding, and Istio's filter-state peers (FlatBuffers `FlatNode`,
//! pairs-encoded Struct): any input is a peer or an error, decoded fields stay within their length
//! cap and the label count within its cap, and the Struct encoding is stable (encode ∘ decode ∘ encode = encode).
//! The certificate check: a SAN parses only in Istio's exact SPIFFE form (and prints back the
//! same), and a claim is trusted only when the certificate names its namespace.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mixerless_filter::peer::wire::Struct;
use mixerless_filter::peer::trust::{self, Spiffe};
use mixerless_filter::peer::{flat, pairs, Peer, MAX_FIELD_LEN, MAX_LABELS};

/// `san` against `p`: never panics; trusted only with the claimed namespace in the SAN.
fn check_trust(p: &Peer, san: &str) {
    if let Some(id) = Spiffe::parse(san) {
        let printed = format!(
            "spiffe://{}/ns/{}/sa/{}",
            id.trust_domain, id.namespace, id.service_account
        );
        assert_eq!(printed, san, "a parsed SAN prints back the same");
    }
    if trust::check(p, san).is_ok() {
        let id = Spiffe::parse(san).expect("trusted only with a SPIFFE SAN");
        assert_eq!(id.namespace, p.namespace, "trusted with another namespace");
    }
    // The certificate for exactly what the peer claims is trusted.
    if let Some(own) = Spiffe::parse(&p.identity) {
        if own.namespace == p.namespace
            && (p.service_account.is_empty() || p.service_account == own.service_account)
        {
            assert_eq!(trust::check(p, &p.identity), Ok(()), "{p:?}");
        }
    }
}

fn check(p: &Peer) {
    for f in [
        &p.name,
        &p.workload,
        &p.namespace,
        &p.cluster,
        &p.identity,
        &p.app,
        &p.version,
        &p.canonical_service,
        &p.canonical_revision,
        &p.kind,
    ] {
        assert!(f.len() <= MAX_FIELD_LEN, "field of {} bytes", f.len());
    }
    assert!(p.labels.len() <= MAX_LABELS, "{} labels", p.labels.len());
    for (k, v) in &p.labels {
        assert!(k.len() <= MAX_FIELD_LEN && v.len() <= MAX_FIELD_LEN);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = flat::decode(data) {
        check(&p);
    }
    if let Ok(p) = pairs::peer(data) {
        check(&p);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = Peer::from_header(text) {
            check(&p);
        }
        // The text itself as the certificate's SAN, against a peer claiming parts of it.
        let claim = Peer {
            namespace: text.split('/').nth(4).unwrap_or_default().into(),
            identity: text.into(),
            ..Peer::default()
        };
        check_trust(&claim, text);
        check_trust(&Peer::default(), text);
        if let Some(p) = Peer::from_endpoint(text) {
            check(&p);
        }
    }
    if let Ok(s) = Struct::decode(data) {
        if let Ok(p) = Peer::from_struct(&s) {
            check(&p);
            check_trust(&p, &p.identity);
            check_trust(&p, "spiffe://cluster.local/ns/prod/sa/checkout");
        }
        let once = s.encode();
        let again = Struct::decode(&once).expect("our own encoding decodes");
        assert_eq!(again.encode(), once, "encoding is not stable");
        let header = mixerless_filter::peer::base64::encode(&once);
        assert_eq!(
            mixerless_filter::peer::base64::decode(&header).as_deref(),
            Some(&once[..])
        );
    }
});
