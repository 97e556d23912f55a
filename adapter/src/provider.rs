//! The HPA queries: evaluates each one in the background at its interval (like
//! kube-metrics-adapter's collectors), applies the result policy, and answers the external
//! metrics API from the last outcome. A value older than a few intervals is not served.
//!
//! One concern per file: the table of HPAs and outcomes ([`state`]), when queries run
//! (`schedule`), one evaluation (`evaluate`), the warm-up of a short history ([`warmup`]),
//! queriers for per-HPA servers (`remotes`), `/readyz` (`readiness`), the API's answers
//! ([`lookup`]) and `/status` (`status`).

mod evaluate;
pub mod lookup;
pub mod outcome;
pub mod policy;
mod readiness;
mod remotes;
mod schedule;
pub mod state;
mod status;
pub mod warmup;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use lookup::{LookupError, ServedValue};
pub use outcome::{EvalError, Outcome};
pub use readiness::STARTUP_GRACE;
pub use remotes::{RemoteFactory, SourceError};
pub use state::{Entry, HpaStatus};

use crate::querier::Querier;
pub use crate::store::Since;
use crate::telemetry::Telemetry;

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

/// When the embedded store's history begins (the first successful scrape), if it has begun.
pub type DataSince = dyn Fn() -> Option<i64> + Send + Sync;

/// Where the embedded store's history of the metrics `query` reads begins; `None` when the
/// query names no metric (its history is the store's, [`DataSince`]).
pub type MetricSince = dyn Fn(&BTreeSet<String>) -> Option<Since> + Send + Sync;

/// The provider layer.
pub struct Provider {
    config: ProviderConfig,
    remotes: remotes::Remotes,
    state: RwLock<state::State>,
    telemetry: Arc<Telemetry>,
    data_since: Option<Box<DataSince>>,
    metric_since: Option<Box<MetricSince>>,
    /// When the first evaluation ran (0: not yet): the start [`Provider::readiness`] counts
    /// [`STARTUP_GRACE`] from.
    started_ms: AtomicI64,
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
            remotes: remotes::Remotes::new(default, remote),
            state: RwLock::new(state::State::default()),
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
        self.remotes.set_aliases(aliases);
        self
    }

    /// Tracks the history per metric: a query's history begins where the latest of its
    /// metrics' does (a metric the store began keeping for a new or edited query starts
    /// late), so it warms up as after a restart.
    pub fn with_metric_since(mut self, since: Box<MetricSince>) -> Self {
        self.metric_since = Some(since);
        self
    }
}

#[cfg(test)]
#[path = "provider/tests.rs"]
mod tests;
