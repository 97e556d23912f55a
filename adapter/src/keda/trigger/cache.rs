//! Triggers parsed once: KEDA sends a trigger's whole metadata with every call (each
//! `IsActive` poll, each `GetMetrics` of each HPA sync), so the scaler keeps the [`Trigger`] of
//! each distinct metadata, its `promql::Query` parsed with it, and reads it back on the next call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Error, Trigger};
use crate::sync;

/// The metadata, sorted: the same trigger whatever order KEDA's map sends it in.
type Key = Vec<(String, String)>;

/// Triggers by metadata, at most `capacity` (then the least recently used one goes).
pub struct Cache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Each trigger and the call count at its last use.
    triggers: HashMap<Key, (Arc<Trigger>, u64)>,
    calls: u64,
}

impl Cache {
    /// An empty cache of at most `capacity` triggers (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The trigger of `meta`: the one read before, or read and checked now. Metadata that is
    /// refused is not kept (it is read again, and refused again, on the next call).
    pub fn get(&self, meta: &HashMap<String, String>) -> Result<Arc<Trigger>, Error> {
        let mut key: Key = meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        key.sort();
        let mut inner = sync::lock(&self.inner);
        inner.calls += 1;
        let now = inner.calls;
        if let Some((t, used)) = inner.triggers.get_mut(&key) {
            *used = now;
            return Ok(t.clone());
        }
        let t = Arc::new(Trigger::from_metadata(meta)?);
        if inner.triggers.len() >= self.capacity {
            let oldest = inner
                .triggers
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                inner.triggers.remove(&k);
            }
        }
        inner.triggers.insert(key, (t.clone(), now));
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(query: &str) -> HashMap<String, String> {
        HashMap::from([
            ("query".to_owned(), query.to_owned()),
            ("threshold".to_owned(), "5".to_owned()),
        ])
    }

    /// Demonstrates that a trigger is parsed once per metadata, a refused one is not kept, and
    /// past the capacity the least recently used trigger is dropped.
    #[test]
    fn one_parse_per_trigger_within_capacity() {
        let cache = Cache::new(2);
        let a = cache.get(&meta("sum(x)")).unwrap();
        assert!(Arc::ptr_eq(&a, &cache.get(&meta("sum(x)")).unwrap()));
        assert!(cache.get(&meta("sum(x")).is_err());
        let b = cache.get(&meta("sum(y)")).unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        // a is used again, so b is the least recently used when z comes in.
        assert!(Arc::ptr_eq(&a, &cache.get(&meta("sum(x)")).unwrap()));
        cache.get(&meta("sum(z)")).unwrap();
        assert!(Arc::ptr_eq(&a, &cache.get(&meta("sum(x)")).unwrap()));
        assert!(!Arc::ptr_eq(&b, &cache.get(&meta("sum(y)")).unwrap()));
    }
}
