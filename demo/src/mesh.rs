//! The local mesh: Deployment `podinfo` in namespace `test` (N replicas, each a backend behind its
//! own sidecar) and the load tester's sidecar in front. Scaling starts or stops replicas and then
//! rewrites two files atomically (write, then rename): the client Envoy's EDS file, so traffic
//! follows, and the adapter's `--file-sd` file, so every sidecar is scraped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mixerless_harness::bootstrap::podinfo;
use serde_json::json;

use crate::backend::Backend;
use crate::envoy::{Common, Envoy, EnvoyError};
use crate::procs;

/// Failures building or scaling the mesh.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// A sidecar failed.
    #[error(transparent)]
    Envoy(#[from] EnvoyError),
    /// No free port, or a process could not start.
    #[error(transparent)]
    Proc(#[from] procs::ProcError),
    /// A podinfo app could not bind.
    #[error("cannot start podinfo backend: {0}")]
    Backend(std::io::Error),
    /// The EDS or file_sd file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How a replica's app behaves.
#[derive(Debug, Clone, Copy)]
pub struct AppConfig {
    pub latency: Duration,
    pub workers: usize,
}

/// One pod: the app and its sidecar.
#[derive(Debug)]
pub struct Replica {
    pub pod: String,
    pub sidecar: Envoy,
    _app: Backend,
}

/// The client sidecar and the podinfo replicas.
#[derive(Debug)]
pub struct Mesh {
    common: Common,
    app: AppConfig,
    pub client: Envoy,
    pub replicas: Vec<Replica>,
    eds_path: PathBuf,
    file_sd: PathBuf,
    eds_version: u64,
    next_pod: u64,
    /// How long a removed endpoint drains before its pod is stopped.
    drain: Duration,
}

impl Mesh {
    /// Starts `replicas` pods and the client sidecar listening on `client_port`.
    pub async fn start(
        common: Common,
        app: AppConfig,
        replicas: usize,
        client_port: u16,
    ) -> Result<Self, MeshError> {
        let eds_path = common.dir.join("eds.json");
        let mut next_pod = 0;
        let mut pods = Vec::new();
        for _ in 0..replicas {
            next_pod += 1;
            pods.push(start_replica(&common, app, next_pod).await?);
        }
        // The EDS file must exist before the client Envoy reads it.
        let ports: Vec<u16> = pods.iter().map(|r| r.sidecar.listener_port).collect();
        write_atomic(&eds_path, &podinfo::eds_document(1, &ports).to_string())?;
        let admin = procs::loopback_port(None)?;
        let bootstrap = podinfo::client_bootstrap(client_port, admin, &eds_path, common.sidecars());
        let client = Envoy::start("loadtester-sidecar", &bootstrap, &common).await?;
        let mut mesh = Self {
            file_sd: common.dir.join("file-sd.json"),
            client,
            common,
            app,
            replicas: pods,
            eds_path,
            eds_version: 1,
            next_pod,
            drain: Duration::from_millis(1500),
        };
        mesh.write_files()?;
        Ok(mesh)
    }

    /// The `--file-sd` file the adapter reads.
    pub fn file_sd(&self) -> &Path {
        &self.file_sd
    }

    /// Where the load goes: the client sidecar's listener.
    pub fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.client.listener_port)
    }

    /// Starts or stops replicas until there are `n`. New pods get traffic once ready; removed
    /// pods leave the endpoint list first and are stopped after a short drain.
    pub async fn scale_to(&mut self, n: usize) -> Result<(), MeshError> {
        if n > self.replicas.len() {
            while self.replicas.len() < n {
                let r = self.start_replica().await?;
                self.replicas.push(r);
            }
            self.write_files()?;
        } else if n < self.replicas.len() {
            let gone: Vec<Replica> = self.replicas.drain(n..).collect();
            self.write_files()?;
            tokio::time::sleep(self.drain).await;
            for r in gone {
                r.sidecar.proc.stop().await;
            }
        }
        Ok(())
    }

    /// Stops every process of the mesh.
    pub async fn stop(self) {
        self.client.proc.stop().await;
        for r in self.replicas {
            r.sidecar.proc.stop().await;
        }
    }

    async fn start_replica(&mut self) -> Result<Replica, MeshError> {
        self.next_pod += 1;
        start_replica(&self.common, self.app, self.next_pod).await
    }

    fn write_files(&mut self) -> Result<(), MeshError> {
        self.eds_version += 1;
        let ports: Vec<u16> = self
            .replicas
            .iter()
            .map(|r| r.sidecar.listener_port)
            .collect();
        let eds = podinfo::eds_document(self.eds_version, &ports);
        write_atomic(&self.eds_path, &eds.to_string())?;

        // Prometheus file_sd: every sidecar's admin endpoint, labelled like a Kubernetes scrape.
        let mut groups: Vec<serde_json::Value> = self
            .replicas
            .iter()
            .map(|r| target_group(r.sidecar.admin_port, &r.pod))
            .collect();
        groups.push(target_group(self.client.admin_port, podinfo::CLIENT_POD));
        write_atomic(
            &self.file_sd,
            &serde_json::to_string_pretty(&groups).unwrap_or_default(),
        )
    }
}

fn target_group(admin_port: u16, pod: &str) -> serde_json::Value {
    json!({
        "targets": [format!("127.0.0.1:{admin_port}")],
        "labels": {
            "__metrics_path__": "/stats/prometheus",
            "job": "envoy-stats",
            "namespace": "test",
            "pod": pod,
        },
    })
}

/// Writes `text` next to `path`, then renames it over `path`: readers see the old or the new
/// file, never half of one (Envoy's file watcher reacts to the rename).
fn write_atomic(path: &Path, text: &str) -> Result<(), MeshError> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| MeshError::Write {
            path: path.to_owned(),
            source,
        })
}

/// A pod name like a ReplicaSet's: `podinfo-<template hash>-<5 chars>`.
fn pod_name(n: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5851_F42D;
    let mut suffix = String::new();
    for _ in 0..5 {
        suffix.push(ALPHABET[(x % ALPHABET.len() as u64) as usize] as char);
        x /= ALPHABET.len() as u64;
    }
    format!("podinfo-7d9f8c6b5-{suffix}")
}

async fn start_replica(common: &Common, app: AppConfig, n: u64) -> Result<Replica, MeshError> {
    let pod = pod_name(n);
    let backend = Backend::start(&pod, app.latency, app.workers)
        .await
        .map_err(MeshError::Backend)?;
    let listener = procs::loopback_port(None)?;
    let admin = procs::loopback_port(None)?;
    let bootstrap =
        podinfo::sidecar_bootstrap(&pod, listener, admin, backend.port, common.sidecars());
    let sidecar = Envoy::start(&format!("{pod}-sidecar"), &bootstrap, common).await?;
    Ok(Replica {
        pod,
        sidecar,
        _app: backend,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates that pod names look like a ReplicaSet's and differ per replica.
    #[test]
    fn pod_names_are_distinct() {
        let names: std::collections::HashSet<String> = (1..50).map(pod_name).collect();
        assert_eq!(names.len(), 49);
        assert!(pod_name(1).starts_with("podinfo-7d9f8c6b5-"));
        assert_eq!(pod_name(1).len(), "podinfo-7d9f8c6b5-".len() + 5);
    }
}
