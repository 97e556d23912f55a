//! The store as the scraper and the queriers meet it.

use std::time::Duration;

use mixerless_engine::exposition::Format;

use super::*;
use crate::scrape::{Sink, Target};

fn store() -> MetricStore {
    MetricStore::new(Duration::from_secs(600), Arc::new(Telemetry::new()))
}

/// Demonstrates the store limits as the scraper meets them: past `--max-series` new series
/// are dropped and counted while the scrape succeeds; past `--scrape-sample-limit` or
/// `--target-series-limit` the scrape fails with a message naming the flag.
#[test]
fn store_limits_drop_and_refuse() {
    let telemetry = Arc::new(Telemetry::new());
    let e = MetricStore::new(Duration::from_secs(600), telemetry.clone());
    e.set_queries(&["m".into()]);
    e.set_store_limits(2, 3, 0);
    let kept = e
        .ingest(
            &labels("a:1"),
            1_000,
            b"m{i=\"1\"} 1\nm{i=\"2\"} 1\nm{i=\"3\"} 1\n",
            Format::Text004,
        )
        .unwrap();
    assert_eq!(
        kept,
        Stored {
            samples: 2,
            refused: 1
        }
    );
    assert_eq!(telemetry.series_dropped.get(), 1);
    let text = telemetry.encode();
    assert!(text.contains("mixerless_adapter_store_series_dropped_total 1"));
    assert!(
        text.contains("mixerless_adapter_target_series_refused_total{target=\"http://a:1/stats/prometheus\"} 1"),
        "{text}"
    );
    e.set_store_limits(100, 3, 0);
    let err = e
        .ingest(
            &labels("b:1"),
            1_000,
            b"m{i=\"1\"} 1\nm{i=\"2\"} 1\nm{i=\"3\"} 1\nm{i=\"4\"} 1\n",
            Format::Text004,
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("beyond the limit of 3 per scrape; raise --scrape-sample-limit"),
        "{err}"
    );
    e.set_store_limits(100, 3, 2);
    e.ingest(&labels("c:1"), 1_000, b"m{i=\"1\"} 1\n", Format::Text004)
        .unwrap();
    let err = e
        .ingest(
            &labels("c:1"),
            2_000,
            b"m{i=\"2\"} 1\nm{i=\"3\"} 1\n",
            Format::Text004,
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("this scrape has 1 new series beyond them")
            && err.ends_with("; raise --target-series-limit"),
        "{err}"
    );
}

fn labels(instance: &str) -> Target {
    Target {
        url: format!("http://{instance}/stats/prometheus"),
        labels: vec![
            ("instance".into(), instance.into()),
            ("job".into(), "envoy-stats".into()),
        ],
        ..Default::default()
    }
}

/// Demonstrates `--keep-metrics`: names matching the whole pattern are stored besides the
/// queried ones (a partial match is not), `unkept` names the rest, an empty pattern keeps
/// only queried names, a bad pattern is refused; `since` gives the latest start among a
/// query's metrics, late for one kept after the first scrape.
#[test]
fn keep_pattern_unkept_and_since() {
    let e = store();
    e.set_queries(&["sum(rate(q_total[1m]))".into()]);
    e.set_keep_pattern("istio_.*").unwrap();
    assert!(e.set_keep_pattern("istio_(").is_err());
    let t = labels("a:1");
    let kept = e
        .ingest(
            &t,
            1_000,
            b"q_total 1
istio_requests_total 1
envoy_istio_x 1
other 1
",
            Format::Text004,
        )
        .unwrap();
    assert_eq!(kept.samples, 2, "q_total and istio_requests_total");
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        e.unkept(&names(&["q_total", "istio_x", "envoy_istio_x", "other"])),
        ["envoy_istio_x", "other"]
    );
    assert_eq!(
        e.since("q_total + istio_x"),
        Some(Since::At {
            ms: 1_000,
            late: false
        })
    );
    assert_eq!(e.since("vector(1)"), None);
    assert_eq!(e.since("q_total / other"), Some(Since::NotKept));
    e.set_queries(&["sum(rate(q_total[1m]))".into(), "new_total".into()]);
    assert_eq!(
        e.since("q_total / new_total"),
        Some(Since::NotYet { late: true })
    );
    e.ingest(
        &t,
        2_000,
        b"new_total 1
",
        Format::Text004,
    )
    .unwrap();
    assert_eq!(
        e.since("q_total / new_total"),
        Some(Since::At {
            ms: 2_000,
            late: true
        })
    );
    // Past half of --max-series, series kept only by the pattern are dropped and counted;
    // the scrape succeeds and a queried series is still created.
    e.set_store_limits(8, 0, 0);
    let body = "istio_y{i=\"1\"} 1\nistio_y{i=\"2\"} 1\nistio_y{i=\"3\"} 1\nq_total{i=\"1\"} 1\n";
    let kept = e
        .ingest(&labels("b:1"), 3_000, body.as_bytes(), Format::Text004)
        .unwrap();
    assert_eq!(
        kept.samples, 2,
        "3 series held: one istio_y to half of 8, one q_total"
    );
    assert_eq!(e.telemetry.keep_metrics_dropped.get(), 2);
    assert_eq!(e.telemetry.series_dropped.get(), 0);
    e.set_keep_pattern("").unwrap();
    assert_eq!(e.unkept(&names(&["istio_x", "q_total"])), ["istio_x"]);
}

/// Demonstrates that a scrape over a limit is refused with the limit's own `reason` (the
/// label of `mixerless_adapter_scrape_errors_total`), not `parse`: a body that does not parse
/// is `parse`, one over `--scrape-sample-limit` is `sample_limit`, one with new series over
/// `--target-series-limit` is `series_limit`.
#[test]
fn a_refused_scrape_names_its_reason() {
    let e = store();
    e.set_queries(&["m".into()]);
    e.set_store_limits(100, 2, 0);
    let reason = |t: &str, ms: i64, body: &str| {
        e.ingest(&labels(t), ms, body.as_bytes(), Format::Text004)
            .unwrap_err()
            .reason()
    };
    assert_eq!(reason("a:1", 1_000, "m{ 1\n"), "parse");
    assert_eq!(
        reason("b:1", 1_000, "m{i=\"1\"} 1\nm{i=\"2\"} 1\nm{i=\"3\"} 1\n"),
        "sample_limit"
    );
    e.set_store_limits(100, 2, 1);
    e.ingest(&labels("c:1"), 1_000, b"m{i=\"1\"} 1\n", Format::Text004)
        .unwrap();
    assert_eq!(reason("c:1", 2_000, "m{i=\"2\"} 1\n"), "series_limit");
}
