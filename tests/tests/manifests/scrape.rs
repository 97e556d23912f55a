//! The `kubernetes_sd` jobs of `istio/prometheus/scrape-configs.yaml`: their relabelling turns a
//! pod with an Istio sidecar into exactly one target, `<pod ip>:15020/stats/prometheus`, and
//! drops pods without one. Debian's Prometheus is built without Kubernetes discovery, so the
//! rules are applied here, as Prometheus applies them (`model/relabel`: source labels joined by
//! `;`, the regex anchored at both ends, `$n` expansion, an empty result deletes the label).

use std::collections::{BTreeMap, BTreeSet};

use super::common::istio;
use serde_yaml::Value;

type Labels = BTreeMap<String, String>;

fn job(name: &str) -> Value {
    let text = std::fs::read_to_string(istio().join("prometheus/scrape-configs.yaml")).unwrap();
    let config: Value = serde_yaml::from_str(&text).unwrap();
    config["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == name)
        .unwrap_or_else(|| panic!("no job {name}"))
        .clone()
}

fn str_of<'a>(v: &'a Value, key: &str, default: &'a str) -> &'a str {
    v[key].as_str().unwrap_or(default)
}

/// One relabel step; false when the target is dropped.
fn relabel(rule: &Value, labels: &mut Labels) -> bool {
    let sources: Vec<&str> = rule["source_labels"]
        .as_sequence()
        .map(|s| s.iter().map(|v| v.as_str().unwrap()).collect())
        .unwrap_or_default();
    let value = sources
        .iter()
        .map(|s| labels.get(*s).map_or("", String::as_str))
        .collect::<Vec<_>>()
        .join(str_of(rule, "separator", ";"));
    let re = regex::Regex::new(&format!("^(?:{})$", str_of(rule, "regex", "(.*)"))).unwrap();
    match str_of(rule, "action", "replace") {
        "keep" => re.is_match(&value),
        "drop" => !re.is_match(&value),
        "replace" => {
            if let Some(caps) = re.captures(&value) {
                let mut out = String::new();
                caps.expand(str_of(rule, "replacement", "$1"), &mut out);
                let target = rule["target_label"].as_str().unwrap().to_owned();
                if out.is_empty() {
                    labels.remove(&target);
                } else {
                    labels.insert(target, out);
                }
            }
            true
        }
        other => panic!("relabel action {other} not covered by this test"),
    }
}

/// The scrape targets (address, path, visible labels) a job makes of discovered targets.
fn targets(job: &Value, discovered: &[Labels]) -> BTreeSet<(String, String, Labels)> {
    let mut out = BTreeSet::new();
    'target: for d in discovered {
        let mut labels = d.clone();
        labels
            .entry("__metrics_path__".into())
            .or_insert_with(|| str_of(job, "metrics_path", "/metrics").to_owned());
        for rule in job["relabel_configs"].as_sequence().unwrap() {
            if !relabel(rule, &mut labels) {
                continue 'target;
            }
        }
        let visible: Labels = labels
            .iter()
            .filter(|(k, _)| !k.starts_with("__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.insert((
            labels["__address__"].clone(),
            labels["__metrics_path__"].clone(),
            visible,
        ));
    }
    out
}

/// What Prometheus' Kubernetes discovery (role pod) yields for one container port of a pod.
fn discovered(pod: &str, container: &str, port: u16, phase: &str, annotated: bool) -> Labels {
    let mut l: Labels = [
        ("__address__", format!("10.1.2.3:{port}")),
        ("__meta_kubernetes_namespace", "test".into()),
        ("__meta_kubernetes_pod_name", pod.into()),
        ("__meta_kubernetes_pod_ip", "10.1.2.3".into()),
        ("__meta_kubernetes_pod_phase", phase.into()),
        ("__meta_kubernetes_pod_container_name", container.into()),
        (
            "__meta_kubernetes_pod_container_port_number",
            port.to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if annotated {
        for (k, v) in [
            ("scrape", "true"),
            ("port", "15020"),
            ("path", "/stats/prometheus"),
        ] {
            l.insert(
                format!("__meta_kubernetes_pod_annotation_prometheus_io_{k}"),
                v.into(),
            );
        }
    }
    l
}

fn merged_endpoint() -> BTreeSet<(String, String, Labels)> {
    let labels: Labels = [("namespace", "test"), ("pod", "podinfo-7d9f8c-abcde")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    BTreeSet::from([(
        "10.1.2.3:15020".to_owned(),
        "/stats/prometheus".to_owned(),
        labels,
    )])
}

/// Demonstrates that both Kubernetes jobs turn an injected pod (app port 9898, sidecar port
/// 15090) into the one merged-endpoint target, and keep nothing of a pod without a sidecar.
#[test]
fn kubernetes_jobs_scrape_the_merged_endpoint_of_sidecar_pods_only() {
    let pod = "podinfo-7d9f8c-abcde";
    let injected = [
        discovered(pod, "podinfo", 9898, "Running", true),
        discovered(pod, "istio-proxy", 15090, "Running", true),
    ];
    let plain = [discovered("legacy-1", "legacy", 8080, "Running", false)];
    for name in ["kubernetes-pods", "istio-sidecars"] {
        let j = job(name);
        assert_eq!(targets(&j, &injected), merged_endpoint(), "{name}");
        assert!(targets(&j, &plain).is_empty(), "{name}");
    }
    // The annotation-free job also skips sidecars of pods that are not running.
    let pending = [discovered(pod, "istio-proxy", 15090, "Pending", true)];
    assert!(targets(&job("istio-sidecars"), &pending).is_empty());
    // And the check can fail: a job with the port rewrite removed keeps the app port.
    let mut broken = job("istio-sidecars");
    broken["relabel_configs"]
        .as_sequence_mut()
        .unwrap()
        .retain(|r| r["target_label"] != "__address__");
    assert_ne!(targets(&broken, &injected), merged_endpoint());
}
