//! The live part of the demo: the controller sync (adapter answers in, scaling decision out),
//! the `kubectl get hpa` table redrawn in place, and the timeline of every sync.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Error, Interrupts, Outcome};
use crate::adapter::{Adapter, ServeConfig};
use crate::controller::{HpaState, Settings, SyncRecord};
use crate::keda::Keda;
use crate::load::{self, Driver};
use crate::mesh::Mesh;
use crate::table;

/// One controller sync as written to `timeline.jsonl`.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct Tick {
    /// Seconds since the load started.
    pub(super) t: f64,
    pub(super) phase: String,
    /// Requests per second `hey` was asked for.
    pub(super) load_rps: f64,
    pub(super) replicas: i32,
    pub(super) scaled_to: Option<i32>,
    /// `--keda`: `StreamIsActive`'s state at this sync.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) active: Option<bool>,
    pub(super) hpas: Vec<SyncRecord>,
}

/// Everything the running demo owns.
pub(super) struct Demo {
    pub(super) settings: Settings,
    pub(super) hpas: Vec<HpaState>,
    pub(super) driver: Driver,
    pub(super) mesh: Mesh,
    pub(super) adapter: Adapter,
    pub(super) timeline: Vec<Tick>,
    /// Scaling events, as `kubectl describe hpa` words them.
    pub(super) events: Vec<String>,
    pub(super) tty: bool,
    pub(super) drawn_lines: usize,
    pub(super) out: PathBuf,
    /// The adapter's scrape interval: the sidecar's last counts land within it.
    pub(super) scrape_interval: Duration,
    /// `--keda`: the ScaledObject the controller plays KEDA's operator for.
    pub(super) keda: Option<Keda>,
}

impl Demo {
    /// What runs where, and how to look at it.
    pub(super) fn print_intro(&self, serve: &ServeConfig, kubeconfig: &Path, out: &Path) {
        let s = &self.settings;
        let plan = self.driver.plan();
        let phases: Vec<String> = plan
            .phases()
            .iter()
            .map(|p| {
                let (_, len) = plan.phase_span(p).unwrap_or_default();
                format!("{p} {}", table::clock(len))
            })
            .collect();
        let full = plan.steps.iter().map(load::Step::rps).fold(0.0, f64::max);
        println!(
            "  podinfo             {} replica(s): app + sidecar Envoy (inbound, reporter=destination, {})",
            self.mesh.replicas.len(),
            self.mesh.replicas.iter().map(|r| r.pod.as_str()).collect::<Vec<_>>().join(", ")
        );
        println!(
            "  loadtester sidecar  {} (outbound, reporter=source; podinfo endpoints via EDS file {})",
            self.mesh.client_url(),
            out.join("mesh/eds.json").display()
        );
        if let Some(url) = &serve.prometheus_url {
            println!(
                "  prometheus          {url}  (scrapes every sidecar from the same file_sd file)"
            );
        }
        println!(
            "  adapter             {}  (mixerless-adapter {})",
            self.adapter.base,
            serve.args().join(" ")
        );
        if let Some(k) = &self.keda {
            println!(
                "  keda                ScaledObject test/podinfo as KEDA's operator: external-push trigger {} (threshold {}, activationThreshold 0) over the adapter's --keda-grpc; 0 <-> 1 on StreamIsActive (cooldown {}), 1 <-> N on GetMetrics",
                k.metric_name,
                k.target,
                humantime::format_duration(k.cooldown)
            );
        }
        println!("  look at it          kubectl --kubeconfig {} get --raw /apis/external.metrics.k8s.io/v1beta1", kubeconfig.display());
        // The metric of the HPA that scales podinfo.
        if let Some(m) = self
            .hpas
            .iter()
            .find(|h| h.scales)
            .and_then(|h| h.hpa.metrics.first().map(|m| (h, m)))
        {
            println!(
                "                      curl -k '{}{}'",
                self.adapter.base,
                Adapter::metric_path(
                    m.0.hpa.manifest.namespace(),
                    &m.1.name,
                    &m.1.label_selector()
                )
            );
        }
        println!(
            "  HPA controller      kube-controller-manager's algorithm; sync period {} (kube default 15s), downscale stabilization {} (5m0s), tolerance {} (0.1)",
            humantime::format_duration(s.sync_period),
            humantime::format_duration(s.downscale_stabilization),
            s.tolerance
        );
        println!(
            "  load                hey -c {} -q {} at full rate ({full} req/s): {} (total {})",
            plan.steps.iter().map(|s| s.workers).max().unwrap_or(0),
            plan.steps.iter().map(|s| s.qps).fold(0.0, f64::max),
            phases.join(", "),
            table::clock(plan.total())
        );
        println!("  logs                {}", out.join("logs").display());
        println!();
    }

    pub(super) async fn run_loop(&mut self, interrupts: &mut Interrupts) -> Result<Outcome, Error> {
        let mut next_sync = Instant::now();
        let mut next_draw = Instant::now();
        loop {
            if !self.driver.poll()? {
                break;
            }
            for proc in [&mut self.adapter.proc, &mut self.mesh.client.proc] {
                if let Some(status) = proc.exited() {
                    return Err(Error::Died {
                        name: proc.name.clone(),
                        status,
                        log: proc.log.display().to_string(),
                        tail: proc.log_tail(15),
                    });
                }
            }
            let now = Instant::now();
            // KEDA acts on a pushed activation at once, not at the next HPA sync.
            if self.keda_activate().await? {
                next_draw = now;
            }
            if now >= next_sync {
                next_sync = now + self.settings.sync_period;
                self.sync().await?;
                next_draw = now;
            }
            if now >= next_draw {
                next_draw = now + Duration::from_secs(1);
                self.draw();
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
                () = interrupts.wait() => return Ok(Outcome::Interrupted),
            }
        }
        self.draw();
        if self
            .driver
            .plan()
            .steps
            .last()
            .is_some_and(|s| s.workers > 0)
        {
            // The last requests reach the store with the next scrape of the loadtester sidecar.
            tokio::time::sleep(self.scrape_interval * 2).await;
        }
        let counts = super::counted::sidecar(&self.adapter.base).await;
        self.finish(counts)?;
        Ok(Outcome::Finished)
    }

    /// `--keda` at zero replicas: scales to 1 as soon as `StreamIsActive` says active.
    async fn keda_activate(&mut self) -> Result<bool, Error> {
        let Some(keda) = &mut self.keda else {
            return Ok(false);
        };
        if !self.mesh.replicas.is_empty() || keda.decide(Instant::now(), 0) != Some(1) {
            return Ok(false);
        }
        let t = self.driver.elapsed();
        self.events.push(format!(
            "{}  keda: New size: 1; reason: StreamIsActive: trigger {} is active",
            table::clock(t),
            keda.metric_name
        ));
        self.mesh.scale_to(1).await?;
        self.timeline.push(Tick {
            t: t.as_secs_f64(),
            phase: self.driver.current().map_or("", |s| s.phase).to_owned(),
            load_rps: self.driver.current().map_or(0.0, load::Step::rps),
            replicas: 0,
            scaled_to: Some(1),
            active: Some(true),
            hpas: Vec::new(),
        });
        Ok(true)
    }

    /// One controller sync of every HPA; the scaling HPA's decision is applied to the mesh.
    /// With `--keda`, KEDA's HPA does nothing at zero replicas (its minReplicas is 1) and KEDA
    /// takes the workload to zero once the trigger has been inactive for the cooldown.
    async fn sync(&mut self) -> Result<(), Error> {
        let t = self.driver.elapsed();
        let now_ms = t.as_millis() as i64;
        let current = i32::try_from(self.mesh.replicas.len()).unwrap_or(i32::MAX);
        let mut records = Vec::new();
        let mut scale_to = None;
        for h in &mut self.hpas {
            let keda = self.keda.as_ref().filter(|_| h.scales);
            let rec = h
                .sync(
                    &self.adapter,
                    keda,
                    &self.settings,
                    now_ms,
                    current,
                    current,
                )
                .await
                .clone();
            if h.scales && keda.is_some() && current == 0 {
                // KEDA's HPA: "scaling is disabled since the replica count of the target is zero".
            } else if h.scales {
                if let Some(d) = rec.desired.filter(|d| *d != current) {
                    scale_to = Some(d);
                    let why = if d > current { "above" } else { "below" };
                    let m = &h.hpa.metrics[0];
                    self.events.push(format!(
                        "{}  {}: New size: {d}; reason: external metric {}(&LabelSelector{{MatchLabels:map[{}]}}) {why} target ({})",
                        table::clock(t),
                        h.hpa.name(),
                        m.name,
                        m.label_selector().replace('=', ":"),
                        rec.targets
                    ));
                }
            }
            records.push(rec);
        }
        let active = self.keda.as_ref().and_then(Keda::active);
        if let Some(keda) = &mut self.keda {
            if current > 0 && keda.decide(Instant::now(), self.mesh.replicas.len()) == Some(0) {
                scale_to = Some(0);
                self.events.push(format!(
                    "{}  keda: New size: 0; reason: StreamIsActive: trigger {} inactive for the cooldown ({})",
                    table::clock(t),
                    keda.metric_name,
                    humantime::format_duration(keda.cooldown)
                ));
            }
        }
        if let Some(n) = scale_to {
            self.mesh.scale_to(usize::try_from(n).unwrap_or(1)).await?;
        }
        let tick = Tick {
            t: t.as_secs_f64(),
            phase: self.driver.current().map_or("", |s| s.phase).to_owned(),
            load_rps: self.driver.current().map_or(0.0, load::Step::rps),
            replicas: current,
            scaled_to: scale_to,
            active,
            hpas: records,
        };
        self.timeline.push(tick);
        Ok(())
    }

    fn draw(&mut self) {
        let replicas = i32::try_from(self.mesh.replicas.len()).unwrap_or(i32::MAX);
        let rows: Vec<table::Row> = self.hpas.iter().map(|h| h.row(replicas)).collect();
        let mut text = table::render(&rows);
        let plan = self.driver.plan();
        let elapsed = self.driver.elapsed();
        if let Some(step) = self.driver.current() {
            let (start, len) = plan.phase_span(step.phase).unwrap_or_default();
            let _ = writeln!(
                text,
                "\n{}   load {} req/s   total {} / {}",
                table::progress(step.phase, elapsed.saturating_sub(start), len, 30),
                step.rps(),
                table::clock(elapsed),
                table::clock(plan.total())
            );
        }
        let scaler = self
            .hpas
            .iter()
            .find(|h| h.scales)
            .map_or("", |h| h.hpa.name());
        let _ = writeln!(
            text,
            "podinfo scales on {scaler}; the other HPAs are evaluated and shown (--scale-on)"
        );
        for h in &self.hpas {
            if let Some(e) = h.last.as_ref().and_then(|r| r.error.as_ref()) {
                // The full kube-style message is in the timeline; the adapter's reason is the news.
                let short = e.rsplit("external metrics API: ").next().unwrap_or(e);
                let _ = writeln!(text, "  {}: no decision: {short}", h.hpa.name());
            }
        }
        for e in self.events.iter().rev().take(4).rev() {
            let _ = writeln!(text, "  {e}");
        }
        let mut stdout = std::io::stdout().lock();
        if self.tty {
            // Lines longer than the terminal would wrap and break the redraw in place.
            let width = terminal_size::terminal_size().map_or(120, |(w, _)| usize::from(w.0));
            text = text
                .lines()
                .map(|l| l.chars().take(width.saturating_sub(1)).collect::<String>() + "\n")
                .collect();
            if self.drawn_lines > 0 {
                let _ = write!(stdout, "\x1b[{}A\x1b[J", self.drawn_lines);
            }
            let _ = write!(stdout, "{text}");
            self.drawn_lines = text.lines().count();
        } else if self.timeline.len() != self.drawn_lines {
            // Not a terminal (CI, tests): print each sync's table once, under its time.
            self.drawn_lines = self.timeline.len();
            let _ = write!(stdout, "--- {}\n{text}", table::clock(elapsed));
        }
        let _ = stdout.flush();
    }
}
