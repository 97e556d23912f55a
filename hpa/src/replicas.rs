//! kube-controller-manager's replica arithmetic for External metrics (`replica_calculator.go`
//! and `horizontal.go`), as a library: the per-metric proposal, the maximum over several
//! metrics, and the stateful normalisation (stabilisation window, scale-up limits, `behavior`
//! policies) that a controller loop applies on each sync.
//!
//! ```
//! use mixerless_hpa::replicas::{metric_replicas, Target, Tolerance, Pods};
//!
//! // AverageValue 2150m, usage 8600m over 3 replicas: 8600/2150 = 4 replicas.
//! let p = metric_replicas(Target::AverageValue(2150), 8600, Pods::all(3), Tolerance::default());
//! assert_eq!(p.replicas, 4);
//! ```

mod behavior;

pub use behavior::{Behavior, Policy, PolicyKind, Rules, SelectPolicy};

/// What an External metric's target compares against (milli units).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `target.type: Value`: the summed metric against one value.
    Value(i64),
    /// `target.type: AverageValue`: the summed metric divided by the replicas.
    AverageValue(i64),
}

/// The band around ratio 1 inside which nothing changes (`--horizontal-pod-autoscaler-tolerance`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    pub down: f64,
    pub up: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Self { down: 0.1, up: 0.1 }
    }
}

impl Tolerance {
    /// Inclusive on both ends, as upstream's `isWithin`.
    pub fn is_within(&self, ratio: f64) -> bool {
        (1.0 - self.down) <= ratio && ratio <= (1.0 + self.up)
    }
}

/// The scale target's pods as the controller sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pods {
    /// `status.replicas` of the scale target (used by AverageValue).
    pub status_replicas: i32,
    /// Pods that are Running and Ready (used by Value).
    pub ready: i32,
}

impl Pods {
    /// `n` replicas, all ready.
    pub fn all(n: i32) -> Self {
        Self {
            status_replicas: n,
            ready: n,
        }
    }
}

/// One metric's proposal and the value the HPA status would show for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposal {
    pub replicas: i32,
    /// `current.value` (Value) or `current.averageValue` (AverageValue), milli units.
    pub current_milli: i64,
}

/// Sums the items of an external metrics answer as the HPA does: `MilliValue()` of each,
/// saturating at `i64::MAX`.
pub fn sum_usage(items_milli: &[i64]) -> i64 {
    items_milli
        .iter()
        .fold(0i64, |acc, v| acc.saturating_add(*v))
}

/// The replica count one External metric proposes (`GetExternalMetricReplicas` /
/// `GetExternalPerPodMetricReplicas`), with `current_replicas` the scale's current count.
pub fn metric_replicas(target: Target, usage_milli: i64, pods: Pods, tol: Tolerance) -> Proposal {
    match target {
        Target::Value(target_milli) => {
            let ratio = usage_milli as f64 / target_milli as f64;
            let replicas = if pods.status_replicas != 0 {
                if tol.is_within(ratio) {
                    pods.status_replicas
                } else {
                    saturate((ratio * f64::from(pods.ready)).ceil())
                }
            } else {
                saturate(ratio.ceil())
            };
            Proposal {
                replicas,
                current_milli: usage_milli,
            }
        }
        Target::AverageValue(target_milli) => {
            let status = pods.status_replicas;
            let ratio = usage_milli as f64 / (target_milli as f64 * f64::from(status));
            let replicas = if tol.is_within(ratio) {
                status
            } else {
                saturate((usage_milli as f64 / target_milli as f64).ceil())
            };
            let current_milli = if status == 0 {
                0
            } else {
                (usage_milli as f64 / f64::from(status)).ceil() as i64
            };
            Proposal {
                replicas,
                current_milli,
            }
        }
    }
}

fn saturate(v: f64) -> i32 {
    if v.is_nan() {
        0
    } else if v >= f64::from(i32::MAX) {
        i32::MAX
    } else {
        v as i32
    }
}

/// The maximum over several metrics' proposals (`computeReplicasForMetrics`): invalid metrics
/// block scaling when all are invalid, or when some are and the rest would scale down.
pub fn combine(
    current_replicas: i32,
    proposals: &[Result<Proposal, String>],
) -> Result<i32, String> {
    let mut best: Option<i32> = None;
    let mut first_error: Option<&String> = None;
    let mut invalid = 0;
    for p in proposals {
        match p {
            Ok(p) => best = Some(best.map_or(p.replicas, |b| b.max(p.replicas))),
            Err(e) => {
                invalid += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    let error = || {
        format!(
            "invalid metrics ({invalid} invalid out of {}), first error is: {}",
            proposals.len(),
            first_error.map_or("no metrics", |e| e.as_str())
        )
    };
    match best {
        None => Err(error()),
        Some(b) if invalid > 0 && b < current_replicas => Err(error()),
        Some(b) => Ok(b),
    }
}

/// The bounds of an HPA.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// `spec.minReplicas` (default 1; 0 only with `HPAScaleToZero`).
    pub min: i32,
    pub max: i32,
    /// `spec.behavior` with API defaults filled in; `None` uses the legacy path.
    pub behavior: Option<Behavior>,
}

/// Why the desired count is what it is (the HPA's `ScalingLimited` condition reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    DesiredWithinRange,
    ScaleUpLimit,
    ScaleDownLimit,
    TooManyReplicas,
    TooFewReplicas,
}

/// The outcome of one sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub desired: i32,
    pub reason: Reason,
}

/// The per-HPA state kube-controller-manager keeps between syncs: past recommendations (for the
/// stabilisation window) and past scale events (for `behavior` rate limits). Times are
/// milliseconds on any monotonic clock.
#[derive(Debug, Clone)]
pub struct Controller {
    /// `--horizontal-pod-autoscaler-downscale-stabilization` in ms (legacy path; 5 min).
    pub downscale_window_ms: i64,
    recommendations: Vec<(i64, i32)>,
    up_events: Vec<(i64, i32)>,
    down_events: Vec<(i64, i32)>,
}

impl Default for Controller {
    fn default() -> Self {
        Self::new(5 * 60 * 1000)
    }
}

impl Controller {
    /// A controller with the given downscale stabilisation window.
    pub fn new(downscale_window_ms: i64) -> Self {
        Self {
            downscale_window_ms,
            recommendations: Vec::new(),
            up_events: Vec::new(),
            down_events: Vec::new(),
        }
    }

    /// One sync: from the scale's current replicas and the metric proposal (from [`combine`]),
    /// the count the controller would set. Records the recommendation and, when the count
    /// changes, the scale event.
    pub fn reconcile(
        &mut self,
        now_ms: i64,
        limits: &Limits,
        current: i32,
        proposal: Result<i32, String>,
    ) -> Result<Decision, String> {
        let decision = if current == 0 && limits.min != 0 {
            // Scaling disabled (spec.replicas 0).
            Decision {
                desired: 0,
                reason: Reason::DesiredWithinRange,
            }
        } else if current > limits.max {
            Decision {
                desired: limits.max,
                reason: Reason::TooManyReplicas,
            }
        } else if current < limits.min {
            Decision {
                desired: limits.min,
                reason: Reason::TooFewReplicas,
            }
        } else {
            let proposed = proposal?;
            match &limits.behavior {
                None => self.normalize_legacy(now_ms, limits, current, proposed),
                Some(b) => self.normalize_with_behavior(now_ms, limits, b, current, proposed),
            }
        };
        if decision.desired != current {
            self.record_event(now_ms, limits, current, decision.desired);
        }
        Ok(decision)
    }

    fn normalize_legacy(
        &mut self,
        now: i64,
        limits: &Limits,
        current: i32,
        proposed: i32,
    ) -> Decision {
        let stabilized = self.stabilize(now, proposed);
        let scale_up_limit = (2.0 * f64::from(current)).max(4.0) as i32;
        let (max_allowed, limiting) = if limits.max > scale_up_limit {
            (scale_up_limit, Reason::ScaleUpLimit)
        } else {
            (limits.max, Reason::TooManyReplicas)
        };
        if stabilized < limits.min {
            Decision {
                desired: limits.min,
                reason: Reason::TooFewReplicas,
            }
        } else if stabilized > max_allowed {
            Decision {
                desired: max_allowed,
                reason: limiting,
            }
        } else {
            Decision {
                desired: stabilized,
                reason: Reason::DesiredWithinRange,
            }
        }
    }

    /// `stabilizeRecommendation`: the maximum over the window, the new one included; one entry
    /// older than the window is replaced instead of growing the history.
    fn stabilize(&mut self, now: i64, proposed: i32) -> i32 {
        let cutoff = now - self.downscale_window_ms;
        let mut max = proposed;
        let mut old = None;
        for (i, (t, r)) in self.recommendations.iter().enumerate() {
            if *t < cutoff {
                old = Some(i);
            } else if *r > max {
                max = *r;
            }
        }
        self.remember(old, now, proposed);
        max
    }

    fn remember(&mut self, old: Option<usize>, now: i64, proposed: i32) {
        match old.and_then(|i| self.recommendations.get_mut(i)) {
            Some(slot) => *slot = (now, proposed),
            None => self.recommendations.push((now, proposed)),
        }
    }

    fn record_event(&mut self, now: i64, limits: &Limits, from: i32, to: i32) {
        let Some(b) = &limits.behavior else { return };
        let keep = |events: &mut Vec<(i64, i32)>, rules: &Rules| {
            let longest = rules.longest_period_ms();
            events.retain(|(t, _)| now - *t <= longest);
        };
        if to > from {
            keep(&mut self.up_events, &b.scale_up);
            self.up_events.push((now, to - from));
        } else {
            keep(&mut self.down_events, &b.scale_down);
            self.down_events.push((now, from - to));
        }
    }
}

#[cfg(test)]
#[path = "replicas/tests.rs"]
mod tests;
