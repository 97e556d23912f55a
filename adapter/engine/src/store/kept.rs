//! Which metric names the store keeps, and since when its history of each one begins.
//!
//! A query over a name the store has only just started keeping reads seconds of history, as
//! after a restart; the caller withholds its value until the history covers the query's
//! window. So each kept name records the first successful scrape written after it was kept.
//! A name nobody asks for any more stays kept for a grace period, so that asking for it again
//! (a re-added or reverted HPA) finds its history whole.

use std::collections::HashSet;
use std::time::Duration;

use regex::Regex;
use rustc_hash::FxHashMap;

/// Where the store's history of one metric name begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// The store does not keep the name: it holds no samples of it.
    NotKept,
    /// Kept, but no scrape has succeeded since it was.
    NotScraped,
    /// Kept since the successful scrape at this timestamp (ms).
    Since(i64),
}

/// Why a name is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keep {
    No,
    /// Named by the filter (or no filter): a query reads it.
    Named,
    /// Only by the pattern ([`super::Store::set_keep_pattern`]).
    Pattern,
}

#[derive(Debug, Clone, Copy, Default)]
struct Name {
    /// Timestamp of the first successful scrape after the name was kept.
    since: Option<i64>,
    /// For a name no longer asked for: when it stops being kept.
    until: Option<i64>,
}

/// The kept names: an explicit set (`None`: every name) and a pattern.
#[derive(Debug, Default)]
pub(super) struct Kept {
    /// `None`: every name is kept (no filter).
    names: Option<FxHashMap<String, Name>>,
    /// Names matching it are kept too.
    pattern: Option<Regex>,
    /// First successful scrape since the pattern was set (or, without a filter, at all).
    pattern_since: Option<i64>,
    /// Some `since` is still unset.
    pending: bool,
    /// The first successful scrape.
    first: Option<i64>,
}

impl Kept {
    pub(super) fn new(filter: Option<&HashSet<String>>) -> Self {
        let mut k = Kept {
            pending: true,
            ..Kept::default()
        };
        k.replace(filter);
        k
    }

    /// Whether samples of `name` are stored, and why.
    pub(super) fn keeps(&self, name: &str) -> Keep {
        match &self.names {
            None => Keep::Named,
            Some(n) if n.contains_key(name) => Keep::Named,
            Some(_) if self.pattern.as_ref().is_some_and(|p| p.is_match(name)) => Keep::Pattern,
            Some(_) => Keep::No,
        }
    }

    /// Replaces the explicit set at once: new names start their history, dropped ones are
    /// forgotten.
    pub(super) fn replace(&mut self, filter: Option<&HashSet<String>>) {
        let Some(filter) = filter else {
            if self.names.is_some() {
                self.names = None;
                self.pattern_since = None;
                self.pending = true;
            }
            return;
        };
        let mut old = self.names.take().unwrap_or_default();
        let names = filter
            .iter()
            .map(|n| {
                let e = old.remove(n).unwrap_or_default();
                (n.clone(), Name { until: None, ..e })
            })
            .collect::<FxHashMap<_, _>>();
        self.pending |= names.values().any(|n| n.since.is_none());
        self.names = Some(names);
    }

    /// Keeps `wanted`; a name kept now and not wanted stays kept until `now_ms + grace`.
    pub(super) fn want(&mut self, wanted: &HashSet<String>, now_ms: i64, grace: Duration) {
        let names = self.names.get_or_insert_with(FxHashMap::default);
        let until = now_ms.saturating_add(grace.as_millis() as i64);
        for (n, e) in names.iter_mut() {
            if !wanted.contains(n) && e.until.is_none() {
                e.until = Some(until);
            }
        }
        for n in wanted {
            let e = names.entry(n.clone()).or_default();
            e.until = None;
            self.pending |= e.since.is_none();
        }
        self.expire(now_ms);
    }

    /// Stops keeping names whose grace period has ended by `now_ms`; true when some did.
    pub(super) fn expire(&mut self, now_ms: i64) -> bool {
        let Some(names) = &mut self.names else {
            return false;
        };
        let before = names.len();
        names.retain(|_, e| e.until.is_none_or(|u| u > now_ms));
        names.len() != before
    }

    pub(super) fn set_pattern(&mut self, pattern: Option<Regex>) {
        self.pattern = pattern;
        self.pattern_since = None;
        self.pending = true;
    }

    /// A scrape at `scrape_ms` was written whole: every history not begun yet begins there.
    pub(super) fn scraped(&mut self, scrape_ms: i64) {
        self.first.get_or_insert(scrape_ms);
        if !self.pending {
            return;
        }
        self.pending = false;
        self.pattern_since.get_or_insert(scrape_ms);
        if let Some(names) = &mut self.names {
            for e in names.values_mut() {
                e.since.get_or_insert(scrape_ms);
            }
        }
    }

    /// Where the history of `name` begins.
    pub(super) fn history(&self, name: &str) -> History {
        let explicit = self.names.as_ref().map(|n| n.get(name).map(|e| e.since));
        let by_pattern = match &self.names {
            None => Some(self.pattern_since),
            Some(_) if self.pattern.as_ref().is_some_and(|p| p.is_match(name)) => {
                Some(self.pattern_since)
            }
            Some(_) => None,
        };
        let kept = [explicit.flatten(), by_pattern];
        if kept.iter().all(Option::is_none) {
            return History::NotKept;
        }
        // Kept both ways: its history begins at the earlier start.
        match kept.into_iter().flatten().flatten().min() {
            Some(t) => History::Since(t),
            None => History::NotScraped,
        }
    }

    /// The first successful scrape, the start of the history of names kept from the start.
    pub(super) fn first(&self) -> Option<i64> {
        self.first
    }

    /// The explicit set, as [`super::StoreConfig::metric_filter`] shows it.
    pub(super) fn filter(&self) -> Option<HashSet<String>> {
        self.names.as_ref().map(|n| n.keys().cloned().collect())
    }
}
