//! Where HPAs come from: `--hpa-dir` (re-read when a file changes) and `--kube` (listed every
//! `--kube-resync`, which also re-discovers pods and posts Events for new problems), merged
//! into one [`Snapshot`] for the provider.

use std::collections::HashSet;
use std::time::Instant;

use crate::hpa::dir::{self, Snapshot};
use crate::hpa::MetricQuery;
use crate::kubernetes::{self, KubeConfig};
use crate::scrape::Scraper;

/// What of a listed HPA decides whether the listing changed: not its manifest's other fields.
type Listed = (String, String, Vec<MetricQuery>, Vec<String>);

/// The HPA sources.
pub struct HpaSources {
    /// `--hpa-dir`, read once a change has settled (see [`dir::Watcher`]).
    dir: Option<dir::Watcher>,
    /// Its HPAs as last read (`None`: not read yet).
    dir_snapshot: Option<Snapshot>,
    kube: Option<(::kube::Client, KubeConfig)>,
    kube_snapshot: Snapshot,
    /// The last `--kube` listing, to see whether the next one changed anything.
    kube_listed: Vec<Listed>,
    next_kube: Instant,
    /// Problems already posted as Events.
    reported: HashSet<String>,
}

impl HpaSources {
    /// Reads `dir` (if any) and lists HPAs through `kube` (if any).
    pub fn new(dir: Option<&std::path::Path>, kube: Option<(::kube::Client, KubeConfig)>) -> Self {
        Self {
            dir: dir.map(dir::Watcher::new),
            dir_snapshot: None,
            kube,
            kube_snapshot: Snapshot::default(),
            kube_listed: Vec::new(),
            next_kube: Instant::now(),
            reported: HashSet::new(),
        }
    }

    /// The merged snapshot when something changed. With `--kube` it also gives `scraper`
    /// the pods found (targets of `job`).
    pub async fn refresh(&mut self, scraper: Option<&Scraper>, job: &str) -> Option<Snapshot> {
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
        if let Some((client, cfg)) = &self.kube {
            if Instant::now() >= self.next_kube {
                self.next_kube = Instant::now() + cfg.resync;
                match kubernetes::hpas::list(client, cfg).await {
                    Ok(snap) => {
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
                        if listed != self.kube_listed {
                            self.kube_listed = listed;
                            self.kube_snapshot = snap;
                            changed = true;
                        }
                        if let Err(e) = kubernetes::events::report(
                            client,
                            &self.kube_snapshot,
                            &mut self.reported,
                        )
                        .await
                        {
                            tracing::warn!("post events: {e}");
                        }
                    }
                    Err(e) => tracing::warn!("list HPAs: {e} (keeping the previous ones)"),
                }
                if let Some(s) = scraper {
                    match kubernetes::pods::discover(client, cfg, job).await {
                        Ok(targets) => s.set_source("kube", targets),
                        Err(e) => tracing::warn!("list pods: {e} (keeping the previous targets)"),
                    }
                }
            }
        }
        if !changed {
            return None;
        }
        let mut snap = self.dir_snapshot.clone().unwrap_or_default();
        snap.hpas.extend(self.kube_snapshot.hpas.iter().cloned());
        snap.file_errors
            .extend(self.kube_snapshot.file_errors.iter().cloned());
        Some(snap)
    }
}
