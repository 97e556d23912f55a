//! `autoscaling/v2` HorizontalPodAutoscalers from the API server, read into the same model as
//! `--hpa-dir` manifests.

use std::path::PathBuf;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{Api, ListParams};

use super::{Error, KubeConfig};
use crate::hpa::dir::{LoadedHpa, Snapshot};
use crate::hpa::{external_queries, manifest};

/// Lists the HPAs of the configured namespaces and resolves their annotations.
pub async fn list(client: &kube::Client, cfg: &KubeConfig) -> Result<Snapshot, Error> {
    let lp = ListParams::default();
    let mut items = Vec::new();
    if cfg.namespaces.is_empty() {
        items = Api::<HorizontalPodAutoscaler>::all(client.clone())
            .list(&lp)
            .await?
            .items;
    } else {
        for ns in &cfg.namespaces {
            items.extend(
                Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), ns)
                    .list(&lp)
                    .await?
                    .items,
            );
        }
    }
    Ok(snapshot(&items))
}

/// The HPAs as loaded; one that does not convert is reported like a bad file.
pub fn snapshot(items: &[HorizontalPodAutoscaler]) -> Snapshot {
    let mut snap = Snapshot::default();
    for item in items {
        let ns = item.metadata.namespace.clone().unwrap_or_default();
        let name = item.metadata.name.clone().unwrap_or_default();
        let source = PathBuf::from(format!("kube:{ns}/{name}"));
        // Same JSON shape on both sides: a round trip keeps one model for files and the API.
        let hpa: Result<manifest::Hpa, _> =
            serde_json::to_value(item).and_then(serde_json::from_value);
        match hpa {
            Ok(mut hpa) => {
                hpa.kind = "HorizontalPodAutoscaler".into();
                let (queries, errors) = external_queries(&hpa);
                snap.hpas.push(LoadedHpa {
                    file: source,
                    namespace: hpa.namespace().to_owned(),
                    name: hpa.metadata.name.clone(),
                    hpa,
                    queries,
                    errors: errors.iter().map(ToString::to_string).collect(),
                });
            }
            Err(e) => snap.file_errors.push(crate::hpa::dir::FileError {
                file: source,
                error: format!("not a valid HPA: {e}"),
            }),
        }
    }
    snap
}
