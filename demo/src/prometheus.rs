//! `--prometheus`: the walk-through's original shape, with a real Prometheus scraping every
//! sidecar from the same file_sd file and the adapter evaluating the HPAs' queries on it
//! (`serve --prometheus-url`) instead of its embedded store.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::procs::{self, Proc, ProcError};

/// Failures starting Prometheus.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// Prometheus is missing or could not start.
    #[error(transparent)]
    Proc(#[from] ProcError),
    /// Its configuration could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Prometheus stopped before it was ready.
    #[error(
        "prometheus exited with {status} before it was ready; last log lines ({log}):\n{tail}"
    )]
    Exited {
        status: std::process::ExitStatus,
        log: String,
        tail: String,
    },
    /// Prometheus did not become ready in time.
    #[error("prometheus not ready after {secs}s; log: {log}")]
    NotReady { secs: u64, log: String },
}

/// A running Prometheus.
#[derive(Debug)]
pub struct Prometheus {
    pub proc: Proc,
    pub url: String,
}

/// The configuration: one job reading `file_sd`, scraped every `interval`.
pub fn config(file_sd: &Path, interval: Duration) -> String {
    let i = format!("{}ms", interval.as_millis());
    format!(
        "global: {{scrape_interval: {i}, scrape_timeout: {i}, evaluation_interval: {i}}}
scrape_configs:
- job_name: envoy-stats
  metrics_path: /stats/prometheus
  file_sd_configs:
  - files: [{}]
    refresh_interval: 1s
",
        serde_json::Value::String(file_sd.display().to_string())
    )
}

impl Prometheus {
    /// Starts `prometheus` on a free loopback port with its data under `dir`.
    pub async fn start(
        dir: &Path,
        file_sd: &Path,
        interval: Duration,
        log: PathBuf,
    ) -> Result<Self, PrometheusError> {
        let bin = procs::on_path("prometheus")?;
        let cfg = dir.join("prometheus.yml");
        std::fs::write(&cfg, config(file_sd, interval)).map_err(|source| {
            PrometheusError::Write {
                path: cfg.clone(),
                source,
            }
        })?;
        let port = procs::loopback_port(None)?;
        let args = vec![
            format!("--config.file={}", cfg.display()),
            format!(
                "--storage.tsdb.path={}",
                dir.join("prometheus-data").display()
            ),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ];
        let proc = Proc::spawn("prometheus", &bin, &args, log)?;
        let mut p = Self {
            proc,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::Client::new();
        loop {
            if let Some(status) = p.proc.exited() {
                return Err(PrometheusError::Exited {
                    status,
                    log: p.proc.log.display().to_string(),
                    tail: p.proc.log_tail(10),
                });
            }
            if let Ok(r) = client.get(format!("{}/-/ready", p.url)).send().await {
                if r.status().is_success() {
                    return Ok(p);
                }
            }
            if Instant::now() > deadline {
                return Err(PrometheusError::NotReady {
                    secs: 30,
                    log: p.proc.log.display().to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
