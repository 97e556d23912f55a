//! `spec.behavior`: per-direction stabilisation windows and rate-limiting policies
//! (`stabilizeRecommendationWithBehaviors`, `convertDesiredReplicasWithBehaviorRate`).

use super::{Controller, Decision, Limits, Reason};

/// `spec.behavior` with the API defaults applied to whatever the manifest left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Behavior {
    pub scale_up: Rules,
    pub scale_down: Rules,
}

/// `HPAScalingRules` of one direction.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub stabilization_window_s: i64,
    pub select: SelectPolicy,
    pub policies: Vec<Policy>,
}

/// `selectPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectPolicy {
    Max,
    Min,
    Disabled,
}

/// One `HPAScalingPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub kind: PolicyKind,
    pub value: i32,
    pub period_s: i64,
}

/// `Pods` or `Percent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Pods,
    Percent,
}

impl Default for Behavior {
    /// The defaults of `autoscaling/v2` (`defaults.go`): up without a window, 4 pods or 100 %
    /// per 15 s; down with a 300 s window, 100 % per 15 s.
    fn default() -> Self {
        Self {
            scale_up: Rules::default_up(),
            scale_down: Rules::default_down(),
        }
    }
}

impl Rules {
    /// Scale-up defaults.
    pub fn default_up() -> Self {
        Self {
            stabilization_window_s: 0,
            select: SelectPolicy::Max,
            policies: vec![
                Policy {
                    kind: PolicyKind::Pods,
                    value: 4,
                    period_s: 15,
                },
                Policy {
                    kind: PolicyKind::Percent,
                    value: 100,
                    period_s: 15,
                },
            ],
        }
    }

    /// Scale-down defaults.
    pub fn default_down() -> Self {
        Self {
            stabilization_window_s: 300,
            select: SelectPolicy::Max,
            policies: vec![Policy {
                kind: PolicyKind::Percent,
                value: 100,
                period_s: 15,
            }],
        }
    }

    pub(super) fn longest_period_ms(&self) -> i64 {
        self.policies.iter().map(|p| p.period_s).max().unwrap_or(0) * 1000
    }
}

fn changed_in_period(events: &[(i64, i32)], now: i64, period_s: i64) -> i32 {
    events
        .iter()
        .filter(|(t, _)| now - *t <= period_s * 1000)
        .map(|(_, n)| *n)
        .sum()
}

impl Controller {
    pub(super) fn normalize_with_behavior(
        &mut self,
        now: i64,
        limits: &Limits,
        b: &Behavior,
        current: i32,
        proposed: i32,
    ) -> Decision {
        if self.recommendations.is_empty() && b.scale_down.stabilization_window_s > 0 {
            // `maybeInitScaleDownStabilizationWindow`: the history starts with the current
            // count, so nothing scales down for a window after the controller starts.
            self.recommendations.push((now, current));
        }
        let desired = self.stabilize_with_behavior(now, b, current, proposed);
        if desired > current {
            let mut limit = self.scale_up_limit(now, current, &b.scale_up);
            if limit < current {
                limit = current;
            }
            let (max_allowed, reason) = if limits.max > limit {
                (limit, Reason::ScaleUpLimit)
            } else {
                (limits.max, Reason::TooManyReplicas)
            };
            if desired > max_allowed {
                return Decision {
                    desired: max_allowed,
                    reason,
                };
            }
        } else if desired < current {
            let mut limit = self.scale_down_limit(now, current, &b.scale_down);
            if limit > current {
                limit = current;
            }
            let (min_allowed, reason) = if limits.min < limit {
                (limit, Reason::ScaleDownLimit)
            } else {
                (limits.min, Reason::TooFewReplicas)
            };
            if desired < min_allowed {
                return Decision {
                    desired: min_allowed,
                    reason,
                };
            }
        }
        Decision {
            desired,
            reason: Reason::DesiredWithinRange,
        }
    }

    fn stabilize_with_behavior(
        &mut self,
        now: i64,
        b: &Behavior,
        current: i32,
        proposed: i32,
    ) -> i32 {
        let up_cutoff = now - b.scale_up.stabilization_window_s * 1000;
        let down_cutoff = now - b.scale_down.stabilization_window_s * 1000;
        let mut up = proposed;
        let mut down = proposed;
        let mut old = None;
        for (i, (t, r)) in self.recommendations.iter().enumerate() {
            if *t > up_cutoff {
                up = up.min(*r);
            }
            if *t > down_cutoff {
                down = down.max(*r);
            }
            if *t < up_cutoff && *t < down_cutoff {
                old = Some(i);
            }
        }
        let mut recommendation = current;
        if recommendation < up {
            recommendation = up;
        }
        if recommendation > down {
            recommendation = down;
        }
        self.remember(old, now, proposed);
        recommendation
    }

    fn scale_up_limit(&self, now: i64, current: i32, rules: &Rules) -> i32 {
        let (mut result, pick): (i32, fn(i32, i32) -> i32) = match rules.select {
            SelectPolicy::Disabled => return current,
            SelectPolicy::Min => (i32::MAX, std::cmp::min),
            SelectPolicy::Max => (i32::MIN, std::cmp::max),
        };
        for p in &rules.policies {
            let start = current - changed_in_period(&self.up_events, now, p.period_s)
                + changed_in_period(&self.down_events, now, p.period_s);
            let proposed = match p.kind {
                PolicyKind::Pods => start + p.value,
                PolicyKind::Percent => {
                    (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32
                }
            };
            result = pick(result, proposed);
        }
        result
    }

    fn scale_down_limit(&self, now: i64, current: i32, rules: &Rules) -> i32 {
        let (mut result, pick): (i32, fn(i32, i32) -> i32) = match rules.select {
            SelectPolicy::Disabled => return current,
            SelectPolicy::Min => (i32::MIN, std::cmp::max),
            SelectPolicy::Max => (i32::MAX, std::cmp::min),
        };
        for p in &rules.policies {
            let start = current - changed_in_period(&self.up_events, now, p.period_s)
                + changed_in_period(&self.down_events, now, p.period_s);
            let proposed = match p.kind {
                PolicyKind::Pods => start - p.value,
                PolicyKind::Percent => {
                    (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32
                }
            };
            result = pick(result, proposed);
        }
        result
    }
}
