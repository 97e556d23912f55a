use std::collections::HashMap;
use std::time::Duration;

use super::*;

fn meta(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const Q: &str = "sum(rate(istio_requests_total[15s]))";

/// Demonstrates reading every key, and the defaults of the optional ones (activation 0, NaN
/// read as 0 as KEDA's Prometheus scaler does).
#[test]
fn reads_metadata() {
    let t = Trigger::from_metadata(&meta(&[
        ("query", Q),
        ("threshold", "2.5"),
        ("activationThreshold", "0.1"),
        ("interval", "2s"),
        ("prometheusUrl", "http://prom:9090"),
        ("ignoreNullValues", "False"),
    ]))
    .unwrap();
    assert_eq!(t.query.text(), Q);
    assert_eq!(t.threshold, 2.5);
    assert_eq!(t.activation, 0.1);
    assert_eq!(t.interval, Some(Duration::from_secs(2)));
    assert_eq!(t.prometheus_url.as_deref(), Some("http://prom:9090"));
    assert!(!t.ignore_null_values);
    let t = Trigger::from_metadata(&meta(&[("query", Q), ("threshold", "10")])).unwrap();
    assert_eq!(
        (t.activation, t.interval, t.ignore_null_values),
        (0.0, None, true)
    );
}

/// Demonstrates that each bad key is refused with a message naming it.
#[test]
fn refuses_bad_metadata() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("threshold", "1")], "trigger metadata has no \"query\""),
        (&[("query", " "), ("threshold", "1")], "no \"query\""),
        (&[("query", Q)], "no \"threshold\""),
        (
            &[("query", Q), ("threshold", "ten")],
            "\"threshold\": \"ten\" is not a number",
        ),
        (&[("query", Q), ("threshold", "0")], "is not above 0"),
        (&[("query", Q), ("threshold", "inf")], "is not finite"),
        (
            &[
                ("query", Q),
                ("threshold", "1"),
                ("activationThreshold", "x"),
            ],
            "\"activationThreshold\": \"x\" is not a number",
        ),
        (
            &[("query", Q), ("threshold", "1"), ("interval", "soon")],
            "\"interval\": \"soon\"",
        ),
        (
            &[("query", Q), ("threshold", "1"), ("interval", "0s")],
            "\"interval\": \"0s\"",
        ),
        (
            &[
                ("query", Q),
                ("threshold", "1"),
                ("ignoreNullValues", "yes"),
            ],
            "\"yes\" is not true or false",
        ),
        (
            &[("query", "sum(rate(x[1m])"), ("threshold", "1")],
            "trigger metadata \"query\": ",
        ),
    ];
    for (m, want) in cases {
        let e = Trigger::from_metadata(&meta(m)).unwrap_err().to_string();
        assert!(e.contains(want), "{m:?}: {e:?} lacks {want:?}");
    }
}

/// Demonstrates that the metric name depends on the query and server only, and is the same
/// in every build (KEDA stores it in the HPA it makes and sends it back).
#[test]
fn metric_name_is_stable() {
    let t = |extra: &[(&str, &str)]| {
        let mut m = meta(&[("query", "up"), ("threshold", "1")]);
        m.extend(meta(extra));
        Trigger::from_metadata(&m).unwrap().metric_name()
    };
    // FNV-1a 64 of "up", computed independently.
    assert_eq!(t(&[]), "mixerless-08c43a07b566d980");
    assert_eq!(
        t(&[("threshold", "7"), ("activationThreshold", "3")]),
        t(&[])
    );
    assert_ne!(t(&[("prometheusUrl", "http://p")]), t(&[]));
}
