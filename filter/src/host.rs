//! The one boundary between the filter's logic and Envoy.

use std::fmt;

/// The kind of an Envoy stat defined through the proxy-wasm ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// Which header map of the current stream a header call works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Headers {
    Request,
    Response,
}

/// A hostcall that did not succeed, naming the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    /// The hostcall, e.g. `define_metric`.
    pub call: &'static str,
    /// The proxy-wasm status as the SDK reports it.
    pub status: String,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.call, self.status)
    }
}

impl std::error::Error for HostError {}

/// What the filter needs from Envoy. Implemented over `proxy_wasm::hostcalls` in the wasm crate
/// and by [`crate::fake::FakeHost`] in tests.
pub trait Host {
    /// Reads a property (`["xds", "node", "metadata", "NAMESPACE"]`); `Ok(None)` when absent.
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError>;
    /// Defines (or looks up) a metric by its full encoded name.
    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, HostError>;
    /// Adds to a counter.
    fn increment_metric(&self, id: u32, offset: i64) -> Result<(), HostError>;
    /// Records a value into a histogram (or sets a gauge).
    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError>;
    /// Reads a header of the current stream; `Ok(None)` when absent.
    fn header(&self, map: Headers, name: &str) -> Result<Option<String>, HostError>;
    /// Sets (replaces) a header of the current stream; `None` removes it.
    fn set_header(&self, map: Headers, name: &str, value: Option<&str>) -> Result<(), HostError>;
}

/// Which attribute names this Envoy serves for the proxy's own configuration: `xds.*` (Envoy 1.30
/// and later, Istio 1.22+) or the legacy root names (`node`, `cluster_name`, `cluster_metadata`,
/// `listener_direction`, `route_name`, `upstream_host_metadata`, ...; removed in Envoy 1.33, Istio
/// 1.26). Istio 1.22–1.25 proxies serve both. Chosen once per VM by [`AttributeNames::detect`], so
/// no request tries a path twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttributeNames {
    #[default]
    Xds,
    Legacy,
}

/// The legacy root attributes that became `xds.<same name>`.
pub const LEGACY_ROOTS: [&str; 9] = [
    "node",
    "cluster_name",
    "cluster_metadata",
    "listener_direction",
    "listener_metadata",
    "route_name",
    "route_metadata",
    "upstream_host_metadata",
    "filter_chain_name",
];

impl AttributeNames {
    /// `xds` when `xds.node.id` answers, else `legacy` when `node.id` does, else `xds`.
    pub fn detect(host: &dyn Host) -> Self {
        if matches!(host.property(&["xds", "node", "id"]), Ok(Some(_))) {
            return Self::Xds;
        }
        match host.property(&["node", "id"]) {
            Ok(Some(_)) => Self::Legacy,
            _ => Self::Xds,
        }
    }

    /// The name the logs and docs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Xds => "xds.*",
            Self::Legacy => "legacy (node, cluster_name, ...)",
        }
    }

    /// `host` seen through these names: the filter always asks for `xds.*`; on a legacy Envoy the
    /// `xds` prefix is dropped before the call.
    pub fn wrap(self, host: &dyn Host) -> Attributes<'_> {
        Attributes { host, names: self }
    }
}

/// A [`Host`] whose `xds.*` properties are served under the names this Envoy knows.
pub struct Attributes<'a> {
    host: &'a dyn Host,
    names: AttributeNames,
}

impl Host for Attributes<'_> {
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        match (self.names, path) {
            (AttributeNames::Legacy, ["xds", rest @ ..]) if !rest.is_empty() => {
                self.host.property(rest)
            }
            _ => self.host.property(path),
        }
    }
    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, HostError> {
        self.host.define_metric(kind, name)
    }
    fn increment_metric(&self, id: u32, offset: i64) -> Result<(), HostError> {
        self.host.increment_metric(id, offset)
    }
    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError> {
        self.host.record_metric(id, value)
    }
    fn header(&self, map: Headers, name: &str) -> Result<Option<String>, HostError> {
        self.host.header(map, name)
    }
    fn set_header(&self, map: Headers, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.host.set_header(map, name, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeHost;

    /// Demonstrates the choice between `xds.*` and the legacy names, and that a legacy Envoy is
    /// asked for the legacy name only.
    #[test]
    fn legacy_names() {
        let mut xds = FakeHost::default();
        xds.set_str("xds.node.id", "sidecar~a");
        xds.set_str("node.id", "sidecar~a");
        assert_eq!(AttributeNames::detect(&xds), AttributeNames::Xds);
        let mut legacy = FakeHost::default();
        legacy.set_str("node.id", "sidecar~b");
        legacy.set_str("cluster_name", "outbound|80||server");
        assert_eq!(AttributeNames::detect(&legacy), AttributeNames::Legacy);
        assert_eq!(
            AttributeNames::detect(&FakeHost::default()),
            AttributeNames::Xds
        );
        let seen = AttributeNames::Legacy.wrap(&legacy);
        assert_eq!(
            seen.property(&["xds", "cluster_name"]).unwrap().as_deref(),
            Some(&b"outbound|80||server"[..])
        );
        assert_eq!(seen.property(&["xds"]).unwrap(), None);
        assert_eq!(
            AttributeNames::Xds
                .wrap(&legacy)
                .property(&["xds", "cluster_name"])
                .unwrap(),
            None
        );
    }
}
