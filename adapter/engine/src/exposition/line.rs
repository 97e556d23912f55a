//! What both formats share across lines: the current metric family and its type, and what a
//! parsed sample line hands back.

use std::borrow::Cow;

use super::cursor::{parse_value, Cur};
use super::{normalize_float_label, openmetrics, text, Format, MetricType, Result};

/// A sample's labels as parsed (unescaped), without `__name__`.
pub(super) type LabelVec<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

pub(super) enum Parsed<'a> {
    Sample(Sample<'a>),
    /// OpenMetrics `# EOF`.
    Eof,
    /// A text-format line starting with a NUL byte: Prometheus' lexer reads it as the end of
    /// the body.
    EndOfBody,
    /// A comment, metadata or (text format) a blank line.
    Nothing,
}

/// A sample line; its labels went to the caller's vector.
pub(super) struct Sample<'a> {
    pub(super) series: &'a [u8],
    pub(super) name: Cow<'a, str>,
    pub(super) value: f64,
    pub(super) timestamp_ms: Option<i64>,
    pub(super) exemplar: bool,
}

/// Parser state carried across lines.
pub(super) struct State {
    pub(super) format: Format,
    /// The family of the last TYPE line and its type: a sample's [`MetricType`].
    family: String,
    family_type: MetricType,
    /// The type of the last TYPE line whatever the sample's name: Prometheus normalises `le`
    /// and `quantile` by it (`normalizeFloatsInLabelValues` is given the parser's `mtype`).
    last_type: MetricType,
}

impl State {
    pub(super) fn new(format: Format) -> State {
        State {
            format,
            family: String::new(),
            family_type: MetricType::Untyped,
            last_type: MetricType::Untyped,
        }
    }

    pub(super) fn line<'a>(
        &mut self,
        line: &'a str,
        lineno: usize,
        labels: &mut LabelVec<'a>,
    ) -> Result<Parsed<'a>> {
        let mut c = Cur::new(line, lineno);
        match self.format {
            Format::OpenMetrics => openmetrics::line(self, &mut c, labels),
            _ => text::line(self, &mut c, labels),
        }
    }

    /// A TYPE line.
    pub(super) fn set_type(&mut self, family: &str, ty: MetricType) {
        self.family.clear();
        self.family.push_str(family);
        self.family_type = ty;
        self.last_type = ty;
    }

    /// The family type of a sample named `name`: the last TYPE line's when `name` is its
    /// family or the family plus one of the type's suffixes.
    pub(super) fn kind_of(&self, name: &str) -> MetricType {
        if self.family.is_empty() {
            return MetricType::Untyped;
        }
        match name.strip_prefix(self.family.as_str()) {
            Some("") => self.family_type,
            Some(rest) if self.family_type.suffixes().contains(&rest) => self.family_type,
            _ => MetricType::Untyped,
        }
    }

    /// Adds one pair to a sample's labels: refuses `__name__` and a repeated name, which fail
    /// the scrape in Prometheus (no metric name / `label name is not unique`). `seen` is a
    /// 128-bit signature of the names so far (length and end bytes): the quadratic scan for a
    /// repeat runs only when the signature says one may be there, which a bench showed to be
    /// most of the cost of a 25-label line.
    pub(super) fn push_label<'a>(
        labels: &mut LabelVec<'a>,
        seen: &mut u128,
        c: &Cur<'a>,
        at: usize,
        name: Cow<'a, str>,
        value: Cow<'a, str>,
    ) -> Result<()> {
        let bit = signature(name.as_bytes());
        if *seen & bit != 0 {
            if name == "__name__" {
                return Err(c.err_at(at, "label __name__ inside braces"));
            }
            if labels.iter().any(|(n, _)| *n == name) {
                return Err(c.err_at(at, format!("duplicate label {name:?}")));
            }
        }
        *seen |= bit;
        labels.push((name, value));
        Ok(())
    }

    /// The signature [`State::push_label`] starts from: `__name__`'s bit, so that name is
    /// always checked.
    pub(super) fn label_signature() -> u128 {
        signature(b"__name__")
    }

    /// Writes `le` (under a histogram TYPE) or `quantile` (under a summary TYPE) in
    /// Prometheus 3's normal float form; a value that is not a float is kept as written.
    pub(super) fn normalize(&self, labels: &mut LabelVec<'_>) {
        let key = match self.last_type {
            MetricType::Histogram => "le",
            MetricType::Summary => "quantile",
            _ => return,
        };
        let Some(slot) = labels.iter_mut().find(|(n, _)| *n == key) else {
            return;
        };
        if let Some(f) = parse_value(&slot.1) {
            let norm = normalize_float_label(f);
            if norm != slot.1 {
                slot.1 = Cow::Owned(norm);
            }
        }
    }
}

/// A metric name with a quoted form is refused when empty (Prometheus: invalid metric name).
pub(super) fn require_name<'a>(
    c: &Cur<'a>,
    start: usize,
    name: Option<Cow<'a, str>>,
) -> Result<Cow<'a, str>> {
    name.ok_or_else(|| c.err_at(start, "metric name not set"))
}

/// One bit of 128 for a label name, from its length and end bytes.
fn signature(b: &[u8]) -> u128 {
    let h = match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => b.len().wrapping_mul(31) ^ usize::from(f) ^ (usize::from(l) << 2),
        _ => 0,
    };
    1u128 << (h & 127)
}
