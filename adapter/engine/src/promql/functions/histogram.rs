//! `histogram_quantile` over classic buckets, as Prometheus' `promql/quantile.go`.

use promql_parser::parser::Call;
use rustc_hash::FxHashMap;

use super::{arg, Elem, Evaluator, Result, Val};
use crate::labels::Labels;
use crate::promql::almost_equal;

/// Bucket counts closer than this (relative) are treated as equal.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Bucket {
    pub(crate) upper: f64,
    pub(crate) count: f64,
}

pub(super) fn histogram_quantile(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let q = ev.eval_scalar(arg(c, 0)?, t, "histogram_quantile")?;
    let v = ev.eval_vector(arg(c, 1)?, t)?;
    let mut groups: FxHashMap<Labels, Vec<Bucket>> = FxHashMap::default();
    let mut order: Vec<Labels> = Vec::new();
    for e in v {
        let Some(le) = e.labels.get("le") else {
            continue;
        };
        let Some(upper) = parse_le(le) else { continue };
        let key = e.labels.without(&["le"]);
        let slot = groups.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Vec::new()
        });
        slot.push(Bucket { upper, count: e.v });
    }
    let mut out = Vec::with_capacity(order.len());
    for key in order {
        let Some(mut buckets) = groups.remove(&key) else {
            continue;
        };
        out.push(Elem {
            labels: key,
            t,
            v: bucket_quantile(q, &mut buckets),
            drop_name: true,
        });
    }
    Ok(Val::Vector(out))
}

fn parse_le(s: &str) -> Option<f64> {
    crate::exposition::parse_float(s)
}

/// The φ-quantile of cumulative buckets (Prometheus' `BucketQuantile`).
pub(crate) fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| {
        a.upper
            .partial_cmp(&b.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if !buckets.last().is_some_and(|b| b.upper == f64::INFINITY) {
        return f64::NAN;
    }
    coalesce(buckets);
    ensure_monotonic(buckets);
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let n = buckets.len();
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    // sort.Search over all but the last bucket.
    let (mut lo, mut hi) = (0, n - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if buckets[mid].count >= rank {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let b = lo;
    if b == n - 1 {
        return buckets[n - 2].upper;
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return buckets[0].upper;
    }
    let mut start = 0.0;
    let end = buckets[b].upper;
    let mut count = buckets[b].count;
    if b > 0 {
        start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    start + (end - start) * (rank / count)
}

fn coalesce(buckets: &mut Vec<Bucket>) {
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match out.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => out.push(*b),
        }
    }
    *buckets = out;
}

fn ensure_monotonic(buckets: &mut [Bucket]) {
    let Some(first) = buckets.first() else { return };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) || curr < prev {
            b.count = prev;
            continue;
        }
        prev = curr;
    }
}
