//! `--kube`: sidecar discovery, HPAs and Events through the Kubernetes API server. Lists are
//! re-read every `--kube-resync` (kube-metrics-adapter re-lists HPAs every 30 s the same way),
//! which keeps the conversation to plain GETs and one POST per new problem.

pub mod events;
pub mod hpas;
pub mod pods;

use std::time::Duration;

/// What to discover.
#[derive(Debug, Clone)]
pub struct KubeConfig {
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    /// Label selector for pods (e.g. `app=podinfo`); empty means every pod with a sidecar.
    pub pod_selector: String,
    /// Port of the sidecar's metrics: 15020 (merged) or 15090 (Envoy's own).
    pub port: u16,
    /// Path on that port.
    pub path: String,
    /// How often pods and HPAs are listed again.
    pub resync: Duration,
}

/// Why the API server could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No kubeconfig or in-cluster configuration.
    #[error("kubernetes client: {0}")]
    Client(String),
    /// A request to the API server failed.
    #[error("kubernetes api: {0}")]
    Api(#[from] kube::Error),
}

/// A client from the in-cluster service account or `$KUBECONFIG`.
pub async fn client() -> Result<kube::Client, Error> {
    kube::Client::try_default()
        .await
        .map_err(|e| Error::Client(e.to_string()))
}

#[cfg(test)]
#[path = "kubernetes/tests.rs"]
mod tests;
