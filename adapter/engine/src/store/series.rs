//! One series: its labels and its samples in time order.

use std::collections::VecDeque;

use crate::labels::Labels;

/// The bit pattern Prometheus uses for a staleness marker.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// True when `v` is a staleness marker (not any other NaN).
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN
}

/// A series in the store.
#[derive(Debug)]
pub struct Series {
    pub(crate) labels: Labels,
    pub(crate) samples: VecDeque<(i64, f64)>,
    /// Ingest generation that last wrote this series (duplicate and staleness bookkeeping).
    pub(crate) generation: u64,
    /// The series carried explicit timestamps (Prometheus does not stale-mark those).
    pub(crate) explicit_ts: bool,
}

impl Series {
    pub(crate) fn new(labels: Labels) -> Series {
        Series {
            labels,
            samples: VecDeque::new(),
            generation: 0,
            explicit_ts: false,
        }
    }

    /// The series' labels, `__name__` included.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Samples with `lo < t <= hi` (stale markers included), oldest first.
    pub fn range(&self, lo: i64, hi: i64) -> impl Iterator<Item = (i64, f64)> + '_ {
        let a = self.samples.partition_point(|s| s.0 <= lo);
        let b = self.samples.partition_point(|s| s.0 <= hi);
        self.samples.range(a..b.max(a)).copied()
    }

    /// The newest sample with `t <= hi`.
    pub fn last_at_or_before(&self, hi: i64) -> Option<(i64, f64)> {
        let b = self.samples.partition_point(|s| s.0 <= hi);
        b.checked_sub(1).and_then(|i| self.samples.get(i)).copied()
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True when no samples are held.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Appends a sample; returns false (and drops it) when it is not newer than the last one.
    pub(crate) fn push(&mut self, t: i64, v: f64) -> bool {
        if let Some(&(lt, _)) = self.samples.back() {
            if t <= lt {
                return false;
            }
        }
        self.samples.push_back((t, v));
        true
    }

    /// Drops samples with `t <= cutoff`.
    pub(crate) fn trim(&mut self, cutoff: i64) {
        while self.samples.front().is_some_and(|s| s.0 <= cutoff) {
            self.samples.pop_front();
        }
    }

    pub(crate) fn last_is_stale(&self) -> bool {
        self.samples.back().is_some_and(|s| is_stale(s.1))
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.samples.capacity() * std::mem::size_of::<(i64, f64)>()
            + self.labels.len() * std::mem::size_of::<(std::sync::Arc<str>, std::sync::Arc<str>)>()
    }
}
