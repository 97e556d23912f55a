//! A real Envoy process that lives exactly as long as its handle.

mod command;

use std::fs;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::{http, paths, process, stats};
pub use command::{args, is_live, ports, validate};

/// A running Envoy. Dropping it kills the process, also when a test fails or panics; and the
/// process is started under `setpriv --pdeathsig KILL`, so it dies with the test thread that
/// started it even if the test runner itself is killed.
#[derive(Debug)]
pub struct Envoy {
    child: Child,
    dir: tempfile::TempDir,
    admin_port: u16,
    listener_port: u16,
}

impl Envoy {
    /// Starts Envoy with `bootstrap` (JSON text) and waits until its admin `/ready` says LIVE.
    pub fn start(bootstrap: &str) -> anyhow::Result<Self> {
        let parsed: serde_json::Value =
            serde_json::from_str(bootstrap).context("bootstrap is not JSON")?;
        let (admin_port, listener_port) = ports(&parsed);

        let dir = tempfile::Builder::new()
            .prefix("mixerless-envoy-")
            .tempdir()?;
        let config = dir.path().join("bootstrap.json");
        fs::write(&config, bootstrap)?;
        let log = dir.path().join("envoy.log");
        let mut args = args(&config, "info");
        // Log lines reach the file within 100 ms (default 10 s), so tests can read them.
        args.extend(["--file-flush-interval-msec".into(), "100".into()]);
        args.extend(["--log-path".into(), log.display().to_string()]);
        let stdout = dir.path().join("envoy.stdout.log");
        let child = process::command(&paths::envoy_bin()?, &args, &stdout)?
            .spawn()
            .context("spawn envoy (is util-linux' setpriv installed?)")?;
        let mut envoy = Self {
            child,
            dir,
            admin_port,
            listener_port,
        };
        envoy.wait_ready(Duration::from_secs(20))?;
        Ok(envoy)
    }

    fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "envoy exited with {status} before it was ready; log:\n{}",
                    self.log_tail(40)
                );
            }
            if is_live(self.admin_port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "envoy not ready after {timeout:?}; log:\n{}",
                    self.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// URL of `path` on the main listener.
    pub fn listener_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.listener_port)
    }

    /// URL of `path` on the admin interface.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    pub fn listener_port(&self) -> u16 {
        self.listener_port
    }

    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// The process id (for RSS and CPU readings).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log lines containing `needle`, once there are `count` of them (the log file is
    /// flushed every 100 ms), or whatever there is after five seconds.
    pub fn log_lines(&self, needle: &str, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let lines: Vec<String> = self
                .log()
                .lines()
                .filter(|l| l.contains(needle))
                .map(str::to_owned)
                .collect();
            if lines.len() >= count || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("envoy.log")
    }

    fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// One scrape of `/stats/prometheus`.
    pub fn scrape(&self) -> anyhow::Result<Vec<stats::Sample>> {
        let resp = http::get(&self.admin_url("/stats/prometheus"))?;
        anyhow::ensure!(resp.status == 200, "scrape: HTTP {}", resp.status);
        stats::parse(&resp.body)
    }

    /// Scrapes until `check` accepts the samples (stats flush every second), or fails with the
    /// last scrape's relevant lines after `timeout`.
    pub fn eventually<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&[stats::Sample]) -> Result<T, String>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.scrape() {
                Ok(samples) => match check(&samples) {
                    Ok(v) => return Ok(v),
                    Err(why) => why,
                },
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                bail!("not true after {timeout:?}: {last}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops Envoy and returns its full log.
    pub fn stop(mut self) -> String {
        self.kill();
        self.log()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        self.kill();
    }
}
