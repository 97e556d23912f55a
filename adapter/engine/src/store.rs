//! In-memory series store: per-series sample windows, retention, staleness, a series cap and an
//! optional metric-name filter. A plain struct; callers share it behind a lock.

mod chunk;
mod ingest;
mod kept;
pub mod matcher;
mod series;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rustc_hash::{FxHashMap, FxHashSet};

pub use ingest::Prepared;
pub use kept::History;
pub use matcher::{MatchOp, Matcher};
pub use series::{is_stale, Series, STALE_NAN};

use crate::exposition::{self, ParseOptions};
use crate::labels::{is_own, Labels, Pair, Pairs, METRIC_NAME};

/// Store limits.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Samples older than this (relative to the newest scrape) are dropped.
    pub retention: Duration,
    /// New series beyond this many are refused (counted in [`IngestReport::dropped_series_limit`]).
    pub max_series: usize,
    /// When set, only samples of these metric names (and of names matching
    /// [`Store::set_keep_pattern`]) are kept.
    pub metric_filter: Option<HashSet<String>>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            retention: Duration::from_secs(600),
            max_series: 1_000_000,
            metric_filter: None,
        }
    }
}

/// Store errors.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Error {
    /// The scrape body was rejected (strict mode).
    #[error("scrape body: {0}")]
    Parse(#[from] exposition::Error),
    /// The series cap is reached.
    #[error("series limit of {0} reached")]
    SeriesLimit(usize),
    /// A sample not newer than the series' last one.
    #[error("out-of-order sample for {0} at {1} ms")]
    OutOfOrder(String, i64),
    /// One scrape held more samples of kept metrics than [`Store::set_sample_limit`] allows.
    #[error(
        "the scrape has {over} samples of queried metrics beyond the limit of {limit} per scrape"
    )]
    SampleLimit { limit: usize, over: usize },
    /// The target already holds as many series as [`Store::set_target_series_limit`] allows
    /// (its earlier series count until retention drops them) and this scrape had new ones.
    #[error(
        "the target holds {limit} series, the most one target may hold, and this scrape has {over} new series beyond them (earlier series count until retention drops them)"
    )]
    TargetSeriesLimit { limit: usize, over: usize },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What one ingest did.
#[derive(Debug, Default)]
pub struct IngestReport {
    /// Samples appended.
    pub samples: usize,
    /// Series created.
    pub new_series: usize,
    /// Stale markers written for series missing from this scrape.
    pub stale_marked: usize,
    /// Samples dropped by the metric filter.
    pub dropped_filtered: usize,
    /// Samples of new series refused because the store holds `max_series` and this target
    /// holds its fair share of them or more (see [`Store::commit`]).
    pub dropped_series_limit: usize,
    /// Series of the target holding the most, dropped to make room for this target's new
    /// series while it held less than its fair share of a full store.
    pub evicted: usize,
    /// Samples of metrics kept only by [`Store::set_keep_pattern`], dropped past half of a
    /// limit (the series cap, the target's series limit, the scrape's sample limit).
    pub dropped_pattern: usize,
    /// Samples dropped because they were not newer than the series' last sample.
    pub out_of_order: usize,
    /// Samples dropped because their series appeared earlier in the same body.
    pub duplicates: usize,
    /// Bad lines (first 100), each naming line and column.
    pub errors: Vec<exposition::Error>,
    /// Number of bad lines.
    pub error_count: usize,
}

type SeriesId = u64;

#[derive(Default)]
struct Target {
    /// Series text as the target writes it → series; saves building labels on every scrape.
    /// Keyed by the text's 128-bit XXH3, not the text: a sidecar's series text (25 labels) is
    /// about a kilobyte, which made the cache most of a target's memory. Two series of one
    /// target sharing a hash (odds about n²/2¹²⁹, 10⁻³² for a few thousand series) would be
    /// merged, a risk far below a bit flip's. Only kept metrics are cached: the filter is
    /// checked by name first, so a target that sends ever new series of other metrics grows
    /// nothing. It holds every stored series this target's scrapes wrote, until retention
    /// drops it: its size is what [`Store::set_target_series_limit`] bounds.
    cache: FxHashMap<u128, SeriesId>,
    /// Series written by the last scrape (stale-marked when missing from the next).
    active: Vec<SeriesId>,
}

/// How [`Store::resolve`] placed a sample.
enum Resolved {
    Series {
        id: SeriesId,
        created: bool,
    },
    /// A new series, refused: the target holds its limit.
    OverTargetLimit,
    /// A new series, refused: the store holds `max_series`.
    StoreFull,
}

/// A target's identity: its scrape URL and its labels, as in Prometheus (two targets on one
/// `host:port` with different paths have the same labels).
type TargetKey = (Box<str>, Labels);

/// The series store.
#[derive(Default)]
pub struct Store {
    config: StoreConfig,
    /// The metric names kept, and where each one's history begins.
    kept: kept::Kept,
    series: FxHashMap<SeriesId, Series>,
    by_labels: FxHashMap<Labels, SeriesId>,
    by_name: FxHashMap<Arc<str>, Vec<SeriesId>>,
    targets: FxHashMap<TargetKey, Target>,
    interner: FxHashSet<Arc<str>>,
    /// Label pairs of stored series.
    pair_interner: FxHashSet<Arc<Pair>>,
    /// The two parts of stored series' label sets (`Labels`): each series points at two.
    part_interner: FxHashSet<Pairs>,
    next_id: SeriesId,
    generation: u64,
    last_gc: i64,
    samples: usize,
    /// Most samples (of kept metrics) one scrape may write; 0: no limit.
    sample_limit: usize,
    /// Most series one target may hold; 0: no limit.
    target_series_limit: usize,
}

impl Store {
    /// An empty store.
    pub fn new(config: StoreConfig) -> Store {
        Store {
            kept: kept::Kept::new(config.metric_filter.as_ref()),
            config,
            ..Store::default()
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Replaces the series cap; series already stored beyond it stay until retention drops them.
    pub fn set_max_series(&mut self, max_series: usize) {
        self.config.max_series = max_series;
    }

    /// Limits the samples of kept metrics one scrape may write (0: no limit), so one scrape
    /// creates at most this many series (a target that changes its series every scrape is
    /// bounded by retention and the store's `max_series`). Past it the scrape fails with
    /// [`Error::SampleLimit`]: the samples before the limit are replaced by stale markers in the
    /// same call (the target is down, as in Prometheus), and no series beyond it is created.
    pub fn set_sample_limit(&mut self, limit: usize) {
        self.sample_limit = limit;
    }

    /// Limits the series one target may hold in the store (0: no limit), counting every series
    /// its scrapes wrote until retention drops it. [`Store::set_sample_limit`] bounds one
    /// scrape; this bounds a target that writes new series every scrape, which would otherwise
    /// fill `max_series` and starve every other target's new series. Past it the scrape fails
    /// with [`Error::TargetSeriesLimit`]: no new series is created and the scrape's samples are
    /// replaced by stale markers in the same call.
    pub fn set_target_series_limit(&mut self, limit: usize) {
        self.target_series_limit = limit;
    }

    /// Replaces the metric filter; series already stored stay until retention drops them. A
    /// name that joins it begins its [`Store::history`] at the next successful scrape.
    pub fn set_metric_filter(&mut self, filter: Option<HashSet<String>>) {
        self.kept.replace(filter.as_ref());
        self.config.metric_filter = filter;
    }

    /// Keeps the metric names in `wanted` (a filter); a kept name that is not wanted any more
    /// stays kept for `grace` after `now_ms` (its history whole should it be wanted again),
    /// then leaves the filter (its samples stay until retention drops them).
    pub fn keep_metrics(&mut self, wanted: &HashSet<String>, now_ms: i64, grace: Duration) {
        self.kept.want(wanted, now_ms, grace);
        self.config.metric_filter = self.kept.filter();
    }

    /// Also keeps every metric name `pattern` matches (whole-name matches are the caller's
    /// business: anchor it). Their history begins at the next successful scrape. Series kept
    /// only by the pattern fill at most half of each limit (`max_series`, the target's series
    /// limit, the scrape's sample limit); past it they are dropped, counted in
    /// [`IngestReport::dropped_pattern`], and the scrape goes on, so they never starve (or
    /// fail the scrapes of) the series that queries read.
    pub fn set_keep_pattern(&mut self, pattern: Option<regex::Regex>) {
        self.kept.set_pattern(pattern);
    }

    /// Where the store's history of metric `name` begins: the first successful scrape after
    /// the name was kept. A query over it reads no further back than that.
    pub fn history(&self, name: &str) -> History {
        self.kept.history(name)
    }

    /// The timestamp of the first successful scrape: where the history of names kept from the
    /// start begins.
    pub fn first_scrape(&self) -> Option<i64> {
        self.kept.first()
    }

    /// Parses a scrape of one target and appends its samples at `scrape_ms` (or their own
    /// timestamps); series of that target missing from this scrape get a stale marker.
    pub fn ingest(
        &mut self,
        target_labels: &[(String, String)],
        scrape_ms: i64,
        body: &[u8],
    ) -> Result<IngestReport> {
        self.ingest_with(target_labels, scrape_ms, body, &ParseOptions::default())
    }

    /// [`Store::ingest`] with explicit parse options (strict mode, format).
    pub fn ingest_with(
        &mut self,
        target_labels: &[(String, String)],
        scrape_ms: i64,
        body: &[u8],
        opts: &ParseOptions,
    ) -> Result<IngestReport> {
        self.ingest_scrape("", target_labels, scrape_ms, body, opts)
    }

    /// Writes stale markers at `ms` for every series the target's last scrape wrote.
    pub fn mark_target_down(&mut self, target_labels: &[(String, String)], ms: i64) {
        self.mark_scrape_down("", target_labels, ms);
    }

    /// [`Store::mark_target_down`] for the target scraped at `url` ([`Store::ingest_scrape`]).
    pub fn mark_scrape_down(&mut self, url: &str, target_labels: &[(String, String)], ms: i64) {
        let tkey = Labels::new(target_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self.mark_key_down(&(url.into(), tkey), ms);
    }

    fn mark_key_down(&mut self, key: &TargetKey, ms: i64) {
        let Some(target) = self.targets.get_mut(key) else {
            return;
        };
        for id in std::mem::take(&mut target.active) {
            if let Some(s) = self.series.get_mut(&id) {
                if s.last_is_stale() {
                    continue;
                }
                if s.push(ms, f64::from_bits(STALE_NAN)) {
                    self.samples += 1;
                } else {
                    // A scrape that failed after writing some samples (the sample limit): its
                    // sample at `ms` is replaced, as Prometheus rolls such a scrape back.
                    s.replace_last(ms, f64::from_bits(STALE_NAN));
                }
            }
        }
    }

    /// Appends one sample to the series with exactly these labels (created if needed); a
    /// sample at the series' last timestamp replaces it.
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<()> {
        let id = match self.by_labels.get(labels) {
            Some(&id) => id,
            None => self.create(labels.clone())?,
        };
        let series = self
            .series
            .get_mut(&id)
            .ok_or(Error::SeriesLimit(self.config.max_series))?;
        if series.replace_last(t, v) {
            return Ok(());
        }
        if !series.push(t, v) {
            return Err(Error::OutOfOrder(labels.to_string(), t));
        }
        self.samples += 1;
        Ok(())
    }

    /// Series satisfying all matchers (in no particular order).
    pub fn select(&self, matchers: &[Matcher]) -> Vec<&Series> {
        let by_name = matchers.iter().find_map(|m| match &m.op {
            MatchOp::Equal(v) if m.name == METRIC_NAME => Some(v.as_str()),
            _ => None,
        });
        let ok = |s: &&Series| matchers.iter().all(|m| m.matches(&s.labels));
        match by_name {
            Some(name) => self
                .by_name
                .get(name)
                .map(|ids| {
                    ids.iter()
                        .filter_map(|id| self.series.get(id))
                        .filter(ok)
                        .collect()
                })
                .unwrap_or_default(),
            None => self.series.values().filter(ok).collect(),
        }
    }

    /// Drops samples older than the retention before `now_ms` and series left empty.
    pub fn gc(&mut self, now_ms: i64) {
        let cutoff = now_ms.saturating_sub(self.config.retention.as_millis() as i64);
        let mut removed = Vec::new();
        let mut total = 0;
        for (id, s) in self.series.iter_mut() {
            s.trim(cutoff);
            if s.is_empty() {
                removed.push(*id);
            }
            total += s.len();
        }
        for id in removed {
            self.remove_series(id);
        }
        // Forget series text of expired series, and targets that have nothing left, so that pod
        // churn does not grow the caches without bound.
        let series = &self.series;
        self.targets.retain(|_, t| {
            t.active.retain(|id| series.contains_key(id));
            t.cache.retain(|_, id| series.contains_key(id));
            !t.cache.is_empty() || !t.active.is_empty()
        });
        // Parts, then pairs, then strings: what only a dropped part held goes in the same pass.
        self.part_interner.retain(|p| Arc::strong_count(p) > 1);
        self.pair_interner.retain(|p| Arc::strong_count(p) > 1);
        self.interner.retain(|s| Arc::strong_count(s) > 1);
        self.samples = total;
        self.last_gc = now_ms;
        if self.kept.expire(now_ms) {
            self.config.metric_filter = self.kept.filter();
        }
    }

    /// Number of series held.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Number of samples held (stale markers included).
    pub fn sample_count(&self) -> usize {
        self.samples
    }

    /// Approximate heap bytes used by samples, labels and indexes.
    pub fn memory_bytes(&self) -> usize {
        let strings: usize = self.interner.iter().map(|s| s.len() + 16).sum::<usize>()
            + self.pair_interner.len() * 64
            + self
                .part_interner
                .iter()
                .map(|p| 32 + p.len() * 8)
                .sum::<usize>();
        let series: usize = self
            .series
            .values()
            .map(|s| s.heap_bytes() + std::mem::size_of::<Series>() + 64)
            .sum();
        let caches: usize = self.targets.values().map(|t| t.cache.len() * 32).sum();
        strings + series + caches + self.by_labels.len() * 48
    }

    fn maybe_gc(&mut self, now_ms: i64) {
        let every = (self.config.retention.as_millis() as i64 / 8).max(1000);
        if now_ms - self.last_gc >= every {
            self.gc(now_ms);
        }
    }

    fn intern_part(&mut self, part: Vec<Arc<Pair>>) -> Pairs {
        if let Some(a) = self.part_interner.get(part.as_slice()) {
            return a.clone();
        }
        let a: Pairs = part.into();
        self.part_interner.insert(a.clone());
        a
    }

    fn intern_pair(&mut self, pair: Pair) -> Arc<Pair> {
        if let Some(a) = self.pair_interner.get(&pair) {
            return a.clone();
        }
        let a = Arc::new(pair);
        self.pair_interner.insert(a.clone());
        a
    }

    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.interner.get(s) {
            return a.clone();
        }
        let a: Arc<str> = s.into();
        self.interner.insert(a.clone());
        a
    }

    /// Finds the series for a parsed sample of target `tkey`, or creates it when `may_create`
    /// and the store holds fewer than `cap` series.
    fn resolve<'a>(
        &mut self,
        tkey: &Labels,
        name: &str,
        labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
        may_create: bool,
        cap: usize,
    ) -> Resolved {
        let mut pairs: Vec<(Arc<str>, Arc<str>)> =
            Vec::with_capacity(labels.len() + tkey.len() + 1);
        pairs.push((self.intern(METRIC_NAME), self.intern(name)));
        for (n, v) in labels {
            if v.is_empty() {
                continue;
            }
            // Prometheus (honor_labels: false) keeps a clashing scraped label as exported_<name>.
            let n = if tkey.get(n).is_some() {
                self.intern(&format!("exported_{n}"))
            } else {
                self.intern(n)
            };
            pairs.push((n, self.intern(v)));
        }
        for (n, v) in tkey.iter() {
            pairs.push((self.intern(n), self.intern(v)));
        }
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|a, b| a.0 == b.0);
        let (mut own, mut shared) = (Vec::with_capacity(2), Vec::with_capacity(pairs.len()));
        for (n, v) in pairs {
            let pair = self.intern_pair(Pair(n, v));
            if is_own(&pair.0) {
                own.push(pair);
            } else {
                shared.push(pair);
            }
        }
        let own = self.intern_part(own);
        let shared = (!shared.is_empty()).then(|| self.intern_part(shared));
        let labels = Labels::from_parts(own, shared);
        if let Some(&id) = self.by_labels.get(&labels) {
            return Resolved::Series { id, created: false };
        }
        if !may_create {
            return Resolved::OverTargetLimit;
        }
        if self.series.len() >= cap {
            return Resolved::StoreFull;
        }
        match self.create(labels) {
            Ok(id) => Resolved::Series { id, created: true },
            Err(_) => Resolved::StoreFull,
        }
    }

    /// Drops a series and its index entries; returns the samples it held.
    fn remove_series(&mut self, id: SeriesId) -> usize {
        let Some(s) = self.series.remove(&id) else {
            return 0;
        };
        self.by_labels.remove(&s.labels);
        if let Some(name) = s.labels.get_shared(METRIC_NAME).cloned() {
            if let Some(ids) = self.by_name.get_mut(&name) {
                ids.retain(|x| *x != id);
                if ids.is_empty() {
                    self.by_name.remove(&name);
                }
            }
        }
        s.len()
    }

    fn create(&mut self, labels: Labels) -> Result<SeriesId> {
        if self.series.len() >= self.config.max_series {
            return Err(Error::SeriesLimit(self.config.max_series));
        }
        let id = self.next_id;
        self.next_id += 1;
        if let Some(name) = labels.get_shared(METRIC_NAME).cloned() {
            self.by_name.entry(name).or_default().push(id);
        }
        self.by_labels.insert(labels.clone(), id);
        self.series.insert(id, Series::new(labels));
        Ok(id)
    }
}

#[cfg(test)]
mod tests;
