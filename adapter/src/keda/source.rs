//! The scaler's one seam to the rest of the adapter: evaluate a trigger's query now, keep the
//! metric families it reads, and hear that a scrape landed. [`Adapter`] implements it over the
//! default querier (embedded store or `--prometheus-url`), the [`MetricStore`] and the scrape
//! [`Sink`] in front of it.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use mixerless_engine::promql::Query;

use super::Trigger;
use crate::clock::now_ms;
use crate::provider::PartialData;
use crate::querier::remote::{Remote, RemoteConfig};
use crate::querier::{BoxFuture, Querier, Value};
use crate::scrape::{Format, Sink, Target};
use crate::store::{IngestError, MetricStore, Since, Stored};
use crate::sync;

/// What a query answered, in the terms KEDA's Prometheus scaler reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// No series (an idle service): value 0, inactive.
    Empty,
    /// One series or a scalar.
    One(f64),
    /// This many series: the query must aggregate them to one.
    Several(usize),
    /// A range vector or a string: not a value.
    Unusable(&'static str),
}

/// One evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub shape: Shape,
    /// Why the value is computed from less history than the query reads (store warming up);
    /// `Some` only when `--partial-data refuse` withholds such values.
    pub warming: Option<String>,
}

/// Why a query could not be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// The evaluation failed (timeout, too many samples).
    #[error("evaluate {query:?}: {message}")]
    Evaluate { query: String, message: String },
    /// The trigger's `prometheusUrl` did not answer.
    #[error("{0}")]
    Remote(String),
}

/// What the scaler needs from the adapter.
pub trait Source: Send + Sync + 'static {
    /// Evaluates the trigger's query at `time_ms` (Unix milliseconds).
    fn evaluate<'a>(
        &'a self,
        trigger: &'a Trigger,
        time_ms: i64,
    ) -> BoxFuture<'a, Result<Reading, SourceError>>;
    /// Makes the store keep what the trigger reads (called on every KEDA call; cheap).
    fn keep(&self, trigger: &Trigger);
    /// Changes each time a scrape lands in the store.
    fn landed(&self) -> watch::Receiver<u64>;
}

/// How [`Adapter`] treats warm-up and `prometheusUrl` triggers.
#[derive(Debug, Clone)]
pub struct AdapterConfig {
    pub partial_data: PartialData,
    /// A trigger's families stay kept this long after KEDA's last call (`--retention`).
    pub retention: Duration,
    /// Timeout of a query to a trigger's `prometheusUrl` (`--query-timeout`).
    pub query_timeout: Duration,
    /// CA bundle for an https `prometheusUrl` (`--prometheus-ca-file`).
    pub prometheus_ca_file: Option<PathBuf>,
}

/// The adapter as a [`Source`].
pub struct Adapter {
    config: AdapterConfig,
    default: Arc<dyn Querier>,
    store: Option<Arc<MetricStore>>,
    remotes: Mutex<HashMap<String, Arc<dyn Querier>>>,
    landed: watch::Sender<u64>,
    kept: Mutex<Kept>,
}

/// The queries whose metric names the store keeps: the HPAs' and the triggers'.
#[derive(Default)]
struct Kept {
    hpa: Vec<Query>,
    /// Trigger query text → its parse and KEDA's last call (ms).
    triggers: HashMap<String, (Query, i64)>,
}

impl Adapter {
    /// Evaluates on `default`; with `store` (no `--prometheus-url`), keeps the families
    /// triggers read and hears scrapes through [`Adapter::sink`].
    pub fn new(
        config: AdapterConfig,
        default: Arc<dyn Querier>,
        store: Option<Arc<MetricStore>>,
    ) -> Self {
        Self {
            config,
            default,
            store,
            remotes: Mutex::new(HashMap::new()),
            landed: watch::channel(0).0,
            kept: Mutex::new(Kept::default()),
        }
    }

    /// The scrape sink to give the scraper: the embedded store, telling [`Source::landed`]
    /// after each scrape.
    pub fn sink(&self) -> Option<Arc<dyn Sink>> {
        let store = self.store.clone()?;
        Some(Arc::new(Landing {
            store,
            landed: self.landed.clone(),
        }))
    }

    /// Replaces the HPA queries (their families are kept alongside the triggers').
    pub fn set_hpa_queries(&self, queries: Vec<Query>) {
        let mut kept = sync::lock(&self.kept);
        kept.hpa = queries;
        self.apply(&kept);
    }

    fn apply(&self, kept: &Kept) {
        if let Some(store) = &self.store {
            store.keep(
                kept.hpa
                    .iter()
                    .chain(kept.triggers.values().map(|(q, _)| q)),
            );
        }
    }

    fn querier(&self, trigger: &Trigger) -> Result<Arc<dyn Querier>, SourceError> {
        let Some(url) = &trigger.prometheus_url else {
            return Ok(self.default.clone());
        };
        let mut remotes = sync::lock(&self.remotes);
        if let Some(r) = remotes.get(url) {
            return Ok(r.clone());
        }
        let r: Arc<dyn Querier> = Arc::new(
            Remote::new(RemoteConfig {
                url: url.clone(),
                bearer_token_file: None,
                ca_file: self.config.prometheus_ca_file.clone(),
                timeout: self.config.query_timeout,
            })
            .map_err(|e| SourceError::Remote(format!("prometheusUrl {url:?}: {e}")))?,
        );
        remotes.insert(url.clone(), r.clone());
        Ok(r)
    }

    /// Why the store's history is shorter than the window `query` reads, if it is.
    fn warming(&self, query: &Query, now: i64) -> Option<String> {
        let store = self.store.as_ref()?;
        let names = query.metric_names().ok().filter(|n| !n.is_empty())?;
        let need = query.window();
        let list = names.iter().cloned().collect::<Vec<_>>().join(", ");
        match store.since_names(names)? {
            Since::NotKept => Some(format!(
                "warming up: the store begins keeping {list} at the next scrape"
            )),
            Since::NotYet { .. } => Some(format!(
                "warming up: no scrape has succeeded since the store began keeping {list}"
            )),
            Since::At { ms, .. } if now - ms < need.as_millis() as i64 => Some(format!(
                "warming up: the query reads {} of history and the store holds {}s of it",
                humantime::format_duration(need),
                (now - ms) / 1000
            )),
            Since::At { .. } => None,
        }
    }
}

impl Source for Adapter {
    fn evaluate<'a>(
        &'a self,
        trigger: &'a Trigger,
        time_ms: i64,
    ) -> BoxFuture<'a, Result<Reading, SourceError>> {
        Box::pin(async move {
            let querier = self.querier(trigger)?;
            let value = querier
                .instant(&trigger.query, time_ms)
                .await
                .map_err(|e| match e {
                    crate::querier::Error::Remote { .. } => SourceError::Remote(e.to_string()),
                    e => SourceError::Evaluate {
                        query: trigger.query.text().to_owned(),
                        message: e.to_string(),
                    },
                })?;
            let shape = match value {
                Value::Scalar { v, .. } => Shape::One(v),
                Value::Vector(s) if s.is_empty() => Shape::Empty,
                Value::Vector(s) if s.len() == 1 => Shape::One(s[0].v),
                Value::Vector(s) => Shape::Several(s.len()),
                Value::Matrix(_) => Shape::Unusable("a range vector"),
                Value::String(_) => Shape::Unusable("a string"),
            };
            let warming = match (trigger.prometheus_url.is_some(), self.config.partial_data) {
                (false, PartialData::Refuse) => self.warming(&trigger.query, time_ms),
                _ => None,
            };
            Ok(Reading { shape, warming })
        })
    }

    fn keep(&self, trigger: &Trigger) {
        if self.store.is_none() || trigger.prometheus_url.is_some() {
            return;
        }
        let now = now_ms();
        let mut kept = sync::lock(&self.kept);
        let known = kept
            .triggers
            .insert(
                trigger.query.text().to_owned(),
                (trigger.query.clone(), now),
            )
            .is_some();
        let horizon = now - self.config.retention.as_millis() as i64;
        let before = kept.triggers.len();
        kept.triggers.retain(|_, (_, last)| *last >= horizon);
        if !known || kept.triggers.len() != before {
            let names: BTreeSet<&String> = kept.triggers.keys().collect();
            tracing::info!(queries = ?names, "KEDA triggers read these queries");
            self.apply(&kept);
        }
    }

    fn landed(&self) -> watch::Receiver<u64> {
        self.landed.subscribe()
    }
}

/// The embedded store as the scrape sink, bumping a counter after each scrape it takes in.
struct Landing {
    store: Arc<MetricStore>,
    landed: watch::Sender<u64>,
}

impl Sink for Landing {
    fn ingest(
        &self,
        target: &Target,
        t_ms: i64,
        body: &[u8],
        format: Format,
    ) -> Result<Stored, IngestError> {
        let kept = self.store.ingest(target, t_ms, body, format);
        self.landed.send_modify(|n| *n = n.wrapping_add(1));
        kept
    }

    fn target_down(&self, target: &Target, t_ms: i64) {
        self.store.target_down(target, t_ms);
        self.landed.send_modify(|n| *n = n.wrapping_add(1));
    }
}
