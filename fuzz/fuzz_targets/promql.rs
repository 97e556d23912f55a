//! PromQL parse and evaluation over a small store: any query either evaluates within the
//! sample and time limits or fails with an error; any body either ingests or is reported.
//!
//! Input: `<exposition body>\0<query>`; without a NUL byte the whole input is the query over a
//! fixed Envoy-like body.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mixerless_engine::promql::{Engine, EngineOptions};
use mixerless_engine::store::{Store, StoreConfig};

const BODY: &[u8] = b"# TYPE istio_requests_total counter
istio_requests_total{reporter=\"destination\",destination_workload=\"podinfo\",response_code=\"200\"} 10
istio_requests_total{reporter=\"destination\",destination_workload=\"podinfo\",response_code=\"503\"} 1
# TYPE istio_request_duration_milliseconds histogram
istio_request_duration_milliseconds_bucket{destination_workload=\"podinfo\",le=\"5\"} 3
istio_request_duration_milliseconds_bucket{destination_workload=\"podinfo\",le=\"50\"} 9
istio_request_duration_milliseconds_bucket{destination_workload=\"podinfo\",le=\"+Inf\"} 11
istio_request_duration_milliseconds_sum{destination_workload=\"podinfo\"} 120.5
istio_request_duration_milliseconds_count{destination_workload=\"podinfo\"} 11
";

fuzz_target!(|data: &[u8]| {
    mixerless_fuzz::allow_caught_panics();
    let (body, query) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (BODY, data),
    };
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let mut store = Store::new(StoreConfig {
        retention: Duration::from_secs(600),
        max_series: 200,
        metric_filter: None,
    });
    let target = [
        ("job".to_owned(), "fuzz".to_owned()),
        ("instance".to_owned(), "127.0.0.1:15090".to_owned()),
    ];
    for t in [0, 15_000, 30_000, 60_000] {
        if let Ok(report) = store.ingest(&target, t, body) {
            assert!(report.error_count >= report.errors.len());
        }
        assert!(
            store.series_count() <= 200,
            "series cap exceeded: {}",
            store.series_count()
        );
    }
    let engine = Engine::new(EngineOptions {
        max_samples: 100_000,
        timeout: Duration::from_secs(2),
        ..EngineOptions::default()
    });
    if let Ok(v) = engine.instant(&store, query, 60_000) {
        let _ = v.to_api_json();
    }
    if let Ok(v) = engine.range(&store, query, 0, 60_000, 15_000) {
        let _ = v.to_api_json();
    }
});
