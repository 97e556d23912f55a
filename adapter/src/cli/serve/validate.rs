//! `serve`'s flag checks: values the server cannot run with are refused at start, naming the
//! flag, before anything is bound or scraped.

use std::time::Duration;

use super::Args;

/// Longest `--scrape-interval`, `--query-interval` and `--kube-resync`: beyond it a value
/// times `--stale-intervals` no longer fits the provider's millisecond arithmetic, and no HPA
/// scales on a metric read once a day.
const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// Most `--stale-intervals`.
const MAX_STALE_INTERVALS: u32 = 1000;

/// `--scrape-timeout` when not given, or the scrape interval when that is shorter.
const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(3);

impl Args {
    /// `--scrape-timeout`, defaulting as Prometheus does to the default or the scrape interval,
    /// whichever is shorter.
    pub fn scrape_timeout(&self) -> Duration {
        self.scrape_timeout
            .unwrap_or(DEFAULT_SCRAPE_TIMEOUT.min(self.scrape_interval))
    }

    /// Refuses flag values the server cannot run with, naming the flag: zero intervals,
    /// timeouts, limits and concurrency, a scrape timeout longer than the scrape interval, a
    /// retention that holds fewer than two scrapes.
    pub fn validate(&self) -> anyhow::Result<()> {
        use anyhow::ensure;
        let show = |d: Duration| humantime::format_duration(d).to_string();
        let positive = |flag: &str, d: Duration| {
            ensure!(!d.is_zero(), "{flag} {}: must be longer than zero", show(d));
            Ok(())
        };
        let interval = |flag: &str, d: Duration| {
            positive(flag, d)?;
            ensure!(
                d <= MAX_INTERVAL,
                "{flag} {}: must be at most {}",
                show(d),
                show(MAX_INTERVAL)
            );
            Ok(())
        };
        let at_least_one = |flag: &str, n: usize, what: &str| {
            ensure!(n > 0, "{flag} 0: must be at least 1 ({what})");
            Ok(())
        };
        interval("--scrape-interval", self.scrape_interval)?;
        crate::scrape::protocol::check_list(&self.scrape_protocols)
            .map_err(|e| anyhow::anyhow!("--scrape-protocols: {e}"))?;
        if let Some(timeout) = self.scrape_timeout {
            positive("--scrape-timeout", timeout)?;
            ensure!(
                timeout <= self.scrape_interval,
                "--scrape-timeout {}: must not be longer than --scrape-interval {} (as in Prometheus)",
                show(timeout),
                show(self.scrape_interval)
            );
        }
        if let Some(d) = self.query_interval {
            interval("--query-interval", d)?;
        }
        positive("--query-timeout", self.query_timeout)?;
        positive("--tls-handshake-timeout", self.tls_handshake_timeout)?;
        positive("--header-read-timeout", self.header_read_timeout)?;
        positive("--idle-timeout", self.idle_timeout)?;
        if let Some(d) = self.kube_resync {
            interval("--kube-resync", d)?;
        }
        positive("--retention", self.retention)?;
        ensure!(
            self.retention >= 2 * self.scrape_interval,
            "--retention {}: must hold at least two scrapes (2 × --scrape-interval {}), or no rate can be computed",
            show(self.retention),
            show(self.scrape_interval)
        );
        ensure!(
            (1..=MAX_STALE_INTERVALS).contains(&self.stale_intervals),
            "--stale-intervals {}: must be from 1 to {MAX_STALE_INTERVALS}",
            self.stale_intervals
        );
        at_least_one(
            "--scrape-concurrency",
            self.scrape_concurrency,
            "no scrape could run",
        )?;
        at_least_one(
            "--scrape-body-limit",
            self.scrape_body_limit,
            "every scrape would fail",
        )?;
        at_least_one(
            "--max-series",
            self.max_series,
            "the store could hold nothing",
        )?;
        at_least_one(
            "--query-max-samples",
            self.query_max_samples,
            "every query would fail",
        )?;
        // `sum(rate(x[1m]))` is 3 deep and 16 bytes long: below that no HPA query parses.
        ensure!(
            self.query_max_depth >= 3,
            "--query-max-depth {}: must be at least 3, or `sum(rate(x[1m]))` would be refused",
            self.query_max_depth
        );
        ensure!(
            self.query_max_length >= 64,
            "--query-max-length {}: must be at least 64 bytes, or HPA queries would be refused",
            self.query_max_length
        );
        at_least_one(
            "--max-connections",
            self.max_connections,
            "no client could connect",
        )?;
        at_least_one(
            "--query-concurrency",
            self.query_concurrency,
            "no /api/v1 query could run",
        )?;
        ensure!(
            self.kube_metrics_port != 0,
            "--kube-metrics-port 0: not a port a sidecar listens on"
        );
        ensure!(
            self.kube_metrics_path.starts_with('/'),
            "--kube-metrics-path {:?}: must start with /",
            self.kube_metrics_path
        );
        let mut aliases = std::collections::HashSet::new();
        for (name, _) in &self.prometheus_server_alias {
            ensure!(
                aliases.insert(name),
                "--prometheus-server-alias {name}: given twice"
            );
        }
        ensure!(
            !self.job.trim().is_empty(),
            "--job: must not be empty (it is the `job` label of every scraped series)"
        );
        Ok(())
    }
}

#[cfg(test)]
#[path = "validate/tests.rs"]
mod tests;
