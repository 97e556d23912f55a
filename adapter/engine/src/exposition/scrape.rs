//! The owned form of a parsed body, for callers that want a list rather than a stream.

use std::collections::{BTreeMap, HashSet};

use super::{parse_each, Error, Format, MetricType, ParseOptions, Result};
use crate::labels::{Labels, METRIC_NAME};

/// One sample with its full label set (`__name__` included).
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedSample {
    /// Labels, sorted, `__name__` included.
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// The explicit timestamp in milliseconds, if any.
    pub timestamp_ms: Option<i64>,
}

/// A whole parsed body.
#[derive(Clone, Debug, Default)]
pub struct ParsedScrape {
    /// Samples in body order.
    pub samples: Vec<ParsedSample>,
    /// The family type of each sample name that had a TYPE line.
    pub types: BTreeMap<String, MetricType>,
    /// Bad lines that were skipped (non-strict mode), duplicates included.
    pub errors: Vec<Error>,
    /// The format that was parsed.
    pub format: Format,
}

/// Parses a whole body into owned samples. A repeated series is an error (the later one is
/// dropped in non-strict mode).
pub fn parse(body: &[u8], opts: &ParseOptions) -> Result<ParsedScrape> {
    let mut out = ParsedScrape::default();
    let mut seen: HashSet<Labels> = HashSet::new();
    let mut dup: Option<Error> = None;
    let stats = parse_each(body, opts, |s| {
        let labels = Labels::new(
            std::iter::once((METRIC_NAME, s.name))
                .chain(s.labels.iter().map(|(n, v)| (&**n, &**v))),
        );
        if seen.contains(&labels) {
            let e = Error::Duplicate {
                line: s.line,
                series: labels.to_string(),
            };
            if dup.is_none() {
                dup = Some(e.clone());
            }
            out.errors.push(e);
            return;
        }
        seen.insert(labels.clone());
        if s.kind != MetricType::Untyped {
            out.types.entry(s.name.to_string()).or_insert(s.kind);
        }
        out.samples.push(super::ParsedSample {
            labels,
            value: s.value,
            timestamp_ms: s.timestamp_ms,
        });
    })?;
    if opts.strict {
        if let Some(e) = dup {
            return Err(e);
        }
    }
    out.errors.extend(stats.errors);
    out.format = stats.format;
    Ok(out)
}
