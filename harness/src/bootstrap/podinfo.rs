//! The demo's mesh as Envoy bootstraps: one sidecar per podinfo replica (inbound,
//! `reporter="destination"`) and the load tester's sidecar (outbound, `reporter="source"`) whose
//! podinfo endpoints come from a file that Envoy watches (EDS over `path_config_source`), so
//! replica changes reach it live. Both load the filter and carry node metadata like an injected
//! pod's.

use std::path::Path;

use serde_json::{json, Value};

use super::parts::{self, wasm_config};

/// The Kubernetes Service the client calls, as Istio names its outbound cluster.
pub const SERVICE_HOST: &str = "podinfo.test.svc.cluster.local";
const SERVICE_PORT: u16 = 9898;
const NAMESPACE: &str = "test";
/// The load tester's pod name.
pub const CLIENT_POD: &str = "loadtester-6d5c7b9f4-x2k8p";

/// What every sidecar of the mesh shares.
#[derive(Debug, Clone, Copy)]
pub struct Sidecars<'a> {
    /// The filter module.
    pub filter: &'a Path,
    /// The plugin configuration of inbound listeners (JSON text).
    pub inbound: &'a str,
    /// The plugin configuration of outbound listeners (JSON text).
    pub outbound: &'a str,
    /// `stats_config.stats_tags`.
    pub stats_tags: &'a Value,
}

/// A podinfo replica's sidecar: listener `listener_port` → the app on `app_port`.
pub fn sidecar_bootstrap(
    pod: &str,
    listener_port: u16,
    admin_port: u16,
    app_port: u16,
    common: Sidecars<'_>,
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
            common.inbound,
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
    common: Sidecars<'_>,
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
            common.outbound,
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

/// A loopback endpoint; with `workload`, Istio's endpoint metadata (the outbound fallback when no
/// peer metadata came back).
fn endpoint(port: u16, workload: Option<&str>) -> Value {
    let mut e = parts::endpoint(port);
    if let Some(w) = workload {
        e["metadata"] = json!({"filter_metadata": {"istio": {"workload": w}}});
    }
    e
}

fn listener(
    name: &str,
    port: u16,
    direction: &str,
    cluster: &str,
    plugin_config: &str,
    common: Sidecars<'_>,
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
                            "config": wasm_config("mixerless", common.filter, plugin_config),
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
    common: Sidecars<'_>,
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
