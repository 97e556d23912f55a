//! One scrape into the store: parsed strictly, within the store's limits, counted.

use mixerless_engine::exposition::{Format, ParseOptions};
use mixerless_engine::store;

use super::MetricStore;
use crate::sync;
use crate::telemetry::TargetLabels;

/// Why a scrape's body was not stored; [`IngestError::reason`] is the `reason` label of
/// `mixerless_adapter_scrape_errors_total`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    /// More samples of kept metrics than `--scrape-sample-limit` allows.
    #[error("{0}; raise --scrape-sample-limit")]
    SampleLimit(#[source] store::Error),
    /// New series past `--target-series-limit`.
    #[error("{0}; raise --target-series-limit")]
    SeriesLimit(#[source] store::Error),
    /// The body does not parse (or a sample is out of order).
    #[error("{0}")]
    Rejected(#[source] store::Error),
}

impl IngestError {
    /// The `reason` label: a limit breach is not a parse error.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::SampleLimit(_) => "sample_limit",
            Self::SeriesLimit(_) => "series_limit",
            Self::Rejected(_) => "parse",
        }
    }
}

impl From<store::Error> for IngestError {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::SampleLimit { .. } => Self::SampleLimit(e),
            store::Error::TargetSeriesLimit { .. } => Self::SeriesLimit(e),
            e => Self::Rejected(e),
        }
    }
}

/// What one scrape stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    /// Samples written.
    pub samples: usize,
    /// New series refused: the store holds `--max-series` and this target its fair share of
    /// them or more.
    pub refused: usize,
}

impl MetricStore {
    /// Parses `body` as `format` and stores it as one scrape of the target `url` with `labels`
    /// (its identity).
    pub fn ingest_scrape(
        &self,
        url: &str,
        labels: &[(String, String)],
        t_ms: i64,
        body: &[u8],
        format: Format,
    ) -> Result<Stored, IngestError> {
        // Strict, as Prometheus: a body with a bad line fails the whole scrape, and the store
        // marks the target's series stale.
        let opts = ParseOptions {
            strict: true,
            format,
            ..ParseOptions::default()
        };
        // Parsed under the shared lock, so queries and evaluations go on meanwhile; written
        // under the exclusive one.
        let prepared = sync::read(&self.store).prepare(url, labels, t_ms, body, &opts);
        let mut store = sync::write(&self.store);
        let report = store.commit(prepared)?;
        let telemetry = &self.telemetry;
        if report.dropped_series_limit > 0 {
            // The store is full: this target's known series go on, its new ones are refused.
            let before = telemetry.series_dropped.get();
            telemetry
                .series_dropped
                .inc_by(report.dropped_series_limit as u64);
            telemetry
                .target_series_refused
                .get_or_create(&TargetLabels {
                    target: url.to_owned(),
                })
                .inc_by(report.dropped_series_limit as u64);
            if before == 0 {
                tracing::warn!(
                    "the store holds --max-series {} series: new series of targets holding their share are refused (counted in mixerless_adapter_target_series_refused_total, shown in /status)",
                    store.config().max_series
                );
            }
        }
        if report.evicted > 0 {
            // Room made for a target below its share: the largest holder's newest series go.
            telemetry.series_evicted.inc_by(report.evicted as u64);
        }
        if report.dropped_pattern > 0 {
            // Series kept only for --keep-metrics past half of a limit: dropped, the scrape
            // goes on.
            if telemetry.keep_metrics_dropped.get() == 0 {
                tracing::warn!(
                    "series kept only for --keep-metrics fill half of --max-series, --target-series-limit or --scrape-sample-limit: new ones are dropped (counted in mixerless_adapter_store_keep_metrics_dropped_total), the series HPA queries read are not"
                );
            }
            telemetry
                .keep_metrics_dropped
                .inc_by(report.dropped_pattern as u64);
        }
        telemetry.series.set(store.series_count() as i64);
        telemetry.samples.set(store.sample_count() as i64);
        Ok(Stored {
            samples: report.samples,
            refused: report.dropped_series_limit,
        })
    }

    /// Marks every series of a target stale (failed scrape, removed target).
    pub fn mark_scrape_down(&self, url: &str, labels: &[(String, String)], t_ms: i64) {
        sync::write(&self.store).mark_scrape_down(url, labels, t_ms);
    }
}
