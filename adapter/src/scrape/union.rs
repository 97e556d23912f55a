//! The targets of all sources as one list: each target once, conflicts named.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Target;

/// The targets of every source, each once, and what conflicts: a target listed twice (named
/// with both sources), two URLs with the same labels.
pub(super) fn union(sources: &BTreeMap<String, Vec<Target>>) -> (Vec<Target>, BTreeSet<String>) {
    let mut first: HashMap<&Target, &str> = HashMap::new();
    let mut by_labels: BTreeMap<&[(String, String)], &str> = BTreeMap::new();
    let mut all = Vec::new();
    let mut conflicts = BTreeSet::new();
    for (source, targets) in sources {
        for t in targets {
            if let Some(earlier) = first.get(t) {
                conflicts.insert(format!(
                    "target {} {} is listed by {earlier} and again by {source}: scraped once",
                    t.url,
                    labels_text(&t.labels)
                ));
                continue;
            }
            first.insert(t, source);
            if let Some(other) = by_labels.insert(&t.labels, &t.url) {
                let (x, y) = if other <= t.url.as_str() {
                    (other, t.url.as_str())
                } else {
                    (t.url.as_str(), other)
                };
                conflicts.insert(format!(
                    "targets {x} and {y} have the same labels {}: a series both expose is one series written by both; give them distinct labels (file_sd `labels`)",
                    labels_text(&t.labels)
                ));
            }
            all.push(t.clone());
        }
    }
    (all, conflicts)
}

fn labels_text(labels: &[(String, String)]) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(", "))
}
