//! A series' label set: sorted by name, `__name__` included, empty values dropped.

use std::fmt;
use std::sync::Arc;

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label: a name and a value. The store interns pairs, so a label shared by many series
/// (`reporter="destination"`, a pod's name) is held once and each series' label set is a
/// pointer per label (a sidecar's series carry about 30).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Pair(pub(crate) Arc<str>, pub(crate) Arc<str>);

/// An immutable label set, sorted by label name; cloning is one reference-count increment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Arc<[Arc<Pair>]>);

impl Default for Labels {
    fn default() -> Self {
        Labels(Arc::new([]))
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
        Labels(v.into_iter().map(|(n, v)| Arc::new(Pair(n, v))).collect())
    }

    /// Builds from pairs already sorted by name and free of empty values and duplicates.
    pub(crate) fn from_sorted(v: Vec<Arc<Pair>>) -> Self {
        debug_assert!(v.windows(2).all(|w| w[0].0 < w[1].0));
        Labels(v.into())
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|p| (*p.0).cmp(name))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    /// The metric name (`__name__`), if present.
    pub fn name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Iterates `(name, value)` in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0.iter().map(|p| (&*p.0, &*p.1))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy without `__name__`.
    pub fn without_name(&self) -> Labels {
        self.without(&[METRIC_NAME])
    }

    /// A copy without the listed labels.
    pub fn without(&self, names: &[&str]) -> Labels {
        if !self.0.iter().any(|p| names.contains(&&*p.0)) {
            return self.clone();
        }
        Labels(
            self.0
                .iter()
                .filter(|p| !names.contains(&&*p.0))
                .cloned()
                .collect(),
        )
    }

    /// A copy with only the listed labels.
    pub fn keep(&self, names: &[&str]) -> Labels {
        if self.0.iter().all(|p| names.contains(&&*p.0)) {
            return self.clone();
        }
        Labels(
            self.0
                .iter()
                .filter(|p| names.contains(&&*p.0))
                .cloned()
                .collect(),
        )
    }

    /// A copy with `name` set to `value` (removed when `value` is empty).
    pub fn with(&self, name: &str, value: &str) -> Labels {
        let mut v = self.0.to_vec();
        let pair = || Arc::new(Pair(name.into(), value.into()));
        match v.binary_search_by(|p| (*p.0).cmp(name)) {
            Ok(i) if value.is_empty() => {
                v.remove(i);
            }
            Ok(i) => v[i] = pair(),
            Err(_) if value.is_empty() => {}
            Err(i) => v.insert(i, pair()),
        }
        Labels(v.into())
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

    /// The shared pairs, for callers that re-use the interned values.
    pub(crate) fn pairs(&self) -> &[Arc<Pair>] {
        &self.0
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
}
