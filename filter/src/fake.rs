//! An in-memory [`Host`] for unit tests of the logic (never the proof that the filter works:
//! that is the end-to-end suite with real Envoy).

use std::cell::RefCell;
use std::collections::HashMap;

use crate::host::{Host, HostError, MetricKind};

/// Records metric definitions and values; serves properties from a map.
#[derive(Debug, Default)]
pub struct FakeHost {
    /// Properties by path joined with `.`.
    pub properties: HashMap<String, Vec<u8>>,
    metrics: RefCell<Vec<(MetricKind, String, Vec<u64>)>>,
}

impl FakeHost {
    /// Sum of every counter whose encoded name ends with `suffix`.
    pub fn counter(&self, suffix: &str) -> u64 {
        self.metrics
            .borrow()
            .iter()
            .filter(|(kind, name, _)| *kind == MetricKind::Counter && name.ends_with(suffix))
            .map(|(_, _, values)| values.iter().sum::<u64>())
            .sum()
    }

    /// Encoded names of all defined metrics, in definition order.
    pub fn names(&self) -> Vec<String> {
        self.metrics
            .borrow()
            .iter()
            .map(|(_, name, _)| name.clone())
            .collect()
    }
}

impl Host for FakeHost {
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.properties.get(&path.join(".")).cloned())
    }

    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, HostError> {
        let mut metrics = self.metrics.borrow_mut();
        if let Some(i) = metrics.iter().position(|(k, n, _)| *k == kind && n == name) {
            return Ok(i as u32);
        }
        metrics.push((kind, name.to_owned(), Vec::new()));
        Ok((metrics.len() - 1) as u32)
    }

    fn increment_metric(&self, id: u32, offset: i64) -> Result<(), HostError> {
        self.record_metric(id, offset.unsigned_abs())
    }

    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError> {
        let mut metrics = self.metrics.borrow_mut();
        let metric = metrics.get_mut(id as usize).ok_or_else(|| HostError {
            call: "record_metric",
            status: "NotFound".into(),
        })?;
        metric.2.push(value);
        Ok(())
    }
}
