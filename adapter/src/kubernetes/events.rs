//! Kubernetes Events on HPAs whose annotations cannot be served, as kube-metrics-adapter
//! reports collector errors (`CreateNewMetricsCollector`), once per distinct problem.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};

use super::Error;
use crate::hpa::dir::Snapshot;

/// The Event reason.
pub const REASON: &str = "InvalidMetricConfig";

/// Posts a Warning Event for every HPA error not reported before; returns how many it posted.
pub async fn report(
    client: &kube::Client,
    snap: &Snapshot,
    seen: &mut HashSet<String>,
) -> Result<usize, Error> {
    let mut posted = 0;
    for h in &snap.hpas {
        for message in &h.errors {
            let key = format!("{}/{}: {message}", h.namespace, h.name);
            if seen.contains(&key) {
                continue;
            }
            let now = Time(k8s_openapi::chrono::Utc::now());
            let event = Event {
                metadata: ObjectMeta {
                    generate_name: Some(format!("{}.", h.name)),
                    namespace: Some(h.namespace.clone()),
                    ..ObjectMeta::default()
                },
                involved_object: ObjectReference {
                    api_version: Some("autoscaling/v2".into()),
                    kind: Some("HorizontalPodAutoscaler".into()),
                    name: Some(h.name.clone()),
                    namespace: Some(h.namespace.clone()),
                    ..ObjectReference::default()
                },
                reason: Some(REASON.into()),
                message: Some(message.clone()),
                type_: Some("Warning".into()),
                source: Some(EventSource {
                    component: Some(crate::NAME.into()),
                    ..EventSource::default()
                }),
                first_timestamp: Some(now.clone()),
                last_timestamp: Some(now),
                count: Some(1),
                ..Event::default()
            };
            Api::<Event>::namespaced(client.clone(), &h.namespace)
                .create(&PostParams::default(), &event)
                .await?;
            seen.insert(key);
            posted += 1;
        }
    }
    Ok(posted)
}
