//! The demo's Envoys: one sidecar per podinfo replica (inbound, `reporter="destination"`) and the
//! load tester's sidecar (outbound, `reporter="source"`) whose podinfo endpoints come from a file
//! that Envoy watches (EDS over `path_config_source`), so replica changes reach it live.
//! Both load `dist/mixerless-filter.wasm` and carry node metadata like an injected pod's.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::procs::{Proc, ProcError};

/// The Kubernetes Service the client calls, as Istio names its outbound cluster.
pub const SERVICE_HOST: &str = "podinfo.test.svc.cluster.local";
const SERVICE_PORT: u16 = 9898;
const NAMESPACE: &str = "test";
/// The load tester's pod name.
pub const CLIENT_POD: &str = "loadtester-6d5c7b9f4-x2k8p";

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

/// A podinfo replica's sidecar: listener `listener_port` → the app on `app_port`.
pub fn sidecar_bootstrap(
    pod: &str,
    listener_port: u16,
    admin_port: u16,
    app_port: u16,
    common: &Common,
) -> Value {
    let inbound = format!("inbound|{SERVICE_PORT}||");
    let metadata = json!({
        "NAME": pod,
        "NAMESPACE": NAMESPACE,
        "WORKLOAD_NAME": "podinfo",
        "CLUSTER_ID": "Kubernetes",
        "OWNER": format!("kubernetes://apis/apps/v1/namespaces/{NAMESPACE}/deployments/podinfo"),
        "LABELS": {
            "app": "podinfo",
            "version": "v1",
            "service.istio.io/canonical-name": "podinfo",
            "service.istio.io/canonical-revision": "v1",
        },
    });
    let cluster = json!({
        "name": inbound,
        "type": "STATIC",
        "connect_timeout": "1s",
        "metadata": service_metadata(),
        "load_assignment": {"cluster_name": inbound, "endpoints": [{"lb_endpoints": [endpoint(app_port, None)]}]},
    });
    bootstrap(
        pod,
        metadata,
        admin_port,
        listener(
            &format!("virtualInbound_{listener_port}"),
            listener_port,
            "INBOUND",
            &inbound,
            &common.plugins.inbound,
            common,
        ),
        vec![cluster],
        common,
    )
}

/// The load tester's sidecar: listener `listener_port` → podinfo's endpoints from `eds_path`.
pub fn client_bootstrap(
    listener_port: u16,
    admin_port: u16,
    eds_path: &Path,
    common: &Common,
) -> Value {
    let outbound = outbound_cluster();
    let metadata = json!({
        "NAME": CLIENT_POD,
        "NAMESPACE": NAMESPACE,
        "WORKLOAD_NAME": "loadtester",
        "CLUSTER_ID": "Kubernetes",
        "OWNER": format!("kubernetes://apis/apps/v1/namespaces/{NAMESPACE}/deployments/loadtester"),
        "LABELS": {
            "app": "loadtester",
            "version": "v1",
            "service.istio.io/canonical-name": "loadtester",
            "service.istio.io/canonical-revision": "v1",
        },
    });
    let cluster = json!({
        "name": outbound,
        "type": "EDS",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "metadata": service_metadata(),
        "eds_cluster_config": {
            "service_name": outbound,
            "eds_config": {
                "resource_api_version": "V3",
                // Envoy watches the file and reloads it when it is replaced by a rename.
                "path_config_source": {"path": eds_path},
            },
        },
    });
    bootstrap(
        CLIENT_POD,
        metadata,
        admin_port,
        listener(
            &format!("0.0.0.0_{SERVICE_PORT}"),
            listener_port,
            "OUTBOUND",
            &outbound,
            &common.plugins.outbound,
            common,
        ),
        vec![cluster],
        common,
    )
}

/// Istio's outbound cluster name for podinfo.
pub fn outbound_cluster() -> String {
    format!("outbound|{SERVICE_PORT}||{SERVICE_HOST}")
}

/// The EDS file's content: a `DiscoveryResponse` with podinfo's endpoints (sidecar ports).
pub fn eds_document(version: u64, sidecar_ports: &[u16]) -> Value {
    let endpoints: Vec<Value> = sidecar_ports
        .iter()
        .map(|p| endpoint(*p, Some("podinfo;test;podinfo;v1;Kubernetes")))
        .collect();
    json!({
        "version_info": version.to_string(),
        "resources": [{
            "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
            "cluster_name": outbound_cluster(),
            "endpoints": [{"lb_endpoints": endpoints}],
        }],
    })
}

/// Cluster metadata as istiod writes it; the filter reads `destination_service*` from it.
fn service_metadata() -> Value {
    json!({"filter_metadata": {"istio": {"services": [
        {"host": SERVICE_HOST, "name": "podinfo", "namespace": NAMESPACE}
    ]}}})
}

fn endpoint(port: u16, workload: Option<&str>) -> Value {
    let mut e = json!({"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}});
    if let (Some(w), Some(obj)) = (workload, e.as_object_mut()) {
        // Istio's endpoint metadata: the outbound fallback when no peer metadata came back.
        obj.insert(
            "metadata".into(),
            json!({"filter_metadata": {"istio": {"workload": w}}}),
        );
    }
    e
}

fn listener(
    name: &str,
    port: u16,
    direction: &str,
    cluster: &str,
    plugin_config: &str,
    common: &Common,
) -> Value {
    json!({
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "traffic_direction": direction,
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": name,
                "route_config": {"name": cluster, "virtual_hosts": [{
                    "name": "podinfo", "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster, "timeout": "15s"}}],
                }]},
                "http_filters": [
                    {
                        "name": "istio.stats",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                            "config": {
                                "name": "mixerless",
                                "root_id": "mixerless",
                                "configuration": {
                                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                                    "value": plugin_config,
                                },
                                "vm_config": {
                                    "vm_id": "mixerless",
                                    "runtime": "envoy.wasm.runtime.v8",
                                    "code": {"local": {"filename": common.filter}},
                                },
                            },
                        },
                    },
                    {
                        "name": "envoy.filters.http.router",
                        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
                    },
                ],
            },
        }]}],
    })
}

fn bootstrap(
    pod: &str,
    metadata: Value,
    admin_port: u16,
    listener: Value,
    clusters: Vec<Value>,
    common: &Common,
) -> Value {
    json!({
        "node": {
            "id": format!("sidecar~127.0.0.1~{pod}.{NAMESPACE}~{NAMESPACE}.svc.cluster.local"),
            "cluster": format!("{}.{NAMESPACE}", metadata["WORKLOAD_NAME"].as_str().unwrap_or("unknown")),
            "metadata": metadata,
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        // Histograms are merged at each flush; the adapter scrapes every couple of seconds.
        "stats_flush_interval": "1s",
        "stats_config": {"stats_tags": common.stats_tags},
        "static_resources": {"listeners": [listener], "clusters": clusters},
    })
}

impl Envoy {
    /// Writes `bootstrap` to `<dir>/<name>.json`, starts Envoy and waits until `/ready` says LIVE.
    pub async fn start(name: &str, bootstrap: &Value, common: &Common) -> Result<Self, EnvoyError> {
        let port = |p: &str| bootstrap.pointer(p).and_then(Value::as_u64).unwrap_or(0) as u16;
        let admin_port = port("/admin/address/socket_address/port_value");
        let listener_port = port("/static_resources/listeners/0/address/socket_address/port_value");
        let config = common.dir.join(format!("{name}.json"));
        std::fs::write(&config, bootstrap.to_string()).map_err(|source| EnvoyError::Write {
            path: config.clone(),
            source,
        })?;
        let args: Vec<String> = vec![
            "-c".into(),
            config.display().to_string(),
            "--concurrency".into(),
            "1".into(),
            "--use-dynamic-base-id".into(),
            "-l".into(),
            "warning".into(),
        ];
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
        let url = format!("http://127.0.0.1:{}/ready", self.admin_port);
        let client = reqwest::Client::new();
        loop {
            if let Some(status) = self.proc.exited() {
                return Err(EnvoyError::Exited {
                    name: self.proc.name.clone(),
                    status,
                    log: self.proc.log.display().to_string(),
                    tail: self.proc.log_tail(15),
                });
            }
            if let Ok(resp) = client
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await
            {
                if resp.status().is_success()
                    && resp.text().await.unwrap_or_default().trim() == "LIVE"
                {
                    return Ok(());
                }
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
