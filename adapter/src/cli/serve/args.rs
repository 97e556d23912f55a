//! `serve`'s flags: every one with its `--help` text.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args as ClapArgs;

use crate::scrape;

/// Serve `external.metrics.k8s.io/v1beta1` for the HPAs in `--hpa-dir` or the cluster.
///
/// Embedded (default): scrape the sidecars given by `--target` and `--file-sd`, keep
/// `--retention` of samples in memory, and evaluate each HPA's PromQL every `--query-interval`
/// (or its `interval` annotation). Remote: with `--prometheus-url`, evaluate the same queries
/// against a Prometheus-compatible API instead. The API is served over HTTPS on `--listen`.
#[derive(Debug, Clone, ClapArgs)]
#[command(group(clap::ArgGroup::new("hpas").args(["hpa_dir", "kube"]).required(true).multiple(true)))]
pub struct Args {
    /// Scrape this URL (repeatable), e.g. http://10.0.0.7:15090/stats/prometheus.
    #[arg(long = "target", value_name = "URL")]
    pub targets: Vec<String>,
    /// Prometheus file_sd file (JSON or YAML) of host:port targets, re-read when it changes
    /// (repeatable). `__metrics_path__` defaults to /stats/prometheus, `__scheme__` to http. A
    /// file that fails to load keeps its previous targets, its error on /status. A target is
    /// its URL plus its labels: one listed twice is scraped once, with a warning.
    #[arg(long = "file-sd", value_name = "PATH")]
    pub file_sd: Vec<PathBuf>,
    /// Directory of HorizontalPodAutoscaler manifests (*.yaml, *.yml, *.json) carrying
    /// kube-metrics-adapter annotations; re-read once a change has settled (the same sizes and
    /// times at two polls a second apart). A file that does not parse keeps serving the HPAs of
    /// its last good version, its error on /status and in the log.
    #[arg(long, value_name = "DIR")]
    pub hpa_dir: Option<PathBuf>,
    /// In a cluster: scrape the Ready pods that run an Istio sidecar and read autoscaling/v2
    /// HPAs from the API server (in-cluster service account or $KUBECONFIG), both watched (a
    /// change arrives within a second); annotation problems become Warning Events on the HPA.
    #[arg(long)]
    pub kube: bool,
    /// With --kube: only these namespaces (comma-separated; default all).
    #[arg(long, value_delimiter = ',', value_name = "NS", requires = "kube")]
    pub kube_namespace: Vec<String>,
    /// With --kube: only pods matching this label selector (e.g. app=podinfo), applied by the
    /// API server, so other pods are never sent.
    #[arg(long, default_value = "", value_name = "SELECTOR", requires = "kube")]
    pub kube_pod_selector: String,
    /// With --kube: the sidecar's metrics port, 15020 (merged) or 15090 (Envoy's own).
    #[arg(long, default_value_t = 15020, requires = "kube")]
    pub kube_metrics_port: u16,
    /// With --kube: the path on that port.
    #[arg(long, default_value = "/stats/prometheus", requires = "kube")]
    pub kube_metrics_path: String,
    /// Deprecated and ignored (accepted so existing manifests keep starting, with a warning):
    /// pods and HPAs are watched, so a change arrives within a second and nothing is listed on
    /// a timer.
    #[arg(long, value_parser = humantime::parse_duration, requires = "kube", value_name = "DURATION")]
    pub kube_resync: Option<Duration>,
    /// Evaluate queries on this Prometheus-compatible API instead of scraping
    /// (Prometheus, Thanos, Mimir, VictoriaMetrics).
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,
    /// Bearer token for --prometheus-url, read from this file on every query.
    #[arg(long, value_name = "PATH", requires = "prometheus_url")]
    pub prometheus_bearer_token_file: Option<PathBuf>,
    /// A Prometheus that HPAs may pick by name with the `prometheus-server-alias` annotation
    /// (repeatable; kube-metrics-adapter's --additional-prometheus-server). Queried without the
    /// bearer token, like `prometheus-server` URLs. An alias not given here is an error for
    /// the metric that names it.
    #[arg(long, value_name = "NAME=URL", value_parser = server_alias)]
    pub prometheus_server_alias: Vec<(String, String)>,
    /// PEM CA bundle to trust for an https --prometheus-url (and per-HPA servers).
    #[arg(long, value_name = "PATH")]
    pub prometheus_ca_file: Option<PathBuf>,
    /// HTTPS address of the API.
    #[arg(long, default_value = "0.0.0.0:6443", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// PEM certificate (chain) to serve; without it a self-signed one is made at start.
    #[arg(long, value_name = "PATH", requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls-cert-file.
    #[arg(long, value_name = "PATH", requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,
    /// Only serve clients presenting a certificate signed by this CA (the aggregator's front
    /// proxy); /healthz, /livez and /readyz stay open for probes. Without it every client is
    /// served, and a warning is logged at start when --listen is not a loopback address.
    #[arg(long, value_name = "PATH")]
    pub requestheader_client_ca_file: Option<PathBuf>,
    /// Common names allowed in client certificates (comma-separated; empty: any).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "NAMES",
        requires = "requestheader_client_ca_file"
    )]
    pub requestheader_allowed_names: Vec<String>,
    /// A client's TLS handshake must complete within this, else the connection is closed.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub tls_handshake_timeout: Duration,
    /// A request's line and headers must arrive within this (HTTP/1: from the handshake or the
    /// previous response, so it also closes an idle HTTP/1 keep-alive connection); a new
    /// connection of either protocol must start its first request within it. Clients that
    /// trickle headers or connect and say nothing are closed after it.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,
    /// A connection with no request in progress for this long is closed (HTTP/2 with a
    /// GOAWAY); a request is done once its handler has answered, so a client that does not
    /// read its answer is closed too. HTTP/2 connections are also pinged after 20 s of silence and closed when the
    /// ping is not answered within 10 s; each may carry 100 requests at once.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// Client connections open at once (handshakes included). Beyond it the server stops
    /// accepting: new connections wait in the listen backlog until open ones finish or time
    /// out (logged at most every 10 s, counted in
    /// mixerless_adapter_http_connection_limit_waits_total).
    #[arg(long, default_value_t = 512)]
    pub max_connections: usize,
    /// How often each target is scraped.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub scrape_interval: Duration,
    /// Per-scrape timeout (connect, headers and body); at most --scrape-interval. Default: 3s,
    /// or the scrape interval when that is shorter (as Prometheus does).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub scrape_timeout: Option<Duration>,
    /// Scrapes running at the same time, at most.
    #[arg(long, default_value_t = 64)]
    pub scrape_concurrency: usize,
    /// Keep each target's connection open between scrapes (as Prometheus does). It saves a
    /// TCP handshake per scrape and costs memory: an idle connection keeps its read buffer,
    /// grown to fit the last body (about 550 KB per sidecar-sized target). Off, the adapter
    /// connects for every scrape and holds nothing per target between scrapes
    #[arg(long)]
    pub scrape_keep_alive: bool,
    /// Largest scrape body accepted, in bytes; a larger one fails that scrape.
    #[arg(long, default_value_t = 16 << 20)]
    pub scrape_body_limit: usize,
    /// Most samples of kept metrics (those HPA queries read and --keep-metrics) one scrape may
    /// store (0: no limit); past it the scrape fails, the target is marked down and no further
    /// series of it are created. A sidecar exposes about 67 istio_* series per label set
    /// (requests, three 20-bucket histograms with sum and count), all kept by default
    #[arg(long, default_value_t = 50_000)]
    pub scrape_sample_limit: usize,
    /// Most series one target may hold in the store (0: no limit), its earlier series counting
    /// until --retention drops them; past it the scrape fails and the target is marked down. It
    /// stops a target that writes new series every scrape from filling --max-series and
    /// starving every other target's new series
    #[arg(long, default_value_t = 50_000)]
    pub target_series_limit: usize,
    /// Most series the store holds; about 0.8 KB each with 10 minutes of samples at 5 s, so
    /// the default fits a 512 MiB container with room to spare. When it is full, a target holding less than its fair
    /// share (this over the targets) gets room from the newest series of the target holding
    /// the most; other new series are refused, counted per target and shown in /status
    #[arg(long, default_value_t = 150_000)]
    pub max_series: usize,
    /// Besides the metrics HPA queries read, keep every metric whose whole name matches this
    /// regular expression, for /api/v1 clients (Flagger, Grafana); empty: only what HPA queries
    /// read. An /api/v1 query reading a metric that is not kept gets a `warnings` entry saying
    /// so. Series kept only for it fill at most half of --max-series, --target-series-limit
    /// and --scrape-sample-limit; past it they are dropped and the scrape goes on
    #[arg(long, default_value = "istio_.*", value_name = "REGEX")]
    pub keep_metrics: String,
    /// `job` label of targets that name none.
    #[arg(long, default_value = "envoy-stats")]
    pub job: String,
    /// Formats asked for in the Accept header, in order of preference (comma-separated;
    /// Prometheus 3's `scrape_protocols` and default): OpenMetricsText1.0.0,
    /// OpenMetricsText0.0.1, PrometheusText1.0.0, PrometheusText0.0.4. A body is parsed by the
    /// response's Content-Type, whatever was asked. A file_sd group overrides it with the label
    /// `__scrape_protocols__`.
    #[arg(
        long,
        value_name = "PROTOCOLS",
        value_delimiter = ',',
        default_value = "OpenMetricsText1.0.0,OpenMetricsText0.0.1,PrometheusText1.0.0,PrometheusText0.0.4"
    )]
    pub scrape_protocols: Vec<scrape::Protocol>,
    /// How to read a response whose Content-Type is missing, unparsable or neither text/plain
    /// nor application/openmetrics-text (one protocol name, e.g. PrometheusText0.0.4). Without
    /// it such a scrape fails and the target is down, as in Prometheus 3 (its
    /// `fallback_scrape_protocol`). A file_sd group overrides it with the label
    /// `__fallback_scrape_protocol__`.
    #[arg(long, value_name = "PROTOCOL")]
    pub fallback_scrape_protocol: Option<scrape::Protocol>,
    /// How long samples are kept in memory (the longest range a query may read); a metric no
    /// HPA query reads any more stays kept this long, so an HPA added back keeps its history.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub retention: Duration,
    /// How often a query without an `interval` annotation is evaluated (default: the scrape
    /// interval; kube-metrics-adapter uses 60s).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub query_interval: Option<Duration>,
    /// Timeout of one query evaluation (HPA queries and /api/v1 alike; Prometheus: 2m). An
    /// HPA query takes milliseconds; this bounds the CPU one hostile query (an annotation or an
    /// /api/v1 client) can burn. A timed-out /api/v1 query answers 503 `timeout`, an HPA query
    /// gets an error.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub query_timeout: Duration,
    /// Most samples one query evaluation may hold at once (HPA queries and /api/v1 alike;
    /// Prometheus' --query.max-samples, 50,000,000 there). A held sample costs 16–40 bytes, so
    /// the default bounds one query to roughly 40 MB; an HPA query over 1,000 pods' series
    /// holds a few tens of thousands. Beyond it /api/v1 answers 422 `execution` and the HPA
    /// gets an error.
    #[arg(long, default_value_t = crate::querier::embedded::QueryLimits::DEFAULT_MAX_SAMPLES)]
    pub query_max_samples: usize,
    /// Longest PromQL expression accepted, in bytes (HPA annotations, /api/v1 and the CLI
    /// alike). It bounds the memory a query can make the parser and the regex compiler take:
    /// an HPA query is about 100 bytes, a large dashboard query a few KB. Longer: /api/v1
    /// answers 400 `bad_data`, the HPA metric gets an annotation error.
    #[arg(long, default_value_t = mixerless_engine::promql::ParseLimits::DEFAULT.max_length, value_name = "BYTES")]
    pub query_max_length: usize,
    /// Deepest PromQL expression accepted, counted before parsing as the deepest bracket
    /// nesting plus the number of operators (`a + b + c` is 2, `sum(rate(x[1m]))` is 3). The
    /// parser and the evaluator recurse once per level; the bound keeps a hostile expression
    /// (`1+1+…` thousands long, thousands of parentheses) from overflowing a thread's stack,
    /// which would abort the process. HPA queries are under 10 deep.
    #[arg(long, default_value_t = mixerless_engine::promql::ParseLimits::DEFAULT.max_depth, value_name = "N")]
    pub query_max_depth: usize,
    /// Most /api/v1 evaluations (query, query_range, series, labels) at once, half of them (at
    /// least one) for long queries: more than 10,000 evaluation steps (subqueries, range
    /// queries), the only way to run up to the timeout. A request beyond it waits up to
    /// --query-timeout for a slot, then gets 503 `unavailable`. HPA evaluations never wait.
    #[arg(long, default_value_t = crate::querier::embedded::QueryLimits::DEFAULT_CONCURRENCY)]
    pub query_concurrency: usize,
    /// A value older than this many query intervals is not served (the HPA sees an error).
    #[arg(long, default_value_t = 3)]
    pub stale_intervals: u32,
    /// After a start or restart the store's history is short: `rate(x[1m])` over 20 s of data
    /// reads about a third of the true rate. `refuse`: an HPA query is answered 503 "warming
    /// up" until the history since the first successful scrape covers the range it reads
    /// (offsets and subqueries included; irate/idelta/last_over_time need no history), and
    /// /readyz says not ready meanwhile; `serve`: serve it at once, marked partial on /status
    /// and in the log. A new or edited query reading a metric the store was not keeping warms
    /// up the same way from the first scrape after the store began keeping it (/readyz stays
    /// ready: every replica warms it up alike).
    #[arg(long, value_enum, default_value = "refuse")]
    pub partial_data: crate::provider::PartialData,
    /// Also serve KEDA's external scaler (`externalscaler.ExternalScaler`, gRPC) on this
    /// address, for `external` and `external-push` triggers with a PromQL `query` (see README,
    /// "KEDA"). Plain HTTP/2 unless --keda-tls-cert-file is given.
    #[arg(long, value_name = "ADDR")]
    pub keda_grpc: Option<SocketAddr>,
    /// PEM certificate (chain) of the KEDA endpoint (KEDA's `caCert` must trust it).
    #[arg(long, value_name = "PATH", requires_all = ["keda_grpc", "keda_tls_private_key_file"])]
    pub keda_tls_cert_file: Option<PathBuf>,
    /// PEM private key of --keda-tls-cert-file.
    #[arg(long, value_name = "PATH", requires = "keda_tls_cert_file")]
    pub keda_tls_private_key_file: Option<PathBuf>,
    /// Only serve KEDA clients presenting a certificate signed by this CA (KEDA's
    /// `tlsClientCert` / `tlsClientKey`); others fail the TLS handshake.
    #[arg(long, value_name = "PATH", requires = "keda_tls_cert_file")]
    pub keda_client_ca_file: Option<PathBuf>,
    /// Also write the self-signed certificate's PEM here (for clients that pin it).
    #[arg(long, value_name = "PATH", conflicts_with = "tls_cert_file")]
    pub write_self_signed_cert: Option<PathBuf>,
}

impl Args {
    /// The KEDA endpoint the `--keda-*` flags ask for.
    pub fn keda(&self) -> crate::keda::Endpoint {
        crate::keda::Endpoint {
            addr: self.keda_grpc,
            tls_cert_file: self.keda_tls_cert_file.clone(),
            tls_private_key_file: self.keda_tls_private_key_file.clone(),
            client_ca_file: self.keda_client_ca_file.clone(),
        }
    }
}

/// `NAME=URL` of --prometheus-server-alias.
fn server_alias(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, url)) if !name.trim().is_empty() && !url.trim().is_empty() => {
            Ok((name.trim().to_owned(), url.trim().to_owned()))
        }
        _ => Err(format!("{s:?} is not NAME=URL")),
    }
}
