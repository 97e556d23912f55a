//! The embedded store and PromQL engine (`mixerless-engine`) as a [`Querier`], a scrape
//! [`Sink`] and a [`PromBackend`]. The store is a plain struct behind one `RwLock`: scrapes
//! take the write lock briefly per target, queries share the read lock.
//!
//! Every evaluation runs on tokio's blocking pool under the same [`QueryLimits`] (time and
//! samples); `/api/v1` evaluations also pass the [`QueryGate`], HPA evaluations never do.
//! Evaluations read-lock the store per selector, not per query: std's `RwLock` makes new
//! readers wait behind a waiting writer, so a query holding the lock for its whole run (up to
//! `--query-timeout`) held up every scrape's ingest and, behind it, every HPA evaluation; in
//! `tests/tests/harden_queries.rs` that made a cheap HPA query miss its 500 ms timeout. A
//! snapshot of the store per query would copy every sample.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use mixerless_engine::exposition::{Format, ParseOptions};
use mixerless_engine::promql::{self, Engine, EngineOptions};
use mixerless_engine::store::{History, Store, StoreConfig};
use promql_parser::parser::Expr;

use super::{from_api_json, BoxFuture, Error, Querier, Value};
use crate::api::prom::{Budget, QueryError, QueryGate};
use crate::api::PromBackend;
use crate::provider::{now_ms, Since};
use crate::scrape::{Sink, Target};
use crate::telemetry::Telemetry;

/// Limits of one query evaluation, HPA queries and `/api/v1` alike.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Longest one evaluation runs (`--query-timeout`).
    pub timeout: Duration,
    /// Most samples one evaluation holds at once (`--query-max-samples`).
    pub max_samples: usize,
    /// Most `/api/v1` evaluations at once (`--query-concurrency`); more wait up to `timeout`.
    pub concurrency: usize,
}

impl QueryLimits {
    /// `--query-max-samples`' default: see its `--help`.
    pub const DEFAULT_MAX_SAMPLES: usize = 1_000_000;
    /// `--query-concurrency`'s default.
    pub const DEFAULT_CONCURRENCY: usize = 4;
}

/// The embedded store and engine.
pub struct Embedded {
    shared: Arc<Shared>,
    gate: QueryGate,
    /// How long a metric name no query reads any more stays kept: the retention, so a query
    /// added again within it finds the history it would have had ([`Embedded::set_queries`]).
    grace: Duration,
}

struct Shared {
    store: RwLock<Store>,
    engine: Engine,
    telemetry: Arc<Telemetry>,
}

impl Embedded {
    /// An empty store keeping `retention` of samples; it stores nothing until
    /// [`Embedded::set_queries`] names the metrics that queries read. One evaluation (an HPA
    /// query or an `/api/v1` query) stops with an error after `query_timeout`; the other
    /// limits are the defaults.
    pub fn new(retention: Duration, query_timeout: Duration, telemetry: Arc<Telemetry>) -> Self {
        Self::with_limits(
            retention,
            QueryLimits {
                timeout: query_timeout,
                max_samples: QueryLimits::DEFAULT_MAX_SAMPLES,
                concurrency: QueryLimits::DEFAULT_CONCURRENCY,
            },
            telemetry,
        )
    }

    /// Like [`Embedded::new`], with every query limit given.
    pub fn with_limits(
        retention: Duration,
        limits: QueryLimits,
        telemetry: Arc<Telemetry>,
    ) -> Self {
        let store = Store::new(StoreConfig {
            retention,
            max_series: 1_000_000,
            metric_filter: Some(HashSet::new()),
        });
        Self {
            shared: Arc::new(Shared {
                store: RwLock::new(store),
                engine: Engine::new(EngineOptions {
                    timeout: limits.timeout,
                    max_samples: limits.max_samples,
                    ..EngineOptions::default()
                }),
                telemetry,
            }),
            // A waiting request gets a slot within one timeout unless the queue is longer
            // than the slots: every running evaluation ends within the timeout.
            gate: QueryGate::new(limits.concurrency, limits.timeout),
            grace: retention,
        }
    }

    /// Bounds the store: at most `max_series` series in all, at most `sample_limit` samples
    /// of kept metrics from one scrape and at most `target_series_limit` series held for one
    /// target (0: none), past which that scrape fails.
    pub fn set_store_limits(
        &self,
        max_series: usize,
        sample_limit: usize,
        target_series_limit: usize,
    ) {
        let mut store = self.shared.store.write().unwrap_or_else(|e| e.into_inner());
        store.set_max_series(max_series);
        store.set_sample_limit(sample_limit);
        store.set_target_series_limit(target_series_limit);
    }

    /// Keeps the metric names `queries` read (`promql::metric_names`); a query that does not
    /// parse adds none (its HPA already reports the error). A name no query reads any more
    /// stays kept for the retention (an HPA removed and added again, a half-written file that
    /// was read, keeps its history); a new name's history begins at the next successful scrape,
    /// and queries reading it warm up as after a restart.
    pub fn set_queries(&self, queries: &[String]) {
        let mut names: HashSet<String> = HashSet::new();
        for q in queries {
            if let Ok(n) = promql::metric_names(q) {
                names.extend(n);
            }
        }
        tracing::info!(metrics = ?names.iter().collect::<BTreeSet<_>>(), "store keeps these metric names");
        self.shared
            .store
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .keep_metrics(&names, now_ms(), self.grace);
    }

    /// Also keeps every metric whose whole name matches the regular expression `pattern`
    /// (`--keep-metrics`; empty: none), for `/api/v1` clients.
    pub fn set_keep_pattern(&self, pattern: &str) -> Result<(), regex::Error> {
        let re = if pattern.is_empty() {
            None
        } else {
            Some(regex::Regex::new(&format!("^(?:{pattern})$"))?)
        };
        self.shared
            .store
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .set_keep_pattern(re);
        Ok(())
    }

    /// Where the store's history of the metrics `query` reads begins: the latest start among
    /// them ([`Since::NotKept`] when it does not keep one). `None` when the query names none
    /// (or does not parse).
    #[cfg(test)]
    pub fn since(&self, query: &str) -> Option<Since> {
        let names = promql::metric_names(query).ok().filter(|n| !n.is_empty())?;
        self.since_names(&names)
    }

    /// [`Embedded::since`] of the metric names a query reads (at least one).
    pub fn since_names(&self, names: &BTreeSet<String>) -> Option<Since> {
        let store = self.shared.store.read().unwrap_or_else(|e| e.into_inner());
        let first = store.first_scrape();
        let mut latest = Some(i64::MIN);
        for n in names {
            latest = match (latest, store.history(n)) {
                (_, History::NotKept) => return Some(Since::NotKept),
                (Some(l), History::Since(t)) => Some(l.max(t)),
                _ => None,
            };
        }
        Some(match latest {
            Some(ms) => Since::At {
                ms,
                late: first.is_some_and(|f| ms > f),
            },
            None => Since::NotYet {
                late: first.is_some(),
            },
        })
    }

    /// The names in `names` whose samples the store does not keep (no query reads them and
    /// `--keep-metrics` does not match them): a query over them finds nothing.
    pub fn unkept(&self, names: &BTreeSet<String>) -> Vec<String> {
        let store = self.shared.store.read().unwrap_or_else(|e| e.into_inner());
        names
            .iter()
            .filter(|n| store.history(n) == History::NotKept)
            .cloned()
            .collect()
    }

    fn eval(&self, expr: &str, time_ms: i64) -> Result<serde_json::Value, QueryError> {
        self.shared.eval(expr, time_ms)
    }
}

impl Shared {
    /// The engine with the request's `timeout` where it is shorter than `--query-timeout`.
    fn engine_for(&self, budget: Budget) -> std::borrow::Cow<'_, Engine> {
        match budget.timeout {
            Some(t) => std::borrow::Cow::Owned(self.engine.with_timeout(t)),
            None => std::borrow::Cow::Borrowed(&self.engine),
        }
    }

    /// The store is read-locked per selector ([`promql::StoreSource`]), not for the whole
    /// evaluation.
    fn eval(&self, expr: &str, time_ms: i64) -> Result<serde_json::Value, QueryError> {
        self.engine
            .instant(&self.store, expr, time_ms)
            .map(|v| v.to_api_json())
            .map_err(QueryError::from)
    }
}

impl From<promql::Error> for QueryError {
    fn from(e: promql::Error) -> Self {
        match e {
            promql::Error::Parse(_) | promql::Error::TooLarge(_) => {
                QueryError::BadData(e.to_string())
            }
            promql::Error::Timeout(_) => QueryError::Timeout(e.to_string()),
            _ => QueryError::Execution(e.to_string()),
        }
    }
}

impl Querier for Embedded {
    /// Evaluates on the blocking pool, so an expensive HPA query holds neither an async worker
    /// nor the other HPAs' evaluations; it passes no [`QueryGate`].
    fn instant<'a>(&'a self, query: &'a str, time_ms: i64) -> BoxFuture<'a, Result<Value, Error>> {
        let shared = self.shared.clone();
        let query = query.to_owned();
        Box::pin(async move {
            let data = tokio::task::spawn_blocking(move || shared.eval(&query, time_ms))
                .await
                .map_err(|e| Error::Query(format!("query evaluation failed: {e}")))?
                .map_err(|e| Error::Query(e.to_string()))?;
            from_api_json(&data)
        })
    }

    fn describe(&self) -> String {
        "embedded store".into()
    }
}

impl Sink for Embedded {
    fn ingest(
        &self,
        target: &Target,
        t_ms: i64,
        body: &[u8],
        format: Format,
    ) -> Result<usize, String> {
        let mut store = self.shared.store.write().unwrap_or_else(|e| e.into_inner());
        // Strict, as Prometheus: a body with a bad line fails the whole scrape (and the
        // scraper then marks the target's series stale).
        let opts = ParseOptions {
            strict: true,
            format,
            ..ParseOptions::default()
        };
        let report = store
            .ingest_scrape(&target.url, &target.labels, t_ms, body, &opts)
            .map_err(|e| match e {
                mixerless_engine::store::Error::SampleLimit { .. } => {
                    format!("{e}; raise --scrape-sample-limit")
                }
                mixerless_engine::store::Error::TargetSeriesLimit { .. } => {
                    format!("{e}; raise --target-series-limit")
                }
                e => e.to_string(),
            })?;
        if report.dropped_series_limit > 0 {
            // The store is full: this target's known series go on, its new ones are refused.
            let before = self.shared.telemetry.series_dropped.get();
            self.shared
                .telemetry
                .series_dropped
                .inc_by(report.dropped_series_limit as u64);
            if before == 0 {
                tracing::warn!(
                    "the store holds --max-series {} series: new series are dropped (counted in mixerless_adapter_store_series_dropped_total)",
                    store.config().max_series
                );
            }
        }
        if report.dropped_pattern > 0 {
            // Series kept only for --keep-metrics past half of a limit: dropped, the scrape
            // goes on.
            if self.shared.telemetry.keep_metrics_dropped.get() == 0 {
                tracing::warn!(
                    "series kept only for --keep-metrics fill half of --max-series, --target-series-limit or --scrape-sample-limit: new ones are dropped (counted in mixerless_adapter_store_keep_metrics_dropped_total), the series HPA queries read are not"
                );
            }
            self.shared
                .telemetry
                .keep_metrics_dropped
                .inc_by(report.dropped_pattern as u64);
        }
        self.shared
            .telemetry
            .series
            .set(store.series_count() as i64);
        self.shared
            .telemetry
            .samples
            .set(store.sample_count() as i64);
        Ok(report.samples)
    }

    fn target_down(&self, target: &Target, t_ms: i64) {
        let mut store = self.shared.store.write().unwrap_or_else(|e| e.into_inner());
        store.mark_scrape_down(&target.url, &target.labels, t_ms);
    }
}

impl PromBackend for Embedded {
    fn query(
        &self,
        ast: &Expr,
        time_ms: i64,
        budget: Budget,
    ) -> Result<serde_json::Value, QueryError> {
        self.shared
            .engine_for(budget)
            .instant_parsed(&self.shared.store, ast, time_ms, budget.started)
            .map(|v| v.to_api_json())
            .map_err(QueryError::from)
    }

    fn query_range(
        &self,
        ast: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        budget: Budget,
    ) -> Result<serde_json::Value, QueryError> {
        self.shared
            .engine_for(budget)
            .range_parsed(
                &self.shared.store,
                ast,
                start_ms,
                end_ms,
                step_ms,
                budget.started,
            )
            .map(|v| v.to_api_json())
            .map_err(QueryError::from)
    }

    /// Series are found by evaluating each selector as a range vector over `[start, end]`,
    /// which returns every matching series with its full label set.
    fn series(
        &self,
        matchers: &[String],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<BTreeMap<String, String>>, QueryError> {
        let range_s = ((end_ms - start_ms) / 1000).max(1);
        let mut out: BTreeSet<BTreeMap<String, String>> = BTreeSet::new();
        for m in matchers {
            let data = self.eval(&format!("{m}[{range_s}s]"), end_ms)?;
            if let Some(result) = data.get("result").and_then(|r| r.as_array()) {
                for s in result {
                    if let Some(metric) = s.get("metric").and_then(|m| m.as_object()) {
                        out.insert(
                            metric
                                .iter()
                                .map(|(k, v)| {
                                    (k.clone(), v.as_str().unwrap_or_default().to_owned())
                                })
                                .collect(),
                        );
                    }
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    fn gate(&self) -> Option<&QueryGate> {
        Some(&self.gate)
    }

    fn unkept(&self, names: &BTreeSet<String>) -> Vec<String> {
        Embedded::unkept(self, names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates the store limits as the scraper meets them: past `--max-series` new series
    /// are dropped and counted while the scrape succeeds; past `--scrape-sample-limit` or
    /// `--target-series-limit` the scrape fails with a message naming the flag.
    #[test]
    fn store_limits_drop_and_refuse() {
        let telemetry = Arc::new(Telemetry::new());
        let e = Embedded::new(
            Duration::from_secs(600),
            Duration::from_secs(10),
            telemetry.clone(),
        );
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
        assert_eq!(kept, 2);
        assert_eq!(telemetry.series_dropped.get(), 1);
        assert!(telemetry
            .encode()
            .contains("mixerless_adapter_store_series_dropped_total 1"));
        e.set_store_limits(100, 3, 0);
        let err = e
            .ingest(
                &labels("b:1"),
                1_000,
                b"m{i=\"1\"} 1\nm{i=\"2\"} 1\nm{i=\"3\"} 1\nm{i=\"4\"} 1\n",
                Format::Text004,
            )
            .unwrap_err();
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
            .unwrap_err();
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
        e.set_queries(&["sum(rate(requests_total[1m]))".into()]);
        let body = |n: u32| {
            format!("# TYPE requests_total counter\nrequests_total{{code=\"200\"}} {n}\nother_total 5\n")
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
                assert_eq!(kept, 1, "other_total is not read by any query");
            }
        }
        let err = e
            .ingest(
                &labels("a:1"),
                t0 + 20_000,
                b"requests_total{ 1\n",
                Format::Text004,
            )
            .unwrap_err();
        assert!(err.contains("line 1"), "{err}");

        let v = e
            .instant("sum(rate(requests_total[1m]))", t0 + 15_000)
            .await
            .unwrap();
        let Value::Vector(s) = v else { panic!("{v:?}") };
        assert_eq!(s.len(), 1);
        // Each target: 0 → 30 over the last 15 s of the minute; no extrapolation past the
        // counter's zero or the last sample, so 30 / 60 s per target, 1/s together.
        assert!((s[0].v - 1.0).abs() < 1e-9, "{}", s[0].v);
        let v = e.instant("requests_total", t0 + 15_000).await.unwrap();
        assert!(matches!(v, Value::Vector(ref s) if s.len() == 2), "{v:?}");

        e.target_down(&labels("b:1"), t0 + 16_000);
        let v = e.instant("requests_total", t0 + 17_000).await.unwrap();
        assert!(
            matches!(v, Value::Vector(ref s) if s.len() == 1),
            "stale after down: {v:?}"
        );

        let series = e
            .series(&["requests_total".into()], t0, t0 + 15_000)
            .unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(
            series[0].get("__name__").map(String::as_str),
            Some("requests_total")
        );
        assert_eq!(series[0].get("instance").map(String::as_str), Some("a:1"));
        assert!(e.instant("sum(", t0).await.is_err());
    }

    /// Demonstrates `--keep-metrics`: names matching the whole pattern are stored besides the
    /// queried ones (a partial match is not), `unkept` names the rest, an empty pattern keeps
    /// only queried names, a bad pattern is refused; `since` gives the latest start among a
    /// query's metrics, late for one kept after the first scrape.
    #[test]
    fn keep_pattern_unkept_and_since() {
        let e = Embedded::new(
            Duration::from_secs(600),
            Duration::from_secs(10),
            Arc::new(Telemetry::new()),
        );
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
        assert_eq!(kept, 2, "q_total and istio_requests_total");
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
        let body =
            "istio_y{i=\"1\"} 1\nistio_y{i=\"2\"} 1\nistio_y{i=\"3\"} 1\nq_total{i=\"1\"} 1\n";
        let kept = e
            .ingest(&labels("b:1"), 3_000, body.as_bytes(), Format::Text004)
            .unwrap();
        assert_eq!(
            kept, 2,
            "3 series held: one istio_y to half of 8, one q_total"
        );
        assert_eq!(e.shared.telemetry.keep_metrics_dropped.get(), 2);
        assert_eq!(e.shared.telemetry.series_dropped.get(), 0);
        e.set_keep_pattern("").unwrap();
        assert_eq!(e.unkept(&names(&["istio_x", "q_total"])), ["istio_x"]);
    }
}
