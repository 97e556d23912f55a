//! The scraper against real local HTTP targets that misbehave, over a recording sink (the
//! store is tested in the engine, and the whole chain end to end).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::Router;

use super::*;
use mixerless_engine::exposition::{self, Format};
use mixerless_engine::store;

use crate::store::{IngestError, Stored};

#[derive(Default)]
struct Recorder {
    ingested: Mutex<Vec<String>>,
    down: Mutex<Vec<String>>,
}

fn instance(labels: &[(String, String)]) -> String {
    labels
        .iter()
        .find(|(k, _)| k == "instance")
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

impl Sink for Recorder {
    fn ingest(
        &self,
        target: &Target,
        _t: i64,
        body: &[u8],
        _format: Format,
    ) -> Result<Stored, IngestError> {
        if body.starts_with(b"garbage") {
            return Err(IngestError::from(store::Error::Parse(
                exposition::Error::Syntax {
                    line: 1,
                    col: 1,
                    msg: "invalid metric name".into(),
                },
            )));
        }
        self.ingested.lock().unwrap().push(instance(&target.labels));
        Ok(Stored {
            samples: body.iter().filter(|b| **b == b'\n').count(),
            refused: 0,
        })
    }
    fn target_down(&self, target: &Target, _t: i64) {
        self.down.lock().unwrap().push(instance(&target.labels));
    }
}

/// Demonstrates that hanging, garbage, 404 and huge targets are counted, logged in the
/// status, and marked down, while a good target keeps being scraped at its interval.
#[tokio::test]
async fn bad_targets_do_not_affect_good_ones() {
    let routes = Router::new()
        .route("/ok", get(|| async { "a 1\nb 2\n" }))
        .route("/garbage", get(|| async { "garbage{{{" }))
        .route(
            "/hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late"
            }),
        )
        .route("/huge", get(|| async { "x 1\n".repeat(300_000) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, routes).await });

    let sink = Arc::new(Recorder::default());
    let telemetry = Arc::new(Telemetry::new());
    let scraper = Scraper::new(
        ScrapeConfig {
            interval: Duration::from_millis(200),
            timeout: Duration::from_millis(300),
            concurrency: 2,
            body_limit: 1 << 20,
            job: "test".into(),
            ..ScrapeConfig::default()
        },
        sink.clone(),
        telemetry.clone(),
    );
    // Distinct instances (same host:port) via distinct query strings.
    let url = |p: &str| format!("http://{addr}{p}");
    let targets: Vec<Target> = ["/ok", "/garbage", "/hang", "/huge", "/missing"]
        .iter()
        .map(|p| Target {
            url: url(p),
            labels: vec![
                ("instance".into(), (*p).into()),
                ("job".into(), "test".into()),
            ],
            ..Default::default()
        })
        .collect();
    scraper.set_targets(targets);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let status = scraper.status();
    let by_instance = |i: &str| {
        status
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["labels"]["instance"] == i)
            .cloned()
            .unwrap()
    };
    let ok = by_instance("/ok");
    assert_eq!(ok["health"], "up", "{ok}");
    assert_eq!(ok["samples"], 2);
    let ok_scrapes = sink
        .ingested
        .lock()
        .unwrap()
        .iter()
        .filter(|i| *i == "/ok")
        .count();
    assert!(
        ok_scrapes >= 4,
        "the good target was scraped only {ok_scrapes} times in 1.5 s"
    );
    for (inst, error) in [
        (
            "/garbage",
            "parse: scrape body: line 1:1: invalid metric name",
        ),
        ("/hang", "timed out after 300ms"),
        ("/huge", "body larger than 1048576 bytes"),
        ("/missing", "HTTP status 404"),
    ] {
        let t = by_instance(inst);
        assert_eq!(t["health"], "down", "{t}");
        assert_eq!(t["last_error"], error, "{t}");
        assert!(
            sink.down.lock().unwrap().iter().any(|i| i == inst),
            "{inst} not marked down"
        );
    }
    let metrics = telemetry.encode();
    for reason in ["parse", "timeout", "too_large", "http_status"] {
        assert!(
            metrics.contains(&format!("reason=\"{reason}\"")),
            "no {reason} error counted:\n{metrics}"
        );
    }

    // A removed target stops and its series are marked stale.
    scraper.set_targets(vec![]);
    assert_eq!(scraper.target_count(), 0);
    assert!(scraper.status().as_array().unwrap().is_empty());
    server.abort();
}

/// Demonstrates that a scrape the store refuses for a limit is counted with that limit as its
/// `reason`, not as a parse error: over `--scrape-sample-limit` is `sample_limit`, new series
/// over `--target-series-limit` `series_limit` (both were `reason="parse"` when the sink's
/// error was a string), and the target is down with the message naming the flag.
#[tokio::test]
async fn a_scrape_over_a_limit_is_counted_with_its_reason() {
    let routes = Router::new()
        .route(
            "/three",
            get(|| async { "m{i=\"1\"} 1\nm{i=\"2\"} 1\nm{i=\"3\"} 1\n" }),
        )
        .route("/one", get(|| async { "m{i=\"4\"} 1\n" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, routes).await });
    let telemetry = Arc::new(Telemetry::new());
    let store = Arc::new(crate::store::MetricStore::new(
        Duration::from_secs(600),
        telemetry.clone(),
    ));
    store.set_queries(&["m".into()]);
    let scraper = Scraper::new(
        ScrapeConfig {
            interval: Duration::from_millis(200),
            ..ScrapeConfig::default()
        },
        store.clone(),
        telemetry.clone(),
    );
    let target = |path: &str| Target {
        url: format!("http://{addr}{path}"),
        labels: vec![("instance".into(), path.into())],
        ..Default::default()
    };
    // Over the sample limit: three samples, two allowed.
    store.set_store_limits(100, 2, 0);
    scraper.set_targets(vec![target("/three")]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let metrics = telemetry.encode();
    assert!(
        metrics.contains(&format!(
            "mixerless_adapter_scrape_errors_total{{target=\"http://{addr}/three\",reason=\"sample_limit\"}}"
        )),
        "{metrics}"
    );
    assert!(!metrics.contains("reason=\"parse\""), "{metrics}");
    let status = scraper.status();
    assert_eq!(status[0]["health"], "down", "{status}");
    assert!(
        status[0]["last_error"]
            .as_str()
            .unwrap()
            .ends_with("; raise --scrape-sample-limit"),
        "{status}"
    );
    // Over the target's series limit: one series held, a scrape with another.
    store.set_store_limits(100, 0, 1);
    store
        .ingest_scrape(
            &target("/one").url,
            &target("/one").labels,
            1_000,
            b"m{i=\"0\"} 1\n",
            Format::Text004,
        )
        .unwrap();
    scraper.set_targets(vec![target("/one")]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let metrics = telemetry.encode();
    assert!(
        metrics.contains(&format!(
            "mixerless_adapter_scrape_errors_total{{target=\"http://{addr}/one\",reason=\"series_limit\"}}"
        )),
        "{metrics}"
    );
    assert!(!metrics.contains("reason=\"parse\""), "{metrics}");
    server.abort();
}

/// Demonstrates that `--file-sd` files are re-read when they change, that a file that stops
/// parsing keeps its previous targets, and that static targets stay throughout.
#[tokio::test]
async fn file_sd_is_reloaded_on_change() {
    let dir = std::env::temp_dir().join(format!("mixerless-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("targets.yaml");
    std::fs::write(&file, "- targets: ['127.0.0.1:1']\n").unwrap();
    let scraper = Arc::new(Scraper::new(
        ScrapeConfig {
            interval: Duration::from_secs(60),
            ..ScrapeConfig::default()
        },
        Arc::new(Recorder::default()),
        Arc::new(Telemetry::new()),
    ));
    let fixed = file_sd::from_url("http://127.0.0.1:2/stats/prometheus", "envoy-stats").unwrap();
    let task = tokio::spawn(scraper.clone().watch(vec![fixed], vec![file.clone()]));
    let urls = |s: &Scraper| -> Vec<String> {
        let mut u: Vec<String> = s
            .status()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["url"].as_str().unwrap().to_owned())
            .collect();
        u.sort();
        u
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        urls(&scraper),
        [
            "http://127.0.0.1:1/stats/prometheus",
            "http://127.0.0.1:2/stats/prometheus"
        ]
    );
    // A different size makes the change visible even within the same mtime second.
    std::fs::write(&file, "- targets: ['127.0.0.1:3', '127.0.0.1:4']\n").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        urls(&scraper),
        [
            "http://127.0.0.1:2/stats/prometheus",
            "http://127.0.0.1:3/stats/prometheus",
            "http://127.0.0.1:4/stats/prometheus"
        ]
    );
    std::fs::write(&file, "{not: [a, list}\n").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        scraper.target_count(),
        3,
        "a broken file keeps its previous targets"
    );
    let errors = scraper.source_status();
    assert_eq!(errors[0]["source"], format!("file_sd:{}", file.display()));
    assert!(
        errors[0]["error"]
            .as_str()
            .unwrap()
            .ends_with("(keeping its previous targets)"),
        "{errors}"
    );
    task.abort();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Demonstrates target identity (URL plus labels): two paths on one `host:port` are two
/// targets with a warning that their series would share labels; a target listed twice, by one
/// source or by two, is scraped once and the conflict names both sources; a file_sd file that
/// does not load is on `source_status` until it loads again.
#[tokio::test]
async fn targets_are_url_and_labels_and_duplicates_are_named() {
    let scraper = Scraper::new(
        ScrapeConfig {
            interval: Duration::from_secs(60),
            ..ScrapeConfig::default()
        },
        Arc::new(Recorder::default()),
        Arc::new(Telemetry::new()),
    );
    let t = |url: &str| file_sd::from_url(url, "j").unwrap();
    let (a, b) = (t("http://127.0.0.1:9/a"), t("http://127.0.0.1:9/b"));
    scraper.set_source("static", vec![a.clone(), b.clone(), a.clone()]);
    assert_eq!(scraper.target_count(), 2);
    scraper.set_source("file_sd:x.yaml", vec![b.clone()]);
    assert_eq!(scraper.target_count(), 2);
    let status = scraper.source_status();
    let errors: Vec<&str> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["error"].as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors.contains(&r#"target http://127.0.0.1:9/a {instance="127.0.0.1:9", job="j"} is listed by static and again by static: scraped once"#));
    assert!(errors.contains(&r#"target http://127.0.0.1:9/b {instance="127.0.0.1:9", job="j"} is listed by file_sd:x.yaml and again by static: scraped once"#));
    assert!(errors.iter().any(|e| e.starts_with(
        "targets http://127.0.0.1:9/a and http://127.0.0.1:9/b have the same labels"
    )));
    // Other labels make another target with the same URL.
    let mut c = b;
    c.labels.push(("zone".into(), "z".into()));
    scraper.set_source("file_sd:x.yaml", vec![c]);
    assert_eq!(scraper.target_count(), 3);
    assert_eq!(scraper.source_status().as_array().unwrap().len(), 2);
    scraper.set_source("static", vec![a]);
    assert_eq!(scraper.source_status(), serde_json::json!([]));

    scraper.source_error("file_sd:x.yaml", Some("file_sd x.yaml: bad".into()));
    assert_eq!(
        scraper.source_status(),
        serde_json::json!([{"source": "file_sd:x.yaml", "error": "file_sd x.yaml: bad"}])
    );
    scraper.source_error("file_sd:x.yaml", None);
    assert_eq!(scraper.source_status(), serde_json::json!([]));
}
