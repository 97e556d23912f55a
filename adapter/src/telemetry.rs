//! The adapter's own metrics, served on `/metrics` (prometheus-client).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of a per-target metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub target: String,
}

/// Labels of a scrape error.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScrapeErrorLabels {
    pub target: String,
    /// `timeout`, `connect`, `http_status`, `too_large`, `content_type`, `parse`, `sample_limit`,
    /// `series_limit`.
    pub reason: String,
}

/// Labels of an API request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub path: String,
    pub code: String,
}

/// Labels of a connection the server closed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabels {
    /// `tls_handshake_timeout`, `tls_handshake_error`, `header_read_timeout`, `idle_timeout`.
    pub reason: String,
}

/// Every metric the adapter reports about itself.
pub struct Telemetry {
    registry: Registry,
    pub scrape_duration: Family<TargetLabels, Histogram>,
    pub scrape_errors: Family<ScrapeErrorLabels, Counter>,
    pub query_duration: Histogram,
    pub query_errors: Counter,
    pub series: Gauge,
    pub samples: Gauge,
    /// Samples of new series the store refused because it holds `--max-series`.
    pub series_dropped: Counter,
    /// The same, by target: the targets the store limits.
    pub target_series_refused: Family<TargetLabels, Counter>,
    /// Series of the largest holders dropped to make room for targets below their share.
    pub series_evicted: Counter,
    /// Samples of metrics kept only for `--keep-metrics`, dropped past half of a store limit.
    pub keep_metrics_dropped: Counter,
    pub hpa_errors: Gauge,
    pub requests: Family<RequestLabels, Counter>,
    pub request_duration: Histogram,
    /// Client connections open (TLS handshakes included).
    pub http_connections: Gauge,
    /// Times the server stopped accepting because `--max-connections` connections were open.
    pub http_connection_limit_waits: Counter,
    /// Client connections the server closed, by reason.
    pub http_connections_closed: Family<ConnectionLabels, Counter>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// Registers every metric under the `mixerless_adapter` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mixerless_adapter");
        let scrape_duration = Family::<TargetLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 14))
        });
        let scrape_errors = Family::<ScrapeErrorLabels, Counter>::default();
        let query_duration = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let query_errors = Counter::default();
        let series = Gauge::default();
        let samples = Gauge::default();
        let series_dropped = Counter::default();
        let target_series_refused = Family::<TargetLabels, Counter>::default();
        let series_evicted = Counter::default();
        let keep_metrics_dropped = Counter::default();
        let hpa_errors = Gauge::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let request_duration = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let http_connections = Gauge::default();
        let http_connection_limit_waits = Counter::default();
        let http_connections_closed = Family::<ConnectionLabels, Counter>::default();
        registry.register(
            "scrape_duration_seconds",
            "Duration of each target's scrapes, ingestion included",
            scrape_duration.clone(),
        );
        registry.register(
            "scrape_errors",
            "Failed scrapes by target and reason",
            scrape_errors.clone(),
        );
        registry.register(
            "query_duration_seconds",
            "Duration of HPA query evaluations",
            query_duration.clone(),
        );
        registry.register(
            "query_errors",
            "HPA query evaluations that produced no servable value",
            query_errors.clone(),
        );
        registry.register(
            "store_series",
            "Series in the embedded store",
            series.clone(),
        );
        registry.register(
            "store_samples",
            "Samples in the embedded store",
            samples.clone(),
        );
        registry.register(
            "store_series_dropped",
            "Samples of new series refused because the store holds --max-series series",
            series_dropped.clone(),
        );
        registry.register(
            "target_series_refused",
            "Samples of new series refused because the store holds --max-series series and the target its fair share of them (--max-series over the targets) or more, by target",
            target_series_refused.clone(),
        );
        registry.register(
            "store_series_evicted",
            "Series of the target holding the most, dropped to make room in a full store for a target below its fair share",
            series_evicted.clone(),
        );
        registry.register(
            "store_keep_metrics_dropped",
            "Samples of metrics kept only for --keep-metrics, dropped past half of --max-series, --target-series-limit or --scrape-sample-limit",
            keep_metrics_dropped.clone(),
        );
        registry.register(
            "hpa_errors",
            "Problems found in the loaded HPAs (annotations, files)",
            hpa_errors.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests served by route and status code",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            request_duration.clone(),
        );
        registry.register(
            "http_connections",
            "Client connections open, TLS handshakes included",
            http_connections.clone(),
        );
        registry.register(
            "http_connection_limit_waits",
            "Times the server stopped accepting because --max-connections connections were open",
            http_connection_limit_waits.clone(),
        );
        registry.register(
            "http_connections_closed",
            "Client connections the server closed, by reason (tls_handshake_timeout, \
             tls_handshake_error, header_read_timeout, idle_timeout)",
            http_connections_closed.clone(),
        );
        Self {
            registry,
            scrape_duration,
            scrape_errors,
            query_duration,
            query_errors,
            series,
            samples,
            series_dropped,
            target_series_refused,
            series_evicted,
            keep_metrics_dropped,
            hpa_errors,
            requests,
            request_duration,
            http_connections,
            http_connection_limit_waits,
            http_connections_closed,
        }
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts a connection the server closed.
    pub fn connection_closed(&self, reason: &str) {
        self.http_connections_closed
            .get_or_create(&ConnectionLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts a failed scrape.
    pub fn scrape_error(&self, target: &str, reason: &str) {
        self.scrape_errors
            .get_or_create(&ScrapeErrorLabels {
                target: target.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }
}
