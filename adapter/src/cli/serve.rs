//! `mixerless-adapter serve`: the external metrics API for HPAs.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args as ClapArgs;

use crate::api::{self, AppState, Auth};
use crate::hpa::dir::{self, Snapshot};
use crate::kubernetes::{self, KubeConfig};
use crate::provider::{Provider, ProviderConfig, RemoteFactory};
use crate::querier::remote::{Remote, RemoteConfig};
use crate::querier::Querier;
use crate::scrape::{self, ScrapeConfig, Scraper};
use crate::telemetry::Telemetry;

mod validate;

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
    /// In a cluster: scrape the pods that run an Istio sidecar and read autoscaling/v2 HPAs
    /// from the API server (in-cluster service account or $KUBECONFIG); annotation problems
    /// become Warning Events on the HPA.
    #[arg(long)]
    pub kube: bool,
    /// With --kube: only these namespaces (comma-separated; default all).
    #[arg(long, value_delimiter = ',', value_name = "NS", requires = "kube")]
    pub kube_namespace: Vec<String>,
    /// With --kube: only pods matching this label selector (e.g. app=podinfo).
    #[arg(long, default_value = "", value_name = "SELECTOR", requires = "kube")]
    pub kube_pod_selector: String,
    /// With --kube: the sidecar's metrics port, 15020 (merged) or 15090 (Envoy's own).
    #[arg(long, default_value_t = 15020, requires = "kube")]
    pub kube_metrics_port: u16,
    /// With --kube: the path on that port.
    #[arg(long, default_value = "/stats/prometheus", requires = "kube")]
    pub kube_metrics_path: String,
    /// With --kube: how often pods and HPAs are listed again.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, requires = "kube")]
    pub kube_resync: Duration,
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
    /// Most series the store holds (new ones beyond are dropped and counted); about 2.5 KB
    /// each with 10 minutes of samples, so the default fits a 512 MiB container
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
    #[command(flatten)]
    pub keda: crate::keda::Args,
    /// Also write the self-signed certificate's PEM here (for clients that pin it).
    #[arg(long, value_name = "PATH", conflicts_with = "tls_cert_file")]
    pub write_self_signed_cert: Option<PathBuf>,
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

/// Runs the server until interrupted.
pub fn run(args: Args) -> anyhow::Result<()> {
    args.validate()?;
    crate::cli::init_logging();
    mixerless_engine::promql::parse::set_limits(mixerless_engine::promql::ParseLimits {
        max_length: args.query_max_length,
        max_depth: args.query_max_depth,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Workers and the blocking pool parse and evaluate HPA queries (see --query-max-depth).
        .thread_stack_size(crate::api::prom::EVALUATION_STACK)
        .build()
        .context("start the tokio runtime")?;
    rt.block_on(serve(args))
}

fn remote_config(args: &Args, url: &str, with_auth: bool) -> RemoteConfig {
    RemoteConfig {
        url: url.to_owned(),
        bearer_token_file: if with_auth {
            args.prometheus_bearer_token_file.clone()
        } else {
            None
        },
        ca_file: args.prometheus_ca_file.clone(),
        timeout: args.query_timeout,
    }
}

/// The default querier, the `/api/v1` backend and the scrape sink.
type Sources = (
    Arc<dyn Querier>,
    Option<Arc<dyn api::PromBackend>>,
    Option<Arc<crate::querier::embedded::Embedded>>,
);

async fn serve(args: Args) -> anyhow::Result<()> {
    if let Some(dir) = &args.hpa_dir {
        anyhow::ensure!(
            dir.is_dir(),
            "--hpa-dir {} is not a directory",
            dir.display()
        );
    }
    // kube-rs' TLS uses the process-wide rustls provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let telemetry = Arc::new(Telemetry::new());
    let static_targets = args
        .targets
        .iter()
        .map(|u| scrape::file_sd::from_url(u, &args.job))
        .collect::<Result<Vec<_>, _>>()?;

    let (default, prom, sink): Sources = match &args.prometheus_url {
        Some(url) => {
            anyhow::ensure!(
                    static_targets.is_empty() && args.file_sd.is_empty(),
                    "--target and --file-sd scrape into the embedded store; with --prometheus-url nothing is scraped"
                );
            (
                Arc::new(Remote::new(remote_config(&args, url, true))?),
                None,
                None,
            )
        }
        None => {
            let embedded = Arc::new(crate::querier::embedded::Embedded::with_limits(
                args.retention,
                crate::querier::embedded::QueryLimits {
                    timeout: args.query_timeout,
                    max_samples: args.query_max_samples,
                    concurrency: args.query_concurrency,
                },
                telemetry.clone(),
            ));
            embedded.set_store_limits(
                args.max_series,
                args.scrape_sample_limit,
                args.target_series_limit,
            );
            embedded
                .set_keep_pattern(&args.keep_metrics)
                .with_context(|| format!("--keep-metrics {:?}", args.keep_metrics))?;
            (embedded.clone(), Some(embedded.clone()), Some(embedded))
        }
    };
    // Per-HPA `prometheus-server` annotations get no bearer token, like kube-metrics-adapter.
    let factory_args = args.clone();
    let factory: Box<RemoteFactory> = Box::new(move |url: &str| {
        Remote::new(remote_config(&factory_args, url, false))
            .map(|r| Arc::new(r) as Arc<dyn Querier>)
            .map_err(|e| e.to_string())
    });
    // Between the scraper and the store: it hears each scrape land (StreamIsActive) and holds
    // the queries whose metrics the store keeps, the HPAs' and the KEDA triggers'.
    let keda = Arc::new(crate::keda::source::Adapter::new(
        crate::keda::source::AdapterConfig {
            partial_data: args.partial_data,
            retention: args.retention,
            query_timeout: args.query_timeout,
            prometheus_ca_file: args.prometheus_ca_file.clone(),
        },
        default.clone(),
        sink.clone(),
    ));
    let scraper = keda.sink().map(|s| {
        Arc::new(Scraper::new(
            ScrapeConfig {
                interval: args.scrape_interval,
                timeout: args.scrape_timeout(),
                concurrency: args.scrape_concurrency,
                body_limit: args.scrape_body_limit,
                job: args.job.clone(),
                protocols: args.scrape_protocols.clone(),
                fallback: args.fallback_scrape_protocol,
            },
            s,
            telemetry.clone(),
        ))
    });
    let mut provider = Provider::new(
        ProviderConfig {
            default_interval: args.query_interval.unwrap_or(args.scrape_interval),
            stale_intervals: args.stale_intervals,
            query_timeout: args.query_timeout,
            partial_data: args.partial_data,
            retention: args.retention,
        },
        default,
        Some(factory),
        telemetry.clone(),
    );
    provider = provider.with_server_aliases(args.prometheus_server_alias.iter().cloned().collect());
    if let Some(s) = &scraper {
        let s = s.clone();
        provider = provider.with_data_since(Box::new(move || s.data_since()));
    }
    if let Some(e) = &sink {
        let e = e.clone();
        provider = provider.with_metric_since(Box::new(move |names| e.since_names(names)));
    }
    let provider = Arc::new(provider);

    // HPAs first, so the store knows which metric names to keep before the first scrape.
    let kube = if args.kube {
        let cfg = KubeConfig {
            namespaces: args.kube_namespace.clone(),
            pod_selector: args.kube_pod_selector.clone(),
            port: args.kube_metrics_port,
            path: args.kube_metrics_path.clone(),
            resync: args.kube_resync,
        };
        Some((crate::kubernetes::client().await?, cfg))
    } else {
        None
    };
    let mut hpas = HpaSources {
        dir: args.hpa_dir.as_deref().map(dir::Watcher::new),
        dir_snapshot: None,
        kube,
        kube_snapshot: Snapshot::default(),
        kube_fingerprint: String::new(),
        next_kube: std::time::Instant::now(),
        reported: HashSet::new(),
    };
    let apply = {
        let provider = provider.clone();
        let keda = keda.clone();
        move |snap: Snapshot| {
            provider.set_hpas(&snap);
            keda.set_hpa_queries(provider.embedded_queries());
        }
    };
    if let Some(snap) = hpas.refresh(scraper.as_deref(), &args.job).await {
        apply(snap);
    }
    {
        let scraper = scraper.clone();
        let job = args.job.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Some(snap) = hpas.refresh(scraper.as_deref(), &job).await {
                    apply(snap);
                }
            }
        });
    }
    if let Some(s) = &scraper {
        tokio::spawn(s.clone().watch(static_targets, args.file_sd.clone()));
    }
    tokio::spawn(provider.clone().run());
    let scaler =
        crate::keda::Scaler::new(keda, args.query_interval.unwrap_or(args.scrape_interval));
    if let Some(keda) = crate::keda::serve(&args.keda, scaler).await? {
        tokio::spawn(keda);
    }

    let identity = match (&args.tls_cert_file, &args.tls_private_key_file) {
        (Some(c), Some(k)) => crate::tls::load_identity(c, k)?,
        _ => {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            let mut names = vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ];
            if !host.trim().is_empty() {
                names.push(host.trim().to_owned());
            }
            let id = crate::tls::self_signed(&names)?;
            tracing::info!(?names, "serving a self-signed certificate");
            if let Some(p) = &args.write_self_signed_cert {
                std::fs::write(p, &id.cert_pem)
                    .with_context(|| format!("write {}", p.display()))?;
            }
            id
        }
    };
    let tls = crate::tls::server_config(identity, args.requestheader_client_ca_file.as_deref())?;
    let targets_status: Option<Arc<api::TargetsStatus>> = scraper.clone().map(|s| {
        let f: Arc<api::TargetsStatus> = Arc::new(
            move || serde_json::json!({"targets": s.status(), "target_errors": s.source_status()}),
        );
        f
    });
    let limits = crate::server::Limits {
        tls_handshake_timeout: args.tls_handshake_timeout,
        header_read_timeout: args.header_read_timeout,
        idle_timeout: args.idle_timeout,
        max_connections: args.max_connections,
    };
    let state = AppState {
        provider,
        telemetry: telemetry.clone(),
        prom,
        targets: targets_status,
        auth: Auth {
            require_client_cert: args.requestheader_client_ca_file.is_some(),
            allowed_names: args.requestheader_allowed_names.clone(),
        },
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        mode = if args.prometheus_url.is_some() { "remote" } else { "embedded" },
        "serving external.metrics.k8s.io/v1beta1 over HTTPS"
    );
    let client_ca = args.requestheader_client_ca_file.is_some();
    if let Some(warning) = crate::server::exposure_warning(listener.local_addr()?, client_ca) {
        tracing::warn!("{warning}");
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("install the SIGTERM handler")?;
    tokio::select! {
        () = crate::server::serve(listener, tls, api::app(state), limits, telemetry) => {}
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; stopping"),
        _ = term.recv() => tracing::info!("terminated; stopping"),
    }
    Ok(())
}

/// Where HPAs come from: `--hpa-dir` (re-read when a file changes) and `--kube` (listed every
/// `--kube-resync`, which also re-discovers pods and posts Events for new problems).
struct HpaSources {
    /// `--hpa-dir`, read once a change has settled (see [`dir::Watcher`]).
    dir: Option<dir::Watcher>,
    /// Its HPAs as last read (`None`: not read yet).
    dir_snapshot: Option<Snapshot>,
    kube: Option<(::kube::Client, KubeConfig)>,
    kube_snapshot: Snapshot,
    kube_fingerprint: String,
    next_kube: std::time::Instant,
    reported: HashSet<String>,
}

impl HpaSources {
    /// The merged snapshot when something changed.
    async fn refresh(&mut self, scraper: Option<&Scraper>, job: &str) -> Option<Snapshot> {
        let mut changed = false;
        if let Some(dir) = &mut self.dir {
            let snap = match self.dir_snapshot {
                None => Some(dir.load_now()),
                Some(_) => dir.poll(),
            };
            if snap.is_some() {
                self.dir_snapshot = snap;
                changed = true;
            }
        }
        if let Some((client, cfg)) = &self.kube {
            if std::time::Instant::now() >= self.next_kube {
                self.next_kube = std::time::Instant::now() + cfg.resync;
                match kubernetes::hpas::list(client, cfg).await {
                    Ok(snap) => {
                        let fp = format!(
                            "{:?}",
                            snap.hpas
                                .iter()
                                .map(|h| (&h.namespace, &h.name, &h.queries, &h.errors))
                                .collect::<Vec<_>>()
                        );
                        if fp != self.kube_fingerprint {
                            self.kube_fingerprint = fp;
                            self.kube_snapshot = snap;
                            changed = true;
                        }
                        if let Err(e) = kubernetes::events::report(
                            client,
                            &self.kube_snapshot,
                            &mut self.reported,
                        )
                        .await
                        {
                            tracing::warn!("post events: {e}");
                        }
                    }
                    Err(e) => tracing::warn!("list HPAs: {e} (keeping the previous ones)"),
                }
                if let Some(s) = scraper {
                    match kubernetes::pods::discover(client, cfg, job).await {
                        Ok(targets) => s.set_source("kube", targets),
                        Err(e) => tracing::warn!("list pods: {e} (keeping the previous targets)"),
                    }
                }
            }
        }
        if !changed {
            return None;
        }
        let mut snap = self.dir_snapshot.clone().unwrap_or_default();
        snap.hpas.extend(self.kube_snapshot.hpas.iter().cloned());
        snap.file_errors
            .extend(self.kube_snapshot.file_errors.iter().cloned());
        Some(snap)
    }
}
