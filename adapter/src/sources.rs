//! Where HPAs come from: `--hpa-dir` (re-read when a file changes) and `--kube` (watched, see
//! [`kubernetes::watch`]; new problems are posted as Events), merged into one [`Snapshot`] for
//! the provider.

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::watch as channel;

use crate::hpa::dir::{self, Snapshot};
use crate::hpa::MetricQuery;
use crate::kubernetes::{self, KubeConfig};

/// What of a watched HPA decides whether the set changed: not its status, which the HPA
/// controller rewrites every sync, nor its manifest's other fields.
type Listed = (String, String, Vec<MetricQuery>, Vec<String>);

/// `--kube`: the HPA watch's latest set.
struct Kube {
    client: ::kube::Client,
    rx: channel::Receiver<Snapshot>,
    /// [`HpaSources::wait`] saw a new set that [`HpaSources::refresh`] has not taken yet.
    pending: bool,
    snapshot: Snapshot,
    /// The set last taken, to see whether the next one changed anything.
    listed: Vec<Listed>,
    /// Problems already posted as Events.
    reported: HashSet<String>,
}

/// The HPA sources.
pub struct HpaSources {
    /// `--hpa-dir`, read once a change has settled (see [`dir::Watcher`]).
    dir: Option<dir::Watcher>,
    /// Its HPAs as last read (`None`: not read yet).
    dir_snapshot: Option<Snapshot>,
    kube: Option<Kube>,
}

impl HpaSources {
    /// Reads `dir` (if any) and starts watching HPAs through `kube` (if any).
    pub fn new(dir: Option<&std::path::Path>, kube: Option<(::kube::Client, KubeConfig)>) -> Self {
        let kube = kube.map(|(client, cfg)| {
            let (tx, rx) = channel::channel(Snapshot::default());
            tokio::spawn(kubernetes::hpas::watch(client.clone(), cfg, tx));
            Kube {
                client,
                rx,
                pending: false,
                snapshot: Snapshot::default(),
                listed: Vec::new(),
                reported: HashSet::new(),
            }
        });
        Self {
            dir: dir.map(dir::Watcher::new),
            dir_snapshot: None,
            kube,
        }
    }

    /// Returns once the HPA watch has listed, or after `limit`.
    pub async fn wait_listed(&mut self, limit: Duration) {
        if let Some(kube) = &mut self.kube {
            if let Ok(Ok(())) = tokio::time::timeout(limit, kube.rx.changed()).await {
                kube.pending = true;
            } else {
                tracing::warn!("no HPA list from the API server yet; scraping starts anyway");
            }
        }
    }

    /// Returns when the HPA watch has a new set, or after `poll` (the `--hpa-dir` check).
    pub async fn wait(&mut self, poll: Duration) {
        let Some(kube) = &mut self.kube else {
            return tokio::time::sleep(poll).await;
        };
        tokio::select! {
            changed = kube.rx.changed() => {
                if changed.is_ok() {
                    kube.pending = true;
                } else {
                    // The watch ended (only at shutdown): fall back to the poll.
                    tokio::time::sleep(poll).await;
                }
            }
            () = tokio::time::sleep(poll) => {}
        }
    }

    /// The merged snapshot when something changed.
    pub async fn refresh(&mut self) -> Option<Snapshot> {
        let mut changed = false;
        if let Some(dir) = &mut self.dir {
            let snap = match self.dir_snapshot {
                None => Some(dir.load_now()),
                Some(_) => dir.poll(),
            };
            if snap.is_some() {
                self.dir_snapshot = snap;
                changed = true;
            }
        }
        if let Some(kube) = &mut self.kube {
            if std::mem::take(&mut kube.pending) || kube.rx.has_changed().unwrap_or(false) {
                let snap = kube.rx.borrow_and_update().clone();
                let listed: Vec<Listed> = snap
                    .hpas
                    .iter()
                    .map(|h| {
                        (
                            h.namespace.clone(),
                            h.name.clone(),
                            h.queries.clone(),
                            h.errors.clone(),
                        )
                    })
                    .collect();
                let errors_changed = snap.file_errors.len() != kube.snapshot.file_errors.len();
                if listed != kube.listed || errors_changed {
                    kube.listed = listed;
                    kube.snapshot = snap;
                    changed = true;
                    if let Err(e) =
                        kubernetes::events::report(&kube.client, &kube.snapshot, &mut kube.reported)
                            .await
                    {
                        tracing::warn!("post events: {e}");
                    }
                }
            }
        }
        if !changed {
            return None;
        }
        let mut snap = self.dir_snapshot.clone().unwrap_or_default();
        if let Some(kube) = &self.kube {
            snap.hpas.extend(kube.snapshot.hpas.iter().cloned());
            snap.file_errors
                .extend(kube.snapshot.file_errors.iter().cloned());
        }
        Some(snap)
    }
}
