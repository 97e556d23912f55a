//! The 25 standard label values for one request, per Istio's derivation table (client sidecar
//! `source`, server sidecar `destination`, `waypoint`).

use crate::config::Reporter;
use crate::encode::{push_int, push_sanitized};
use crate::flags::write_short_codes;
use crate::labels::idx;
use crate::peer::Peer;
use crate::request::Request;

const UNKNOWN: &str = "unknown";
const LATEST: &str = "latest";

/// Stands in for a peer nobody told us about: every field unknown.
static NO_PEER: Peer = Peer {
    name: String::new(),
    workload: String::new(),
    namespace: String::new(),
    cluster: String::new(),
    identity: String::new(),
    service_account: String::new(),
    app: String::new(),
    version: String::new(),
    canonical_service: String::new(),
    canonical_revision: String::new(),
    kind: String::new(),
    labels: Vec::new(),
};

/// Clusters whose name is itself the destination service name.
const NAMED_CLUSTERS: [&str; 5] = [
    "BlackHoleCluster",
    "PassthroughCluster",
    "InboundPassthroughCluster",
    "InboundPassthroughClusterIpv4",
    "InboundPassthroughClusterIpv6",
];

/// Reusable buffers for the 25 values (no allocation per request once warm).
pub type Values = [String; 25];

fn or<'a>(v: &'a str, default: &'a str) -> &'a str {
    if v.is_empty() {
        default
    } else {
        v
    }
}

/// True when `part` is a slice of `whole` (a value taken from an untrusted input).
fn within(part: &str, whole: &str) -> bool {
    let (p, w) = (part.as_ptr() as usize, whole.as_ptr() as usize);
    !part.is_empty() && p >= w && p + part.len() <= w + whole.len()
}

/// `destination_service`, `_name` and `_namespace` candidates per Istio's rules (empty when
/// not known); `use_host` is false when the Host fallback is disabled.
fn destination_service(req: &Request, use_host: bool) -> (&str, &str, &str) {
    let (mut host, mut name, mut ns) = if use_host {
        (req.host.as_str(), req.host.as_str(), "")
    } else {
        ("", "", "")
    };
    if req.route_name == "block_all" {
        name = "BlackHoleCluster";
    } else if req.route_name == "allow_any" {
        name = "PassthroughCluster";
    } else if let Some(c) = NAMED_CLUSTERS.iter().find(|c| **c == req.cluster_name) {
        name = c;
    } else if let Some(svc) = req.service.as_deref() {
        host = &svc.host;
        name = &svc.name;
        ns = &svc.namespace;
    }
    (host, name, ns)
}

/// Fills `out` with the standard label values in [`crate::labels::NAMES`] order.
/// `downstream` is the peer that sent the request (inbound and waypoint), `upstream` the one that
/// answered it (outbound and waypoint).
pub fn derive(
    out: &mut Values,
    reporter: Reporter,
    local: &Peer,
    downstream: Option<&Peer>,
    upstream: Option<&Peer>,
    req: &Request,
    use_host: bool,
) {
    for v in out.iter_mut() {
        v.clear();
    }
    // Peer, local and cluster-metadata values are sanitized once when they are decoded; only
    // the per-request Host and certificate SANs are sanitized here.
    let untrusted = [
        req.host.as_str(),
        req.peer_san.as_str(),
        req.local_san.as_str(),
    ];
    let mut set = |i: usize, v: &str| {
        if let Some(slot) = out.get_mut(i) {
            if untrusted.iter().any(|u| within(v, u)) {
                push_sanitized(slot, v);
            } else {
                slot.push_str(v);
            }
        }
    };
    set(idx::REPORTER, reporter.as_str());
    let (svc_host, svc_name, svc_ns) = destination_service(req, use_host);

    // The source side: ourselves on a client sidecar, else the downstream peer.
    if reporter == Reporter::Source {
        set(idx::SOURCE_WORKLOAD, &local.workload);
        set(idx::SOURCE_CANONICAL_SERVICE, &local.canonical_service);
        set(idx::SOURCE_CANONICAL_REVISION, &local.canonical_revision);
        set(idx::SOURCE_WORKLOAD_NAMESPACE, &local.namespace);
        set(idx::SOURCE_PRINCIPAL, or(&req.local_san, UNKNOWN));
        set(idx::SOURCE_APP, &local.app);
        set(idx::SOURCE_VERSION, &local.version);
        set(idx::SOURCE_CLUSTER, &local.cluster);
    } else {
        let p = downstream.unwrap_or(&NO_PEER);
        let san_ns = Peer::namespace_of(&req.peer_san).unwrap_or_default();
        set(idx::SOURCE_WORKLOAD, or(&p.workload, UNKNOWN));
        set(
            idx::SOURCE_CANONICAL_SERVICE,
            or(&p.canonical_service, UNKNOWN),
        );
        set(
            idx::SOURCE_CANONICAL_REVISION,
            or(&p.canonical_revision, LATEST),
        );
        set(
            idx::SOURCE_WORKLOAD_NAMESPACE,
            or(san_ns, or(&p.namespace, UNKNOWN)),
        );
        set(idx::SOURCE_PRINCIPAL, or(&req.peer_san, UNKNOWN));
        set(idx::SOURCE_APP, or(&p.app, UNKNOWN));
        set(idx::SOURCE_VERSION, or(&p.version, UNKNOWN));
        set(idx::SOURCE_CLUSTER, or(&p.cluster, UNKNOWN));
    }

    // The destination side.
    match reporter {
        Reporter::Destination => {
            set(idx::DESTINATION_WORKLOAD, &local.workload);
            set(idx::DESTINATION_WORKLOAD_NAMESPACE, &local.namespace);
            set(idx::DESTINATION_PRINCIPAL, or(&req.local_san, UNKNOWN));
            set(idx::DESTINATION_APP, &local.app);
            set(idx::DESTINATION_VERSION, &local.version);
            set(
                idx::DESTINATION_SERVICE,
                or(svc_host, &local.canonical_service),
            );
            set(idx::DESTINATION_CANONICAL_SERVICE, &local.canonical_service);
            set(
                idx::DESTINATION_CANONICAL_REVISION,
                &local.canonical_revision,
            );
            set(
                idx::DESTINATION_SERVICE_NAME,
                or(svc_name, &local.canonical_service),
            );
            set(idx::DESTINATION_SERVICE_NAMESPACE, &local.namespace);
            set(idx::DESTINATION_CLUSTER, &local.cluster);
        }
        Reporter::Source | Reporter::Waypoint => {
            let client = reporter == Reporter::Source;
            let p = upstream.unwrap_or(&NO_PEER);
            // On the client the upstream TLS peer is the destination; a waypoint has only
            // the peer's identity.
            let san = if client { req.peer_san.as_str() } else { "" };
            let san_ns = Peer::namespace_of(san).unwrap_or_default();
            let peer_ns = or(san_ns, &p.namespace);
            set(idx::DESTINATION_WORKLOAD, or(&p.workload, UNKNOWN));
            set(idx::DESTINATION_WORKLOAD_NAMESPACE, or(peer_ns, UNKNOWN));
            set(
                idx::DESTINATION_PRINCIPAL,
                or(san, or(&p.identity, UNKNOWN)),
            );
            set(idx::DESTINATION_APP, or(&p.app, UNKNOWN));
            set(idx::DESTINATION_VERSION, or(&p.version, UNKNOWN));
            set(idx::DESTINATION_SERVICE, or(svc_host, UNKNOWN));
            set(
                idx::DESTINATION_CANONICAL_SERVICE,
                or(&p.canonical_service, UNKNOWN),
            );
            let revision_default = if client { LATEST } else { UNKNOWN };
            set(
                idx::DESTINATION_CANONICAL_REVISION,
                or(&p.canonical_revision, revision_default),
            );
            set(idx::DESTINATION_SERVICE_NAME, or(svc_name, UNKNOWN));
            let ns_fallback = if client { peer_ns } else { "" };
            set(
                idx::DESTINATION_SERVICE_NAMESPACE,
                or(svc_ns, or(ns_fallback, UNKNOWN)),
            );
            set(idx::DESTINATION_CLUSTER, or(&p.cluster, UNKNOWN));
        }
    }

    set(
        idx::REQUEST_PROTOCOL,
        if req.grpc { "grpc" } else { "http" },
    );
    if let Some(slot) = out.get_mut(idx::RESPONSE_CODE) {
        push_int(slot, req.response_code);
    }
    if let (true, Some(status), Some(slot)) = (
        req.grpc,
        req.grpc_status,
        out.get_mut(idx::GRPC_RESPONSE_STATUS),
    ) {
        push_int(slot, status);
    }
    if let Some(slot) = out.get_mut(idx::RESPONSE_FLAGS) {
        write_short_codes(req.flags, slot);
    }
    let policy = match reporter {
        Reporter::Source => UNKNOWN,
        _ if !req.peer_san.is_empty() && !req.local_san.is_empty() => "mutual_tls",
        _ => "none",
    };
    if let Some(slot) = out.get_mut(idx::CONNECTION_SECURITY_POLICY) {
        slot.push_str(policy);
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::labels::NAMES;
    use crate::request::Service;

    fn productpage() -> Peer {
        Peer {
            name: "productpage-v1-abc".into(),
            workload: "productpage-v1".into(),
            namespace: "default".into(),
            cluster: "client-cluster".into(),
            identity: String::new(),
            service_account: String::new(),
            app: "productpage".into(),
            version: "v1".into(),
            canonical_service: "productpage-v1".into(),
            canonical_revision: "version-1".into(),
            ..Peer::default()
        }
    }

    fn ratings() -> Peer {
        Peer {
            name: "ratings-v1-xyz".into(),
            workload: "ratings-v1".into(),
            namespace: "default".into(),
            cluster: "server-cluster".into(),
            identity: String::new(),
            service_account: String::new(),
            app: "ratings".into(),
            version: "v1".into(),
            canonical_service: "ratings".into(),
            canonical_revision: "version-1".into(),
            ..Peer::default()
        }
    }

    fn service() -> Option<Rc<Service>> {
        Some(Rc::new(Service {
            host: "server.default.svc.cluster.local".into(),
            name: "server".into(),
            namespace: "default".into(),
        }))
    }

    /// Istio's case A (`istio/proxy` stats_test.go), client side.
    const CASE_A: [&str; 25] = [
        "source",
        "productpage-v1",
        "productpage-v1",
        "version-1",
        "default",
        "unknown",
        "productpage",
        "v1",
        "client-cluster",
        "ratings-v1",
        "default",
        "unknown",
        "ratings",
        "v1",
        "server.default.svc.cluster.local",
        "ratings",
        "version-1",
        "server",
        "default",
        "server-cluster",
        "http",
        "200",
        "",
        "-",
        "unknown",
    ];

    struct Case {
        name: &'static str,
        reporter: Reporter,
        local: Peer,
        downstream: Option<Peer>,
        upstream: Option<Peer>,
        req: Request,
        use_host: bool,
        /// Differences from [`CASE_A`].
        want: &'static [(&'static str, &'static str)],
    }

    fn ok_request() -> Request {
        Request {
            response_code: 200,
            service: service(),
            ..Request::default()
        }
    }

    /// Demonstrates the derivation table for client, server and waypoint, with Istio's
    /// upstream test cases (A, B, C, D, F) and the defaults when nothing is known.
    #[test]
    fn derivation_table() {
        let cases = vec![
            Case {
                name: "A client",
                reporter: Reporter::Source,
                local: productpage(),
                downstream: None,
                upstream: Some(ratings()),
                req: ok_request(),
                use_host: true,
                want: &[],
            },
            Case {
                name: "A server",
                reporter: Reporter::Destination,
                local: ratings(),
                downstream: Some(productpage()),
                upstream: None,
                req: ok_request(),
                use_host: false,
                want: &[
                    ("reporter", "destination"),
                    ("connection_security_policy", "none"),
                ],
            },
            Case {
                name: "B grpc",
                reporter: Reporter::Destination,
                local: ratings(),
                downstream: Some(productpage()),
                upstream: None,
                req: Request {
                    grpc: true,
                    grpc_status: Some(7),
                    ..ok_request()
                },
                use_host: false,
                want: &[
                    ("reporter", "destination"),
                    ("connection_security_policy", "none"),
                    ("request_protocol", "grpc"),
                    ("grpc_response_status", "7"),
                ],
            },
            Case {
                name: "C host fallback",
                reporter: Reporter::Source,
                local: productpage(),
                downstream: None,
                upstream: Some(ratings()),
                req: Request {
                    host: "127.0.0.1:18000".into(),
                    service: None,
                    ..ok_request()
                },
                use_host: true,
                want: &[
                    ("destination_service", "127.0.0.1:18000"),
                    ("destination_service_name", "127.0.0.1:18000"),
                ],
            },
            Case {
                name: "D fallback disabled, client",
                reporter: Reporter::Source,
                local: productpage(),
                downstream: None,
                upstream: Some(ratings()),
                req: Request {
                    host: "127.0.0.1:18000".into(),
                    service: None,
                    ..ok_request()
                },
                use_host: false,
                want: &[
                    ("destination_service", "unknown"),
                    ("destination_service_name", "unknown"),
                ],
            },
            Case {
                name: "D fallback disabled, server",
                reporter: Reporter::Destination,
                local: ratings(),
                downstream: Some(productpage()),
                upstream: None,
                req: Request {
                    service: None,
                    ..ok_request()
                },
                use_host: false,
                want: &[
                    ("reporter", "destination"),
                    ("destination_service", "ratings"),
                    ("destination_service_name", "ratings"),
                    ("connection_security_policy", "none"),
                ],
            },
            Case {
                name: "F endpoint metadata (no app/version)",
                reporter: Reporter::Source,
                local: productpage(),
                downstream: None,
                upstream: Peer::from_endpoint(
                    "ratings-v1;default;ratings;version-1;server-cluster",
                ),
                req: ok_request(),
                use_host: true,
                want: &[
                    ("destination_app", "unknown"),
                    ("destination_version", "unknown"),
                ],
            },
            Case {
                name: "client, no peer, 503 UF, passthrough",
                reporter: Reporter::Source,
                local: productpage(),
                downstream: None,
                upstream: None,
                req: Request {
                    response_code: 503,
                    flags: 1 << 5,
                    cluster_name: "PassthroughCluster".into(),
                    host: "example.com".into(),
                    service: None,
                    ..Request::default()
                },
                use_host: true,
                want: &[
                    ("destination_workload", "unknown"),
                    ("destination_workload_namespace", "unknown"),
                    ("destination_app", "unknown"),
                    ("destination_version", "unknown"),
                    ("destination_service", "example.com"),
                    ("destination_canonical_service", "unknown"),
                    ("destination_canonical_revision", "latest"),
                    ("destination_service_name", "PassthroughCluster"),
                    ("destination_service_namespace", "unknown"),
                    ("destination_cluster", "unknown"),
                    ("response_code", "503"),
                    ("response_flags", "UF"),
                ],
            },
            Case {
                name: "server, no peer, mTLS, no response",
                reporter: Reporter::Destination,
                local: ratings(),
                downstream: None,
                upstream: None,
                req: Request {
                    response_code: 0,
                    flags: 1 << 14,
                    peer_san: "spiffe://cluster.local/ns/shop/sa/client".into(),
                    local_san: "spiffe://cluster.local/ns/default/sa/ratings".into(),
                    ..ok_request()
                },
                use_host: false,
                want: &[
                    ("reporter", "destination"),
                    ("source_workload", "unknown"),
                    ("source_canonical_service", "unknown"),
                    ("source_canonical_revision", "latest"),
                    ("source_workload_namespace", "shop"),
                    (
                        "source_principal",
                        "spiffe://cluster.local/ns/shop/sa/client",
                    ),
                    ("source_app", "unknown"),
                    ("source_version", "unknown"),
                    ("source_cluster", "unknown"),
                    (
                        "destination_principal",
                        "spiffe://cluster.local/ns/default/sa/ratings",
                    ),
                    ("response_code", "0"),
                    ("response_flags", "DC"),
                    ("connection_security_policy", "mutual_tls"),
                ],
            },
            Case {
                name: "client with TLS upstream and block_all",
                reporter: Reporter::Source,
                local: productpage(),
                downstream: None,
                upstream: Some(ratings()),
                req: Request {
                    peer_san: "spiffe://cluster.local/ns/other/sa/ratings".into(),
                    local_san: "spiffe://cluster.local/ns/default/sa/productpage".into(),
                    route_name: "block_all".into(),
                    response_code: 502,
                    ..ok_request()
                },
                use_host: true,
                want: &[
                    (
                        "source_principal",
                        "spiffe://cluster.local/ns/default/sa/productpage",
                    ),
                    ("destination_workload_namespace", "other"),
                    (
                        "destination_principal",
                        "spiffe://cluster.local/ns/other/sa/ratings",
                    ),
                    ("destination_service", "unknown"),
                    ("destination_service_name", "BlackHoleCluster"),
                    ("destination_service_namespace", "other"),
                    ("response_code", "502"),
                ],
            },
            Case {
                name: "waypoint",
                reporter: Reporter::Waypoint,
                local: Peer::default(),
                downstream: Some(productpage()),
                upstream: Some(Peer {
                    identity: "spiffe://cluster.global/ns/default/sa/ratings".into(),
                    ..ratings()
                }),
                req: ok_request(),
                use_host: false,
                want: &[
                    ("reporter", "waypoint"),
                    (
                        "destination_principal",
                        "spiffe://cluster.global/ns/default/sa/ratings",
                    ),
                    ("connection_security_policy", "none"),
                ],
            },
            Case {
                name: "waypoint, nothing known upstream",
                reporter: Reporter::Waypoint,
                local: Peer::default(),
                downstream: Some(productpage()),
                upstream: None,
                req: Request {
                    service: None,
                    ..ok_request()
                },
                use_host: false,
                want: &[
                    ("reporter", "waypoint"),
                    ("destination_workload", "unknown"),
                    ("destination_workload_namespace", "unknown"),
                    ("destination_app", "unknown"),
                    ("destination_version", "unknown"),
                    ("destination_service", "unknown"),
                    ("destination_canonical_service", "unknown"),
                    ("destination_canonical_revision", "unknown"),
                    ("destination_service_name", "unknown"),
                    ("destination_service_namespace", "unknown"),
                    ("destination_cluster", "unknown"),
                    ("connection_security_policy", "none"),
                ],
            },
            Case {
                name: "local values are never replaced",
                reporter: Reporter::Source,
                local: Peer {
                    app: String::new(),
                    ..productpage()
                },
                downstream: None,
                upstream: Some(ratings()),
                req: ok_request(),
                use_host: true,
                want: &[("source_app", "")],
            },
        ];
        for case in cases {
            let mut out: Values = Default::default();
            derive(
                &mut out,
                case.reporter,
                &case.local,
                case.downstream.as_ref(),
                case.upstream.as_ref(),
                &case.req,
                case.use_host,
            );
            for (i, name) in NAMES.iter().enumerate() {
                let want = case
                    .want
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| *v)
                    .unwrap_or(CASE_A[i]);
                assert_eq!(out[i], want, "{}: label {name}", case.name);
            }
        }
    }

    /// Demonstrates that per-request inputs (Host, SAN namespace) are sanitized.
    #[test]
    fn untrusted_values_are_sanitized() {
        let req = Request {
            host: "a=.=b;.;c".into(),
            peer_san: "spiffe://td/ns/x;.;y/sa/z".into(),
            local_san: "spiffe://td/ns/default/sa/ratings".into(),
            ..Request::default()
        };
        let mut out: Values = Default::default();
        derive(
            &mut out,
            Reporter::Destination,
            &ratings(),
            None,
            None,
            &req,
            true,
        );
        assert_eq!(out[idx::DESTINATION_SERVICE], "a_._b_._c");
        assert_eq!(out[idx::SOURCE_WORKLOAD_NAMESPACE], "x_._y");
        assert_eq!(out[idx::SOURCE_PRINCIPAL], "spiffe://td/ns/x_._y/sa/z");
    }
}
