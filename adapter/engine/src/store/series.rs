//! One series: its labels and its samples in time order, in compressed chunks.

use std::collections::VecDeque;

use super::chunk::{Chunk, CHUNK_SAMPLES};
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
    chunks: VecDeque<Chunk>,
    count: usize,
    /// Ingest generation that last wrote this series (duplicate and staleness bookkeeping).
    pub(crate) generation: u64,
    /// The series carried explicit timestamps (Prometheus does not stale-mark those).
    pub(crate) explicit_ts: bool,
}

impl Series {
    pub(crate) fn new(labels: Labels) -> Series {
        Series {
            labels,
            // Room for one chunk (120 samples, 10 minutes at 5 s): `VecDeque::new` would
            // reserve four on the first push.
            chunks: VecDeque::with_capacity(1),
            count: 0,
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
        self.range_vec(lo, hi).into_iter()
    }

    /// [`Series::range`] into one vector (one allocation).
    pub fn range_vec(&self, lo: i64, hi: i64) -> Vec<(i64, f64)> {
        let mut buf = Vec::new();
        for c in self
            .chunks
            .iter()
            .filter(|c| c.last_t > lo && c.first_t <= hi)
        {
            if buf.capacity() == 0 {
                buf.reserve(usize::from(c.n));
            }
            c.decode(&mut buf);
        }
        buf.retain(|s| s.0 > lo && s.0 <= hi);
        buf
    }

    /// The newest sample with `t <= hi`.
    pub fn last_at_or_before(&self, hi: i64) -> Option<(i64, f64)> {
        let c = self.chunks.iter().rev().find(|c| c.first_t <= hi)?;
        if c.last_t <= hi {
            return Some((c.last_t, c.last_value()));
        }
        let mut buf = Vec::with_capacity(usize::from(c.n));
        c.decode(&mut buf);
        buf.into_iter().rev().find(|s| s.0 <= hi)
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no samples are held.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends a sample; returns false (and drops it) when it is not newer than the last one.
    pub(crate) fn push(&mut self, t: i64, v: f64) -> bool {
        if let Some(head) = self.chunks.back_mut() {
            if t <= head.last_t {
                return false;
            }
            if head.n >= CHUNK_SAMPLES {
                head.shrink();
                self.chunks.push_back(Chunk::default());
            }
        } else {
            self.chunks.push_back(Chunk::default());
        }
        if let Some(head) = self.chunks.back_mut() {
            head.push(t, v);
        }
        self.count += 1;
        true
    }

    /// Replaces the value of the newest sample when it is at `t`; false otherwise.
    pub(crate) fn replace_last(&mut self, t: i64, v: f64) -> bool {
        let Some(head) = self.chunks.back_mut() else {
            return false;
        };
        if head.last_t != t {
            return false;
        }
        let mut buf = Vec::new();
        head.decode(&mut buf);
        buf.pop();
        buf.push((t, v));
        let mut c = Chunk::default();
        for (t, v) in buf {
            c.push(t, v);
        }
        *head = c;
        true
    }

    /// Drops whole chunks whose samples are all at or before `cutoff`.
    pub(crate) fn trim(&mut self, cutoff: i64) {
        while self.chunks.front().is_some_and(|c| c.last_t <= cutoff) {
            if let Some(c) = self.chunks.pop_front() {
                self.count -= usize::from(c.n);
            }
        }
    }

    pub(crate) fn last_is_stale(&self) -> bool {
        self.chunks.back().is_some_and(|c| is_stale(c.last_value()))
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.chunks.iter().map(Chunk::heap_bytes).sum::<usize>()
            + self.chunks.capacity() * std::mem::size_of::<Chunk>()
            + self.labels.len() * std::mem::size_of::<usize>()
    }
}
