//! The provider over a fake querier (one layer alone); the real queriers are tested end to end.

use std::sync::Arc;

use mixerless_engine::exposition::Format;

use super::*;
use crate::clock::now_ms;
use crate::hpa::dir::LoadedHpa;
use crate::hpa::dir::Snapshot;
use crate::hpa::MetricQuery;
use crate::hpa::{manifest, OnEmpty};
use crate::querier::{BoxFuture, Error, Querier, Sample, Value};
use crate::selector::Selector;
use mixerless_engine::promql::Query;

/// Answers each query from a fixed table; unknown queries fail.
struct Table(Vec<(&'static str, Value)>);

/// A [`Table`] that describes itself as serving `url`.
struct NamedTable(Table, String);

impl Table {
    fn named(self, url: &str) -> NamedTable {
        NamedTable(self, url.to_owned())
    }
}

impl Querier for NamedTable {
    fn instant<'a>(&'a self, query: &'a Query, t: i64) -> BoxFuture<'a, Result<Value, Error>> {
        self.0.instant(query, t)
    }
    fn describe(&self) -> String {
        format!("table at {}", self.1)
    }
}

impl Querier for Table {
    fn instant<'a>(&'a self, query: &'a Query, _t: i64) -> BoxFuture<'a, Result<Value, Error>> {
        let query = query.text();
        let v = self
            .0
            .iter()
            .find(|(q, _)| *q == query)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                Error::Query(mixerless_engine::promql::Error::Eval(format!(
                    "unknown {query}"
                )))
            });
        Box::pin(async move { v })
    }
    fn describe(&self) -> String {
        "table".into()
    }
}

fn one(v: f64) -> Value {
    Value::Vector(vec![Sample {
        labels: Default::default(),
        t_ms: 0,
        v,
    }])
}

fn query(hpa: &str, metric: &str, labels: &[(&str, &str)], q: &str) -> MetricQuery {
    MetricQuery {
        namespace: "test".into(),
        hpa: hpa.into(),
        metric: metric.into(),
        match_labels: labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        query: q.into(),
        interval: None,
        prometheus_server: None,
        prometheus_server_alias: None,
        on_empty: OnEmpty::Error,
    }
}

fn snapshot(queries: Vec<MetricQuery>) -> Snapshot {
    Snapshot {
        hpas: queries
            .into_iter()
            .map(|q| LoadedHpa {
                file: "hpa.yaml".into(),
                namespace: q.namespace.clone(),
                name: q.hpa.clone(),
                hpa: manifest::Hpa::default(),
                queries: vec![q],
                errors: vec![],
            })
            .collect(),
        file_errors: vec![],
    }
}

fn provider() -> Provider {
    let table = Table(vec![
        ("rps", one(10.056)),
        ("empty", Value::Vector(vec![])),
        ("nan", one(f64::NAN)),
    ]);
    Provider::new(
        ProviderConfig::default(),
        Arc::new(table),
        None,
        Arc::new(Telemetry::new()),
    )
}

fn sel(s: &str) -> Selector {
    crate::selector::parse(s).unwrap()
}

/// Demonstrates serving: values by namespace, metric and selector; 404 for unknown metrics;
/// errors for queries whose results the policy refuses; unavailable before the first evaluation.
#[tokio::test]
async fn serves_values_and_errors() {
    let p = provider();
    p.set_hpas(&snapshot(vec![
        query("a", "rps", &[("type", "prometheus")], "rps"),
        query("b", "prometheus-query", &[("query-name", "empty")], "empty"),
        query("c", "prometheus-query", &[("query-name", "nan")], "nan"),
        query(
            "d",
            "prometheus-query",
            &[("query-name", "broken")],
            "broken",
        ),
    ]));
    let t = 1_000_000;
    assert!(matches!(
        p.lookup("test", "rps", &sel(""), t),
        Err(LookupError::Unavailable(m)) if m.contains("not evaluated yet")
    ));
    assert_eq!(p.evaluate_due(t).await, 4);
    let v = p.lookup("test", "rps", &sel("type=prometheus"), t).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].quantity, "10056m");
    assert_eq!(v[0].timestamp_ms, t);
    assert!(p
        .lookup("test", "rps", &sel("type=other"), t)
        .unwrap()
        .is_empty());
    assert!(matches!(
        p.lookup("other", "rps", &sel(""), t),
        Err(LookupError::NotFound { .. })
    ));
    let err = |s: &str| match p.lookup("test", "prometheus-query", &sel(s), t) {
        Err(LookupError::Failed(m)) => m,
        other => panic!("{s}: {other:?}"),
    };
    assert!(err("query-name=empty").contains("HPA test/b: query returned no series"));
    assert!(err("query-name=nan").contains("NaN"));
    assert!(err("query-name=broken").contains("unknown broken"));
    assert_eq!(p.metric_names().len(), 2);
    assert_eq!(p.readiness(t), Ok(()), "errors are outcomes");
}

/// Demonstrates that a value older than three intervals is not served, and that an evaluation
/// makes it fresh again.
#[tokio::test]
async fn stale_values_are_not_served() {
    let p = provider();
    p.set_hpas(&snapshot(vec![query("a", "rps", &[], "rps")]));
    p.evaluate_due(0).await;
    assert!(p.lookup("test", "rps", &sel(""), 15_000).is_ok());
    assert!(matches!(
        p.lookup("test", "rps", &sel(""), 15_001),
        Err(LookupError::Unavailable(m)) if m.contains("15s old")
    ));
    assert_eq!(
        p.evaluate_due(4_000).await,
        0,
        "not due before its interval"
    );
    assert_eq!(p.evaluate_due(20_000).await, 1);
    assert!(p.lookup("test", "rps", &sel(""), 30_000).is_ok());
}

/// Demonstrates that a reload keeps the outcome of an unchanged query and drops removed ones.
#[tokio::test]
async fn reload_keeps_unchanged_queries() {
    let p = provider();
    p.set_hpas(&snapshot(vec![query("a", "rps", &[], "rps")]));
    p.evaluate_due(0).await;
    p.set_hpas(&snapshot(vec![
        query("a", "rps", &[], "rps"),
        query("b", "other", &[], "empty"),
    ]));
    assert!(p.lookup("test", "rps", &sel(""), 1).is_ok());
    assert_eq!(
        p.readiness(1),
        Err("1 of 2 HPA queries not evaluated yet".to_owned())
    );
    p.set_hpas(&snapshot(vec![query("b", "other", &[], "empty")]));
    assert!(matches!(
        p.lookup("test", "rps", &sel(""), 1),
        Err(LookupError::NotFound { .. })
    ));
}

/// A provider over `table` whose store's history begins at `since` (shared, so a test moves it).
fn warming_provider(
    partial_data: PartialData,
    since: Arc<std::sync::Mutex<Option<i64>>>,
) -> Provider {
    let table = Table(vec![
        ("sum(rate(x[1m]))", one(10.0)),
        ("irate(x[5m])", one(10.0)),
        ("rate(x[20m])", one(10.0)),
    ]);
    Provider::new(
        ProviderConfig {
            partial_data,
            ..ProviderConfig::default()
        },
        Arc::new(table),
        None,
        Arc::new(Telemetry::new()),
    )
    .with_data_since(Box::new(move || *since.lock().unwrap()))
}

/// Demonstrates the restart rule: before any scrape, and until the history covers the 1m the
/// query reads, the value is withheld with a 503 that says why and when it will be served; the
/// re-evaluation is due exactly then, not an interval later; a newest-sample query is served
/// at once; a window longer than the retention is an error for good. `/readyz` says not ready
/// until the 1m query is served (and, before any scrape, for `STARTUP_GRACE` at most).
#[tokio::test]
async fn short_history_is_withheld_until_the_window_is_covered() {
    let since = Arc::new(std::sync::Mutex::new(None));
    let p = warming_provider(PartialData::Refuse, since.clone());
    p.set_hpas(&snapshot(vec![
        query("a", "rps", &[], "sum(rate(x[1m]))"),
        query("b", "irate", &[], "irate(x[5m])"),
        query("c", "long", &[], "rate(x[20m])"),
    ]));
    let t0 = 1_700_000_000_000;
    p.evaluate_due(t0).await;
    assert!(matches!(
        p.lookup("test", "rps", &sel(""), t0),
        Err(LookupError::Unavailable(m)) if m.contains("no scrape has succeeded")
    ));
    assert!(matches!(
        p.lookup("test", "long", &sel(""), t0),
        Err(LookupError::Failed(m)) if m.contains("reads 20m of history but --retention keeps 10m")
    ));
    let not_ready = |t: i64| p.readiness(t).unwrap_err();
    assert_eq!(
        not_ready(t0 + 29_999),
        "no scrape has succeeded yet (ready without one 30s after the start)"
    );
    assert_eq!(
        p.readiness(t0 + 30_000),
        Ok(()),
        "an adapter whose targets all fail serves the HPA why"
    );

    *since.lock().unwrap() = Some(t0 + 500);
    let t1 = t0 + 20_500;
    assert_eq!(p.evaluate_due(t1).await, 3);
    match p.lookup("test", "rps", &sel(""), t1) {
        Err(LookupError::Unavailable(m)) => assert!(
            m.contains("holds 20s of history")
                && m.contains("reads 1m")
                && m.contains("served from 2023-11-14T22:14:20Z"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        p.lookup("test", "irate", &sel(""), t1).unwrap()[0].quantity,
        "10"
    );
    assert_eq!(
        not_ready(t1),
        "warming up: 1 of 3 HPA queries read more history than the adapter holds since its first successful scrape; ready at 2023-11-14T22:14:20Z"
    );

    // Due again when 60 s of history exist, before the 5 s interval would make it.
    p.evaluate_due(t0 + 58_000).await;
    p.evaluate_due(t0 + 60_499).await;
    assert!(p.lookup("test", "rps", &sel(""), t0 + 60_499).is_err());
    assert!(not_ready(t0 + 60_499).starts_with("warming up: 1 of 3"));
    assert!(
        not_ready(t0 + 60_500).starts_with("warming up: 1 of 3"),
        "covered, but the value is not recorded yet"
    );
    p.evaluate_due(t0 + 60_500).await;
    assert_eq!(p.readiness(t0 + 60_500), Ok(()));
    let v = p.lookup("test", "rps", &sel(""), t0 + 60_500).unwrap();
    assert_eq!(
        (v[0].quantity.as_str(), v[0].timestamp_ms),
        ("10", t0 + 60_500)
    );
}

/// Demonstrates `--partial-data serve`: the short-history value is served and marked partial on
/// `/status`; once the window is covered the mark is gone.
#[tokio::test]
async fn partial_values_are_served_marked_when_asked() {
    let since = Arc::new(std::sync::Mutex::new(Some(0)));
    let p = warming_provider(PartialData::Serve, since);
    p.set_hpas(&snapshot(vec![query("a", "rps", &[], "sum(rate(x[1m]))")]));
    p.evaluate_due(20_000).await;
    assert_eq!(
        p.lookup("test", "rps", &sel(""), 20_000).unwrap()[0].quantity,
        "10"
    );
    assert_eq!(p.readiness(20_000), Ok(()), "nothing is withheld");
    let status = p.status();
    let partial = status["metrics"][0]["last"]["partial"]
        .as_str()
        .unwrap_or("");
    assert!(partial.contains("holds 20s of history"), "{status}");
    p.evaluate_due(60_000).await;
    assert!(p.status()["metrics"][0]["last"].get("partial").is_none());
}

/// Answers `rps` at once and `slow` only when released.
struct Gated(Arc<tokio::sync::Notify>);

impl Querier for Gated {
    fn instant<'a>(&'a self, query: &'a Query, _t: i64) -> BoxFuture<'a, Result<Value, Error>> {
        Box::pin(async move {
            if query.text() == "slow" {
                self.0.notified().await;
            }
            Ok(one(10.0))
        })
    }
    fn describe(&self) -> String {
        "gated".into()
    }
}

/// A provider over [`Gated`] with HPA `a` on `slow` and HPA `b` on `rps`, and the handle that
/// releases `slow`.
fn gated_provider(config: ProviderConfig) -> (Arc<Provider>, Arc<tokio::sync::Notify>) {
    let release = Arc::new(tokio::sync::Notify::new());
    let p = Arc::new(Provider::new(
        config,
        Arc::new(Gated(release.clone())),
        None,
        Arc::new(Telemetry::new()),
    ));
    p.set_hpas(&snapshot(vec![
        query("a", "slow", &[], "slow"),
        query("b", "rps", &[], "rps"),
    ]));
    (p, release)
}

/// Demonstrates that a slow query (a hostile annotation running up to its timeout) does not
/// hold back another HPA's value: each outcome is recorded as soon as it is in.
#[tokio::test]
async fn a_slow_query_does_not_delay_the_others() {
    let (p, release) = gated_provider(ProviderConfig::default());
    let run = tokio::spawn({
        let p = p.clone();
        async move { p.evaluate_due(0).await }
    });
    let mut served = false;
    for _ in 0..100 {
        if p.lookup("test", "rps", &sel(""), 0).is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(served, "rps was served while the slow query ran");
    assert!(matches!(
        p.lookup("test", "slow", &sel(""), 0),
        Err(LookupError::Unavailable(m)) if m.contains("not evaluated yet")
    ));
    release.notify_one();
    assert_eq!(run.await.unwrap(), 2);
    assert!(p.lookup("test", "slow", &sel(""), 0).is_ok());
}

/// Demonstrates the background loop: while one query is stuck (a hostile annotation up to its
/// timeout), another HPA's query keeps being evaluated at its interval, and a reload that
/// moves the stuck entry still gets its outcome recorded.
#[tokio::test]
async fn the_loop_keeps_evaluating_beside_a_stuck_query() {
    let (p, release) = gated_provider(ProviderConfig {
        default_interval: Duration::from_millis(100),
        ..ProviderConfig::default()
    });
    let run = tokio::spawn(p.clone().run());
    let stamp = |p: &Provider| {
        p.lookup("test", "rps", &sel(""), now_ms())
            .ok()
            .map(|v| v[0].timestamp_ms)
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let first = stamp(&p).expect("rps served while the slow query is stuck");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let later = stamp(&p).expect("rps still served");
    assert!(later > first, "rps re-evaluated: {first} then {later}");
    assert!(p.lookup("test", "slow", &sel(""), now_ms()).is_err());

    // A reload puts the stuck query second; its outcome still lands on it.
    p.set_hpas(&snapshot(vec![
        query("b", "rps", &[], "rps"),
        query("a", "slow", &[], "slow"),
    ]));
    release.notify_one();
    let recorded = |p: &Provider| {
        p.status()["metrics"]
            .as_array()
            .and_then(|m| m.iter().find(|e| e["hpa"] == "a").cloned())
            .is_some_and(|e| e["last"]["state"] == "value")
    };
    let mut done = false;
    for _ in 0..100 {
        if recorded(&p) {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    run.abort();
    assert!(
        done,
        "the stuck query's outcome was recorded after the reload: {}",
        p.status()
    );
}

/// Demonstrates `prometheus-server-alias`: a configured alias runs its query on the alias's
/// URL (not on the default source, whose store need not keep its metrics), an alias not
/// configured is an error for that metric naming it and the configured ones, and the HPA's
/// other metrics are still served from the default source.
#[tokio::test]
async fn server_aliases_resolve_or_fail_their_metric() {
    let factory: Box<RemoteFactory> = Box::new(|url: &str| {
        Ok(Arc::new(Table(vec![("rps", one(2.0))]).named(url)) as Arc<dyn Querier>)
    });
    let p = Provider::new(
        ProviderConfig::default(),
        Arc::new(Table(vec![("rps", one(1.0)), ("up", one(3.0))])),
        Some(factory),
        Arc::new(Telemetry::new()),
    )
    .with_server_aliases([("other".to_owned(), "http://other:9090".to_owned())].into());
    let mut known = query("a", "rps", &[("type", "prometheus")], "rps");
    known.prometheus_server_alias = Some("other".into());
    let mut unknown = query("b", "rps", &[("type", "prometheus"), ("x", "b")], "rps");
    unknown.prometheus_server_alias = Some("nope".into());
    let plain = query("c", "up", &[("type", "prometheus")], "up");
    p.set_hpas(&snapshot(vec![known, unknown, plain]));
    let status = p.status();
    let sources: Vec<(&str, &str)> = status["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["hpa"].as_str().unwrap(), m["source"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sources,
        [("a", "table at http://other:9090"), ("c", "table")]
    );
    let b = status["hpas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "b")
        .unwrap();
    assert_eq!(
        b["errors"][0],
        "metric rps: prometheus-server-alias \"nope\" is not configured (serve --prometheus-server-alias NAME=URL; configured: [\"other\"])"
    );
    assert_eq!(
        p.embedded_queries()
            .iter()
            .map(Query::text)
            .collect::<Vec<_>>(),
        ["up"]
    );
    let t = 1_000_000;
    assert_eq!(p.evaluate_due(t).await, 2);
    let v = p.lookup("test", "rps", &sel("type=prometheus"), t).unwrap();
    let served: Vec<&str> = v.iter().map(|s| s.quantity.as_str()).collect();
    assert_eq!(
        served,
        ["2"],
        "the alias's value, not the default source's 1"
    );
}

/// A provider over a real embedded store, wired as `serve` wires it: the store's history per
/// metric decides the warm-up.
fn store_provider() -> (Provider, Arc<crate::querier::embedded::Embedded>) {
    let e = Arc::new(crate::querier::embedded::Embedded::new(
        Duration::from_secs(600),
        Duration::from_secs(10),
        Arc::new(Telemetry::new()),
    ));
    let since_store = e.clone();
    let per_metric = e.clone();
    let p = Provider::new(
        ProviderConfig::default(),
        e.clone(),
        None,
        Arc::new(Telemetry::new()),
    )
    .with_data_since(Box::new(move || {
        since_store.since("up").and_then(|s| match s {
            Since::At { ms, .. } => Some(ms),
            Since::NotYet { .. } | Since::NotKept => None,
        })
    }))
    .with_metric_since(Box::new(move |names| per_metric.since_names(names)));
    (p, e)
}

/// Sets the HPAs and the store's metric names, as `serve` does on every reload.
fn reload(p: &Provider, e: &crate::querier::embedded::Embedded, queries: Vec<MetricQuery>) {
    p.set_hpas(&snapshot(queries));
    e.keep(&p.embedded_queries());
}

/// Demonstrates the warm-up per metric (issue 12, item 4): an HPA added later whose query
/// reads a metric the store was not keeping is answered 503 "warming up" until the history
/// since the store began keeping it covers its window (not served from seconds of it, far
/// below the true 10/s), and `/readyz` stays ready meanwhile (every replica warms it up alike);
/// an edited query reading another new metric warms up again; a new query over a metric the
/// store already kept is served at once; a query removed and added again within the grace
/// period keeps its history.
#[tokio::test]
async fn a_newly_read_metric_warms_up_like_a_restart() {
    use crate::scrape::Sink;
    let (p, e) = store_provider();
    let rps = |name: &str, q: &str| query(name, name, &[], q);
    let a = rps("a", "sum(rate(up[1m]))");
    reload(&p, &e, vec![a.clone()]);
    let target = crate::scrape::Target {
        url: "http://t:1/stats/prometheus".into(),
        labels: vec![("instance".into(), "t:1".into())],
        ..Default::default()
    };
    // Every metric grows 10/s from the start; the store keeps what the queries read.
    let t0 = (now_ms() / 1000) * 1000;
    let scrape = |k: i64| {
        let t = t0 + k * 5_000;
        let v = k * 50;
        e.ingest(
            &target,
            t,
            format!("up {v}\ny {v}\nz {v}\n").as_bytes(),
            Format::Text004,
        )
        .unwrap();
        t
    };
    let value = |metric: &str, t: i64| -> Result<f64, LookupError> {
        let v = p.lookup("test", metric, &sel(""), t)?;
        Ok(crate::quantity::parse_milli(&v[0].quantity).unwrap() as f64 / 1000.0)
    };
    for k in 0..=13 {
        scrape(k);
    }
    let t = t0 + 65_000;
    p.evaluate_due(t).await;
    assert!((value("a", t).unwrap() - 10.0).abs() < 0.1);

    // A new HPA reading y, which the target exposed all along but the store did not keep.
    let b = rps("b", "sum(rate(y[1m]))");
    reload(&p, &e, vec![a.clone(), b.clone()]);
    p.evaluate_due(t + 1).await;
    assert!(matches!(
        value("b", t + 1),
        Err(LookupError::Unavailable(m)) if m.contains("no scrape has succeeded since the adapter began keeping the metrics the query reads")
    ));
    assert_eq!(
        p.readiness(t + 1),
        Ok(()),
        "a late warm-up leaves /readyz ready"
    );
    let kept_at = scrape(14);
    for k in 15..=18 {
        scrape(k);
    }
    let t = t0 + 90_000;
    p.evaluate_due(t).await;
    match value("b", t) {
        Err(LookupError::Unavailable(m)) => assert!(
            m.contains("warming up: the adapter holds 20s of history (since it began keeping the metrics the query reads, for a new or edited query) and the query reads 1m"),
            "{m}"
        ),
        other => panic!("served from 20 s of history: {other:?}"),
    }
    assert!(
        (value("a", t).unwrap() - 10.0).abs() < 0.1,
        "a is unaffected"
    );
    assert_eq!(p.readiness(t), Ok(()));
    // /api/v1 says the same of the query, and nothing of one over a metric kept all along.
    assert_eq!(
        p.short_history(&Query::parse("rate(y[1m]) / rate(up[1m])").unwrap(), t).as_deref(),
        Some("the query reads 1m of history and the adapter holds 20s of it (since it began keeping the metrics the query reads): the result is computed from partial data")
    );
    assert_eq!(
        p.short_history(&Query::parse("rate(up[1m])").unwrap(), t),
        None
    );
    assert_eq!(
        p.short_history(&Query::parse("rate(not_kept[1m])").unwrap(), t),
        None,
        "no history at all: /api/v1 names the metrics not kept instead"
    );
    for k in 19..=26 {
        scrape(k);
    }
    let t = kept_at + 60_000;
    p.evaluate_due(t).await;
    assert!(
        (value("b", t).unwrap() - 10.0).abs() < 0.1,
        "{:?}",
        value("b", t)
    );

    // Edited to read z (new): warming up again. A new query over up (kept) is served at once.
    let b2 = rps("b", "sum(rate(z[1m]))");
    let c = rps("c", "sum(rate(up[30s]))");
    reload(&p, &e, vec![a.clone(), b2, c]);
    let t = t + 1;
    scrape(27);
    p.evaluate_due(t + 5_000).await;
    assert!(
        matches!(value("b", t + 5_000), Err(LookupError::Unavailable(m)) if m.contains("warming up"))
    );
    assert!((value("c", t + 5_000).unwrap() - 10.0).abs() < 0.1);

    // Back to y within the grace period: its history is whole, no new warm-up.
    reload(&p, &e, vec![a, b]);
    scrape(28);
    p.evaluate_due(t + 10_000).await;
    assert!((value("b", t + 10_000).unwrap() - 10.0).abs() < 0.1);
}
