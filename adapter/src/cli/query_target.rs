//! The `--target URL` path of `query`: scrape live targets into a fresh store for as long as
//! the query's window, as `serve` would, so a query can be tried against real sidecars before
//! it goes into an HPA.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args as ClapArgs;
use mixerless_engine::exposition::ParseOptions;
use mixerless_engine::store::{Store, StoreConfig};

use crate::clock::now_ms;
use crate::scrape::{self, fetch, file_sd};

/// Evaluate PromQL over a data file or live targets and print Prometheus' JSON.
///
/// The output is the body of Prometheus' `/api/v1/query`
/// (`{"status":"success","data":{"resultType":…,"result":[…]}}`), so the two can be diffed. A
/// query error prints `{"status":"error",…}` and exits with status 1.
///
/// Data comes from one of two sources: `--data FILE`, OpenMetrics text where every sample
/// carries a timestamp in seconds (the format `promtool tsdb create-blocks-from openmetrics`
/// reads), or `--target URL` (repeatable), live scrapes taken for as long as the query's window
/// (`rate(x[1m])`: one minute, `--max-wait` bounds it) with progress on stderr.
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
    /// The targets are scraped for as long as the query's window (range plus offset:
    /// 1m for `rate(x[1m])`), so a rate is computed from the history it reads, as `serve`
    /// would serve it; progress goes to stderr.
    #[arg(long = "target", value_name = "URL", conflicts_with = "data")]
    pub target: Vec<String>,
    /// With --target: scrape each target at least this many times (irate() and idelta() need
    /// two), more when the query's window needs more.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub scrapes: u32,
    /// With --target: the time between scrapes.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub scrape_interval: Duration,
    /// With --target: the longest the scraping may take. A query whose window needs longer
    /// (`rate(x[10m])`) is refused with a message: raise this, or use --data.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub max_wait: Duration,
}

/// Runs `query`: live targets here, everything else in [`super::query::run`].
pub fn run(cmd: Cmd) -> anyhow::Result<()> {
    if cmd.live.target.is_empty() {
        return super::query::run(cmd.query);
    }
    let resp = response(&cmd, &mut std::io::stderr())?;
    println!("{resp}");
    if resp["status"] != "success" {
        std::process::exit(1);
    }
    Ok(())
}

/// The `/api/v1/query` response for `cmd` over live scrapes, with progress on `progress`.
pub fn response(cmd: &Cmd, progress: &mut dyn Write) -> anyhow::Result<serde_json::Value> {
    // A query that does not parse gets its parse error at once, without scraping.
    let Some(window) = mixerless_engine::promql::Query::parse(&cmd.query.expr)
        .ok()
        .map(|q| q.window())
    else {
        let empty = Store::new(StoreConfig::default());
        return Ok(super::query::evaluate(&cmd.query, &empty, now_ms()));
    };
    let rounds = rounds(&cmd.query.expr, window, &cmd.live)?;
    let (store, last) = load(
        &cmd.live.target,
        rounds,
        cmd.live.scrape_interval,
        window,
        progress,
    )?;
    let time_ms = match &cmd.query.time {
        Some(t) => super::query::parse_time(t)?,
        None => last,
    };
    Ok(super::query::evaluate(&cmd.query, &store, time_ms))
}

/// How many scrapes, `--scrape-interval` apart, cover `window` (at least `--scrapes`); an
/// error when they would take longer than `--max-wait`.
pub fn rounds(expr: &str, window: Duration, live: &Live) -> anyhow::Result<u32> {
    anyhow::ensure!(
        !live.scrape_interval.is_zero(),
        "--scrape-interval 0s: must be longer than zero"
    );
    let needed = if window.is_zero() {
        1
    } else {
        window.as_nanos().div_ceil(live.scrape_interval.as_nanos()) + 1
    };
    let rounds = u32::try_from(needed)
        .unwrap_or(u32::MAX)
        .max(live.scrapes)
        .max(1);
    let takes = live.scrape_interval.saturating_mul(rounds - 1);
    if takes > live.max_wait {
        bail!(
            "{expr:?} reads {} of history: covering it takes {rounds} scrapes {} apart ({}), \
             longer than --max-wait {}; raise --max-wait (or --scrape-interval), or evaluate it \
             over a recorded file with --data",
            show(window),
            show(live.scrape_interval),
            show(takes),
            show(live.max_wait)
        );
    }
    Ok(rounds)
}

fn show(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(d)
}

/// Scrapes every target `rounds` times, `interval` apart (labels `job="envoy-stats"` and
/// `instance`, as `serve` adds them), writing progress lines; returns the store and the time
/// of the last round.
pub fn load(
    targets: &[String],
    rounds: u32,
    interval: Duration,
    window: Duration,
    progress: &mut dyn Write,
) -> anyhow::Result<(Store, i64)> {
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
    let accept = scrape::protocol::accept_header(&scrape::protocol::DEFAULT_PROTOCOLS);
    let _ = writeln!(
        progress,
        "scraping {} target(s) {rounds} times, {} apart, over {} (the query reads {} of history)",
        targets.len(),
        show(interval),
        show(interval.saturating_mul(rounds.saturating_sub(1))),
        show(window)
    );
    let start = std::time::Instant::now();
    let mut reported = start;
    let mut last = now_ms();
    for round in 0..rounds {
        // Rounds keep to a fixed schedule, so slow scrapes do not stretch the history.
        let due = start + interval.saturating_mul(round);
        std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
        last = now_ms();
        for t in &targets {
            // Negotiated as `serve` does with its default flags.
            let fetched = rt
                .block_on(fetch::fetch(
                    &client,
                    &t.url,
                    &accept,
                    Duration::from_secs(10),
                    64 << 20,
                ))
                .and_then(|f| Ok((scrape::negotiated(&f, None)?, f)))
                .with_context(|| format!("scrape {}", t.url))?;
            let opts = ParseOptions {
                format: fetched.0,
                ..opts.clone()
            };
            store
                .ingest_with(&t.labels, last, &fetched.1.body, &opts)
                .with_context(|| format!("scrape {}", t.url))?;
        }
        if round + 1 == rounds || reported.elapsed() >= PROGRESS_EVERY {
            reported = std::time::Instant::now();
            let _ = writeln!(
                progress,
                "scrape {}/{rounds} done, {} elapsed",
                round + 1,
                show(Duration::from_secs(start.elapsed().as_secs()))
            );
        }
    }
    Ok((store, last))
}

/// How often `load` reports progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

#[cfg(test)]
#[path = "query_target/tests.rs"]
mod tests;
