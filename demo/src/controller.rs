//! The HPA controller loop: kube-controller-manager's algorithm (`mixerless_hpa::replicas`)
//! applied to the adapter's external metrics answers, one state per HPA. Like the walk-through,
//! where one HPA at a time was applied to `podinfo`, one HPA scales the Deployment (`--scale-on`)
//! and the others are evaluated alongside and shown, but do not write the scale (in Kubernetes,
//! several HPAs on one Deployment are an error: `AmbiguousSelector`).

use std::time::{Duration, Instant};

use mixerless_hpa::replicas::{self, Controller, Pods, Proposal, Tolerance};
use mixerless_hpa::table::target_cell;
use serde::Serialize;

use crate::adapter::Adapter;
use crate::hpa::Hpa;
use crate::keda::Keda;
use crate::table::Row;

/// The controller's knobs, kube-controller-manager's flags.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `--horizontal-pod-autoscaler-sync-period` (15s).
    pub sync_period: Duration,
    /// `--horizontal-pod-autoscaler-downscale-stabilization` (5m).
    pub downscale_stabilization: Duration,
    /// `--horizontal-pod-autoscaler-tolerance` (0.1).
    pub tolerance: f64,
}

/// One HPA's running state.
#[derive(Debug)]
pub struct HpaState {
    pub hpa: Hpa,
    pub scales: bool,
    created: Instant,
    controller: Controller,
    /// Per metric: the last status value (milli), `None` until a good answer.
    pub current: Vec<Option<i64>>,
    pub last: Option<SyncRecord>,
    /// `--min-replicas`: overrides the manifest's minReplicas.
    pub min_replicas: Option<i32>,
}

/// What one sync of one HPA saw and decided (written to the timeline).
#[derive(Debug, Clone, Serialize)]
pub struct SyncRecord {
    pub name: String,
    pub scales: bool,
    pub metrics: Vec<MetricRecord>,
    /// The controller's desired replicas, or why it could not compute them.
    pub desired: Option<i32>,
    pub error: Option<String>,
    pub targets: String,
}

/// One metric's answer from the adapter.
#[derive(Debug, Clone, Serialize)]
pub struct MetricRecord {
    pub metric: String,
    pub selector: String,
    /// The request path on the adapter.
    pub path: String,
    /// The items' values, milli units, as the adapter answered.
    pub items_milli: Vec<i64>,
    /// Their sum, what the HPA compares (milli).
    pub usage_milli: Option<i64>,
    /// `current.averageValue` / `current.value` (milli).
    pub current_milli: Option<i64>,
    pub proposal: Option<i32>,
    pub error: Option<String>,
}

impl HpaState {
    pub fn new(hpa: Hpa, scales: bool, settings: &Settings) -> Self {
        let n = hpa.metrics.len();
        Self {
            hpa,
            scales,
            created: Instant::now(),
            controller: Controller::new(settings.downscale_stabilization.as_millis() as i64),
            current: vec![None; n],
            last: None,
            min_replicas: None,
        }
    }

    /// The manifest's bounds and `behavior` with the API defaults, as the controller reads
    /// them, with `--min-replicas` in place of minReplicas.
    pub fn limits(&self) -> replicas::Limits {
        let mut limits = self.hpa.manifest.limits();
        if let Some(min) = self.min_replicas {
            limits.min = min;
        }
        limits
    }

    /// One sync: ask the adapter for every metric, compute proposals, normalise. With `keda`
    /// (the HPA KEDA made for its trigger), the first metric is the trigger's `GetMetrics`.
    pub async fn sync(
        &mut self,
        adapter: &Adapter,
        keda: Option<&Keda>,
        settings: &Settings,
        now_ms: i64,
        current: i32,
        ready: i32,
    ) -> &SyncRecord {
        let tol = Tolerance {
            down: settings.tolerance,
            up: settings.tolerance,
        };
        let pods = Pods {
            status_replicas: current,
            ready,
        };
        let mut metrics = Vec::new();
        let mut proposals: Vec<Result<Proposal, String>> = Vec::new();
        for (i, m) in self.hpa.metrics.iter().enumerate() {
            let selector = m.label_selector();
            let namespace = self.hpa.manifest.namespace();
            let (path, answer) = match keda {
                Some(k) if i == 0 => (format!("GetMetrics {}", k.metric_name), k.metric().await),
                _ => (
                    Adapter::metric_path(namespace, &m.name, &selector),
                    adapter.external_metric(namespace, &m.name, &selector).await,
                ),
            };
            let record = match answer {
                Ok(items) => {
                    let usage = replicas::sum_usage(&items);
                    let p = replicas::metric_replicas(m.target, usage, pods, tol);
                    self.current[i] = Some(p.current_milli);
                    proposals.push(Ok(p));
                    MetricRecord {
                        metric: m.name.clone(),
                        selector,
                        path,
                        items_milli: items,
                        usage_milli: Some(usage),
                        current_milli: Some(p.current_milli),
                        proposal: Some(p.replicas),
                        error: None,
                    }
                }
                Err(e) => {
                    let e = format!("failed to get {} external metric: {e}", m.name);
                    proposals.push(Err(e.clone()));
                    MetricRecord {
                        metric: m.name.clone(),
                        selector,
                        path,
                        items_milli: Vec::new(),
                        usage_milli: None,
                        current_milli: None,
                        proposal: None,
                        error: Some(e),
                    }
                }
            };
            metrics.push(record);
        }
        let limits = self.limits();
        let proposal = replicas::combine(current, &proposals);
        let (desired, error) = match self
            .controller
            .reconcile(now_ms, &limits, current, proposal)
        {
            Ok(d) => (Some(d.desired), None),
            Err(e) => (
                None,
                Some(format!(
                    "the HPA was unable to compute the replica count: {e}"
                )),
            ),
        };
        self.last = Some(SyncRecord {
            name: self.hpa.name().to_owned(),
            scales: self.scales,
            metrics,
            desired,
            error,
            targets: self.targets(),
        });
        self.last.as_ref().expect("just set")
    }

    /// The TARGETS cell: the first metric, `+ N more...` as kubectl abbreviates.
    pub fn targets(&self) -> String {
        let first = self
            .hpa
            .metrics
            .first()
            .map(|m| target_cell(m.target, self.current[0]))
            .unwrap_or_default();
        match self.hpa.metrics.len() {
            0 | 1 => first,
            n => format!("{first} + {} more...", n - 1),
        }
    }

    /// This HPA's `kubectl get hpa` row, with the Deployment's current replicas.
    pub fn row(&self, replicas: i32) -> Row {
        let limits = self.limits();
        Row {
            name: self.hpa.name().to_owned(),
            reference: self.hpa.manifest.reference(),
            targets: self.targets(),
            min: limits.min,
            max: limits.max,
            replicas,
            age: self.created.elapsed(),
        }
    }
}
