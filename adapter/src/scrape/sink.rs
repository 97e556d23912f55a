//! Where scraped bodies go: the scraper takes it as a trait, so it can be tested over a
//! recording fake; the embedded store is the real one.

use super::{Format, Target};
use crate::store::{IngestError, MetricStore, Stored};

/// Where scraped bodies go.
pub trait Sink: Send + Sync + 'static {
    /// Parses `body` as `format` and stores it as one scrape of `target` (its URL and labels
    /// are its identity).
    fn ingest(
        &self,
        target: &Target,
        t_ms: i64,
        body: &[u8],
        format: Format,
    ) -> Result<Stored, IngestError>;
    /// Marks every series of a target stale (failed scrape, removed target).
    fn target_down(&self, target: &Target, t_ms: i64);
}

impl Sink for MetricStore {
    fn ingest(
        &self,
        target: &Target,
        t_ms: i64,
        body: &[u8],
        format: Format,
    ) -> Result<Stored, IngestError> {
        self.ingest_scrape(&target.url, &target.labels, t_ms, body, format)
    }

    fn target_down(&self, target: &Target, t_ms: i64) {
        self.mark_scrape_down(&target.url, &target.labels, t_ms);
    }
}
