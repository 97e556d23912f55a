//! The scraper: one loop per target at the scrape interval (offset per target, like
//! Prometheus, so scrapes spread over the interval), at most `concurrency` scrapes at a time,
//! each with a timeout and a body cap. A failed scrape is counted and logged, and the target's
//! series are marked stale; other targets are unaffected.

pub mod fetch;
pub mod file_sd;
pub mod protocol;
mod sink;

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

pub use fetch::FetchError;
pub use file_sd::Target;
pub use protocol::Protocol;
pub use sink::Sink;

/// The parser a scrape needs ([`Sink::ingest`]).
pub use mixerless_engine::exposition::Format;

use crate::clock::now_ms;
use crate::sync;
use crate::telemetry::{TargetLabels, Telemetry};

/// How scrapes run.
#[derive(Debug, Clone)]
pub struct ScrapeConfig {
    pub interval: Duration,
    pub timeout: Duration,
    pub concurrency: usize,
    pub body_limit: usize,
    /// `job` of targets that name none.
    pub job: String,
    /// Protocols asked for, in order, when a target names none (`--scrape-protocols`).
    pub protocols: Vec<Protocol>,
    /// How a response without a usable Content-Type is read when a target names no fallback
    /// (`--fallback-scrape-protocol`; `None`: the scrape fails, as in Prometheus 3).
    pub fallback: Option<Protocol>,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(3),
            concurrency: 64,
            body_limit: 16 << 20,
            job: "envoy-stats".into(),
            protocols: protocol::DEFAULT_PROTOCOLS.to_vec(),
            fallback: None,
        }
    }
}

/// How a target's last scrape went, as Prometheus' `/api/v1/targets` says it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Not scraped yet.
    #[default]
    Unknown,
    Up,
    Down,
}

/// The last scrape of a target, for `/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetHealth {
    pub url: String,
    pub labels: BTreeMap<String, String>,
    pub health: Health,
    pub last_scrape_ms: i64,
    pub last_duration_s: f64,
    pub last_error: Option<String>,
    pub samples: usize,
    pub scrapes: u64,
    pub failures: u64,
}

struct Running {
    task: JoinHandle<()>,
}

/// The scraper.
pub struct Scraper {
    config: ScrapeConfig,
    sink: Arc<dyn Sink>,
    telemetry: Arc<Telemetry>,
    client: reqwest::Client,
    permits: Arc<Semaphore>,
    health: Arc<Mutex<BTreeMap<Target, TargetHealth>>>,
    running: Mutex<HashMap<Target, Running>>,
    sources: Mutex<BTreeMap<String, Vec<Target>>>,
    /// Why a source's targets are not what it says, by source: a file_sd file that does not
    /// load (its previous targets stay), for `/status`.
    source_errors: Mutex<BTreeMap<String, String>>,
    /// Targets listed twice, or sharing labels with another URL, as last logged (a source
    /// listed again, `--kube` every resync, logs nothing new), for `/status`.
    conflicts: Mutex<BTreeSet<String>>,
    /// Timestamp of the earliest successful scrape (0: none yet).
    first_success_ms: Arc<AtomicI64>,
}

impl Scraper {
    /// A scraper writing into `sink`.
    pub fn new(config: ScrapeConfig, sink: Arc<dyn Sink>, telemetry: Arc<Telemetry>) -> Self {
        let client = reqwest::Client::builder()
            .user_agent(concat!("mixerless-adapter/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(1)
            .build()
            .unwrap_or_default();
        Self {
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            config,
            sink,
            telemetry,
            client,
            health: Arc::new(Mutex::new(BTreeMap::new())),
            running: Mutex::new(HashMap::new()),
            sources: Mutex::new(BTreeMap::new()),
            source_errors: Mutex::new(BTreeMap::new()),
            conflicts: Mutex::new(BTreeSet::new()),
            first_success_ms: Arc::new(AtomicI64::new(0)),
        }
    }

    /// When the stored history begins: the timestamp of the earliest successful scrape.
    pub fn data_since(&self) -> Option<i64> {
        match self.first_success_ms.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t),
        }
    }

    /// Replaces the targets of one source (`--target`, a file_sd file, `--kube`) and scrapes
    /// the union of all sources. A target is its URL and its labels, as in Prometheus: one
    /// listed twice (by one source or two) is scraped once, and the log and `/status` name
    /// both sources; two URLs with the same labels (one `host:port`, two paths) are two targets,
    /// with a warning, since a series both expose is one series.
    pub fn set_source(&self, source: &str, targets: Vec<Target>) {
        let (all, conflicts) = {
            let mut sources = sync::lock(&self.sources);
            sources.insert(source.to_owned(), targets);
            union(&sources)
        };
        let mut reported = sync::lock(&self.conflicts);
        for c in conflicts.difference(&reported) {
            tracing::warn!("{c}");
        }
        *reported = conflicts;
        drop(reported);
        self.set_targets(all);
    }

    /// Records why `source` keeps its previous targets (`None`: it loaded).
    fn source_error(&self, source: &str, error: Option<String>) {
        let mut errors = sync::lock(&self.source_errors);
        match error {
            Some(e) => errors.insert(source.to_owned(), e),
            None => errors.remove(source),
        };
    }

    /// Starts loops for new targets and stops those of removed ones (marking their series stale).
    pub fn set_targets(&self, targets: Vec<Target>) {
        let mut running = sync::lock(&self.running);
        let wanted: std::collections::HashSet<Target> = targets.into_iter().collect();
        let gone: Vec<Target> = running
            .keys()
            .filter(|t| !wanted.contains(*t))
            .cloned()
            .collect();
        for t in gone {
            if let Some(r) = running.remove(&t) {
                r.task.abort();
            }
            self.sink.target_down(&t, now_ms());
            sync::lock(&self.health).remove(&t);
            tracing::info!(target = %t.url, "target removed");
        }
        for t in wanted {
            if running.contains_key(&t) {
                continue;
            }
            sync::lock(&self.health).insert(
                t.clone(),
                TargetHealth {
                    url: t.url.clone(),
                    labels: t.labels.iter().cloned().collect(),
                    health: Health::Unknown,
                    ..TargetHealth::default()
                },
            );
            let task = tokio::spawn(target_loop(
                t.clone(),
                self.config.clone(),
                self.sink.clone(),
                self.telemetry.clone(),
                self.client.clone(),
                self.permits.clone(),
                self.health.clone(),
                self.first_success_ms.clone(),
            ));
            running.insert(t, Running { task });
        }
    }

    /// Every target's last scrape.
    pub fn status(&self) -> serde_json::Value {
        let health = sync::lock(&self.health);
        serde_json::json!(health.values().collect::<Vec<_>>())
    }

    /// The sources' problems: file_sd files that do not load (`source`, `error`), and targets
    /// listed twice or sharing their labels with another URL (`source`: `targets`).
    pub fn source_status(&self) -> serde_json::Value {
        let errors = sync::lock(&self.source_errors);
        let conflicts = sync::lock(&self.conflicts);
        let errors = errors
            .iter()
            .map(|(s, e)| serde_json::json!({"source": s, "error": e}));
        let conflicts = conflicts
            .iter()
            .map(|c| serde_json::json!({"source": "targets", "error": c}));
        serde_json::json!(errors.chain(conflicts).collect::<Vec<_>>())
    }

    /// Number of targets.
    pub fn target_count(&self) -> usize {
        sync::lock(&self.running).len()
    }

    /// Reloads `--target` URLs and `--file-sd` files whenever a file changes (polled every
    /// second: portable, and cheap for a handful of files). A file that fails to load keeps its
    /// previous targets, as Prometheus does.
    pub async fn watch(self: Arc<Self>, static_targets: Vec<Target>, files: Vec<PathBuf>) {
        self.set_source("static", static_targets);
        let mut seen: HashMap<PathBuf, (Option<std::time::SystemTime>, u64)> = HashMap::new();
        loop {
            for f in &files {
                let meta = std::fs::metadata(f).ok();
                let stamp = (
                    meta.as_ref().and_then(|m| m.modified().ok()),
                    meta.map_or(0, |m| m.len()),
                );
                if seen.get(f) == Some(&stamp) {
                    continue;
                }
                seen.insert(f.clone(), stamp);
                let source = format!("file_sd:{}", f.display());
                match file_sd::load(f, &self.config.job) {
                    Ok(ts) => {
                        tracing::info!(file = %f.display(), targets = ts.len(), "loaded file_sd");
                        self.source_error(&source, None);
                        self.set_source(&source, ts);
                    }
                    Err(e) => {
                        let e = format!("{e} (keeping its previous targets)");
                        tracing::warn!("{e}");
                        self.source_error(&source, Some(e));
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

impl Drop for Scraper {
    fn drop(&mut self) {
        let running = sync::lock(&self.running);
        for r in running.values() {
            r.task.abort();
        }
    }
}

/// The targets of every source, each once, and what conflicts: a target listed twice (named
/// with both sources), two URLs with the same labels.
fn union(sources: &BTreeMap<String, Vec<Target>>) -> (Vec<Target>, BTreeSet<String>) {
    let mut first: HashMap<&Target, &str> = HashMap::new();
    let mut by_labels: BTreeMap<&[(String, String)], &str> = BTreeMap::new();
    let mut all = Vec::new();
    let mut conflicts = BTreeSet::new();
    for (source, targets) in sources {
        for t in targets {
            if let Some(earlier) = first.get(t) {
                conflicts.insert(format!(
                    "target {} {} is listed by {earlier} and again by {source}: scraped once",
                    t.url,
                    labels_text(&t.labels)
                ));
                continue;
            }
            first.insert(t, source);
            if let Some(other) = by_labels.insert(&t.labels, &t.url) {
                let (x, y) = if other <= t.url.as_str() {
                    (other, t.url.as_str())
                } else {
                    (t.url.as_str(), other)
                };
                conflicts.insert(format!(
                    "targets {x} and {y} have the same labels {}: a series both expose is one series written by both; give them distinct labels (file_sd `labels`)",
                    labels_text(&t.labels)
                ));
            }
            all.push(t.clone());
        }
    }
    (all, conflicts)
}

fn labels_text(labels: &[(String, String)]) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

#[allow(clippy::too_many_arguments)]
async fn target_loop(
    target: Target,
    config: ScrapeConfig,
    sink: Arc<dyn Sink>,
    telemetry: Arc<Telemetry>,
    client: reqwest::Client,
    permits: Arc<Semaphore>,
    health: Arc<Mutex<BTreeMap<Target, TargetHealth>>>,
    first_success_ms: Arc<AtomicI64>,
) {
    // A stable offset within the interval per target, like Prometheus' scrape offsets.
    let mut h = DefaultHasher::new();
    target.hash(&mut h);
    let interval_ms = config.interval.as_millis().max(1) as u64;
    tokio::time::sleep(Duration::from_millis(h.finish() % interval_ms)).await;
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let labels = TargetLabels {
        target: target.url.clone(),
    };
    let accept = protocol::accept_header(target.protocols.as_deref().unwrap_or(&config.protocols));
    let fallback = target.fallback.or(config.fallback);
    loop {
        ticker.tick().await;
        let Ok(_permit) = permits.acquire().await else {
            return;
        };
        let started = Instant::now();
        let t_ms = now_ms();
        let fetched = fetch::fetch(
            &client,
            &target.url,
            &accept,
            config.timeout,
            config.body_limit,
        )
        .await;
        let result = match fetched.and_then(|f| Ok((negotiated(&f, fallback)?, f))) {
            // Parsing a large body takes a while and waits for the store's lock: off the
            // async workers, so other targets' scrapes and API answers are not held up
            // (tests/tests/harden_scrape.rs).
            Ok((format, f)) => {
                let (sink, t) = (sink.clone(), target.clone());
                tokio::task::spawn_blocking(move || {
                    sink.ingest(&t, t_ms, &f.body, format)
                        .map_err(FetchError::Ingest)
                })
                .await
                .unwrap_or_else(|e| Err(FetchError::Task(e.to_string())))
            }
            Err(e) => Err(e),
        };
        let took = started.elapsed();
        telemetry
            .scrape_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        let mut hl = sync::lock(&health);
        let Some(entry) = hl.get_mut(&target) else {
            return;
        };
        entry.last_scrape_ms = t_ms;
        entry.last_duration_s = took.as_secs_f64();
        entry.scrapes += 1;
        match result {
            Ok(samples) => {
                // Scrapes finish out of order: keep the earliest timestamp.
                let _ = first_success_ms.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |f| {
                    (f == 0 || t_ms < f).then_some(t_ms)
                });
                if entry.health != Health::Up && entry.failures > 0 {
                    tracing::info!(target = %target.url, "target is up again");
                }
                entry.health = Health::Up;
                entry.samples = samples;
                entry.last_error = None;
            }
            Err(e) => {
                let msg = e.to_string();
                if entry.last_error.as_deref() != Some(msg.as_str()) {
                    tracing::warn!(target = %target.url, "scrape failed: {msg}");
                }
                entry.health = Health::Down;
                entry.failures += 1;
                entry.last_error = Some(msg);
                drop(hl);
                telemetry.scrape_error(&target.url, e.reason());
                sink.target_down(&target, t_ms);
            }
        }
    }
}

/// The parser for a response: by its Content-Type, else the fallback. An empty body needs
/// none (Prometheus reads it as a scrape without samples whatever its type).
pub(crate) fn negotiated(
    f: &fetch::Fetched,
    fallback: Option<Protocol>,
) -> Result<Format, FetchError> {
    if f.body.is_empty() {
        return Ok(Format::Text004);
    }
    Ok(protocol::format_of(f.content_type.as_deref(), fallback)?)
}

#[cfg(test)]
#[path = "scrape/tests.rs"]
mod tests;
