//! Pods with an Istio sidecar become scrape targets.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use super::{Error, KubeConfig};
use crate::scrape::Target;

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

/// The scrape targets among `pods`: Running, with an IP and a sidecar. Labels: `namespace`,
/// `pod`, `instance` (`ip:port`) and `job`.
pub fn targets(pods: &[Pod], cfg: &KubeConfig, job: &str) -> Vec<Target> {
    let mut out = Vec::new();
    for pod in pods {
        let status = pod.status.as_ref();
        let running = status.and_then(|s| s.phase.as_deref()) == Some("Running");
        let Some(ip) = status
            .and_then(|s| s.pod_ip.clone())
            .filter(|ip| !ip.is_empty())
        else {
            continue;
        };
        if !running || !has_sidecar(pod) {
            continue;
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
        out.push(Target {
            url: format!("http://{instance}{}", cfg.path),
            labels,
            ..Target::default()
        });
    }
    out.sort();
    out
}

/// Lists the pods of the configured namespaces (all when none) and returns their targets.
pub async fn discover(
    client: &kube::Client,
    cfg: &KubeConfig,
    job: &str,
) -> Result<Vec<Target>, Error> {
    let mut lp = ListParams::default();
    if !cfg.pod_selector.is_empty() {
        lp = lp.labels(&cfg.pod_selector);
    }
    let mut pods = Vec::new();
    if cfg.namespaces.is_empty() {
        pods = Api::<Pod>::all(client.clone()).list(&lp).await?.items;
    } else {
        for ns in &cfg.namespaces {
            pods.extend(
                Api::<Pod>::namespaced(client.clone(), ns)
                    .list(&lp)
                    .await?
                    .items,
            );
        }
    }
    Ok(targets(&pods, cfg, job))
}
