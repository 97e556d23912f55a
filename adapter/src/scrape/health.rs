//! A target's health as `/status` shows it.

use std::collections::BTreeMap;

use serde::Serialize;

/// How a target's last scrape went, as Prometheus' `/api/v1/targets` says it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Not scraped yet.
    #[default]
    Unknown,
    Up,
    Down,
}

/// The last scrape of a target, for `/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetHealth {
    pub url: String,
    pub labels: BTreeMap<String, String>,
    pub health: Health,
    pub last_scrape_ms: i64,
    pub last_duration_s: f64,
    pub last_error: Option<String>,
    pub samples: usize,
    /// New series of the last scrape the store refused: it holds `--max-series` and this
    /// target its fair share of them or more. Not 0: the target is limited.
    pub series_refused: usize,
    pub scrapes: u64,
    pub failures: u64,
}
