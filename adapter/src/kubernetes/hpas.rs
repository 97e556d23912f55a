//! `autoscaling/v2` HorizontalPodAutoscalers from the API server, read into the same model as
//! `--hpa-dir` manifests.

use std::path::PathBuf;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use tokio::sync::watch as channel;

use super::{watch, KubeConfig};
use crate::hpa::dir::{FileError, LoadedHpa, Snapshot};
use crate::hpa::{external_queries, manifest};

/// One HPA as loaded; one that does not convert is reported like a bad file.
pub fn load(item: &HorizontalPodAutoscaler) -> Result<LoadedHpa, FileError> {
    let ns = item.metadata.namespace.clone().unwrap_or_default();
    let name = item.metadata.name.clone().unwrap_or_default();
    let source = PathBuf::from(format!("kube:{ns}/{name}"));
    // Same JSON shape on both sides: a round trip keeps one model for files and the API.
    let hpa: Result<manifest::Hpa, _> = serde_json::to_value(item).and_then(serde_json::from_value);
    match hpa {
        Ok(mut hpa) => {
            hpa.kind = "HorizontalPodAutoscaler".into();
            let (queries, errors) = external_queries(&hpa);
            Ok(LoadedHpa {
                file: source,
                namespace: hpa.namespace().to_owned(),
                name: hpa.metadata.name.clone(),
                hpa,
                queries,
                errors: errors.iter().map(ToString::to_string).collect(),
            })
        }
        Err(e) => Err(FileError {
            file: source,
            error: format!("not a valid HPA: {e}"),
        }),
    }
}

/// Watches the HPAs of the configured namespaces and publishes the whole set on `tx` after
/// every change (the provider's table is rebuilt from a [`Snapshot`], as for `--hpa-dir`).
pub async fn watch(client: kube::Client, cfg: KubeConfig, tx: channel::Sender<Snapshot>) {
    watch::run(client, &cfg, "", load, |mirror| {
        let mut snap = Snapshot::default();
        for (_, loaded) in mirror.values() {
            match loaded {
                Ok(h) => snap.hpas.push(h.clone()),
                Err(e) => snap.file_errors.push(e.clone()),
            }
        }
        let _ = tx.send(snap);
    })
    .await;
}
