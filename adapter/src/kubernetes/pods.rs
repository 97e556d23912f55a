//! Pods with an Istio sidecar become scrape targets.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::{watch, KubeConfig};
use crate::scrape::{Scraper, Target};

/// Whether the pod runs an Istio sidecar (injected `istio-proxy` container, or Istio's
/// injection status annotation for native sidecars).
fn has_sidecar(pod: &Pod) -> bool {
    let annotated = pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("sidecar.istio.io/status"));
    let spec = pod.spec.as_ref();
    let container = spec.is_some_and(|s| {
        s.containers.iter().any(|c| c.name == "istio-proxy")
            || s.init_containers
                .as_ref()
                .is_some_and(|cs| cs.iter().any(|c| c.name == "istio-proxy"))
    });
    annotated || container
}

/// Whether the pod's `Ready` condition is true: a pod that fails its readiness probe, or is
/// terminating, leaves the scrape set as it leaves its Service's endpoints.
fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The scrape target of a pod that is Running and Ready, with an IP and a sidecar. Labels:
/// `namespace`, `pod`, `instance` (`ip:port`) and `job`.
pub fn target(pod: &Pod, cfg: &KubeConfig, job: &str) -> Option<Target> {
    let status = pod.status.as_ref();
    let running = status.and_then(|s| s.phase.as_deref()) == Some("Running");
    let ip = status
        .and_then(|s| s.pod_ip.clone())
        .filter(|ip| !ip.is_empty())?;
    if !running || !ready(pod) || !has_sidecar(pod) {
        return None;
    }
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip
    };
    let instance = format!("{host}:{}", cfg.port);
    let mut labels = vec![
        ("instance".to_owned(), instance.clone()),
        ("job".to_owned(), job.to_owned()),
        (
            "namespace".to_owned(),
            pod.metadata.namespace.clone().unwrap_or_default(),
        ),
        (
            "pod".to_owned(),
            pod.metadata.name.clone().unwrap_or_default(),
        ),
    ];
    labels.sort();
    Some(Target {
        url: format!("http://{instance}{}", cfg.path),
        labels,
        ..Target::default()
    })
}

/// Watches the pods of the configured namespaces (narrowed by `--kube-pod-selector` on the
/// server) and gives `scraper` their targets (of `job`) after every change.
pub async fn watch(client: kube::Client, cfg: KubeConfig, job: String, scraper: Arc<Scraper>) {
    let keep = |pod: &Pod| target(pod, &cfg, &job);
    watch::run(client, &cfg, &cfg.pod_selector, keep, |mirror| {
        let mut targets: Vec<Target> = mirror.values().filter_map(|(_, t)| t.clone()).collect();
        targets.sort();
        tracing::debug!(
            pods = mirror.count(),
            targets = targets.len(),
            "pods changed"
        );
        scraper.set_source("kube", targets);
    })
    .await;
}
