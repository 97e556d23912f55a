//! Parsing a 10 MB Envoy exposition: our streaming parser (what the store uses), our owned
//! parse, the streaming parser on the same body as OpenMetrics, and the `prometheus-parse` crate
//! as the baseline, in the same run; then the store's
//! whole scrape path (parse, cached series lookup, compressed append) on the same body.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mixerless_engine::exposition::{parse, parse_each, Format, ParseOptions};

mod fixture;

fn bench(c: &mut Criterion) {
    let body = fixture::envoy_exposition(10 << 20);
    let opts = ParseOptions::default();
    let mut g = c.benchmark_group("parse_10MB_envoy");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.sample_size(10);
    g.bench_function("mixerless_parse_each", |b| {
        b.iter(|| {
            let mut n = 0usize;
            parse_each(body.as_bytes(), &opts, |s| n += s.labels.len())
                .map(|_| n)
                .unwrap_or(0)
        })
    });
    // The same body served as OpenMetrics (`# EOF` appended): the stricter grammar and the
    // exemplar checks, on the path a target answering `application/openmetrics-text` takes.
    let om_body = format!("{body}# EOF\n");
    let om = ParseOptions {
        format: Format::OpenMetrics,
        strict: true,
        ..ParseOptions::default()
    };
    assert!(parse_each(om_body.as_bytes(), &om, |_| ()).is_ok());
    g.bench_function("mixerless_parse_each_openmetrics", |b| {
        b.iter(|| {
            let mut n = 0usize;
            parse_each(om_body.as_bytes(), &om, |s| n += s.labels.len())
                .map(|_| n)
                .unwrap_or(0)
        })
    });
    g.bench_function("mixerless_parse_owned", |b| {
        b.iter(|| {
            parse(body.as_bytes(), &opts)
                .map(|p| p.samples.len())
                .unwrap_or(0)
        })
    });
    g.bench_function("prometheus_parse_crate", |b| {
        b.iter(|| {
            prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
                .map(|s| s.samples.len())
                .unwrap_or(0)
        })
    });
    // The store's scrape path on the same body: parse, cached series lookup, compressed append.
    let mut store =
        mixerless_engine::store::Store::new(mixerless_engine::store::StoreConfig::default());
    let target = [
        ("job".to_string(), "envoy".to_string()),
        ("instance".to_string(), "10.0.0.1:15090".to_string()),
    ];
    let mut t = 0i64;
    let _ = store.ingest(&target, t, body.as_bytes());
    g.bench_function("store_ingest_steady_state", |b| {
        b.iter(|| {
            t += 1000;
            store
                .ingest(&target, t, body.as_bytes())
                .map(|r| r.samples)
                .unwrap_or(0)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
