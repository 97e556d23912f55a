//! `--kube`: sidecar discovery, HPAs and Events through the Kubernetes API server. Pods and HPAs
//! are watched ([`watch`]), as controllers are asked to: a re-list every few seconds costs the
//! API server the whole list each time (tens of megabytes at 10,000 pods), a watch only the
//! changes. Events are one POST per new problem.

pub mod events;
pub mod hpas;
pub mod pods;
pub mod watch;

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
