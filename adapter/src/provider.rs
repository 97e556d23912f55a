//! The HPA queries: evaluates each one in the background at its interval (like
//! kube-metrics-adapter's collectors), applies the result policy, and answers the external
//! metrics API from the last outcome. A value older than a few intervals is not served.

pub mod policy;
pub mod warmup;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use promql_parser::parser::Expr;
use serde::Serialize;

use crate::hpa::dir::Snapshot;
use crate::hpa::MetricQuery;
use crate::querier::Querier;
use crate::selector::Selector;
use crate::telemetry::Telemetry;

/// Makes a querier for a per-HPA `prometheus-server` URL.
pub type RemoteFactory = dyn Fn(&str) -> Result<Arc<dyn Querier>, String> + Send + Sync;

/// How the provider runs.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Evaluation interval of a query without an `interval` annotation.
    pub default_interval: Duration,
    /// A value is served while younger than this many intervals.
    pub stale_intervals: u32,
    /// Per-evaluation timeout.
    pub query_timeout: Duration,
    /// What a query evaluated on the embedded store gets while the store holds less history
    /// than the query reads.
    pub partial_data: PartialData,
    /// How long the embedded store keeps samples; a query reading more can never be right.
    pub retention: Duration,
}

/// What to do with a query whose window reaches back before the first scrape (after a start
/// or restart): see [`warmup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PartialData {
    /// Withhold the value (the HPA sees 503 "warming up") until the window is covered.
    Refuse,
    /// Serve it, marked partial on `/status` and in the log.
    Serve,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            default_interval: Duration::from_secs(5),
            stale_intervals: 3,
            query_timeout: Duration::from_secs(10),
            partial_data: PartialData::Refuse,
            retention: Duration::from_secs(600),
        }
    }
}

/// The last outcome of one query.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Outcome {
    Value {
        value: f64,
        quantity: String,
        evaluated_ms: i64,
        /// Set when the value was computed from less history than the query reads.
        #[serde(skip_serializing_if = "Option::is_none")]
        partial: Option<String>,
    },
    Error {
        error: String,
        evaluated_ms: i64,
    },
    /// Withheld: the store does not yet hold the history the query reads.
    Warming {
        error: String,
        evaluated_ms: i64,
        /// When the history will be long enough, if a scrape has succeeded.
        ready_ms: Option<i64>,
        /// The history began after the adapter's (the store began keeping a metric when a
        /// new or edited query asked for it): every replica warms up alike, so `/readyz`
        /// ignores it.
        #[serde(skip)]
        late: bool,
    },
}

/// Whether the embedded store holds the history a query reads.
enum Coverage {
    Full,
    Short {
        have_ms: i64,
        need_ms: i64,
        ready_ms: Option<i64>,
        late: bool,
    },
    Never(String),
}

/// Where the embedded store's history of the metrics one query reads begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// The store does not keep one of them (yet: a query just added, before the store heard
    /// of it; or an `/api/v1` query over a metric no HPA reads).
    NotKept,
    /// No scrape has succeeded since the store began keeping one of them.
    NotYet {
        /// After the store's first scrape: a metric it began keeping later.
        late: bool,
    },
    /// At this timestamp (ms): the latest start among them.
    At {
        ms: i64,
        /// After the store's first scrape: a metric it began keeping later.
        late: bool,
    },
}

/// How much history the store holds for one query (see [`Provider::history`]).
struct Held {
    /// The window the query reads.
    need: Duration,
    /// How long the history is at the evaluation time (`None`: no scrape yet).
    have_ms: Option<i64>,
    /// It began after the adapter's first scrape.
    late: bool,
    /// The store does not keep a metric the query reads (it has no history of it at all).
    unkept: bool,
}

impl Held {
    /// Where the history began, for messages.
    fn since_what(&self) -> &'static str {
        if self.late {
            "since it began keeping the metrics the query reads"
        } else {
            "since its first successful scrape"
        }
    }
}

/// One served metric: a query of one HPA and its last outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    #[serde(flatten)]
    pub query: MetricQuery,
    /// Where it is evaluated.
    pub source: String,
    pub interval_s: f64,
    pub last: Option<Outcome>,
    /// The last value served successfully (kept for `/status` after an error).
    pub last_value: Option<f64>,
    #[serde(skip)]
    next_due_ms: i64,
    /// Being evaluated now: not started again until its outcome is recorded.
    #[serde(skip)]
    in_flight: bool,
}

/// One HPA for `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct HpaStatus {
    pub namespace: String,
    pub name: String,
    pub file: String,
    pub metrics: usize,
    pub errors: Vec<String>,
}

/// What the API needs to answer a request, or why it cannot.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LookupError {
    /// No HPA in the namespace defines the metric.
    #[error("the server could not find the metric {metric} for namespace {namespace}")]
    NotFound { namespace: String, metric: String },
    /// Not evaluated yet, or the last value is too old.
    #[error("{0}")]
    Unavailable(String),
    /// The query failed or its result is not servable.
    #[error("{0}")]
    Failed(String),
}

/// A value to serve.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedValue {
    pub metric: String,
    pub labels: BTreeMap<String, String>,
    pub quantity: String,
    pub timestamp_ms: i64,
}

#[derive(Default)]
struct State {
    entries: Vec<Entry>,
    hpas: Vec<HpaStatus>,
    file_errors: Vec<(String, String)>,
}

/// The provider layer.
pub struct Provider {
    config: ProviderConfig,
    default: Arc<dyn Querier>,
    remote: Option<Box<RemoteFactory>>,
    remotes: Mutex<HashMap<String, Arc<dyn Querier>>>,
    /// `prometheus-server-alias` names and their URLs.
    server_aliases: BTreeMap<String, String>,
    state: RwLock<State>,
    telemetry: Arc<Telemetry>,
    data_since: Option<Box<DataSince>>,
    metric_since: Option<Box<MetricSince>>,
    /// When the first evaluation ran (0: not yet): the start [`Provider::readiness`] counts
    /// [`STARTUP_GRACE`] from.
    started_ms: AtomicI64,
}

/// How long a started adapter whose scrapes have all failed so far stays not ready (`/readyz`);
/// after it, it is ready and the HPA is told that no scrape has succeeded, so an adapter without
/// a reachable target does not leave the APIService unavailable.
pub const STARTUP_GRACE: Duration = Duration::from_secs(30);

/// When the embedded store's history begins (the first successful scrape), if it has begun.
pub type DataSince = dyn Fn() -> Option<i64> + Send + Sync;

/// Where the embedded store's history of the metrics `query` reads begins; `None` when the
/// query names no metric (its history is the store's, [`DataSince`]).
pub type MetricSince = dyn Fn(&BTreeSet<String>) -> Option<Since> + Send + Sync;

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Provider {
    /// A provider evaluating on `default`, with `remote` making queriers for per-HPA servers.
    pub fn new(
        config: ProviderConfig,
        default: Arc<dyn Querier>,
        remote: Option<Box<RemoteFactory>>,
        telemetry: Arc<Telemetry>,
    ) -> Self {
        Self {
            config,
            default,
            remote,
            remotes: Mutex::new(HashMap::new()),
            server_aliases: BTreeMap::new(),
            state: RwLock::new(State::default()),
            telemetry,
            data_since: None,
            metric_since: None,
            started_ms: AtomicI64::new(0),
        }
    }

    /// Makes the default querier an embedded store whose history begins at `since()`:
    /// its queries are held to [`ProviderConfig::partial_data`].
    pub fn with_data_since(mut self, since: Box<DataSince>) -> Self {
        self.data_since = Some(since);
        self
    }

    /// Names the Prometheus servers a `prometheus-server-alias` annotation may pick
    /// (kube-metrics-adapter's `--additional-prometheus-server`); an alias not named here is
    /// an error for its metric.
    pub fn with_server_aliases(mut self, aliases: BTreeMap<String, String>) -> Self {
        self.server_aliases = aliases;
        self
    }

    /// Tracks the history per metric: a query's history begins where the latest of its
    /// metrics' does (a metric the store began keeping for a new or edited query starts
    /// late), so it warms up as after a restart.
    pub fn with_metric_since(mut self, since: Box<MetricSince>) -> Self {
        self.metric_since = Some(since);
        self
    }

    /// The window `query` reads and how much of it the embedded store holds at `now`; `None`
    /// without an embedded store or when the query does not parse (its evaluation says so).
    fn history(&self, query: &str, now: i64) -> Option<Held> {
        self.data_since.as_ref()?;
        let ast = mixerless_engine::promql::parse::parse(query).ok()?;
        self.history_of(&ast, now)
    }

    /// [`Provider::history`] of a parsed query.
    fn history_of(&self, ast: &Expr, now: i64) -> Option<Held> {
        let since = self.data_since.as_ref()?;
        let need = warmup::window_of(ast);
        let names = mixerless_engine::promql::parse::metric_names_of(ast)
            .ok()
            .filter(|n| !n.is_empty());
        let per_metric = names
            .as_ref()
            .and_then(|n| self.metric_since.as_ref().and_then(|f| f(n)));
        let (since, late) = match per_metric {
            Some(Since::At { ms, late }) => (Some(ms), late),
            Some(Since::NotYet { late }) => (None, late),
            Some(Since::NotKept) => (None, true),
            None => (since(), false),
        };
        Some(Held {
            need,
            have_ms: since.map(|t| now - t),
            late,
            unkept: per_metric == Some(Since::NotKept),
        })
    }

    /// Why `query` evaluated at `time_ms` on the embedded store reads partial data: its window
    /// reaches back before the store's history of its metrics begins (for `/api/v1` warnings).
    #[cfg(test)]
    pub fn short_history(&self, query: &str, time_ms: i64) -> Option<String> {
        let ast = mixerless_engine::promql::parse::parse(query).ok()?;
        self.short_history_of(&ast, time_ms)
    }

    /// [`Provider::short_history`] of a parsed query (`/api/v1` parses each query once).
    pub fn short_history_of(&self, ast: &Expr, time_ms: i64) -> Option<String> {
        let held = self.history_of(ast, time_ms)?;
        if held.unkept {
            // Not a short history but none: the caller names the metrics not kept.
            return None;
        }
        match held.have_ms {
            None if held.late => Some(
                "no scrape has succeeded since the adapter began keeping the metrics the query reads: the result has no data".into(),
            ),
            None => Some(
                "no scrape has succeeded since the adapter started: the result has no data".into(),
            ),
            Some(have) if have < held.need.as_millis() as i64 => Some(format!(
                "the query reads {} of history and the adapter holds {} of it ({}): the result is computed from partial data",
                humantime::format_duration(held.need),
                whole_seconds(have),
                held.since_what()
            )),
            _ => None,
        }
    }

    fn coverage(&self, q: &MetricQuery, now: i64) -> Coverage {
        if q.names_a_server() {
            return Coverage::Full;
        }
        let Some(Held {
            need,
            have_ms: have,
            late,
            ..
        }) = self.history(&q.query, now)
        else {
            return Coverage::Full;
        };
        if need > self.config.retention {
            return Coverage::Never(format!(
                "the query reads {} of history but --retention keeps {}; raise --retention",
                humantime::format_duration(need),
                humantime::format_duration(self.config.retention)
            ));
        }
        let need_ms = need.as_millis() as i64;
        match have {
            None => Coverage::Short {
                have_ms: 0,
                need_ms,
                ready_ms: None,
                late,
            },
            Some(have) if have >= need_ms => Coverage::Full,
            Some(have) => Coverage::Short {
                have_ms: have,
                need_ms,
                ready_ms: Some(now - have + need_ms),
                late,
            },
        }
    }

    fn querier_for(&self, q: &MetricQuery) -> Result<Arc<dyn Querier>, String> {
        let url = match (&q.prometheus_server, &q.prometheus_server_alias) {
            (Some(url), _) => url,
            (None, Some(alias)) => self.server_aliases.get(alias).ok_or_else(|| {
                let known: Vec<&String> = self.server_aliases.keys().collect();
                format!(
                    "prometheus-server-alias {alias:?} is not configured (serve \
                     --prometheus-server-alias NAME=URL; configured: {known:?})"
                )
            })?,
            (None, None) => return Ok(self.default.clone()),
        };
        let mut remotes = self.remotes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = remotes.get(url) {
            return Ok(r.clone());
        }
        let factory = self
            .remote
            .as_ref()
            .ok_or_else(|| "prometheus-server annotations are not enabled".to_owned())?;
        let r = factory(url)?;
        remotes.insert(url.clone(), r.clone());
        Ok(r)
    }

    /// Replaces the HPAs; a query that did not change keeps its last outcome. Logs every error.
    pub fn set_hpas(&self, snap: &Snapshot) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let mut old: HashMap<(String, String, String, String), Entry> = state
            .entries
            .drain(..)
            .map(|e| (key(&e.query), e))
            .collect();
        let mut hpas = Vec::new();
        let mut entries = Vec::new();
        for h in &snap.hpas {
            for e in &h.errors {
                tracing::warn!(hpa = %format!("{}/{}", h.namespace, h.name), file = %h.file.display(), "{e}");
            }
            let mut errors = h.errors.clone();
            for q in &h.queries {
                let source = match self.querier_for(q) {
                    Ok(r) => r.describe(),
                    Err(e) => {
                        let msg = format!("metric {}: {e}", q.metric);
                        tracing::warn!(hpa = %format!("{}/{}", h.namespace, h.name), "{msg}");
                        errors.push(msg);
                        continue;
                    }
                };
                let interval = q.interval.unwrap_or(self.config.default_interval);
                let entry = match old.remove(&key(q)) {
                    Some(prev) if prev.query == *q => prev,
                    _ => Entry {
                        query: q.clone(),
                        source,
                        interval_s: interval.as_secs_f64(),
                        last: None,
                        last_value: None,
                        next_due_ms: 0,
                        in_flight: false,
                    },
                };
                entries.push(entry);
            }
            hpas.push(HpaStatus {
                namespace: h.namespace.clone(),
                name: h.name.clone(),
                file: h.file.display().to_string(),
                metrics: h.queries.len(),
                errors,
            });
        }
        for f in &snap.file_errors {
            tracing::warn!(file = %f.file.display(), "{}", f.error);
        }
        tracing::info!(
            hpas = hpas.len(),
            queries = entries.len(),
            errors = hpas.iter().map(|h| h.errors.len()).sum::<usize>() + snap.file_errors.len(),
            "loaded HPAs"
        );
        self.telemetry.hpa_errors.set(
            (hpas.iter().map(|h| h.errors.len()).sum::<usize>() + snap.file_errors.len()) as i64,
        );
        state.entries = entries;
        state.hpas = hpas;
        state.file_errors = snap
            .file_errors
            .iter()
            .map(|f| (f.file.display().to_string(), f.error.clone()))
            .collect();
    }

    /// The metric names the embedded store must keep: those read by queries evaluated here.
    pub fn embedded_queries(&self) -> Vec<String> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        state
            .entries
            .iter()
            .filter(|e| !e.query.names_a_server())
            .map(|e| e.query.query.clone())
            .collect()
    }

    /// The queries due at `now` and not being evaluated, marked as being evaluated.
    fn take_due(&self, now: i64) -> Vec<(usize, MetricQuery)> {
        let _ = self
            .started_ms
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state
            .entries
            .iter_mut()
            .enumerate()
            .filter(|(_, e)| e.next_due_ms <= now && !e.in_flight)
            .map(|(i, e)| {
                e.in_flight = true;
                (i, e.query.clone())
            })
            .collect()
    }

    /// Evaluates every query that is due and waits for them; returns how many ran.
    pub async fn evaluate_due(&self, now: i64) -> usize {
        let due = self.take_due(now);
        // Each outcome is recorded as soon as it is in: a slow query (up to --query-timeout)
        // must not hold back the other HPAs' fresh values.
        let mut evals: futures_util::stream::FuturesUnordered<_> = due
            .iter()
            .map(|(i, q)| async move { (*i, q, self.evaluate(q, now).await) })
            .collect();
        while let Some((i, q, outcome)) = futures_util::StreamExt::next(&mut evals).await {
            self.record(i, q, now, outcome);
        }
        due.len()
    }

    /// Records the outcome of entry `i` (query `q`, evaluated at `now`), unless a reload
    /// replaced the entries meanwhile.
    fn record(&self, i: usize, q: &MetricQuery, now: i64, outcome: Outcome) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        // A reload meanwhile may have moved the entry (it keeps an unchanged query's state) or
        // dropped it.
        let at = match state.entries.get(i) {
            Some(e) if e.query == *q => Some(i),
            _ => state.entries.iter().position(|e| e.query == *q),
        };
        let Some(e) = at.and_then(|i| state.entries.get_mut(i)) else {
            return;
        };
        e.in_flight = false;
        let interval = q.interval.unwrap_or(self.config.default_interval);
        e.next_due_ms = now + interval.as_millis() as i64;
        let who = format!("{}/{}", q.namespace, q.hpa);
        match (&outcome, &e.last) {
            // Served as soon as the history is long enough, not up to an interval later.
            (Outcome::Warming { ready_ms, .. }, prev) => {
                e.next_due_ms = e.next_due_ms.min(ready_ms.unwrap_or(now + 1000));
                if !matches!(prev, Some(Outcome::Warming { .. })) {
                    tracing::info!(hpa = %who, metric = %q.metric, "withheld: {}", outcome_error(&outcome));
                }
            }
            (
                Outcome::Value {
                    partial: Some(p), ..
                },
                prev,
            ) if !matches!(
                prev,
                Some(Outcome::Value {
                    partial: Some(_),
                    ..
                })
            ) =>
            {
                tracing::warn!(hpa = %who, metric = %q.metric, "serving a partial value: {p}");
            }
            (Outcome::Value { partial: None, .. }, Some(Outcome::Warming { .. })) => {
                tracing::info!(hpa = %who, metric = %q.metric, "history covers the query's window: serving");
            }
            _ => {}
        }
        if let Outcome::Value { value, .. } = &outcome {
            e.last_value = Some(*value);
        }
        if let (Outcome::Error { error, .. }, prev) = (&outcome, &e.last) {
            let repeated = matches!(prev, Some(Outcome::Error { error: p, .. }) if p == error);
            if !repeated {
                tracing::warn!(hpa = %who, metric = %q.metric, "{error}");
            }
        }
        e.last = Some(outcome);
    }

    async fn evaluate(&self, q: &MetricQuery, now: i64) -> Outcome {
        let partial = match self.coverage(q, now) {
            Coverage::Full => None,
            Coverage::Never(error) => {
                self.telemetry.query_errors.inc();
                return Outcome::Error {
                    error,
                    evaluated_ms: now,
                };
            }
            Coverage::Short {
                have_ms,
                need_ms,
                ready_ms,
                late,
            } => {
                let since = if late {
                    "since it began keeping the metrics the query reads, for a new or edited query"
                } else {
                    "since its first successful scrape"
                };
                let have = format!(
                    "the adapter holds {} of history ({since}) and the query reads {}",
                    whole_seconds(have_ms),
                    humantime::format_duration(Duration::from_millis(need_ms as u64))
                );
                match (self.config.partial_data, ready_ms) {
                    (PartialData::Serve, Some(_)) => Some(have),
                    (_, None) => {
                        let error = if late {
                            "warming up: no scrape has succeeded since the adapter began keeping the metrics the query reads"
                        } else {
                            "warming up: no scrape has succeeded since the adapter started"
                        };
                        return Outcome::Warming {
                            error: error.into(),
                            evaluated_ms: now,
                            ready_ms: None,
                            late,
                        };
                    }
                    (PartialData::Refuse, Some(ready)) => {
                        return Outcome::Warming {
                            error: format!(
                                "warming up: {have}; served from {} (--partial-data serve serves it now, marked partial)",
                                humantime::format_rfc3339_seconds(
                                    std::time::UNIX_EPOCH
                                        + Duration::from_millis(ready.max(0) as u64)
                                )
                            ),
                            evaluated_ms: now,
                            ready_ms: Some(ready),
                            late,
                        }
                    }
                }
            }
        };
        let started = std::time::Instant::now();
        let result = match self.querier_for(q) {
            Err(e) => Err(e),
            Ok(querier) => {
                match tokio::time::timeout(
                    self.config.query_timeout,
                    querier.instant(&q.query, now),
                )
                .await
                {
                    Err(_) => Err(format!(
                        "query timed out after {:?}",
                        self.config.query_timeout
                    )),
                    Ok(Err(e)) => Err(e.to_string()),
                    Ok(Ok(v)) => policy::apply(&v, q.on_empty).map_err(|e| e.to_string()),
                }
            }
        };
        self.telemetry
            .query_duration
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok((value, quantity)) => Outcome::Value {
                value,
                quantity,
                evaluated_ms: now,
                partial,
            },
            Err(error) => {
                self.telemetry.query_errors.inc();
                Outcome::Error {
                    error,
                    evaluated_ms: now,
                }
            }
        }
    }

    /// Runs the evaluation loop forever. Each due query is evaluated in a task of its own, so a
    /// slow one (up to `--query-timeout`) neither delays the others' values nor their next
    /// evaluations; it is not started again while it runs.
    pub async fn run(self: Arc<Self>) {
        loop {
            let now = now_ms();
            for (i, q) in self.take_due(now) {
                let p = self.clone();
                tokio::spawn(async move {
                    let outcome = p.evaluate(&q, now).await;
                    p.record(i, &q, now, outcome);
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The metric names the API lists in discovery.
    pub fn metric_names(&self) -> BTreeSet<String> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        state
            .entries
            .iter()
            .map(|e| e.query.metric.clone())
            .collect()
    }

    /// Whether `/readyz` says ready at `now`, or why not. Ready once every query has an
    /// outcome and, with `--partial-data refuse`, none is withheld for a warm-up: a restarted
    /// replica then takes no HPA request before it can serve it a value, and during a rollout
    /// the Deployment waits for it while the other replica serves. Before any scrape has
    /// succeeded the adapter is not ready for [`STARTUP_GRACE`] from its first evaluation.
    pub fn readiness(&self, now: i64) -> Result<(), String> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let total = state.entries.len();
        let pending = state.entries.iter().filter(|e| e.last.is_none()).count();
        if pending > 0 {
            return Err(format!(
                "{pending} of {total} HPA queries not evaluated yet"
            ));
        }
        if self.config.partial_data == PartialData::Serve {
            return Ok(());
        }
        // The outcomes say it: a value withheld until a known time, or before any scrape.
        let scraped = self
            .data_since
            .as_ref()
            .is_some_and(|since| since().is_some());
        let (mut warming, mut until, mut no_scrape) = (0, None, false);
        for e in &state.entries {
            match e.last {
                // A metric kept since a new or edited query asked for it: every replica warms
                // it up alike, so a not-ready one would only stop serving the other HPAs.
                Some(Outcome::Warming { late: true, .. }) => {}
                Some(Outcome::Warming {
                    ready_ms: Some(t), ..
                }) => {
                    warming += 1;
                    until = until.max(Some(t));
                }
                // A scrape has succeeded since; its re-evaluation is due within a second.
                Some(Outcome::Warming { ready_ms: None, .. }) if scraped => warming += 1,
                Some(Outcome::Warming { ready_ms: None, .. }) => no_scrape = true,
                _ => {}
            }
        }
        if warming > 0 {
            let at = until.map_or_else(
                || "now".to_owned(),
                |t| {
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + Duration::from_millis(t.max(0) as u64),
                    )
                    .to_string()
                },
            );
            return Err(format!(
                "warming up: {warming} of {total} HPA queries read more history than the adapter holds since its first successful scrape; ready at {at}"
            ));
        }
        let started = self.started_ms.load(Ordering::Relaxed);
        if no_scrape && now - started < STARTUP_GRACE.as_millis() as i64 {
            return Err(format!(
                "no scrape has succeeded yet (ready without one {}s after the start)",
                STARTUP_GRACE.as_secs()
            ));
        }
        Ok(())
    }

    /// The values for one API request: every entry of `metric` in `namespace` whose labels match.
    pub fn lookup(
        &self,
        namespace: &str,
        metric: &str,
        selector: &Selector,
        now: i64,
    ) -> Result<Vec<ServedValue>, LookupError> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let mut known = false;
        let mut out: Vec<(ServedValue, &str)> = Vec::new();
        for e in &state.entries {
            let q = &e.query;
            if q.namespace != namespace || q.metric != metric {
                continue;
            }
            known = true;
            if !selector.matches(&q.match_labels) {
                continue;
            }
            let who = format!("metric {metric} of HPA {namespace}/{}", q.hpa);
            let stale_ms = (e.interval_s * 1000.0) as i64 * i64::from(self.config.stale_intervals);
            let (quantity, at) = match &e.last {
                None => {
                    return Err(LookupError::Unavailable(format!(
                        "{who}: not evaluated yet"
                    )))
                }
                Some(Outcome::Error { error, .. }) => {
                    return Err(LookupError::Failed(format!("{who}: {error}")))
                }
                Some(Outcome::Warming { error, .. }) => {
                    return Err(LookupError::Unavailable(format!("{who}: {error}")))
                }
                Some(Outcome::Value {
                    quantity,
                    evaluated_ms,
                    ..
                }) => (quantity, *evaluated_ms),
            };
            if now - at > stale_ms {
                return Err(LookupError::Unavailable(format!(
                    "{who}: last value is {}s old (evaluation stalled)",
                    (now - at) / 1000
                )));
            }
            // Two HPAs with the same metric and labels: one value if they agree on the query.
            if let Some((prev, prev_query)) = out.iter().find(|(v, _)| v.labels == q.match_labels) {
                if *prev_query != q.query {
                    return Err(LookupError::Failed(format!(
                        "{who}: another HPA defines {metric} with the same labels {:?} and a different query",
                        prev.labels
                    )));
                }
                continue;
            }
            out.push((
                ServedValue {
                    metric: metric.to_owned(),
                    labels: q.match_labels.clone(),
                    quantity: quantity.clone(),
                    timestamp_ms: at,
                },
                &q.query,
            ));
        }
        if !known {
            return Err(LookupError::NotFound {
                namespace: namespace.to_owned(),
                metric: metric.to_owned(),
            });
        }
        Ok(out.into_iter().map(|(v, _)| v).collect())
    }

    /// HPAs, their errors and every query's last outcome, for `/status`.
    pub fn status(&self) -> serde_json::Value {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        serde_json::json!({
            "hpas": state.hpas,
            "file_errors": state.file_errors.iter()
                .map(|(f, e)| serde_json::json!({"file": f, "error": e})).collect::<Vec<_>>(),
            "metrics": state.entries,
        })
    }
}

/// `ms` as a duration in whole seconds (`20s`, `1m 5s`), for messages.
fn whole_seconds(ms: i64) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_secs((ms / 1000).max(0) as u64))
}

fn outcome_error(o: &Outcome) -> &str {
    match o {
        Outcome::Error { error, .. } | Outcome::Warming { error, .. } => error,
        Outcome::Value { .. } => "",
    }
}

fn key(q: &MetricQuery) -> (String, String, String, String) {
    (
        q.namespace.clone(),
        q.hpa.clone(),
        q.metric.clone(),
        format!("{:?}", q.match_labels),
    )
}

#[cfg(test)]
#[path = "provider/tests.rs"]
mod tests;
