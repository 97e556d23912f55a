//! One scrape into the store, in two steps: [`Store::prepare`] parses the body and looks up its
//! series without changing the store (callers hold a shared lock, so queries go on meanwhile),
//! [`Store::commit`] writes the samples (an exclusive lock, held for appends and new series
//! only). Parsing a large body is most of a scrape's cost: done under an exclusive lock, big
//! targets scraped back to back starved queries and HPA evaluations for seconds
//! (`tests/tests/harden/scrape.rs`).

use std::ops::Range;

use xxhash_rust::xxh3::xxh3_128;

use super::{kept, Error, IngestReport, Resolved, Result, SeriesId, Store, TargetKey, STALE_NAN};
use crate::exposition::{self, ParseOptions, ParseStats};
use crate::labels::Labels;

/// A parsed scrape of one target, ready for [`Store::commit`].
pub struct Prepared {
    key: TargetKey,
    scrape_ms: i64,
    samples: Vec<Sample>,
    /// Names and label pairs of series the target's cache did not know, back to back.
    text: String,
    /// `(name, value)` ranges into `text`, for each new series' labels.
    pairs: Vec<(Range<u32>, Range<u32>)>,
    dropped_filtered: usize,
    /// Kept samples past twice the sample limit, not recorded: the scrape fails at the
    /// limit anyway, and recording them would let a body of tiny lines cost far more than
    /// its size (about 80 bytes per sample).
    over: usize,
    parsed: std::result::Result<ParseStats, exposition::Error>,
}

struct Sample {
    series: Series,
    /// The XXH3 of the series text: the target cache's key.
    hash: u128,
    /// Kept only by the keep pattern (it fills at most half of each limit).
    pattern: bool,
    value: f64,
    timestamp_ms: Option<i64>,
    line: usize,
}

enum Series {
    /// In the target's cache when prepared.
    Known(SeriesId),
    /// Not in the cache: the name and the `pairs` it owns.
    New { name: Range<u32>, pairs: Range<u32> },
}

impl Prepared {
    fn str(&self, r: &Range<u32>) -> &str {
        &self.text[r.start as usize..r.end as usize]
    }

    /// Samples recorded for `commit`.
    #[cfg(test)]
    pub(crate) fn recorded(&self) -> usize {
        self.samples.len()
    }
}

/// Appends `s` to `text`, returning where it landed. A body is at most a few tens of MiB
/// (`--scrape-body-limit`), far below `u32::MAX`; a longer text saturates, which only garbles
/// the labels of a scrape no scraper hands over.
fn push_str(text: &mut String, s: &str) -> Range<u32> {
    let start = u32::try_from(text.len()).unwrap_or(u32::MAX);
    text.push_str(s);
    start..u32::try_from(text.len()).unwrap_or(u32::MAX)
}

impl Store {
    /// [`Store::ingest_with`] for the target scraped at `url`: the target is its URL and its
    /// labels, so two targets with the same labels (one `host:port`, two paths) each keep
    /// their own staleness. Series with the same labels are still one series.
    pub fn ingest_scrape(
        &mut self,
        url: &str,
        target_labels: &[(String, String)],
        scrape_ms: i64,
        body: &[u8],
        opts: &ParseOptions,
    ) -> Result<IngestReport> {
        let prepared = self.prepare(url, target_labels, scrape_ms, body, opts);
        self.commit(prepared)
    }

    /// Parses a scrape of the target at `url` with `target_labels` for [`Store::commit`],
    /// without changing the store: a caller may hold a shared lock meanwhile.
    pub fn prepare(
        &self,
        url: &str,
        target_labels: &[(String, String)],
        scrape_ms: i64,
        body: &[u8],
        opts: &ParseOptions,
    ) -> Prepared {
        let tkey = Labels::new(target_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let key: TargetKey = (url.into(), tkey);
        let cache = self.targets.get(&key).map(|t| &t.cache);
        let mut samples = Vec::new();
        let mut text = String::new();
        let mut pairs = Vec::new();
        let mut dropped_filtered = 0;
        let mut over = 0;
        // Room for the samples the limit lets through and as many dropped on the way
        // (duplicates, a full store); `commit` draws the line exactly.
        let record = self.sample_limit.saturating_mul(2);
        let parsed = exposition::parse_each(body, opts, |s| {
            let pattern = match self.kept.keeps(s.name) {
                kept::Keep::No => {
                    dropped_filtered += 1;
                    return;
                }
                kept::Keep::Named => false,
                kept::Keep::Pattern => true,
            };
            if record > 0 && samples.len() >= record {
                over += 1;
                return;
            }
            let hash = xxh3_128(s.series);
            let series = match cache.and_then(|c| c.get(&hash)) {
                Some(&id) if self.series.contains_key(&id) => Series::Known(id),
                _ => {
                    let name = push_str(&mut text, s.name);
                    let first = pairs.len() as u32;
                    for (n, v) in s.labels.iter().filter(|(_, v)| !v.is_empty()) {
                        let n = push_str(&mut text, n);
                        let v = push_str(&mut text, v);
                        pairs.push((n, v));
                    }
                    Series::New {
                        name,
                        pairs: first..pairs.len() as u32,
                    }
                }
            };
            samples.push(Sample {
                series,
                hash,
                pattern,
                value: s.value,
                timestamp_ms: s.timestamp_ms,
                line: s.line,
            });
        });
        Prepared {
            key,
            scrape_ms,
            samples,
            text,
            pairs,
            dropped_filtered,
            over,
            parsed,
        }
    }

    /// Writes a [`Store::prepare`]d scrape at its time (or its samples' own timestamps); series
    /// of that target missing from it get a stale marker. A scrape that fails (a bad line in
    /// strict mode, [`Store::set_sample_limit`], [`Store::set_target_series_limit`]) is rolled
    /// back before this returns, as Prometheus does: the target's series are stale at the
    /// scrape's time and no reader sees any of its samples.
    pub fn commit(&mut self, p: Prepared) -> Result<IngestReport> {
        let stats = match &p.parsed {
            Ok(stats) => stats,
            Err(e) => {
                // Strict: a bad line fails the scrape whole; nothing of it is written.
                let e = e.clone();
                self.mark_key_down(&p.key, p.scrape_ms);
                return Err(e.into());
            }
        };
        self.generation += 1;
        let generation = self.generation;
        let scrape_ms = p.scrape_ms;
        let mut target = self.targets.remove(&p.key).unwrap_or_default();
        let tkey = &p.key.1;
        let mut report = IngestReport {
            dropped_filtered: p.dropped_filtered,
            error_count: stats.error_count,
            errors: stats.errors.clone(),
            ..IngestReport::default()
        };
        let mut seen: Vec<SeriesId> = Vec::with_capacity(target.active.len());
        let limit = self.sample_limit;
        let series_limit = self.target_series_limit;
        let mut over = p.over;
        let mut over_target = 0usize;
        for s in &p.samples {
            // Series kept only by the pattern fill at most half of each limit (the store's, the
            // target's, the scrape's), and are dropped past it without failing the scrape: the
            // other half stays for the series queries read.
            let share = |n: usize| if s.pattern { n / 2 } else { n };
            if s.pattern && limit > 0 && seen.len() >= share(limit) {
                report.dropped_pattern += 1;
                continue;
            }
            // Past the limit no series is created: that is what bounds one scrape's memory.
            if limit > 0 && seen.len() >= limit {
                over += 1;
                continue;
            }
            let known = match s.series {
                Series::Known(id) => Some(id),
                // An earlier line of this scrape may have created it (a duplicate line).
                Series::New { .. } => target.cache.get(&s.hash).copied(),
            };
            let id = match known.filter(|id| self.series.contains_key(id)) {
                Some(id) => id,
                None => {
                    let Series::New { name, pairs } = &s.series else {
                        // Retention dropped the series between prepare and commit (it had no
                        // sample for a retention period): the next scrape creates it again.
                        target.cache.remove(&s.hash);
                        continue;
                    };
                    // At the limit a known series is still written (the text differs from the
                    // cached one), but neither created nor cached.
                    let at_limit = series_limit > 0 && target.cache.len() >= share(series_limit);
                    let labels = || {
                        p.pairs[pairs.start as usize..pairs.end as usize]
                            .iter()
                            .map(|(n, v)| (p.str(n), p.str(v)))
                    };
                    let cap = share(self.config.max_series);
                    let mut resolved = self.resolve(tkey, p.str(name), labels(), !at_limit, cap);
                    if matches!(resolved, Resolved::StoreFull)
                        && !s.pattern
                        && self.evict_for(target.cache.len())
                    {
                        report.evicted += 1;
                        resolved = self.resolve(tkey, p.str(name), labels(), !at_limit, cap);
                    }
                    match resolved {
                        Resolved::Series { id, created } => {
                            report.new_series += usize::from(created);
                            if !at_limit {
                                target.cache.insert(s.hash, id);
                            }
                            id
                        }
                        Resolved::OverTargetLimit | Resolved::StoreFull if s.pattern => {
                            report.dropped_pattern += 1;
                            continue;
                        }
                        Resolved::OverTargetLimit => {
                            over_target += 1;
                            continue;
                        }
                        Resolved::StoreFull => {
                            report.dropped_series_limit += 1;
                            continue;
                        }
                    }
                }
            };
            let Some(series) = self.series.get_mut(&id) else {
                continue;
            };
            if series.generation == generation {
                report.duplicates += 1;
                report.error_count += 1;
                if report.errors.len() < 100 {
                    report.errors.push(exposition::Error::Duplicate {
                        line: s.line,
                        series: series.labels.to_string(),
                    });
                }
                continue;
            }
            series.generation = generation;
            series.explicit_ts = s.timestamp_ms.is_some();
            seen.push(id);
            if series.push(s.timestamp_ms.unwrap_or(scrape_ms), s.value) {
                report.samples += 1;
            } else {
                report.out_of_order += 1;
            }
        }
        for id in std::mem::take(&mut target.active) {
            if let Some(s) = self.series.get_mut(&id) {
                if s.generation != generation
                    && !s.explicit_ts
                    && !s.last_is_stale()
                    && s.push(scrape_ms, f64::from_bits(STALE_NAN))
                {
                    report.stale_marked += 1;
                }
            }
        }
        target.active = seen;
        self.targets.insert(p.key.clone(), target);
        self.samples += report.samples + report.stale_marked;
        self.maybe_gc(scrape_ms);
        if over > 0 || over_target > 0 {
            // Rolled back in the same call, so no reader ever sees a failed scrape's samples.
            self.mark_key_down(&p.key, scrape_ms);
        }
        if over > 0 {
            return Err(Error::SampleLimit { limit, over });
        }
        if over_target > 0 {
            return Err(Error::TargetSeriesLimit {
                limit: series_limit,
                over: over_target,
            });
        }
        self.kept.scraped(scrape_ms);
        Ok(report)
    }

    /// Makes room in a full store for one new series of a target that holds `holdings` series,
    /// fewer than its fair share (`max_series` split evenly over the targets the store knows,
    /// this one included), by dropping the newest series of the target that holds the most, if
    /// that one holds more than its share. So targets that fill the store, each within
    /// `--target-series-limit`, cannot keep a new or small target's series out; the largest
    /// holder's next scrape finds its dropped series refused (counted in its
    /// [`IngestReport::dropped_series_limit`]). Called with the target being written taken out
    /// of `targets`.
    fn evict_for(&mut self, holdings: usize) -> bool {
        let fair = self.config.max_series / (self.targets.len() + 1);
        if holdings >= fair {
            return false;
        }
        let Some(largest) = self
            .targets
            .values_mut()
            .max_by_key(|t| t.cache.len())
            .filter(|t| t.cache.len() > fair)
        else {
            return false;
        };
        // Ids grow: the largest one is the newest series.
        let Some((&hash, &id)) = largest.cache.iter().max_by_key(|(_, &id)| id) else {
            return false;
        };
        largest.cache.remove(&hash);
        let samples = self.remove_series(id);
        self.samples = self.samples.saturating_sub(samples);
        true
    }
}
