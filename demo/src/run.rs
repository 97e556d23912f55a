//! The demo from start to end: check tools, start the mesh and the adapter, drive the load
//! phases, run the HPA controller loop, draw the table, and write the chart and the summary.
//! Everything started is owned here and stopped on every way out (end, error, Ctrl-C).

mod counted;
mod live;
mod report;
mod warm;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use crate::adapter::{self, Adapter, AdapterError, ServeConfig};
use crate::controller::{HpaState, Settings};
use crate::envoy::{Common, PluginConfigs};
use crate::hpa::{self, Hpa, HpaError};
use crate::keda::{Keda, KedaError};
use crate::load::{Driver, Plan, PlanConfig};
use crate::mesh::{AppConfig, Mesh, MeshError};
use crate::procs::{self, ProcError};
use crate::prometheus::{Prometheus, PrometheusError};
use crate::Args;
use live::Demo;

/// Why the demo stopped early; each message names what to run, free or fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tool is missing, a port is taken, a process cannot start.
    #[error(transparent)]
    Proc(#[from] ProcError),
    /// An HPA file cannot drive the demo.
    #[error(transparent)]
    Hpa(#[from] HpaError),
    /// A replica or the client sidecar failed.
    #[error(transparent)]
    Mesh(#[from] MeshError),
    /// The adapter failed to start.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// The adapter's external scaler did not answer as KEDA expects (`--keda`).
    #[error(transparent)]
    Keda(#[from] crate::keda::KedaError),
    /// Prometheus failed to start (`--prometheus`).
    #[error(transparent)]
    Prometheus(#[from] PrometheusError),
    /// A file or directory of the demo's output.
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The stats tags file is not what Envoy expects.
    #[error("{path} is not a YAML list of stats tags: {source}")]
    StatsTags {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    /// `--scale-on` names no HPA.
    #[error("--scale-on {name}: no such HPA in {dir} (there are: {names})")]
    NoSuchHpa {
        name: String,
        dir: PathBuf,
        names: String,
    },
    /// A process the demo relies on died while it ran.
    #[error("{name} exited with {status}; last log lines ({log}):\n{tail}")]
    Died {
        name: String,
        status: std::process::ExitStatus,
        log: String,
        tail: String,
    },
    /// Another demo is running with the same output directory.
    #[error(
        "another demo (pid {pid}) is running in {out}: wait for it, stop it, or pass --out DIR"
    )]
    Busy { out: PathBuf, pid: u32 },
    /// Signal handlers could not be installed.
    #[error("cannot install the {0} handler: {1}")]
    Signal(&'static str, std::io::Error),
}

/// Marks `out` as this demo's (`out/demo.pid`), refusing it while another running demo holds it:
/// a second demo would delete the first one's endpoint and scrape files.
fn claim(out: &Path) -> Result<(), Error> {
    let pid_file = out.join("demo.pid");
    if let Some(pid) = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
    {
        let alive = std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("mixerless-demo"));
        if alive && pid != std::process::id() {
            return Err(Error::Busy {
                out: out.to_owned(),
                pid,
            });
        }
    }
    std::fs::create_dir_all(out).map_err(io("create", out))?;
    std::fs::write(&pid_file, std::process::id().to_string()).map_err(io("write", &pid_file))
}

/// Wraps an I/O error with what was being done to which path.
fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io { what, path, source }
}

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

fn check_tools(args: &Args) -> Result<Tools, Error> {
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
            .map_err(io("locate", Path::new("this program")))?
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
    let text = std::fs::read_to_string(&tags_path).map_err(io("read", &tags_path))?;
    let stats_tags: serde_json::Value =
        serde_yaml::from_str(&text).map_err(|source| Error::StatsTags {
            path: tags_path.clone(),
            source,
        })?;
    let zero_dir = Path::new("istio/fast-scaling");
    let hpa_dir = match &args.hpa_dir {
        Some(d) => d.clone(),
        None if args.to_zero() && !hpa::files_in(zero_dir).is_empty() => zero_dir.to_owned(),
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
pub async fn run(args: Args) -> Result<Outcome, Error> {
    let tools = check_tools(&args)?;
    let hpas = hpa::load_dir(&tools.hpa_dir)?;
    if !hpas.iter().any(|h| h.name() == args.scale_on()) {
        let names: Vec<&str> = hpas.iter().map(Hpa::name).collect();
        return Err(Error::NoSuchHpa {
            name: args.scale_on().to_owned(),
            dir: tools.hpa_dir.clone(),
            names: names.join(", "),
        });
    }
    // Ports the user named must be free now; otherwise say which and how to free it.
    let adapter_port = procs::loopback_port(args.adapter_port)?;
    let client_port = procs::loopback_port(args.client_port)?;
    let keda_port = if args.keda {
        Some(procs::loopback_port(None)?)
    } else {
        None
    };

    let out = absolute(&args.out);
    claim(&out)?;
    let mesh_dir = out.join("mesh");
    let logs = out.join("logs");
    let hpa_copy = out.join("hpa");
    for d in [&mesh_dir, &logs, &hpa_copy] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).map_err(io("create", d))?;
    }
    // The adapter gets exactly the HPA files the controller reads.
    for h in &hpas {
        let name = h.file.file_name().map(PathBuf::from).unwrap_or_default();
        std::fs::copy(&h.file, hpa_copy.join(name)).map_err(io("copy", &h.file))?;
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
        idle: args.idle(),
    });
    let scaler_min = hpas
        .iter()
        .find(|h| h.name() == args.scale_on())
        .map_or(1, |h| h.manifest.limits().min);
    let initial = match args.min_replicas() {
        Some(min) => usize::from(min),
        None => usize::from(args.replicas).max(usize::try_from(scaler_min).unwrap_or(1)),
    };

    let mut interrupts = Interrupts::new()?;
    let common = Common {
        envoy_bin: tools.envoy.clone(),
        filter: tools.filter.clone(),
        stats_tags: tools.stats_tags.clone(),
        plugins: PluginConfigs::from_manifests(Path::new("istio")),
        dir: mesh_dir.clone(),
    };
    println!("mixerless demo: Deployment podinfo in namespace test, autoscaled on Istio metrics from the mixerless filter");
    println!("  starting {initial} podinfo replica(s) with sidecars, the loadtester sidecar and the adapter ...");
    let app = AppConfig {
        latency: args.latency,
        workers: usize::from(args.app_concurrency),
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
        keda_port,
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
    adapter::write_kubeconfig(&kubeconfig, &adapter.base).map_err(io("write", &kubeconfig))?;
    if args.to_zero() {
        println!("  podinfo is at zero; waiting for the adapter's warm-up (the HPA query's window of history) before the load starts ...");
        let limit = Duration::from_secs(120);
        let ready = tokio::select! {
            r = warm::wait_ready(&adapter.base, limit) => r,
            () = interrupts.wait() => {
                adapter.proc.stop().await;
                stop_prometheus(prometheus).await;
                mesh.stop().await;
                return Ok(Outcome::Interrupted);
            }
        };
        if !ready {
            println!(
                "  the adapter is still warming up after {}; starting the load anyway",
                humantime::format_duration(limit)
            );
        }
    }
    let keda = match keda_port {
        None => None,
        Some(port) => {
            let scaler = hpas.iter().find(|h| h.name() == args.scale_on());
            let started = match scaler {
                Some(h) => Keda::start(port, h, args.downscale_stabilization).await,
                None => Err(KedaError::Trigger("no scaling HPA".into())),
            };
            match started {
                Ok(k) => Some(k),
                Err(e) => {
                    adapter.proc.stop().await;
                    stop_prometheus(prometheus).await;
                    mesh.stop().await;
                    return Err(e.into());
                }
            }
        }
    };

    let mut demo = Demo {
        settings,
        hpas: hpas
            .into_iter()
            .map(|h| {
                let scales = h.name() == args.scale_on();
                let mut state = HpaState::new(h, scales, &settings);
                if scales {
                    // KEDA's HPA has minReplicas 1: KEDA itself owns 0 <-> 1.
                    state.min_replicas = match &keda {
                        Some(_) => Some(1),
                        None => args.min_replicas().map(i32::from),
                    };
                }
                state
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
        scrape_interval: args.scrape_interval,
        keda,
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
    fn new() -> Result<Self, Error> {
        Ok(Self {
            int: signal(SignalKind::interrupt()).map_err(|e| Error::Signal("SIGINT", e))?,
            term: signal(SignalKind::terminate()).map_err(|e| Error::Signal("SIGTERM", e))?,
        })
    }

    async fn wait(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}
