//! The pieces every bootstrap is built from: Wasm filters, routes, loopback clusters and
//! endpoints, and the shipped stats tags.

use std::path::Path;

use serde_json::{json, Value};

use super::Route;
use crate::paths;

/// An `envoy.filters.http.wasm` filter whose plugin, root id and VM id are all `name`.
pub(super) fn wasm_filter(name: &str, module: &Path, config: &str) -> Value {
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": wasm_config(name, module, config),
        },
    })
}

/// The `config` of a Wasm filter: plugin, root id and VM id all `name`, V8, a local module.
pub(super) fn wasm_config(name: &str, module: &Path, config: &str) -> Value {
    json!({
        "name": name,
        "root_id": name,
        "configuration": {
            "@type": "type.googleapis.com/google.protobuf.StringValue",
            "value": config,
        },
        "vm_config": {
            "vm_id": name,
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": module}},
        },
    })
}

pub(super) fn route(r: &Route) -> Value {
    match r {
        Route::Direct {
            prefix,
            status,
            body,
        } => json!({
            "match": {"prefix": prefix},
            "direct_response": {"status": status, "body": {"inline_string": body}},
        }),
        Route::Cluster { prefix, cluster } => json!({
            "match": {"prefix": prefix},
            "route": {"cluster": cluster, "prefix_rewrite": "/"},
        }),
        Route::DirectWithHeaders {
            prefix,
            status,
            body,
            headers,
        } => {
            let add: Vec<Value> = headers
                .iter()
                .map(|(k, v)| {
                    json!({"header": {"key": k, "value": v},
                           "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"})
                })
                .collect();
            json!({
                "match": {"prefix": prefix},
                "direct_response": {"status": status, "body": {"inline_string": body}},
                "response_headers_to_add": add,
            })
        }
    }
}

/// A static cluster with one loopback endpoint.
pub(super) fn cluster(name: &str, port: u16) -> Value {
    json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [endpoint(port)]}]},
    })
}

/// An `lb_endpoint` on 127.0.0.1.
pub(super) fn endpoint(port: u16) -> Value {
    json!({"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}})
}

/// The shipped `istio/envoy/stats_tags.yaml`, so tests use exactly what users deploy.
pub fn stats_tags() -> Value {
    let path = paths::root().join("istio/envoy/stats_tags.yaml");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}
