use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::routing::get;

use super::*;

/// Serves `req_total` on a local port from `value`, called per scrape; returns the URL and
/// the runtime that keeps it up.
fn target(
    value: impl Fn() -> f64 + Clone + Send + Sync + 'static,
) -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = axum::Router::new().route(
        "/stats/prometheus",
        get(move || {
            let v = value();
            async move { format!("# TYPE req_total counter\nreq_total {v}\n") }
        }),
    );
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/stats/prometheus"), rt)
}

fn cmd(expr: &str, target: &str, interval_ms: u64, max_wait_s: u64) -> Cmd {
    Cmd {
        query: super::super::query::Args {
            expr: expr.into(),
            data: None,
            time: None,
            lookback: Duration::from_secs(300),
        },
        live: Live {
            target: vec![target.into()],
            scrapes: 2,
            scrape_interval: Duration::from_millis(interval_ms),
            max_wait: Duration::from_secs(max_wait_s),
        },
    }
}

/// Demonstrates `query --target`: a local target whose counter grows by 10 per scrape is
/// scraped three times 200 ms apart and the engine sees all three samples with `instance`.
#[test]
fn scrapes_live_targets_into_a_store() {
    let n = Arc::new(AtomicU64::new(0));
    let (url, _rt) = target(move || n.fetch_add(10, Ordering::SeqCst) as f64);
    let mut progress = Vec::new();
    let (store, last) = load(
        std::slice::from_ref(&url),
        3,
        Duration::from_millis(200),
        Duration::ZERO,
        &mut progress,
    )
    .unwrap();
    let engine = mixerless_engine::promql::Engine::new(Default::default());
    let v = engine
        .instant(&store, "count_over_time(req_total[1m])", last)
        .unwrap()
        .to_api_json();
    assert_eq!(v["result"][0]["value"][1], "3", "{v}");
    let instance = url
        .trim_start_matches("http://")
        .trim_end_matches("/stats/prometheus");
    assert_eq!(v["result"][0]["metric"]["instance"], instance, "{v}");
    let v = engine
        .instant(&store, "req_total", last)
        .unwrap()
        .to_api_json();
    assert_eq!(v["result"][0]["value"][1], "20", "{v}");
    let progress = String::from_utf8(progress).unwrap();
    assert!(
        progress.starts_with("scraping 1 target(s) 3 times, 200ms apart"),
        "{progress}"
    );
    assert!(progress.contains("scrape 3/3 done"), "{progress}");
    let mut sink = Vec::new();
    assert!(load(
        &["not a url".into()],
        1,
        Duration::ZERO,
        Duration::ZERO,
        &mut sink
    )
    .is_err());
}

/// Demonstrates that a rate over live targets is the true rate: the targets are scraped for
/// the query's whole window (here 2 s at 100 ms: 21 scrapes), not twice, so a counter growing
/// at 10/s reads 10 (two scrapes 100 ms apart would read about 0.5).
#[test]
fn a_rate_is_read_over_its_whole_window() {
    let start = std::time::Instant::now();
    let (url, _rt) = target(move || 1000.0 + 10.0 * start.elapsed().as_secs_f64());
    for (expr, want) in [
        ("sum(rate(req_total[2s]))", 10.0),
        ("increase(req_total[1500ms] offset 500ms)", 15.0),
    ] {
        let mut progress = Vec::new();
        let resp = response(&cmd(expr, &url, 100, 60), &mut progress).unwrap();
        let got: f64 = resp["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN);
        assert!(
            (got - want).abs() / want < 0.05,
            "{expr}: {got} for {want}: {resp}"
        );
        let progress = String::from_utf8(progress).unwrap();
        assert!(
            progress.starts_with("scraping 1 target(s) 21 times, 100ms apart, over 2s (the query reads 2s of history)"),
            "{expr}: {progress}"
        );
    }
}

/// Demonstrates how many scrapes a query gets: its window over the interval plus one, at
/// least `--scrapes`, and a refusal naming the window and --max-wait when that takes longer.
#[test]
fn scrapes_cover_the_window_within_max_wait() {
    let live = |interval_ms, scrapes, max_wait_s| Live {
        target: vec![],
        scrapes,
        scrape_interval: Duration::from_millis(interval_ms),
        max_wait: Duration::from_secs(max_wait_s),
    };
    let w = |q: &str| mixerless_engine::promql::Query::parse(q).unwrap().window();
    let cases = [
        ("sum(rate(x[1m]))", live(1000, 2, 300), 61),
        ("sum(rate(x[1m]))", live(5000, 2, 300), 13),
        ("sum(rate(x[1m]))", live(7000, 2, 300), 10),
        ("x", live(1000, 2, 300), 2),
        ("irate(x[5m])", live(1000, 2, 300), 2),
        ("x", live(1000, 5, 300), 5),
        ("rate(x[1m] offset 1m)", live(1000, 2, 300), 121),
        ("rate(x[5m])", live(1000, 2, 300), 301),
    ];
    for (q, l, want) in cases {
        assert_eq!(rounds(q, w(q), &l).unwrap(), want, "{q} {l:?}");
    }
    let err = rounds("rate(x[10m])", w("rate(x[10m])"), &live(1000, 2, 300))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("\"rate(x[10m])\" reads 10m of history: covering it takes 601 scrapes 1s apart (10m), longer than --max-wait 5m; raise --max-wait"),
        "{err}"
    );
    assert!(err.contains("--data"), "{err}");
    assert!(rounds("x", w("x"), &live(0, 2, 1)).is_err());
}

/// Demonstrates that a query that does not parse gets its parse error at once, without a
/// scrape (the target here does not exist).
#[test]
fn a_bad_query_is_refused_before_scraping() {
    let mut progress = Vec::new();
    let resp = response(
        &cmd("rate(x[1m]", "http://127.0.0.1:9/m", 100, 1),
        &mut progress,
    )
    .unwrap();
    assert_eq!(resp["errorType"], "bad_data", "{resp}");
    assert!(progress.is_empty());
}
