//! The `--target URL` path of `query`: scrape live targets a few times into a fresh store,
//! as `serve` would, so a query can be tried against real sidecars before it goes into an HPA.

use std::time::Duration;

use anyhow::Context as _;
use clap::Args as ClapArgs;
use mixerless_engine::exposition::ParseOptions;
use mixerless_engine::store::{Store, StoreConfig};

use crate::provider::now_ms;
use crate::scrape::{fetch, file_sd};

/// `query` with its live-target flags: `--data` (the file path) or `--target` (live scrapes).
#[derive(Debug, Clone, ClapArgs)]
pub struct Cmd {
    #[command(flatten)]
    pub query: super::query::Args,
    #[command(flatten)]
    pub live: Live,
}

/// The `--target` flags of `query`.
#[derive(Debug, Clone, ClapArgs)]
pub struct Live {
    /// Scrape this URL instead of reading --data (repeatable), e.g. an Envoy's
    /// /stats/prometheus; the query is evaluated at the last scrape unless --time is given.
    #[arg(long = "target", value_name = "URL", conflicts_with = "data")]
    pub target: Vec<String>,
    /// With --target: how many times each target is scraped (rate() needs two).
    #[arg(long, default_value_t = 2)]
    pub scrapes: u32,
    /// With --target: the time between scrapes.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub scrape_interval: Duration,
}

/// Runs `query`: live targets here, everything else in [`super::query::run`].
pub fn run(cmd: Cmd) -> anyhow::Result<()> {
    if cmd.live.target.is_empty() {
        return super::query::run(cmd.query);
    }
    let (store, last) = load(&cmd.live.target, cmd.live.scrapes, cmd.live.scrape_interval)?;
    let time_ms = match &cmd.query.time {
        Some(t) => super::query::parse_time(t)?,
        None => last,
    };
    let resp = super::query::evaluate(&cmd.query, &store, time_ms);
    println!("{resp}");
    if resp["status"] != "success" {
        std::process::exit(1);
    }
    Ok(())
}

/// Scrapes every target `scrapes` times, `interval` apart (labels `job="envoy-stats"` and
/// `instance`, as `serve` adds them); returns the store and the time of the last round.
pub fn load(targets: &[String], scrapes: u32, interval: Duration) -> anyhow::Result<(Store, i64)> {
    let targets = targets
        .iter()
        .map(|u| file_sd::from_url(u, "envoy-stats"))
        .collect::<Result<Vec<_>, _>>()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    let client = reqwest::Client::new();
    let mut store = Store::new(StoreConfig::default());
    let opts = ParseOptions {
        strict: true,
        ..ParseOptions::default()
    };
    let mut last = now_ms();
    for round in 0..scrapes.max(1) {
        if round > 0 {
            std::thread::sleep(interval);
        }
        last = now_ms();
        for t in &targets {
            let body = rt
                .block_on(fetch::fetch(
                    &client,
                    &t.url,
                    Duration::from_secs(10),
                    64 << 20,
                ))
                .with_context(|| format!("scrape {}", t.url))?;
            store
                .ingest_with(&t.labels, last, &body, &opts)
                .with_context(|| format!("scrape {}", t.url))?;
        }
    }
    Ok((store, last))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use axum::routing::get;

    use super::*;

    /// Demonstrates `query --target`: a local target whose counter grows by 10 per scrape is
    /// scraped three times 200 ms apart and the engine sees all three samples with `instance`.
    #[test]
    fn scrapes_live_targets_into_a_store() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let n = Arc::new(AtomicU64::new(0));
        let counter = n;
        let app = axum::Router::new().route(
            "/stats/prometheus",
            get(move || {
                let v = counter.fetch_add(10, Ordering::SeqCst);
                async move { format!("# TYPE req_total counter\nreq_total {v}\n") }
            }),
        );
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move { axum::serve(listener, app).await });
        let url = format!("http://{addr}/stats/prometheus");
        let (store, last) = load(&[url], 3, Duration::from_millis(200)).unwrap();
        let engine = mixerless_engine::promql::Engine::new(Default::default());
        let v = engine
            .instant(&store, "count_over_time(req_total[1m])", last)
            .unwrap()
            .to_api_json();
        assert_eq!(v["result"][0]["value"][1], "3", "{v}");
        assert_eq!(
            v["result"][0]["metric"]["instance"],
            addr.to_string(),
            "{v}"
        );
        let v = engine
            .instant(&store, "req_total", last)
            .unwrap()
            .to_api_json();
        assert_eq!(v["result"][0]["value"][1], "20", "{v}");
        assert!(load(&["not a url".into()], 1, Duration::ZERO).is_err());
    }
}
