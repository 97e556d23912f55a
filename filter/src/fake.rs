//! An in-memory [`Host`] for unit tests of the logic (never the proof that the filter works:
//! that is the end-to-end suite with real Envoy).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use crate::host::{Headers, Host, HostError, MetricKind};

/// Records metric definitions and values; serves properties and headers from maps.
#[derive(Debug, Default)]
pub struct FakeHost {
    /// Properties by path joined with `.`.
    pub properties: HashMap<String, Vec<u8>>,
    headers: RefCell<HashMap<(Headers, String), String>>,
    metrics: RefCell<Vec<(MetricKind, String, Vec<u64>)>>,
    defines: Cell<usize>,
}

impl FakeHost {
    /// A host whose node has this id, metadata and labels.
    pub fn with_node(id: &str, metadata: &[(&str, &str)], labels: &[(&str, &str)]) -> Self {
        let mut host = Self::default();
        host.set_str("xds.node.id", id);
        for (k, v) in metadata {
            host.set_str(&format!("xds.node.metadata.{k}"), v);
        }
        for (k, v) in labels {
            host.set_str(&format!("xds.node.metadata.LABELS.{k}"), v);
        }
        host
    }

    /// Sets a string (or bytes) property.
    pub fn set_str(&mut self, path: &str, value: &str) {
        self.properties
            .insert(path.to_owned(), value.as_bytes().to_vec());
    }

    /// Sets an integer property (8 bytes little-endian, as Envoy returns them).
    pub fn set_int(&mut self, path: &str, value: i64) {
        self.properties
            .insert(path.to_owned(), value.to_le_bytes().to_vec());
    }

    /// Sets a header of the current stream.
    pub fn put_header(&self, map: Headers, name: &str, value: &str) {
        self.headers
            .borrow_mut()
            .insert((map, name.to_owned()), value.to_owned());
    }

    /// A header of the current stream.
    pub fn get_header(&self, map: Headers, name: &str) -> Option<String> {
        self.headers.borrow().get(&(map, name.to_owned())).cloned()
    }

    /// Forgets every header (a new stream).
    pub fn clear_headers(&self) {
        self.headers.borrow_mut().clear();
    }

    /// Sum of every counter whose encoded name ends with `suffix`.
    pub fn counter(&self, suffix: &str) -> u64 {
        self.metrics
            .borrow()
            .iter()
            .filter(|(kind, name, _)| *kind == MetricKind::Counter && name.ends_with(suffix))
            .map(|(_, _, values)| values.iter().sum::<u64>())
            .sum()
    }

    /// Values recorded into the metric with exactly this encoded name.
    pub fn values(&self, name: &str) -> Option<Vec<u64>> {
        self.metrics
            .borrow()
            .iter()
            .find(|(_, n, _)| n == name)
            .map(|(_, _, v)| v.clone())
    }

    /// Encoded names of all defined metrics, in definition order.
    pub fn names(&self) -> Vec<String> {
        self.metrics
            .borrow()
            .iter()
            .map(|(_, name, _)| name.clone())
            .collect()
    }

    /// How many times `define_metric` was called.
    pub fn define_calls(&self) -> usize {
        self.defines.get()
    }
}

impl Host for FakeHost {
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.properties.get(&path.join(".")).cloned())
    }

    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, HostError> {
        self.defines.set(self.defines.get() + 1);
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

    fn header(&self, map: Headers, name: &str) -> Result<Option<String>, HostError> {
        Ok(self.get_header(map, name))
    }

    fn set_header(&self, map: Headers, name: &str, value: Option<&str>) -> Result<(), HostError> {
        let mut headers = self.headers.borrow_mut();
        match value {
            Some(v) => headers.insert((map, name.to_owned()), v.to_owned()),
            None => headers.remove(&(map, name.to_owned())),
        };
        Ok(())
    }
}
