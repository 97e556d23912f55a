//! Stat-name encoding round trip: whatever a client sends (Host, peer metadata, codes), every
//! stat name the filter defines splits back into exactly its label names and values, and a
//! sanitized value never holds a separator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mixerless_filter::encode::{push_sanitized, FIELD_SEPARATOR, MAX_VALUE_LEN, VALUE_SEPARATOR};
use mixerless_filter::fake::FakeHost;
use mixerless_filter::{Headers, Plugin, Stream};

/// Splits an encoded name back into `(label, value)` pairs and the metric name.
fn split(name: &str) -> (Vec<(&str, &str)>, &str) {
    let mut fields: Vec<&str> = name.split(FIELD_SEPARATOR).collect();
    let metric = fields.pop().unwrap_or_default();
    let pairs = fields
        .into_iter()
        .map(|f| {
            let mut it = f.split(VALUE_SEPARATOR);
            let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) else {
                panic!("field {f:?} of {name:?} is not one name=.=value");
            };
            (k, v)
        })
        .collect();
    (pairs, metric)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\u{1}');
    let authority = parts.next().unwrap_or_default();
    let peer = parts.next().unwrap_or_default();
    let code: i64 = parts
        .next()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(200);
    let san = parts.next().unwrap_or_default();

    let mut sanitized = String::new();
    push_sanitized(&mut sanitized, authority);
    assert!(sanitized.len() <= MAX_VALUE_LEN + 3);
    assert!(!sanitized.contains(VALUE_SEPARATOR) && !sanitized.contains(FIELD_SEPARATOR));
    assert!(
        !sanitized.ends_with(";.") && !sanitized.chars().any(char::is_control),
        "{sanitized:?}"
    );

    for reporter in ["destination", "source"] {
        let mut host = FakeHost::with_node(
            "sidecar~10.0.0.1~podinfo-1.test~test.svc.cluster.local",
            &[("WORKLOAD_NAME", "podinfo"), ("NAMESPACE", "test")],
            &[("app", "podinfo")],
        );
        host.set_int("response.code", code);
        host.set_int("connection.mtls", 1);
        host.set_str("connection.uri_san_peer_certificate", san);
        host.set_str("upstream.uri_san_peer_certificate", san);
        let config = format!(r#"{{"reporter": "{reporter}", "max_series": 5}}"#);
        let Ok(mut plugin) = Plugin::configure(&host, config.as_bytes()) else {
            panic!("config")
        };
        for map in [Headers::Request, Headers::Response] {
            host.put_header(map, ":authority", authority);
            host.put_header(map, "x-envoy-peer-metadata", peer);
            host.put_header(map, "x-envoy-peer-metadata-id", authority);
        }
        let mut stream = Stream::default();
        plugin.on_request_headers(&host, &mut stream);
        plugin.on_response_headers(&host, &mut stream);
        plugin.on_log(&host, &mut stream);
        let names = host.names();
        assert!(!names.is_empty(), "no metric defined");
        for name in &names {
            let (pairs, metric) = split(name);
            assert!(!metric.is_empty() && !metric.contains('='), "{name:?}");
            for (k, v) in pairs {
                assert!(
                    mixerless_filter::labels::NAMES.contains(&k)
                        || k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "label {k:?}"
                );
                assert!(
                    v.len() <= MAX_VALUE_LEN + 3 && !v.chars().any(char::is_control),
                    "value {v:?}"
                );
            }
        }
    }
});
