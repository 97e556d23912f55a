//! The demo from start to end: check tools, start the mesh and the adapter, drive the load
//! phases, run the HPA controller loop, draw the table, and write the chart and the summary.
//! Everything started is owned here and stopped on every way out (end, error, Ctrl-C).

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tokio::signal::unix::{signal, SignalKind};

use crate::adapter::{self, Adapter, ServeConfig};
use crate::chart::{self, Panel};
use crate::controller::{HpaState, Settings, SyncRecord};
use crate::envoy::Common;
use crate::hpa;
use crate::load::{self, Driver, Plan, PlanConfig};
use crate::mesh::{AppConfig, Mesh};
use crate::procs;
use crate::prometheus::Prometheus;
use crate::table;
use crate::Args;

/// How the demo ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    Interrupted,
}

/// Paths the demo needs, checked before anything starts.
struct Tools {
    envoy: PathBuf,
    filter: PathBuf,
    hey: PathBuf,
    adapter: PathBuf,
    stats_tags: serde_json::Value,
    hpa_dir: PathBuf,
}

fn check_tools(args: &Args) -> anyhow::Result<Tools> {
    procs::on_path("setpriv")?;
    let hey = procs::on_path("hey")?;
    let envoy = procs::existing(
        "Envoy",
        args.envoy.clone(),
        "run `make deps` (or pass --envoy / set ENVOY_BIN)",
    )?;
    let filter = procs::existing(
        "the filter module",
        args.filter.clone(),
        "run `make wasm` (or pass --filter)",
    )?;
    let adapter_bin = match &args.adapter_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .context("cannot locate this program")?
            .with_file_name("mixerless-adapter"),
    };
    let adapter = procs::existing(
        "mixerless-adapter",
        adapter_bin,
        "run `cargo build -p mixerless-adapter` (or pass --adapter-bin)",
    )?;
    let tags_path = procs::existing(
        "the stats tags",
        args.stats_tags.clone(),
        "run from the repository root (or pass --stats-tags)",
    )?;
    let text = std::fs::read_to_string(&tags_path)
        .with_context(|| format!("read {}", tags_path.display()))?;
    let stats_tags: serde_json::Value = serde_yaml::from_str(&text)
        .with_context(|| format!("{} is not a YAML list of stats tags", tags_path.display()))?;
    let hpa_dir = match &args.hpa_dir {
        Some(d) => d.clone(),
        None if !hpa::files_in(Path::new("istio")).is_empty() => PathBuf::from("istio"),
        None => PathBuf::from("demo/hpa"),
    };
    Ok(Tools {
        envoy: absolute(&envoy),
        filter: absolute(&filter),
        hey,
        adapter,
        stats_tags,
        hpa_dir,
    })
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// Runs the demo; children die with it whatever happens.
pub async fn run(args: Args) -> anyhow::Result<Outcome> {
    let tools = check_tools(&args)?;
    let hpas = hpa::load_dir(&tools.hpa_dir)?;
    if !hpas.iter().any(|h| h.name == args.scale_on) {
        let names: Vec<&str> = hpas.iter().map(|h| h.name.as_str()).collect();
        bail!(
            "--scale-on {}: no such HPA in {} (there are: {})",
            args.scale_on,
            tools.hpa_dir.display(),
            names.join(", ")
        );
    }
    // Ports the user named must be free now; otherwise say which and how to free it.
    let adapter_port = procs::loopback_port(args.adapter_port)?;
    let client_port = procs::loopback_port(args.client_port)?;

    let out = absolute(&args.out);
    let mesh_dir = out.join("mesh");
    let logs = out.join("logs");
    let hpa_copy = out.join("hpa");
    for d in [&mesh_dir, &logs, &hpa_copy] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).with_context(|| format!("create {}", d.display()))?;
    }
    // The adapter gets exactly the HPA files the controller reads.
    for h in &hpas {
        let name = h.file.file_name().map(PathBuf::from).unwrap_or_default();
        std::fs::copy(&h.file, hpa_copy.join(name))
            .with_context(|| format!("copy {}", h.file.display()))?;
    }
    let chart_path = out.join("chart.svg");
    let timeline_path = out.join("timeline.jsonl");
    let kubeconfig = out.join("kubeconfig");
    let _ = std::fs::remove_file(&chart_path);
    let _ = std::fs::remove_file(&timeline_path);

    let settings = Settings {
        sync_period: args.sync_period,
        downscale_stabilization: args.downscale_stabilization,
        tolerance: args.tolerance,
    };
    let plan = Plan::new(PlanConfig {
        ramp: args.ramp,
        ramp_steps: args.ramp_steps,
        steady: args.steady,
        down: args.down,
        workers: args.workers,
        qps: args.qps,
        down_qps: args.down_qps,
    });
    let scaler_min = hpas
        .iter()
        .find(|h| h.name == args.scale_on)
        .map_or(1, |h| h.min);
    let initial = args.replicas.max(usize::try_from(scaler_min).unwrap_or(1));

    let mut interrupts = Interrupts::new()?;
    let common = Common {
        envoy_bin: tools.envoy.clone(),
        filter: tools.filter.clone(),
        stats_tags: tools.stats_tags.clone(),
        dir: mesh_dir.clone(),
    };
    println!("mixerless demo: Deployment podinfo in namespace test, autoscaled on Istio metrics from the mixerless filter");
    println!("  starting {initial} podinfo replica(s) with sidecars, the loadtester sidecar and the adapter ...");
    let app = AppConfig {
        latency: args.latency,
        workers: args.app_concurrency,
    };
    let mesh = tokio::select! {
        m = Mesh::start(common, app, initial, client_port) => m?,
        () = interrupts.wait() => return Ok(Outcome::Interrupted),
    };
    let prometheus = if args.prometheus {
        let started = tokio::select! {
            p = Prometheus::start(&mesh_dir, mesh.file_sd(), args.scrape_interval, logs.join("prometheus.log")) => p,
            () = interrupts.wait() => {
                mesh.stop().await;
                return Ok(Outcome::Interrupted);
            }
        };
        match started {
            Ok(p) => Some(p),
            Err(e) => {
                mesh.stop().await;
                return Err(e.into());
            }
        }
    } else {
        None
    };
    let serve = ServeConfig {
        bin: tools.adapter.clone(),
        port: adapter_port,
        file_sd: mesh.file_sd().to_owned(),
        hpa_dir: hpa_copy.clone(),
        scrape_interval: args.scrape_interval,
        prometheus_url: prometheus.as_ref().map(|p| p.url.clone()),
        log: logs.join("adapter.log"),
    };
    let adapter = tokio::select! {
        a = Adapter::start(&serve) => match a {
            Ok(a) => a,
            Err(e) => {
                stop_prometheus(prometheus).await;
                mesh.stop().await;
                return Err(e.into());
            }
        },
        () = interrupts.wait() => {
            stop_prometheus(prometheus).await;
            mesh.stop().await;
            return Ok(Outcome::Interrupted);
        }
    };
    adapter::write_kubeconfig(&kubeconfig, &adapter.base)
        .with_context(|| format!("write {}", kubeconfig.display()))?;

    let mut demo = Demo {
        settings,
        hpas: hpas
            .into_iter()
            .map(|h| {
                let scales = h.name == args.scale_on;
                HpaState::new(h, scales, &settings)
            })
            .collect(),
        driver: Driver::new(plan, tools.hey.clone(), mesh.client_url(), &logs),
        mesh,
        adapter,
        timeline: Vec::new(),
        events: Vec::new(),
        tty: std::io::stdout().is_terminal(),
        drawn_lines: 0,
        out: out.clone(),
    };
    demo.print_intro(&serve, &kubeconfig, &out);
    let result = demo.run_loop(&mut interrupts).await;
    let Demo {
        mut driver,
        mesh,
        adapter,
        ..
    } = demo;
    driver.stop().await;
    adapter.proc.stop().await;
    stop_prometheus(prometheus).await;
    mesh.stop().await;
    let outcome = result?;
    Ok(outcome)
}

async fn stop_prometheus(p: Option<Prometheus>) {
    if let Some(p) = p {
        p.proc.stop().await;
    }
}

/// SIGINT (Ctrl-C) and SIGTERM.
struct Interrupts {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Interrupts {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt()).context("install the SIGINT handler")?,
            term: signal(SignalKind::terminate()).context("install the SIGTERM handler")?,
        })
    }

    async fn wait(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

/// One controller sync as written to `timeline.jsonl`.
#[derive(Debug, Clone, serde::Serialize)]
struct Tick {
    /// Seconds since the load started.
    t: f64,
    phase: String,
    /// Requests per second `hey` was asked for.
    load_rps: f64,
    replicas: i32,
    scaled_to: Option<i32>,
    hpas: Vec<SyncRecord>,
}

struct Demo {
    settings: Settings,
    hpas: Vec<HpaState>,
    driver: Driver,
    mesh: Mesh,
    adapter: Adapter,
    timeline: Vec<Tick>,
    events: Vec<String>,
    tty: bool,
    drawn_lines: usize,
    out: PathBuf,
}

impl Demo {
    fn print_intro(&self, serve: &ServeConfig, kubeconfig: &Path, out: &Path) {
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
        println!("  look at it          kubectl --kubeconfig {} get --raw /apis/external.metrics.k8s.io/v1beta1", kubeconfig.display());
        if let Some(m) = self
            .hpas
            .first()
            .and_then(|h| h.hpa.metrics.first().map(|m| (h, m)))
        {
            println!(
                "                      curl -k '{}{}'",
                self.adapter.base,
                Adapter::metric_path(&m.0.hpa.namespace, &m.1.name, &m.1.label_selector())
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

    async fn run_loop(&mut self, interrupts: &mut Interrupts) -> anyhow::Result<Outcome> {
        let mut next_sync = Instant::now();
        let mut next_draw = Instant::now();
        loop {
            if !self.driver.poll()? {
                break;
            }
            if let Some(status) = self.adapter.proc.exited() {
                bail!(
                    "the adapter exited with {status}; last log lines:\n{}",
                    self.adapter.proc.log_tail(15)
                );
            }
            if let Some(status) = self.mesh.client.proc.exited() {
                bail!(
                    "the loadtester sidecar exited with {status}; log: {}",
                    self.mesh.client.proc.log.display()
                );
            }
            let now = Instant::now();
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
        self.finish()?;
        Ok(Outcome::Finished)
    }

    /// One controller sync of every HPA; the scaling HPA's decision is applied to the mesh.
    async fn sync(&mut self) -> anyhow::Result<()> {
        let t = self.driver.elapsed();
        let now_ms = t.as_millis() as i64;
        let current = i32::try_from(self.mesh.replicas.len()).unwrap_or(i32::MAX);
        let mut records = Vec::new();
        let mut scale_to = None;
        for h in &mut self.hpas {
            let rec = h
                .sync(&self.adapter, &self.settings, now_ms, current, current)
                .await
                .clone();
            if h.scales {
                if let Some(d) = rec.desired.filter(|d| *d != current) {
                    scale_to = Some(d);
                    let why = if d > current { "above" } else { "below" };
                    let m = &h.hpa.metrics[0];
                    self.events.push(format!(
                        "{}  {}: New size: {d}; reason: external metric {}(&LabelSelector{{MatchLabels:map[{}]}}) {why} target ({})",
                        table::clock(t),
                        h.hpa.name,
                        m.name,
                        m.label_selector().replace('=', ":"),
                        rec.targets
                    ));
                }
            }
            records.push(rec);
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
            .map_or("", |h| h.hpa.name.as_str());
        let _ = writeln!(
            text,
            "podinfo scales on {scaler}; the other HPAs are evaluated and shown (--scale-on)"
        );
        for h in &self.hpas {
            if let Some(e) = h.last.as_ref().and_then(|r| r.error.as_ref()) {
                // The full kube-style message is in the timeline; the adapter's reason is the news.
                let short = e.rsplit("external metrics API: ").next().unwrap_or(e);
                let _ = writeln!(text, "  {}: no decision: {short}", h.hpa.name);
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

    /// Writes the timeline and the chart, and prints the summary.
    fn finish(&self) -> anyhow::Result<()> {
        let out = &self.out;
        let timeline_path = out.join("timeline.jsonl");
        let mut lines = String::new();
        for t in &self.timeline {
            lines.push_str(&serde_json::to_string(t)?);
            lines.push('\n');
        }
        std::fs::write(&timeline_path, lines)
            .with_context(|| format!("write {}", timeline_path.display()))?;

        let chart_path = out.join("chart.svg");
        let svg = self.chart();
        std::fs::write(&chart_path, svg)
            .with_context(|| format!("write {}", chart_path.display()))?;

        let (total, ok) = load::totals(&self.driver.finished);
        let replicas: Vec<i32> = self
            .timeline
            .iter()
            .map(|t| t.scaled_to.unwrap_or(t.replicas))
            .collect();
        let peak = replicas.iter().copied().max().unwrap_or(0);
        let last = self.mesh.replicas.len();
        println!();
        println!("Summary");
        println!(
            "  load        {total} requests through the loadtester sidecar, {ok} answered 200 ({})",
            self.driver
                .plan()
                .phases()
                .iter()
                .map(|p| format!(
                    "{p} {}",
                    table::clock(self.driver.plan().phase_span(p).unwrap_or_default().1)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "  replicas    start {}, peak {peak}, end {last}",
            replicas.first().copied().unwrap_or(0)
        );
        // hey's own view, per phase (the slowest step of each).
        let mut seen_p95: Vec<(&str, f64)> = Vec::new();
        for (step, text) in &self.driver.finished {
            let Some(p) = load::p95(text) else { continue };
            match seen_p95.iter_mut().find(|(phase, _)| *phase == step.phase) {
                Some(entry) => entry.1 = entry.1.max(p),
                None => seen_p95.push((step.phase, p)),
            }
        }
        let seen_p95: Vec<String> = seen_p95
            .iter()
            .map(|(phase, p)| format!("{phase} {:.0} ms", p * 1000.0))
            .collect();
        if !seen_p95.is_empty() {
            println!("  hey p95     {}", seen_p95.join(", "));
        }
        for e in &self.events {
            println!("  scaled      {e}");
        }
        if self.events.is_empty() {
            println!("  scaled      never (try a higher rate: -q, or a longer --steady)");
        }
        for h in &self.hpas {
            let peak = self
                .timeline
                .iter()
                .flat_map(|t| t.hpas.iter().filter(|r| r.name == h.hpa.name))
                .filter_map(|r| r.metrics.first().and_then(|m| m.usage_milli))
                .max();
            println!(
                "  {:<11} peak adapter answer {} for {}{}",
                h.hpa.name,
                peak.map_or_else(
                    || "none".to_owned(),
                    mixerless_adapter::quantity::format_milli
                ),
                h.hpa.metrics[0].label_selector(),
                if h.scales {
                    " (scaled podinfo)"
                } else {
                    " (shown only)"
                }
            );
        }
        println!("  chart       {}", chart_path.display());
        println!("  timeline    {}", timeline_path.display());
        Ok(())
    }

    fn chart(&self) -> String {
        let colors = ["#1f77b4", "#ff7f0e", "#9467bd", "#8c564b"];
        let mut panels = Vec::new();
        for (i, h) in self.hpas.iter().enumerate() {
            let m = &h.hpa.metrics[0];
            let mut points = Vec::new();
            let mut guide = Vec::new();
            for t in &self.timeline {
                let Some(r) = t.hpas.iter().find(|r| r.name == h.hpa.name) else {
                    continue;
                };
                let usage = r
                    .metrics
                    .first()
                    .and_then(|m| m.usage_milli)
                    .map(|v| v as f64 / 1000.0);
                points.push((t.t, usage));
                let target = match m.target {
                    mixerless_adapter::hpa::replicas::Target::AverageValue(v) => {
                        v as f64 / 1000.0 * f64::from(t.replicas)
                    }
                    mixerless_adapter::hpa::replicas::Target::Value(v) => v as f64 / 1000.0,
                };
                guide.push((t.t, target));
            }
            panels.push(Panel {
                title: format!(
                    "{}: {} — the adapter's answer{}",
                    h.hpa.name,
                    m.selector.values().cloned().collect::<Vec<_>>().join(","),
                    if h.scales { " (scales podinfo)" } else { "" }
                ),
                points,
                guide,
                guide_label: "target × replicas".into(),
                // Only a request rate compares with what hey was asked for.
                load: if m.selector.values().any(|v| v.contains("requests")) {
                    self.timeline.iter().map(|t| (t.t, t.load_rps)).collect()
                } else {
                    Vec::new()
                },
                load_label: "hey's rate".into(),
                step: false,
                color: colors[i % colors.len()],
            });
        }
        panels.push(Panel {
            title: "podinfo replicas".into(),
            points: self
                .timeline
                .iter()
                .map(|t| (t.t, Some(f64::from(t.scaled_to.unwrap_or(t.replicas)))))
                .collect(),
            step: true,
            color: "#2ca02c",
            ..Panel::default()
        });
        let plan = self.driver.plan();
        let bands: Vec<(String, f64, f64)> = plan
            .phases()
            .iter()
            .filter_map(|p| {
                let (s, l) = plan.phase_span(p)?;
                Some(((*p).to_owned(), s.as_secs_f64(), (s + l).as_secs_f64()))
            })
            .collect();
        let t_max = plan
            .total()
            .as_secs_f64()
            .max(self.timeline.last().map_or(0.0, |t| t.t));
        chart::svg(
            "mixerless demo: podinfo autoscaled on Istio metrics",
            &panels,
            &bands,
            t_max,
        )
    }
}
