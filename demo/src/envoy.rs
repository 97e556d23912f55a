//! The demo's Envoys: the podinfo replicas' sidecars and the load tester's, from the harness's
//! bootstraps (`mixerless_harness::bootstrap::podinfo`), each loading `dist/mixerless-filter.wasm`
//! with the plugin configuration the `istio/` WasmPlugins deploy.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mixerless_harness::bootstrap::podinfo::Sidecars;
use mixerless_harness::envoy as harness;
use serde_json::{json, Value};

use crate::procs::{Proc, ProcError};

/// Failures starting an Envoy.
#[derive(Debug, thiserror::Error)]
pub enum EnvoyError {
    /// Starting the process failed.
    #[error(transparent)]
    Proc(#[from] ProcError),
    /// The bootstrap could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Envoy stopped before it was ready (bad bootstrap, filter that fails to load).
    #[error(
        "envoy {name} exited with {status} before it was ready; last log lines ({log}):\n{tail}"
    )]
    Exited {
        name: String,
        status: std::process::ExitStatus,
        log: String,
        tail: String,
    },
    /// Envoy did not become ready in time.
    #[error("envoy {name} not ready after {secs}s; log: {log}")]
    NotReady {
        name: String,
        secs: u64,
        log: String,
    },
}

/// What every demo Envoy shares.
#[derive(Debug, Clone)]
pub struct Common {
    pub envoy_bin: PathBuf,
    pub filter: PathBuf,
    /// `stats_config.stats_tags` as shipped in `istio/envoy/stats_tags.yaml`.
    pub stats_tags: Value,
    /// The plugin configuration of inbound and outbound listeners (JSON text).
    pub plugins: PluginConfigs,
    pub dir: PathBuf,
}

impl Common {
    /// What the harness's bootstraps need of it.
    pub fn sidecars(&self) -> Sidecars<'_> {
        Sidecars {
            filter: &self.filter,
            inbound: &self.plugins.inbound,
            outbound: &self.plugins.outbound,
            stats_tags: &self.stats_tags,
        }
    }
}

/// The filter's configuration per listener direction, as the WasmPlugins in `istio/` deploy it.
#[derive(Debug, Clone)]
pub struct PluginConfigs {
    pub inbound: String,
    pub outbound: String,
}

impl PluginConfigs {
    /// `spec.pluginConfig` of `istio/WasmPlugin-mixerless-stats-{inbound,outbound}.yaml` under
    /// `istio`; where a file is missing, what those files say (the reporter per direction, and no
    /// Host header fallback inbound, as istiod configures its own stats filter).
    pub fn from_manifests(istio: &Path) -> Self {
        let read = |name: &str, default: Value| {
            std::fs::read_to_string(istio.join(name))
                .ok()
                .and_then(|t| serde_yaml::from_str::<Value>(&t).ok())
                .and_then(|v| v.pointer("/spec/pluginConfig").cloned())
                .unwrap_or(default)
                .to_string()
        };
        Self {
            inbound: read(
                "WasmPlugin-mixerless-stats-inbound.yaml",
                json!({"reporter": "destination", "disable_host_header_fallback": true}),
            ),
            outbound: read(
                "WasmPlugin-mixerless-stats-outbound.yaml",
                json!({"reporter": "source"}),
            ),
        }
    }
}

/// A running Envoy with its admin and listener ports.
#[derive(Debug)]
pub struct Envoy {
    pub proc: Proc,
    pub admin_port: u16,
    pub listener_port: u16,
}

impl Envoy {
    /// Writes `bootstrap` to `<dir>/<name>.json`, starts Envoy and waits until `/ready` says LIVE.
    pub async fn start(name: &str, bootstrap: &Value, common: &Common) -> Result<Self, EnvoyError> {
        let (admin_port, listener_port) = harness::ports(bootstrap);
        let config = common.dir.join(format!("{name}.json"));
        std::fs::write(&config, bootstrap.to_string()).map_err(|source| EnvoyError::Write {
            path: config.clone(),
            source,
        })?;
        let args = harness::args(&config, "warning");
        let proc = Proc::spawn(
            name,
            &common.envoy_bin,
            &args,
            common.dir.join(format!("{name}.log")),
        )?;
        let mut envoy = Self {
            proc,
            admin_port,
            listener_port,
        };
        envoy.wait_ready(Duration::from_secs(30)).await?;
        Ok(envoy)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), EnvoyError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.proc.exited() {
                return Err(EnvoyError::Exited {
                    name: self.proc.name.clone(),
                    status,
                    log: self.proc.log.display().to_string(),
                    tail: self.proc.log_tail(15),
                });
            }
            let port = self.admin_port;
            if tokio::task::spawn_blocking(move || harness::is_live(port))
                .await
                .unwrap_or(false)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(EnvoyError::NotReady {
                    name: self.proc.name.clone(),
                    secs: timeout.as_secs(),
                    log: self.proc.log.display().to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
