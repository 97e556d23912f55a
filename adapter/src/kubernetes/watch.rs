//! One watched kind, mirrored: kube-runtime's watcher does the protocol (a paged list, a watch
//! from its resourceVersion with bookmarks, resume after a dropped connection, a fresh list after
//! `410 Gone`, backoff between failures); this keeps, per object, only the value the adapter
//! uses (a scrape target, a resolved HPA), so nothing else of the object outlives its event.
//! Pods and HPAs are two kinds; a third (KEDA ScaledObjects) is one more [`run`] call.

use std::collections::BTreeMap;
use std::fmt::Debug;

use futures_util::StreamExt as _;
use kube::api::Api;
use kube::core::NamespaceResourceScope;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt as _;
use kube::{Resource, ResourceExt as _};
use serde::de::DeserializeOwned;

use super::KubeConfig;

/// Events handled before the consumer hears of a change: a burst (a rollout, a relist) is
/// one change, not one per pod (each change rebuilds the scrape set: per event, 10,000 pods
/// arriving one by one took 50 s).
const BATCH: usize = 1024;
/// How long a batch may wait for more events after its first: what a change may be delayed.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(50);

/// `namespace/name`.
pub type Key = (String, String);

/// What one watch (all namespaces, or one) has seen.
#[derive(Debug)]
struct Scope<V> {
    live: BTreeMap<Key, V>,
    /// A relist in progress: the objects listed so far, swapped in at its end.
    relisting: Option<BTreeMap<Key, V>>,
    /// Listed once: until then the mirror is incomplete.
    synced: bool,
}

/// The objects of all watches, each as the value kept of it.
#[derive(Debug)]
pub struct Mirror<V> {
    scopes: Vec<Scope<V>>,
}

impl<V> Mirror<V> {
    /// A mirror fed by `scopes` watches.
    pub fn new(scopes: usize) -> Self {
        Self {
            scopes: (0..scopes.max(1))
                .map(|_| Scope {
                    live: BTreeMap::new(),
                    relisting: None,
                    synced: false,
                })
                .collect(),
        }
    }

    /// Applies one event of watch `scope`; true when the live view may have changed.
    pub fn apply<K: Resource>(
        &mut self,
        scope: usize,
        event: Event<K>,
        keep: &impl Fn(&K) -> V,
    ) -> bool {
        let Some(s) = self.scopes.get_mut(scope) else {
            return false;
        };
        let key = |k: &K| (k.namespace().unwrap_or_default(), k.name_any());
        match event {
            Event::Apply(k) => {
                s.live.insert(key(&k), keep(&k));
                true
            }
            Event::Delete(k) => s.live.remove(&key(&k)).is_some(),
            Event::Init => {
                s.relisting = Some(BTreeMap::new());
                false
            }
            Event::InitApply(k) => {
                if let Some(r) = &mut s.relisting {
                    r.insert(key(&k), keep(&k));
                }
                false
            }
            Event::InitDone => {
                // Objects gone while the watch was down are absent from the new list.
                s.live = s.relisting.take().unwrap_or_default();
                s.synced = true;
                true
            }
        }
    }

    /// Whether every watch has listed once.
    pub fn synced(&self) -> bool {
        self.scopes.iter().all(|s| s.synced)
    }

    /// Every object kept, in key order within each watch.
    pub fn values(&self) -> impl Iterator<Item = (&Key, &V)> {
        self.scopes.iter().flat_map(|s| s.live.iter())
    }

    /// How many objects are kept.
    pub fn count(&self) -> usize {
        self.scopes.iter().map(|s| s.live.len()).sum()
    }
}

/// Watches kind `K` in the configured namespaces (one watch each; one for all when none),
/// narrowed by `labels` on the server, and calls `changed` with the mirror after each batch of
/// events once every watch has listed. Runs until the task is dropped; failures are logged and
/// retried with kube-runtime's backoff.
pub async fn run<K, V>(
    client: kube::Client,
    cfg: &KubeConfig,
    labels: &str,
    keep: impl Fn(&K) -> V,
    mut changed: impl FnMut(&Mirror<V>),
) where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + 'static,
{
    let mut wc = watcher::Config::default();
    if !labels.is_empty() {
        wc = wc.labels(labels);
    }
    let apis: Vec<Api<K>> = if cfg.namespaces.is_empty() {
        vec![Api::all(client)]
    } else {
        cfg.namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    };
    let kind = K::kind(&());
    let mut mirror = Mirror::new(apis.len());
    let mut events =
        futures_util::stream::select_all(apis.into_iter().enumerate().map(|(scope, api)| {
            watcher::watcher(api, wc.clone())
                .default_backoff()
                .map(move |e| (scope, e))
                .boxed()
        }));
    while let Some(first) = events.next().await {
        let mut dirty = false;
        let mut next = Some(first);
        let mut handled = 0;
        let until = tokio::time::Instant::now() + SETTLE;
        while let Some((scope, event)) = next.take() {
            match event {
                Ok(e) => dirty |= mirror.apply(scope, e, &keep),
                Err(e) => tracing::warn!("watch {kind}: {e} (retrying)"),
            }
            handled += 1;
            if handled < BATCH {
                next = tokio::time::timeout_at(until, events.next())
                    .await
                    .ok()
                    .flatten();
            }
        }
        if dirty && mirror.synced() {
            changed(&mirror);
        }
    }
}
