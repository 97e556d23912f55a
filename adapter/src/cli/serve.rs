//! `mixerless-adapter serve`: the external metrics API for HPAs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::api::{self, AppState, Auth};
use crate::hpa::dir::Snapshot;
use crate::kubernetes::KubeConfig;
use crate::provider::{Provider, ProviderConfig, RemoteFactory};
use crate::querier::backend::StoreBackend;
use crate::querier::embedded::{Embedded, QueryLimits};
use crate::querier::remote::{Remote, RemoteConfig};
use crate::querier::Querier;
use crate::scrape::{self, ScrapeConfig, Scraper};
use crate::sources::HpaSources;
use crate::store::MetricStore;
use crate::telemetry::Telemetry;

mod args;
mod validate;

pub use args::Args;

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
        .thread_stack_size(crate::querier::EVALUATION_STACK)
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

/// The default querier, the `/api/v1` backend and the embedded store.
type Sources = (
    Arc<dyn Querier>,
    Option<Arc<dyn api::PromBackend>>,
    Option<Arc<MetricStore>>,
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

    let (default, prom, store): Sources = match &args.prometheus_url {
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
            let store = Arc::new(MetricStore::new(args.retention, telemetry.clone()));
            store.set_store_limits(
                args.max_series,
                args.scrape_sample_limit,
                args.target_series_limit,
            );
            store
                .set_keep_pattern(&args.keep_metrics)
                .with_context(|| format!("--keep-metrics {:?}", args.keep_metrics))?;
            let limits = QueryLimits {
                timeout: args.query_timeout,
                max_samples: args.query_max_samples,
                concurrency: args.query_concurrency,
            };
            (
                Arc::new(Embedded::over(store.clone(), &limits)),
                Some(Arc::new(StoreBackend::new(store.clone(), &limits))),
                Some(store),
            )
        }
    };
    // Per-HPA `prometheus-server` annotations get no bearer token, like kube-metrics-adapter.
    let factory_args = args.clone();
    let factory: Box<RemoteFactory> = Box::new(move |url: &str| {
        Remote::new(remote_config(&factory_args, url, false))
            .map(|r| Arc::new(r) as Arc<dyn Querier>)
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
        store.clone(),
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
                keep_alive: args.scrape_keep_alive,
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
    if let Some(e) = &store {
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
        };
        if args.kube_resync.is_some() {
            tracing::warn!("--kube-resync is deprecated and ignored: pods and HPAs are watched");
        }
        Some((crate::kubernetes::client().await?, cfg))
    } else {
        None
    };
    let pods = kube.clone();
    let mut hpas = HpaSources::new(args.hpa_dir.as_deref(), kube);
    // The first HPA list, unless the API server is slow to answer (the watch keeps trying).
    hpas.wait_listed(Duration::from_secs(10)).await;
    let apply = {
        let provider = provider.clone();
        let keda = keda.clone();
        move |snap: Snapshot| {
            provider.set_hpas(&snap);
            keda.set_hpa_queries(provider.embedded_queries());
        }
    };
    if let Some(snap) = hpas.refresh().await {
        apply(snap);
    }
    if let (Some((client, cfg)), Some(s)) = (pods, &scraper) {
        let watch = crate::kubernetes::pods::watch(client, cfg, args.job.clone(), s.clone());
        tokio::spawn(watch);
    }
    tokio::spawn(async move {
        loop {
            hpas.wait(Duration::from_secs(1)).await;
            if let Some(snap) = hpas.refresh().await {
                apply(snap);
            }
        }
    });
    if let Some(s) = &scraper {
        tokio::spawn(s.clone().watch(static_targets, args.file_sd.clone()));
    }
    tokio::spawn(provider.clone().run());
    let scaler =
        crate::keda::Scaler::new(keda, args.query_interval.unwrap_or(args.scrape_interval));
    if let Some(keda) = crate::keda::serve(&args.keda(), scaler).await? {
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
