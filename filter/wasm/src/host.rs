//! [`Host`] over `proxy_wasm::hostcalls`: the only place the filter calls Envoy.

use mixerless_filter::{Headers, Host, HostError, MetricKind};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{MapType, MetricType, Status};

/// The host of the running VM.
pub(crate) struct WasmHost;

fn failed(call: &'static str, status: Status) -> HostError {
    HostError {
        call,
        status: format!("{status:?}"),
    }
}

fn map(headers: Headers) -> MapType {
    match headers {
        Headers::Request => MapType::HttpRequestHeaders,
        Headers::Response => MapType::HttpResponseHeaders,
    }
}

impl Host for WasmHost {
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        hostcalls::get_property(path.to_vec()).map_err(|s| failed("get_property", s))
    }

    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, HostError> {
        let kind = match kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
            MetricKind::Histogram => MetricType::Histogram,
        };
        hostcalls::define_metric(kind, name).map_err(|s| failed("define_metric", s))
    }

    fn increment_metric(&self, id: u32, offset: i64) -> Result<(), HostError> {
        hostcalls::increment_metric(id, offset).map_err(|s| failed("increment_metric", s))
    }

    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError> {
        hostcalls::record_metric(id, value).map_err(|s| failed("record_metric", s))
    }

    fn header(&self, headers: Headers, name: &str) -> Result<Option<String>, HostError> {
        hostcalls::get_map_value(map(headers), name).map_err(|s| failed("get_map_value", s))
    }

    fn set_header(
        &self,
        headers: Headers,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), HostError> {
        hostcalls::set_map_value(map(headers), name, value).map_err(|s| failed("set_map_value", s))
    }
}
