//! Envoy bootstraps: for tests, one listener with the mixerless filter (or none), an admin port,
//! node metadata like a Kubernetes pod's sidecar, and the project's `stats_tags` ([`Bootstrap`]:
//! an inbound or an outbound sidecar, adjusted field by field); for the demo, the sidecars of a
//! podinfo Service and its load tester, fed by EDS ([`podinfo`]).

mod parts;
pub mod podinfo;

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::paths;
pub use parts::stats_tags;
use parts::{cluster, route, wasm_filter};

/// Where a route sends a request.
#[derive(Debug, Clone)]
pub enum Route {
    /// Envoy answers itself with this status and body.
    Direct {
        prefix: String,
        status: u16,
        body: String,
    },
    /// Forwarded to a cluster, with the prefix rewritten to `/`.
    Cluster { prefix: String, cluster: String },
    /// Like `Direct`, plus response headers (e.g. `grpc-status` for a gRPC answer).
    DirectWithHeaders {
        prefix: String,
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
}

/// What goes into a test Envoy's bootstrap.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub node_id: String,
    /// `node.metadata`, like Istio's (NAMESPACE, WORKLOAD_NAME, LABELS, ...).
    pub metadata: Value,
    pub admin_port: u16,
    pub listener_port: u16,
    /// `INBOUND` or `OUTBOUND`, read by the filter as `xds.listener_direction`.
    pub direction: Option<&'static str>,
    /// A wasm filter before ours (module and JSON configuration), in its own VM: in istio-proxy,
    /// Istio's metadata exchange runs first (`paths::istio_exchange_wasm` simulates it).
    pub front: Option<(PathBuf, String)>,
    /// The module to load; `None` runs Envoy without the mixerless filter.
    pub wasm: Option<PathBuf>,
    /// The plugin's JSON configuration, passed verbatim.
    pub plugin_config: String,
    pub routes: Vec<Route>,
    /// Static clusters: name and loopback port.
    pub clusters: Vec<(String, u16)>,
    /// Cluster `metadata` objects by cluster name (e.g. istiod's `filter_metadata.istio.services`).
    pub cluster_metadata: Vec<(String, Value)>,
    /// Endpoint `metadata` objects by cluster name (e.g. `filter_metadata.istio.workload`).
    pub endpoint_metadata: Vec<(String, Value)>,
    /// A file access log on the listener: path and text format (e.g. `%FILTER_STATE(..)%`, to see
    /// what a filter stored).
    pub access_log: Option<(PathBuf, String)>,
}

impl Bootstrap {
    /// A server-side sidecar (`INBOUND`) of pod `podinfo` in namespace `test`, answering 200 itself.
    pub fn inbound(plugin_config: &str) -> Self {
        Self {
            node_id: "sidecar~127.0.0.1~podinfo-7d9f8c-abcde.test~test.svc.cluster.local".into(),
            metadata: json!({
                "NAMESPACE": "test",
                "WORKLOAD_NAME": "podinfo",
                "CLUSTER_ID": "Kubernetes",
                "LABELS": {
                    "app": "podinfo",
                    "version": "v1",
                    "service.istio.io/canonical-name": "podinfo",
                    "service.istio.io/canonical-revision": "v1"
                }
            }),
            admin_port: paths::free_port(),
            listener_port: paths::free_port(),
            direction: Some("INBOUND"),
            front: None,
            wasm: paths::filter_wasm().ok(),
            plugin_config: plugin_config.into(),
            routes: vec![Route::Direct {
                prefix: "/".into(),
                status: 200,
                body: "ok\n".into(),
            }],
            clusters: Vec::new(),
            cluster_metadata: Vec::new(),
            endpoint_metadata: Vec::new(),
            access_log: None,
        }
    }

    /// A client-side sidecar (`OUTBOUND`) of pod `productpage-v1` in namespace `default`,
    /// forwarding everything to cluster `server` on `upstream_port` (with istiod's service
    /// metadata for `server.default.svc.cluster.local`).
    pub fn outbound(plugin_config: &str, upstream_port: u16) -> Self {
        let mut b = Self::inbound(plugin_config);
        b.node_id =
            "sidecar~127.0.0.1~productpage-v1-6b7f6d.default~default.svc.cluster.local".into();
        b.metadata = json!({
            "NAME": "productpage-v1-6b7f6d",
            "NAMESPACE": "default",
            "WORKLOAD_NAME": "productpage-v1",
            "CLUSTER_ID": "client-cluster",
            "LABELS": {
                "app": "productpage",
                "version": "v1",
                "service.istio.io/canonical-name": "productpage-v1",
                "service.istio.io/canonical-revision": "version-1"
            }
        });
        b.direction = Some("OUTBOUND");
        b.routes = vec![Route::Cluster {
            prefix: "/".into(),
            cluster: "server".into(),
        }];
        b.clusters = vec![("server".into(), upstream_port)];
        b.cluster_metadata = vec![(
            "server".into(),
            json!({"filter_metadata": {"istio": {"services": [{
                "host": "server.default.svc.cluster.local",
                "name": "server",
                "namespace": "default"
            }]}}}),
        )];
        b
    }

    /// The bootstrap as JSON text (Envoy reads `*.json` bootstraps).
    pub fn render(&self) -> String {
        let mut http_filters = Vec::new();
        if let Some((front, config)) = &self.front {
            http_filters.push(wasm_filter("istio-exchange-sim", front, config));
        }
        if let Some(wasm) = &self.wasm {
            http_filters.push(wasm_filter("mixerless", wasm, &self.plugin_config));
        }
        http_filters.push(json!({
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
        }));
        let routes: Vec<Value> = self.routes.iter().map(route).collect();
        let mut listener = json!({
            "name": "main",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": self.listener_port}},
            "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "main",
                    "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]},
                    "http_filters": http_filters,
                },
            }]}],
        });
        if let Some((path, format)) = &self.access_log {
            listener["filter_chains"][0]["filters"][0]["typed_config"]["access_log"] = json!([{
                "name": "envoy.access_loggers.file",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                    "path": path,
                    "log_format": {"text_format_source": {"inline_string": format}},
                },
            }]);
        }
        if let (Some(direction), Some(obj)) = (self.direction, listener.as_object_mut()) {
            obj.insert("traffic_direction".into(), json!(direction));
        }
        let clusters: Vec<Value> = self
            .clusters
            .iter()
            .map(|(name, port)| {
                let mut c = cluster(name, *port);
                let find = |list: &[(String, Value)]| {
                    list.iter().find(|(n, _)| n == name).map(|(_, m)| m.clone())
                };
                if let Some(m) = find(&self.cluster_metadata) {
                    c["metadata"] = m;
                }
                if let Some(m) = find(&self.endpoint_metadata) {
                    c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["metadata"] = m;
                }
                c
            })
            .collect();
        json!({
            "node": {"id": self.node_id, "cluster": "podinfo.test", "metadata": self.metadata},
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": self.admin_port}}},
            "stats_flush_interval": "1s",
            "stats_config": {"stats_tags": stats_tags()},
            "static_resources": {"listeners": [listener], "clusters": clusters},
        })
        .to_string()
    }
}
