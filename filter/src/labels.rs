//! The 25 standard labels of Istio's HTTP metrics, in the order Istio's stats filter pushes them.

/// The standard label names, in Istio's order (`reporter` first, `connection_security_policy`
/// last). `istio/envoy/stats_tags.yaml` has one tag regex per name.
pub const NAMES: [&str; 25] = [
    "reporter",
    "source_workload",
    "source_canonical_service",
    "source_canonical_revision",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_service_name",
    "destination_service_namespace",
    "destination_cluster",
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "response_flags",
    "connection_security_policy",
];

/// The labels of `istio_build` (`component="proxy"`, `tag=<version>`), encoded like the others.
pub const BUILD_NAMES: [&str; 2] = ["component", "tag"];

/// Every label name the filter encodes into a stat name, in order: [`NAMES`], then
/// [`BUILD_NAMES`]. `istio/envoy/stats_tags.yaml` and the generated mesh config list exactly
/// these.
pub fn all() -> impl Iterator<Item = &'static str> {
    NAMES.iter().chain(BUILD_NAMES.iter()).copied()
}

/// The standard labels a family of `domain` carries, as Istio's stats filter pushes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Domain {
    /// HTTP and gRPC requests: all 25.
    Http,
    /// gRPC message counters: `reporter` and the 19 peer labels (Istio counts them before it
    /// pushes `request_protocol`).
    Messages,
    /// TCP connections: all but `response_code` and `grpc_response_status`.
    Tcp,
}

impl Domain {
    /// Whether standard label `i` belongs to this domain's families.
    pub fn has(self, i: usize) -> bool {
        match self {
            Domain::Http => i < NAMES.len(),
            Domain::Messages => i < idx::REQUEST_PROTOCOL,
            Domain::Tcp => {
                i < NAMES.len() && i != idx::RESPONSE_CODE && i != idx::GRPC_RESPONSE_STATUS
            }
        }
    }
}

/// Index of each standard label in [`NAMES`].
#[allow(missing_docs)]
pub mod idx {
    pub const REPORTER: usize = 0;
    pub const SOURCE_WORKLOAD: usize = 1;
    pub const SOURCE_CANONICAL_SERVICE: usize = 2;
    pub const SOURCE_CANONICAL_REVISION: usize = 3;
    pub const SOURCE_WORKLOAD_NAMESPACE: usize = 4;
    pub const SOURCE_PRINCIPAL: usize = 5;
    pub const SOURCE_APP: usize = 6;
    pub const SOURCE_VERSION: usize = 7;
    pub const SOURCE_CLUSTER: usize = 8;
    pub const DESTINATION_WORKLOAD: usize = 9;
    pub const DESTINATION_WORKLOAD_NAMESPACE: usize = 10;
    pub const DESTINATION_PRINCIPAL: usize = 11;
    pub const DESTINATION_APP: usize = 12;
    pub const DESTINATION_VERSION: usize = 13;
    pub const DESTINATION_SERVICE: usize = 14;
    pub const DESTINATION_CANONICAL_SERVICE: usize = 15;
    pub const DESTINATION_CANONICAL_REVISION: usize = 16;
    pub const DESTINATION_SERVICE_NAME: usize = 17;
    pub const DESTINATION_SERVICE_NAMESPACE: usize = 18;
    pub const DESTINATION_CLUSTER: usize = 19;
    pub const REQUEST_PROTOCOL: usize = 20;
    pub const RESPONSE_CODE: usize = 21;
    pub const GRPC_RESPONSE_STATUS: usize = 22;
    pub const RESPONSE_FLAGS: usize = 23;
    pub const CONNECTION_SECURITY_POLICY: usize = 24;
}

/// The position of a standard label name, if it is one.
pub fn position(name: &str) -> Option<usize> {
    NAMES.iter().position(|n| *n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates that the index constants agree with the name list.
    #[test]
    fn indexes_match_names() {
        let pairs = [
            (idx::REPORTER, "reporter"),
            (idx::SOURCE_PRINCIPAL, "source_principal"),
            (idx::DESTINATION_WORKLOAD, "destination_workload"),
            (idx::DESTINATION_SERVICE_NAME, "destination_service_name"),
            (idx::DESTINATION_CLUSTER, "destination_cluster"),
            (idx::RESPONSE_CODE, "response_code"),
            (
                idx::CONNECTION_SECURITY_POLICY,
                "connection_security_policy",
            ),
        ];
        for (i, name) in pairs {
            assert_eq!(NAMES[i], name);
            assert_eq!(position(name), Some(i));
        }
        assert_eq!(position("request_host"), None);
    }

    /// Demonstrates Istio's label sets for TCP (23, `request_protocol` then `response_flags`
    /// and `connection_security_policy`) and the gRPC message counters (20).
    #[test]
    fn domain_label_sets() {
        let names = |d: Domain| -> Vec<&str> {
            (0..NAMES.len())
                .filter(|i| d.has(*i))
                .map(|i| NAMES[i])
                .collect()
        };
        assert_eq!(names(Domain::Http), NAMES);
        let tcp = names(Domain::Tcp);
        assert_eq!(tcp.len(), 23);
        assert_eq!(
            tcp[19..],
            [
                "destination_cluster",
                "request_protocol",
                "response_flags",
                "connection_security_policy"
            ]
        );
        let messages = names(Domain::Messages);
        assert_eq!(messages.len(), 20);
        assert_eq!(messages.last(), Some(&"destination_cluster"));
        assert_eq!(all().count(), 27);
    }
}
