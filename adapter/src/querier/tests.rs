//! The embedded querier and the `/api/v1` backend over a real store.

use std::sync::Arc;
use std::time::Duration;

use mixerless_engine::exposition::Format;

use super::backend::{PromBackend, StoreBackend};
use super::embedded::{Embedded, QueryLimits};
use super::*;
use crate::scrape::{Sink, Target};
use crate::telemetry::Telemetry;

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

/// Demonstrates the glue to the engine: only metric names the queries read are stored,
/// a bad body fails the whole scrape, instant queries come back as [`Value`]s, a target
/// marked down stops counting, and `/api/v1/series` finds series with their labels.
#[tokio::test]
async fn stores_queries_and_lists_series() {
    let e = Embedded::new(
        Duration::from_secs(600),
        Duration::from_secs(10),
        Arc::new(Telemetry::new()),
    );
    let backend = StoreBackend::new(
        e.store().clone(),
        &QueryLimits::with_timeout(Duration::from_secs(10)),
    );
    let q = |text: &str| Query::parse(text).unwrap();
    e.set_queries(&["sum(rate(requests_total[1m]))".into()]);
    let body = |n: u32| {
        format!(
            "# TYPE requests_total counter\nrequests_total{{code=\"200\"}} {n}\nother_total 5\n"
        )
    };
    let t0 = 1_700_000_000_000;
    for inst in ["a:1", "b:1"] {
        for k in 0..4u32 {
            let kept = e
                .ingest(
                    &labels(inst),
                    t0 + i64::from(k) * 5_000,
                    body(k * 10).as_bytes(),
                    Format::Text004,
                )
                .unwrap();
            assert_eq!(kept.samples, 1, "other_total is not read by any query");
        }
    }
    let err = e
        .ingest(
            &labels("a:1"),
            t0 + 20_000,
            b"requests_total{ 1\n",
            Format::Text004,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 1"), "{err}");

    let v = e
        .instant(&q("sum(rate(requests_total[1m]))"), t0 + 15_000)
        .await
        .unwrap();
    let Value::Vector(s) = v else { panic!("{v:?}") };
    assert_eq!(s.len(), 1);
    // Each target: 0 → 30 over the last 15 s of the minute; no extrapolation past the
    // counter's zero or the last sample, so 30 / 60 s per target, 1/s together.
    assert!((s[0].v - 1.0).abs() < 1e-9, "{}", s[0].v);
    let v = e.instant(&q("requests_total"), t0 + 15_000).await.unwrap();
    assert!(matches!(v, Value::Vector(ref s) if s.len() == 2), "{v:?}");

    e.target_down(&labels("b:1"), t0 + 16_000);
    let v = e.instant(&q("requests_total"), t0 + 17_000).await.unwrap();
    assert!(
        matches!(v, Value::Vector(ref s) if s.len() == 1),
        "stale after down: {v:?}"
    );

    let series = backend
        .series(&["requests_total".into()], t0, t0 + 15_000)
        .unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(
        series[0].get("__name__").map(String::as_str),
        Some("requests_total")
    );
    assert_eq!(series[0].get("instance").map(String::as_str), Some("a:1"));
    // A query that does not parse never reaches a querier.
    assert!(Query::parse("sum(").is_err());
}
