//! The scraper: one loop per target at the scrape interval (offset per target, like
//! Prometheus, so scrapes spread over the interval), at most `concurrency` scrapes at a time,
//! each with a timeout and a body cap. A failed scrape is counted and logged, and the target's
//! series are marked stale; other targets are unaffected.

pub mod fetch;
pub mod file_sd;
mod health;
pub mod protocol;
mod sink;
mod target_loop;
mod union;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

pub use fetch::FetchError;
pub use file_sd::Target;
pub use health::{Health, TargetHealth};
pub use protocol::Protocol;
pub use sink::Sink;

pub(crate) use target_loop::negotiated;
use target_loop::target_loop;
use union::union;

/// The parser a scrape needs ([`Sink::ingest`]).
pub use mixerless_engine::exposition::Format;

use crate::clock::now_ms;
use crate::sync;
use crate::telemetry::Telemetry;

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
    /// Keep a target's connection open between scrapes (`--scrape-keep-alive`).
    pub keep_alive: bool,
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
            keep_alive: false,
        }
    }
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
        // An idle connection keeps its read buffer, which grew to fit the last body: a
        // sidecar-sized body left about 550 KB per target (BENCHMARKS.md, "Targets").
        let idle = usize::from(config.keep_alive);
        let client = reqwest::Client::builder()
            .user_agent(concat!("mixerless-adapter/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(idle)
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

#[cfg(test)]
#[path = "scrape/tests.rs"]
mod tests;
