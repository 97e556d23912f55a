//! Memory the store holds per sidecar-sized target: `cargo bench -p mixerless-engine --bench
//! store_memory`. Each target exposes 335 series (5 label sets of Istio's 25 labels ×
//! `istio_requests_total` and three 20-bucket histograms); the store keeps the names the
//! example HPAs read (`istio_requests_total`, `istio_request_duration_milliseconds_*`: 115 of
//! them) or, with `KEEP=all`, every name. It prints RSS per target (the slope from N/2 to N
//! targets, after 6 scrapes at 5 s of each) and the store's own estimate.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Duration;

use mixerless_engine::exposition::ParseOptions;
use mixerless_engine::store::{Store, StoreConfig};

mod fixture;

const HISTOGRAMS: [&str; 3] = [
    "istio_request_duration_milliseconds",
    "istio_request_bytes",
    "istio_response_bytes",
];

/// One scrape of a sidecar: counters move with `round`.
fn sidecar(round: usize) -> String {
    let mut out = String::new();
    for set in 0..5 {
        let l = fixture::istio_labels(set * 8 + set);
        let _ = writeln!(out, "istio_requests_total{{{l}}} {}", 1000 + round * 7);
        for h in HISTOGRAMS {
            for (k, b) in fixture::BOUNDS.iter().enumerate() {
                let _ = writeln!(out, "{h}_bucket{{{l},le=\"{b}\"}} {}", round * 3 + k);
            }
            let _ = writeln!(out, "{h}_sum{{{l}}} {}.5", 5000 + round * 11);
            let _ = writeln!(out, "{h}_count{{{l}}} {}", 60 + round * 3);
        }
    }
    out
}

fn rss_kib() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let targets: usize = std::env::var("TARGETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let keep_all = std::env::var("KEEP").is_ok_and(|v| v == "all");
    let filter = (!keep_all).then(|| {
        ["istio_requests_total"]
            .into_iter()
            .map(str::to_owned)
            .chain(
                ["bucket", "sum", "count"]
                    .iter()
                    .map(|s| format!("istio_request_duration_milliseconds_{s}")),
            )
            .collect::<HashSet<_>>()
    });
    let bodies: Vec<String> = (0..6).map(sidecar).collect();
    let mut store = Store::new(StoreConfig {
        retention: Duration::from_secs(600),
        max_series: 10_000_000,
        metric_filter: filter,
    });
    let opts = ParseOptions::default();
    let add = |store: &mut Store, range: std::ops::Range<usize>| {
        for (round, body) in bodies.iter().enumerate() {
            for i in range.clone() {
                let labels = [
                    (
                        "instance".to_owned(),
                        format!("10.0.{}.{}:15020", i / 250, i % 250),
                    ),
                    ("job".to_owned(), "envoy-stats".to_owned()),
                    ("namespace".to_owned(), "test".to_owned()),
                    ("pod".to_owned(), format!("podinfo-7d9f8c6b5-{i:05}")),
                ];
                let url = format!("http://10.0.{}.{}:15020/stats/prometheus", i / 250, i % 250);
                let t = round as i64 * 5_000;
                store
                    .ingest_scrape(&url, &labels, t, body.as_bytes(), &opts)
                    .expect("ingest");
            }
        }
    };
    let half = targets / 2;
    add(&mut store, 0..half);
    let rss_half = rss_kib();
    add(&mut store, half..targets);
    let rss = rss_kib();
    let series = store.series_count() / targets;
    let rss_per = rss.saturating_sub(rss_half) as f64 * 1024.0 / (targets - half) as f64;
    println!(
        "RESULT store_memory targets={targets} keep={} series_per_target={series} rss_bytes_per_target={rss_per:.0} rss_bytes_per_series={:.0} store_estimate_bytes_per_target={:.0}",
        if keep_all { "all" } else { "queried" },
        rss_per / series.max(1) as f64,
        store.memory_bytes() as f64 / targets as f64,
    );
}
