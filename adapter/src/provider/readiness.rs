//! `/readyz`: ready once every query has an outcome and none is withheld for a warm-up.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Outcome, PartialData, Provider};
use crate::sync;

/// How long a started adapter whose scrapes have all failed so far stays not ready (`/readyz`);
/// after it, it is ready and the HPA is told that no scrape has succeeded, so an adapter without
/// a reachable target does not leave the APIService unavailable.
pub const STARTUP_GRACE: Duration = Duration::from_secs(30);

impl Provider {
    /// Whether `/readyz` says ready at `now`, or why not. Ready once every query has an
    /// outcome and, with `--partial-data refuse`, none is withheld for a warm-up: a restarted
    /// replica then takes no HPA request before it can serve it a value, and during a rollout
    /// the Deployment waits for it while the other replica serves. Before any scrape has
    /// succeeded the adapter is not ready for [`STARTUP_GRACE`] from its first evaluation.
    pub fn readiness(&self, now: i64) -> Result<(), String> {
        let state = sync::read(&self.state);
        let total = state.entries.len();
        let pending = state.entries.iter().filter(|e| e.last.is_none()).count();
        if pending > 0 {
            return Err(format!(
                "{pending} of {total} HPA queries not evaluated yet"
            ));
        }
        if self.config.partial_data == PartialData::Serve {
            return Ok(());
        }
        // The outcomes say it: a value withheld until a known time, or before any scrape.
        let scraped = self
            .data_since
            .as_ref()
            .is_some_and(|since| since().is_some());
        let (mut warming, mut until, mut no_scrape) = (0, None, false);
        for e in &state.entries {
            match e.last {
                // A metric kept since a new or edited query asked for it: every replica warms
                // it up alike, so a not-ready one would only stop serving the other HPAs.
                Some(Outcome::Warming { late: true, .. }) => {}
                Some(Outcome::Warming {
                    ready_ms: Some(t), ..
                }) => {
                    warming += 1;
                    until = until.max(Some(t));
                }
                // A scrape has succeeded since; its re-evaluation is due within a second.
                Some(Outcome::Warming { ready_ms: None, .. }) if scraped => warming += 1,
                Some(Outcome::Warming { ready_ms: None, .. }) => no_scrape = true,
                _ => {}
            }
        }
        if warming > 0 {
            let at = until.map_or_else(
                || "now".to_owned(),
                |t| {
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + Duration::from_millis(t.max(0) as u64),
                    )
                    .to_string()
                },
            );
            return Err(format!(
                "warming up: {warming} of {total} HPA queries read more history than the adapter holds since its first successful scrape; ready at {at}"
            ));
        }
        let started = self.started_ms.load(Ordering::Relaxed);
        if no_scrape && now - started < STARTUP_GRACE.as_millis() as i64 {
            return Err(format!(
                "no scrape has succeeded yet (ready without one {}s after the start)",
                STARTUP_GRACE.as_secs()
            ));
        }
        Ok(())
    }
}
