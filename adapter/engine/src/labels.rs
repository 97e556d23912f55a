//! A series' label set: sorted by name, `__name__` included, empty values dropped.

use std::fmt;
use std::sync::Arc;

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label: a name and a value. The store interns pairs, so a label shared by many series
/// (`reporter="destination"`, a pod's name) is held once.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Pair(pub(crate) Arc<str>, pub(crate) Arc<str>);

/// Pairs sorted by name.
pub(crate) type Pairs = Arc<[Arc<Pair>]>;

/// The labels that tell apart the series of one family: a histogram's buckets, sum and count
/// (and a summary's quantiles) share every other label.
const OWN: [&str; 3] = [METRIC_NAME, "le", "quantile"];

/// True for the labels a stored series keeps in [`Labels`]' own part.
pub(crate) fn is_own(name: &str) -> bool {
    OWN.contains(&name)
}

/// An immutable label set, sorted by label name; cloning is two reference-count increments.
///
/// Two parts with no name in common: the store keeps a series' `__name__`, `le` and `quantile`
/// in `own` and the rest, the same for every series of a family of one target, in `shared`.
/// Both are interned, so a stored series' labels cost two pointers, not one per label (a
/// sidecar's series carry about 30). Equality, hashing and order read the merged pairs, so a
/// set is equal to the same pairs however they are split.
#[derive(Clone)]
pub struct Labels {
    own: Pairs,
    shared: Option<Pairs>,
}

impl Default for Labels {
    fn default() -> Self {
        Labels {
            own: Arc::new([]),
            shared: None,
        }
    }
}

/// The pairs of both parts, merged in name order.
#[derive(Clone)]
struct Merged<'a> {
    a: &'a [Arc<Pair>],
    b: &'a [Arc<Pair>],
}

impl<'a> Iterator for Merged<'a> {
    type Item = &'a Arc<Pair>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.b.is_empty() {
            // One part (every set built outside the store): a plain walk.
            let (first, rest) = self.a.split_first()?;
            self.a = rest;
            return Some(first);
        }
        let take_a = match (self.a.first(), self.b.first()) {
            (Some(x), Some(y)) => x.0 <= y.0,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let side = if take_a { &mut self.a } else { &mut self.b };
        let (first, rest) = side.split_first()?;
        *side = rest;
        Some(first)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.a.len() + self.b.len();
        (n, Some(n))
    }
}

impl Labels {
    /// Builds a label set from pairs in any order; empty values are dropped, a later duplicate name wins.
    pub fn new<N: Into<Arc<str>>, V: Into<Arc<str>>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut v: Vec<(Arc<str>, Arc<str>)> = Vec::new();
        for (n, val) in pairs {
            let (n, val) = (n.into(), val.into());
            match v.iter_mut().find(|(k, _)| *k == n) {
                Some(slot) => slot.1 = val,
                None => v.push((n, val)),
            }
        }
        v.retain(|(_, val)| !val.is_empty());
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Self::flat(v.into_iter().map(|(n, v)| Arc::new(Pair(n, v))).collect())
    }

    /// One part, already sorted by name and free of empty values and duplicates.
    fn flat(own: Pairs) -> Self {
        Labels { own, shared: None }
    }

    /// From the store's interned parts: each sorted by name, free of empty values, and no name
    /// in both.
    pub(crate) fn from_parts(own: Pairs, shared: Option<Pairs>) -> Self {
        debug_assert!(own.windows(2).all(|w| w[0].0 < w[1].0));
        debug_assert!(shared
            .as_deref()
            .is_none_or(|s| s.windows(2).all(|w| w[0].0 < w[1].0)
                && s.iter()
                    .all(|p| own.binary_search_by(|o| o.0.cmp(&p.0)).is_err())));
        Labels { own, shared }
    }

    fn merged(&self) -> Merged<'_> {
        Merged {
            a: &self.own,
            b: self.shared.as_deref().unwrap_or(&[]),
        }
    }

    fn find(&self, name: &str) -> Option<&Arc<Pair>> {
        let search = |part: &'_ [Arc<Pair>]| -> Option<usize> {
            part.binary_search_by(|p| (*p.0).cmp(name)).ok()
        };
        if let Some(shared) = self.shared.as_deref() {
            if !is_own(name) {
                return search(shared).map(|i| &shared[i]);
            }
        }
        search(&self.own).map(|i| &self.own[i])
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.find(name).map(|p| &*p.1)
    }

    /// The value of label `name` as the shared string the store interned.
    pub(crate) fn get_shared(&self, name: &str) -> Option<&Arc<str>> {
        self.find(name).map(|p| &p.1)
    }

    /// The metric name (`__name__`), if present.
    pub fn name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Iterates `(name, value)` in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.merged().map(|p| (&*p.0, &*p.1))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.own.len() + self.shared.as_deref().map_or(0, <[_]>::len)
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy without `__name__`.
    pub fn without_name(&self) -> Labels {
        self.without(&[METRIC_NAME])
    }

    /// A copy without the listed labels.
    pub fn without(&self, names: &[&str]) -> Labels {
        if !self.merged().any(|p| names.contains(&&*p.0)) {
            return self.clone();
        }
        Self::flat(
            self.merged()
                .filter(|p| !names.contains(&&*p.0))
                .cloned()
                .collect(),
        )
    }

    /// A copy with only the listed labels.
    pub fn keep(&self, names: &[&str]) -> Labels {
        if self.merged().all(|p| names.contains(&&*p.0)) {
            return self.clone();
        }
        Self::flat(
            self.merged()
                .filter(|p| names.contains(&&*p.0))
                .cloned()
                .collect(),
        )
    }

    /// A copy with `name` set to `value` (removed when `value` is empty).
    pub fn with(&self, name: &str, value: &str) -> Labels {
        let mut v: Vec<Arc<Pair>> = self.merged().cloned().collect();
        let pair = || Arc::new(Pair(name.into(), value.into()));
        match v.binary_search_by(|p| (*p.0).cmp(name)) {
            Ok(i) if value.is_empty() => {
                v.remove(i);
            }
            Ok(i) => v[i] = pair(),
            Err(_) if value.is_empty() => {}
            Err(i) => v.insert(i, pair()),
        }
        Self::flat(v.into())
    }

    /// A hash of the values of the listed labels (absent ones hash as empty), for grouping
    /// without building a label set per element.
    pub(crate) fn hash_of(&self, names: &[&str]) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = rustc_hash::FxHasher::default();
        for n in names {
            self.get(n).unwrap_or("").hash(&mut h);
        }
        h.finish()
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        let same = |a: &Option<Pairs>, b: &Option<Pairs>| match (a, b) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if Arc::ptr_eq(&self.own, &other.own) && same(&self.shared, &other.shared) {
            return true;
        }
        self.len() == other.len() && self.merged().eq(other.merged())
    }
}

impl Eq for Labels {}

impl std::hash::Hash for Labels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for p in self.merged() {
            p.hash(state);
        }
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.merged().cmp(other.merged())
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl fmt::Display for Labels {
    /// Prometheus' notation: `name{a="b", c="d"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.name() {
            f.write_str(n)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (k, v) in self.iter().filter(|(k, _)| *k != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates that labels sort by name, drop empty values and answer lookups.
    #[test]
    fn sorted_and_lookup() {
        let l = Labels::new([("b", "2"), ("__name__", "m"), ("a", "1"), ("e", "")]);
        assert_eq!(
            l.iter().collect::<Vec<_>>(),
            vec![("__name__", "m"), ("a", "1"), ("b", "2")]
        );
        assert_eq!(l.get("a"), Some("1"));
        assert_eq!(l.get("e"), None);
        assert_eq!(l.to_string(), r#"m{a="1", b="2"}"#);
        assert_eq!(l.with("c", "3").get("c"), Some("3"));
        assert_eq!(l.with("a", "").get("a"), None);
        assert_eq!(l.without_name().name(), None);
    }

    /// Demonstrates that a set split in two parts (as the store keeps them) reads, compares,
    /// hashes and orders as the same pairs in one part.
    #[test]
    fn parts_are_the_merged_pairs() {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let flat = Labels::new([
            ("__name__", "m_bucket"),
            ("a", "1"),
            ("le", "5"),
            ("z", "2"),
        ]);
        let pairs = |v: &[(&str, &str)]| -> Pairs {
            v.iter()
                .map(|(n, v)| Arc::new(Pair((*n).into(), (*v).into())))
                .collect()
        };
        let split = Labels::from_parts(
            pairs(&[("__name__", "m_bucket"), ("le", "5")]),
            Some(pairs(&[("a", "1"), ("z", "2")])),
        );
        assert_eq!(
            split.iter().collect::<Vec<_>>(),
            flat.iter().collect::<Vec<_>>()
        );
        assert_eq!(split, flat);
        assert_eq!(split.len(), 4);
        assert_eq!(
            (split.get("a"), split.get("le"), split.get("b")),
            (Some("1"), Some("5"), None)
        );
        let h = BuildHasherDefault::<rustc_hash::FxHasher>::default();
        assert_eq!(h.hash_one(&split), h.hash_one(&flat));
        let other = Labels::new([("__name__", "m_bucket"), ("a", "1"), ("le", "6")]);
        assert_eq!(split.cmp(&other), flat.cmp(&other));
        assert_ne!(split, other);
        assert_eq!(
            split.without(&["le"]),
            Labels::new([("__name__", "m_bucket"), ("a", "1"), ("z", "2")])
        );
        assert_eq!(split.to_string(), r#"m_bucket{a="1", le="5", z="2"}"#);
    }
}
