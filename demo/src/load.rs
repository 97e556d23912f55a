//! Load like the walk-through's `hey -z 5m -c 2 -q 10 http://podinfo:9898`, in phases: ramp up in
//! steps, hold steady, then a light trickle while the autoscaler scales back down (a trickle, not
//! silence, so the latency queries keep having samples), and with scale to zero a last phase of
//! silence (`--idle`), without `hey`. Every request goes to the client
//! sidecar on 127.0.0.1; each step is one bounded `hey -z` run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::procs::{Proc, ProcError};

/// One `hey` run.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub phase: &'static str,
    pub duration: Duration,
    pub workers: u32,
    /// `-q`: queries per second per worker.
    pub qps: f64,
}

impl Step {
    /// Requests per second the step asks for.
    pub fn rps(&self) -> f64 {
        f64::from(self.workers) * self.qps
    }

    /// The `hey` arguments for this step against `url`.
    pub fn args(&self, url: &str) -> Vec<String> {
        vec![
            "-z".into(),
            format!("{}ms", self.duration.as_millis()),
            "-c".into(),
            self.workers.to_string(),
            "-q".into(),
            format!("{}", self.qps),
            "-t".into(),
            "10".into(),
            url.into(),
        ]
    }
}

/// The phase plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub steps: Vec<Step>,
}

/// What the user can set on the command line.
#[derive(Debug, Clone, Copy)]
pub struct PlanConfig {
    pub ramp: Duration,
    pub ramp_steps: u32,
    pub steady: Duration,
    pub down: Duration,
    pub workers: u32,
    pub qps: f64,
    pub down_qps: f64,
    /// A last phase without load (scale to zero).
    pub idle: Duration,
}

impl Plan {
    /// Ramp in `ramp_steps` equal steps up to `qps`, steady at `qps`, then `down_qps` (per worker).
    pub fn new(c: PlanConfig) -> Self {
        let mut steps = Vec::new();
        let n = c.ramp_steps.max(1);
        if !c.ramp.is_zero() {
            for i in 1..=n {
                steps.push(Step {
                    phase: "ramp up",
                    duration: c.ramp / n,
                    workers: c.workers,
                    qps: c.qps * f64::from(i) / f64::from(n + 1),
                });
            }
        }
        if !c.steady.is_zero() {
            steps.push(Step {
                phase: "steady",
                duration: c.steady,
                workers: c.workers,
                qps: c.qps,
            });
        }
        if !c.down.is_zero() {
            steps.push(Step {
                phase: "down",
                duration: c.down,
                workers: 1,
                qps: c.down_qps * f64::from(c.workers),
            });
        }
        if !c.idle.is_zero() {
            steps.push(Step {
                phase: "idle",
                duration: c.idle,
                workers: 0,
                qps: 0.0,
            });
        }
        Self { steps }
    }

    /// The whole plan's length.
    pub fn total(&self) -> Duration {
        self.steps.iter().map(|s| s.duration).sum()
    }

    /// Start and length of the phase named `phase` (for the chart's bands and the progress bar).
    pub fn phase_span(&self, phase: &str) -> Option<(Duration, Duration)> {
        let mut start = Duration::ZERO;
        let mut found: Option<(Duration, Duration)> = None;
        for s in &self.steps {
            if s.phase == phase {
                found = Some(match found {
                    Some((st, len)) => (st, len + s.duration),
                    None => (start, s.duration),
                });
            }
            start += s.duration;
        }
        found
    }

    /// The phases in order, without repeats.
    pub fn phases(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for s in &self.steps {
            if out.last() != Some(&s.phase) {
                out.push(s.phase);
            }
        }
        out
    }
}

/// Runs the plan one step after another; [`Driver::poll`] advances it without blocking.
#[derive(Debug)]
pub struct Driver {
    plan: Plan,
    hey: PathBuf,
    url: String,
    logs: PathBuf,
    next: usize,
    /// The step running, its `hey` (none in a step without load) and when it ends.
    running: Option<(Step, Option<Proc>, Instant)>,
    started: Option<Instant>,
    /// Each finished step and its `hey` summary text.
    pub finished: Vec<(Step, String)>,
}

impl Driver {
    pub fn new(plan: Plan, hey: PathBuf, url: String, logs: &Path) -> Self {
        Self {
            plan,
            hey,
            url,
            logs: logs.to_owned(),
            next: 0,
            running: None,
            started: None,
            finished: Vec::new(),
        }
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Time since the first step started.
    pub fn elapsed(&self) -> Duration {
        self.started.map(|s| s.elapsed()).unwrap_or_default()
    }

    /// The step running now.
    pub fn current(&self) -> Option<&Step> {
        self.running.as_ref().map(|(s, _, _)| s)
    }

    /// Starts the next step when the current one has ended; false once every step is done.
    pub fn poll(&mut self) -> Result<bool, ProcError> {
        if let Some((step, proc, end)) = &mut self.running {
            match proc {
                Some(p) => {
                    if p.exited().is_none() {
                        return Ok(true);
                    }
                    let text = std::fs::read_to_string(&p.log).unwrap_or_default();
                    self.finished.push((step.clone(), text));
                }
                None if Instant::now() < *end => return Ok(true),
                None => {}
            }
            self.running = None;
        }
        let Some(step) = self.plan.steps.get(self.next).cloned() else {
            return Ok(false);
        };
        let now = Instant::now();
        self.started.get_or_insert(now);
        let proc = if step.workers == 0 {
            None
        } else {
            let log = self.logs.join(format!("hey-{}.log", self.next + 1));
            Some(Proc::spawn(
                format!("hey ({})", step.phase),
                &self.hey,
                &step.args(&self.url),
                log,
            )?)
        };
        self.next += 1;
        self.running = Some((step.clone(), proc, now + step.duration));
        Ok(true)
    }

    /// Stops a running `hey`.
    pub async fn stop(&mut self) {
        if let Some((_, Some(proc), _)) = self.running.take() {
            proc.stop().await;
        }
    }
}

/// Totals from `hey` summaries: requests (answered or failed) and how many got 200.
pub fn totals(summaries: &[(Step, String)]) -> (u64, u64) {
    let by = by_status(summaries);
    (by.values().sum(), by.get("200").copied().unwrap_or(0))
}

/// Requests per HTTP status in `hey` summaries; requests without an answer under "error".
pub fn by_status(summaries: &[(Step, String)]) -> std::collections::BTreeMap<String, u64> {
    let mut by = std::collections::BTreeMap::new();
    for (_, text) in summaries {
        // Inside "Status code distribution:" ("[200]\t1234 responses") or "Error distribution:"
        // ("[3]\tGet ...: connection refused").
        let mut section = None;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with("Status code distribution:") {
                section = Some(true);
                continue;
            }
            if line.starts_with("Error distribution:") {
                section = Some(false);
                continue;
            }
            let Some(codes) = section else { continue };
            let Some((first, rest)) = line.strip_prefix('[').and_then(|r| r.split_once(']')) else {
                section = None;
                continue;
            };
            if codes {
                let n: u64 = rest
                    .split_whitespace()
                    .next()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                *by.entry(first.to_owned()).or_insert(0) += n;
            } else {
                *by.entry("error".to_owned()).or_insert(0) += first.parse::<u64>().unwrap_or(0);
            }
        }
    }
    by
}

/// The 95th percentile latency `hey` measured in one run (`95% in 0.0213 secs`), in seconds.
pub fn p95(summary: &str) -> Option<f64> {
    summary.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("95% in ")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PlanConfig {
        PlanConfig {
            ramp: Duration::from_secs(30),
            ramp_steps: 3,
            steady: Duration::from_secs(60),
            down: Duration::from_secs(90),
            workers: 2,
            qps: 10.0,
            down_qps: 0.5,
            idle: Duration::ZERO,
        }
    }

    /// Demonstrates that the plan ramps below the steady rate, holds it, then trickles.
    #[test]
    fn plan_has_ramp_steady_and_down() {
        let plan = Plan::new(cfg());
        let rps: Vec<f64> = plan.steps.iter().map(Step::rps).collect();
        assert_eq!(rps, vec![5.0, 10.0, 15.0, 20.0, 1.0]);
        assert_eq!(plan.total(), Duration::from_secs(180));
        assert_eq!(plan.phases(), vec!["ramp up", "steady", "down"]);
        assert_eq!(
            plan.phase_span("steady"),
            Some((Duration::from_secs(30), Duration::from_secs(60)))
        );
        assert_eq!(
            plan.steps[3].args("http://127.0.0.1:1/"),
            [
                "-z",
                "60000ms",
                "-c",
                "2",
                "-q",
                "10",
                "-t",
                "10",
                "http://127.0.0.1:1/"
            ]
        );
    }

    /// Demonstrates that hey's status code distribution is summed over runs.
    #[test]
    fn totals_read_hey_summaries() {
        let text = "Summary:\n  Total:\t10.0 secs\n\nStatus code distribution:\n  [200]\t190 responses\n  [503]\t2 responses\n\nError distribution:\n  [3]\tGet \"http://127.0.0.1:1/\": dial tcp 127.0.0.1:1: connect: connection refused\n";
        let step = Plan::new(cfg()).steps[0].clone();
        assert_eq!(
            totals(&[(step.clone(), text.into()), (step, text.into())]),
            (390, 380)
        );
        let lat = "Latency distribution:\n  90% in 0.0210 secs\n  95% in 0.0413 secs\n";
        assert_eq!(p95(lat), Some(0.0413));
        assert_eq!(p95(text), None);
    }
}
