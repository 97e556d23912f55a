//! What one finished request contributes to the labels, read from Envoy's attributes.

use hashbrown::HashMap;
use std::rc::Rc;

use crate::config::Reporter;
use crate::encode::sanitized;
use crate::expr::int;
use crate::host::Host;
use crate::peer::wire::{for_each_entry, Struct, Value};

/// `filter_metadata.istio.services[0]` of the upstream cluster, as istiod sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Service {
    pub host: String,
    pub name: String,
    pub namespace: String,
}

/// The `istio` entry of an `envoy.config.core.v3.Metadata` (its `filter_metadata` map has the
/// same wire layout as a Struct's fields, with Struct values).
pub fn istio_metadata(bytes: &[u8]) -> Option<Struct> {
    let mut found = None;
    for_each_entry(bytes, 0, |key, value, _| {
        if key == "istio" {
            found = Some(Struct::decode(value)?);
        }
        Ok(())
    })
    .ok()?;
    found
}

impl Service {
    /// Reads `istio.services[0]` from serialized cluster metadata.
    pub fn from_cluster_metadata(bytes: &[u8]) -> Option<Self> {
        let istio = istio_metadata(bytes)?;
        let Some(Value::List(services)) = istio.get("services") else {
            return None;
        };
        let Some(Value::Struct(first)) = services.first() else {
            return None;
        };
        let host = first.str("host").unwrap_or_default().to_owned();
        let name = match first.str("name") {
            Some(n) if !n.is_empty() => n.to_owned(),
            _ => host.split('.').next().unwrap_or_default().to_owned(),
        };
        Some(Self {
            host: sanitized(&host),
            name: sanitized(&name),
            namespace: sanitized(first.str("namespace").unwrap_or_default()),
        })
    }
}

/// One finished request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The request's content-type is gRPC.
    pub grpc: bool,
    /// Host / `:authority` (empty when the fallback is disabled).
    pub host: String,
    /// HTTP status; 0 when no response was sent.
    pub response_code: i64,
    pub grpc_status: Option<i64>,
    pub flags: u64,
    pub duration_ms: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub route_name: String,
    pub cluster_name: String,
    pub service: Option<Rc<Service>>,
    /// The peer presented a certificate Envoy verified (downstream: `connection.mtls`; upstream:
    /// a peer URI SAN is known), so its metadata is checked against [`Request::peer_san`].
    pub peer_cert: bool,
    /// URI SAN of the peer's certificate on the connection that matters for this reporter.
    pub peer_san: String,
    /// URI SAN of our own certificate on that connection.
    pub local_san: String,
}

fn text(host: &dyn Host, path: &[&str]) -> String {
    match host.property(path) {
        Ok(Some(b)) => String::from_utf8(b).unwrap_or_default(),
        _ => String::new(),
    }
}

fn number(host: &dyn Host, path: &[&str]) -> Option<i64> {
    match host.property(path) {
        Ok(Some(b)) => int(&b),
        _ => None,
    }
}

impl Request {
    /// Reads the attributes available at the end of the stream. `services` caches the parsed
    /// cluster metadata by cluster name so it is decoded once per cluster, not per request.
    pub fn read(
        host: &dyn Host,
        reporter: Reporter,
        grpc: bool,
        authority: String,
        services: &mut HashMap<String, Option<Rc<Service>>>,
    ) -> Self {
        let nonneg = |v: Option<i64>| v.unwrap_or(0).max(0) as u64;
        let mut r = Self::read_connection(host, reporter, services);
        r.grpc = grpc;
        r.host = authority;
        r.response_code = number(host, &["response", "code"]).unwrap_or(0);
        r.duration_ms = nonneg(number(host, &["request", "duration"])) / 1_000_000;
        r.request_bytes = nonneg(number(host, &["request", "total_size"]));
        r.response_bytes = nonneg(number(host, &["response", "total_size"]));
        if grpc {
            r.grpc_status = number(host, &["response", "grpc_status"]);
        }
        if reporter != Reporter::Destination {
            // block_all / allow_any exist only on outbound routes (a TCP proxy has no route).
            r.route_name = text(host, &["xds", "route_name"]);
        }
        r
    }

    /// What a TCP connection has of it: flags, route, cluster and service, TLS identities
    /// (no status, duration or sizes: each read is a call out of the VM).
    pub fn read_connection(
        host: &dyn Host,
        reporter: Reporter,
        services: &mut HashMap<String, Option<Rc<Service>>>,
    ) -> Self {
        let mut r = Self {
            flags: number(host, &["response", "flags"]).unwrap_or(0).max(0) as u64,
            ..Self::default()
        };
        r.cluster_name = text(host, &["xds", "cluster_name"]);
        if !r.cluster_name.is_empty() {
            r.service = match services.get(&r.cluster_name) {
                Some(s) => s.clone(),
                None => {
                    let s = host
                        .property(&["xds", "cluster_metadata"])
                        .ok()
                        .flatten()
                        .and_then(|b| Service::from_cluster_metadata(&b))
                        .map(Rc::new);
                    if services.len() >= 1024 {
                        services.clear();
                    }
                    services.insert(r.cluster_name.clone(), s.clone());
                    s
                }
            };
        }
        match reporter {
            Reporter::Source => {
                r.peer_san = text(host, &["upstream", "uri_san_peer_certificate"]);
                r.peer_cert = !r.peer_san.is_empty();
                if r.peer_cert {
                    r.local_san = text(host, &["upstream", "uri_san_local_certificate"]);
                }
            }
            Reporter::Destination | Reporter::Waypoint => {
                let mtls = matches!(host.property(&["connection", "mtls"]), Ok(Some(b)) if b.first() == Some(&1));
                r.peer_cert = mtls;
                if mtls {
                    r.peer_san = text(host, &["connection", "uri_san_peer_certificate"]);
                    r.local_san = text(host, &["connection", "uri_san_local_certificate"]);
                }
            }
        }
        r
    }
}

/// The upstream endpoint's `istio.workload` value, from serialized host metadata.
pub fn endpoint_workload(bytes: &[u8]) -> Option<String> {
    istio_metadata(bytes)?.str("workload").map(str::to_owned)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::peer::wire::Value;

    /// Serialized `Metadata{filter_metadata{"istio": istio}}` for tests.
    pub(crate) fn metadata(istio: Struct) -> Vec<u8> {
        // Metadata's map<string, Struct> has the wire layout of a Struct whose value is the
        // Struct's bytes in field 2: build it as a Struct with a struct_value, then unwrap the
        // Value layer by re-encoding by hand.
        let inner = istio.encode();
        let mut entry = vec![0x0a, 5];
        entry.extend_from_slice(b"istio");
        entry.push(0x12);
        entry.push(inner.len() as u8);
        entry.extend_from_slice(&inner);
        let mut out = vec![0x0a, entry.len() as u8];
        out.extend(entry);
        out
    }

    fn sv(s: &str) -> Value {
        Value::String(s.into())
    }

    /// Demonstrates reading istiod's service metadata, with the name derived from the host.
    #[test]
    fn service_from_cluster_metadata() {
        let svc = |fields: Vec<(&str, Value)>| {
            let s = Struct(fields.into_iter().map(|(k, v)| (k.into(), v)).collect());
            metadata(Struct(vec![(
                "services".into(),
                Value::List(vec![Value::Struct(s)]),
            )]))
        };
        let full = svc(vec![
            ("host", sv("server.default.svc.cluster.local")),
            ("name", sv("server")),
            ("namespace", sv("default")),
        ]);
        assert_eq!(
            Service::from_cluster_metadata(&full),
            Some(Service {
                host: "server.default.svc.cluster.local".into(),
                name: "server".into(),
                namespace: "default".into()
            })
        );
        let no_name = svc(vec![("host", sv("reviews.bookinfo.svc.cluster.local"))]);
        assert_eq!(
            Service::from_cluster_metadata(&no_name).unwrap().name,
            "reviews"
        );
        assert_eq!(Service::from_cluster_metadata(&[0xff, 0x01]), None);
        let workload = metadata(Struct(vec![("workload".into(), sv("a;b;c;d;e"))]));
        assert_eq!(endpoint_workload(&workload).as_deref(), Some("a;b;c;d;e"));
    }
}
