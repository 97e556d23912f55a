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
