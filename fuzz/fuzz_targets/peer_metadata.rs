//! `x-envoy-peer-metadata` decoding: any header is a peer or an error, decoded fields stay within
//! their length cap, and the Struct encoding is stable (encode ∘ decode ∘ encode = encode).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mixerless_filter::peer::wire::Struct;
use mixerless_filter::peer::{Peer, MAX_FIELD_LEN};

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
    ] {
        assert!(f.len() <= MAX_FIELD_LEN, "field of {} bytes", f.len());
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = Peer::from_header(text) {
            check(&p);
        }
        if let Some(p) = Peer::from_endpoint(text) {
            check(&p);
        }
    }
    if let Ok(s) = Struct::decode(data) {
        if let Ok(p) = Peer::from_struct(&s) {
            check(&p);
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
