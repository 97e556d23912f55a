//! One target's loop: scrape at the interval, hand the body to the sink, record its health.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::{
    fetch, protocol, FetchError, Format, Health, Protocol, ScrapeConfig, Sink, Target, TargetHealth,
};
use crate::clock::now_ms;
use crate::sync;
use crate::telemetry::{TargetLabels, Telemetry};

#[allow(clippy::too_many_arguments)]
pub(super) async fn target_loop(
    target: Target,
    config: ScrapeConfig,
    sink: Arc<dyn Sink>,
    telemetry: Arc<Telemetry>,
    client: reqwest::Client,
    permits: Arc<Semaphore>,
    health: Arc<Mutex<BTreeMap<Target, TargetHealth>>>,
    first_success_ms: Arc<AtomicI64>,
) {
    // A stable offset within the interval per target, like Prometheus' scrape offsets.
    let mut h = DefaultHasher::new();
    target.hash(&mut h);
    let interval_ms = config.interval.as_millis().max(1) as u64;
    tokio::time::sleep(Duration::from_millis(h.finish() % interval_ms)).await;
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let labels = TargetLabels {
        target: target.url.clone(),
    };
    let accept = protocol::accept_header(target.protocols.as_deref().unwrap_or(&config.protocols));
    let fallback = target.fallback.or(config.fallback);
    loop {
        ticker.tick().await;
        let Ok(_permit) = permits.acquire().await else {
            return;
        };
        let started = Instant::now();
        let t_ms = now_ms();
        let fetched = fetch::fetch(
            &client,
            &target.url,
            &accept,
            config.timeout,
            config.body_limit,
        )
        .await;
        let result = match fetched.and_then(|f| Ok((negotiated(&f, fallback)?, f))) {
            // Parsing a large body takes a while and waits for the store's lock: off the
            // async workers, so other targets' scrapes and API answers are not held up
            // (tests/tests/harden/scrape.rs).
            Ok((format, f)) => {
                let (sink, t) = (sink.clone(), target.clone());
                tokio::task::spawn_blocking(move || {
                    sink.ingest(&t, t_ms, &f.body, format)
                        .map_err(FetchError::Ingest)
                })
                .await
                .unwrap_or_else(|e| Err(FetchError::Task(e.to_string())))
            }
            Err(e) => Err(e),
        };
        let took = started.elapsed();
        telemetry
            .scrape_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if result.is_err() {
            // The store before the health table: once /status says a target is down, the
            // series its last scrape wrote are already stale. (A scrape the store refused is
            // rolled back by the store itself; this covers failed fetches, and is a no-op
            // after a refused one.)
            let (sink, t) = (sink.clone(), target.clone());
            let _ = tokio::task::spawn_blocking(move || sink.target_down(&t, t_ms)).await;
        }
        let mut hl = sync::lock(&health);
        let Some(entry) = hl.get_mut(&target) else {
            return;
        };
        entry.last_scrape_ms = t_ms;
        entry.last_duration_s = took.as_secs_f64();
        entry.scrapes += 1;
        match result {
            Ok(stored) => {
                // Scrapes finish out of order: keep the earliest timestamp.
                let _ = first_success_ms.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |f| {
                    (f == 0 || t_ms < f).then_some(t_ms)
                });
                if entry.health != Health::Up && entry.failures > 0 {
                    tracing::info!(target = %target.url, "target is up again");
                }
                entry.health = Health::Up;
                entry.samples = stored.samples;
                entry.series_refused = stored.refused;
                entry.last_error = None;
            }
            Err(e) => {
                let msg = e.to_string();
                if entry.last_error.as_deref() != Some(msg.as_str()) {
                    tracing::warn!(target = %target.url, "scrape failed: {msg}");
                }
                entry.health = Health::Down;
                entry.failures += 1;
                entry.last_error = Some(msg);
                drop(hl);
                telemetry.scrape_error(&target.url, e.reason());
            }
        }
    }
}

/// The parser for a response: by its Content-Type, else the fallback. An empty body needs
/// none (Prometheus reads it as a scrape without samples whatever its type).
pub(crate) fn negotiated(
    f: &fetch::Fetched,
    fallback: Option<Protocol>,
) -> Result<Format, FetchError> {
    if f.body.is_empty() {
        return Ok(Format::Text004);
    }
    Ok(protocol::format_of(f.content_type.as_deref(), fallback)?)
}
