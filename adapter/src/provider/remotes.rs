//! Which querier evaluates a query: the default one, or the Prometheus its HPA names
//! (`prometheus-server`, `prometheus-server-alias`), one querier per URL, made once.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::hpa::MetricQuery;
use crate::querier::{self, Querier};
use crate::sync;

/// Makes a querier for a per-HPA `prometheus-server` URL.
pub type RemoteFactory = dyn Fn(&str) -> Result<Arc<dyn Querier>, querier::Error> + Send + Sync;

/// Why a query has no querier.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// `prometheus-server-alias` names an alias `serve` was not given.
    #[error(
        "prometheus-server-alias {alias:?} is not configured (serve --prometheus-server-alias NAME=URL; configured: {known:?})"
    )]
    UnknownAlias { alias: String, known: Vec<String> },
    /// A per-HPA server, and no way to make a querier for one.
    #[error("prometheus-server annotations are not enabled")]
    NotEnabled,
    /// The querier for the server could not be made.
    #[error("{0}")]
    Remote(querier::Error),
}

/// The default querier and those made for per-HPA servers.
pub(super) struct Remotes {
    default: Arc<dyn Querier>,
    factory: Option<Box<RemoteFactory>>,
    made: Mutex<HashMap<String, Arc<dyn Querier>>>,
    /// `prometheus-server-alias` names and their URLs.
    aliases: BTreeMap<String, String>,
}

impl Remotes {
    pub(super) fn new(default: Arc<dyn Querier>, factory: Option<Box<RemoteFactory>>) -> Self {
        Self {
            default,
            factory,
            made: Mutex::new(HashMap::new()),
            aliases: BTreeMap::new(),
        }
    }

    pub(super) fn set_aliases(&mut self, aliases: BTreeMap<String, String>) {
        self.aliases = aliases;
    }

    /// The querier that evaluates `q`.
    pub(super) fn querier_for(&self, q: &MetricQuery) -> Result<Arc<dyn Querier>, SourceError> {
        let url = match (&q.prometheus_server, &q.prometheus_server_alias) {
            (Some(url), _) => url,
            (None, Some(alias)) => {
                self.aliases
                    .get(alias)
                    .ok_or_else(|| SourceError::UnknownAlias {
                        alias: alias.clone(),
                        known: self.aliases.keys().cloned().collect(),
                    })?
            }
            (None, None) => return Ok(self.default.clone()),
        };
        let mut made = sync::lock(&self.made);
        if let Some(r) = made.get(url) {
            return Ok(r.clone());
        }
        let factory = self.factory.as_ref().ok_or(SourceError::NotEnabled)?;
        let r = factory(url).map_err(SourceError::Remote)?;
        made.insert(url.clone(), r.clone());
        Ok(r)
    }
}
