//! Prometheus text exposition (0.0.4) and OpenMetrics 1.0 text parser.
//!
//! Hand-written rather than taken from a crate: `prometheus-parse` splits labels naively and does
//! not unescape, `openmetrics-parser` is LGPL; and the store's hot path needs a streaming parser
//! that hands out borrowed samples (see `benches/parse.rs` for the comparison).
//!
//! Each format follows Prometheus 3's own parser (`model/textparse`: `promlex.l` and
//! `promparse.go` for text, `openmetricslex.l` and `openmetricsparse.go` for OpenMetrics) case by
//! case: what it accepts is accepted and what it refuses is refused, so a target that is down
//! in Prometheus is down here too. CONFORMANCE.md ("Exposition") lists the few differences.

mod cursor;
mod labels;
mod line;
mod openmetrics;
mod scrape;
mod text;

use std::borrow::Cow;

pub(crate) use cursor::parse_value as parse_float;
pub use scrape::{parse, ParsedSample, ParsedScrape};

/// Which text format a body is in. A scrape knows it from the response's `Content-Type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// For bodies without a content type (files, tests): OpenMetrics when the body ends with
    /// `# EOF`, else text 0.0.4.
    #[default]
    Auto,
    /// Prometheus text format 0.0.4 (and 1.0.0, the same grammar; millisecond timestamps).
    Text004,
    /// OpenMetrics 1.0 text (second timestamps, exemplars, `# EOF`).
    OpenMetrics,
}

/// How to parse.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// Reject the whole body at the first bad line (default: skip bad lines, report them).
    pub strict: bool,
    /// Which format the body is in.
    pub format: Format,
    /// Lines longer than this are rejected without being parsed.
    pub max_line_bytes: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            strict: false,
            format: Format::Auto,
            max_line_bytes: 1 << 20,
        }
    }
}

/// A metric family type from a `# TYPE` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MetricType {
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// OpenMetrics `gaugehistogram`
    GaugeHistogram,
    /// `summary`
    Summary,
    /// OpenMetrics `info`
    Info,
    /// OpenMetrics `stateset`
    StateSet,
    /// `untyped` / `unknown`, or no TYPE line
    #[default]
    Untyped,
}

impl MetricType {
    /// Suffixes a sample name may add to its family name for this type.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            MetricType::Counter => &["_total", "_created"],
            MetricType::Histogram => &["_bucket", "_sum", "_count", "_created"],
            MetricType::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
            MetricType::Summary => &["_sum", "_count", "_created"],
            MetricType::Info => &["_info"],
            _ => &[],
        }
    }
}

/// One sample as the streaming parser hands it out; borrows from the body.
#[derive(Debug)]
pub struct SampleRef<'a> {
    /// The raw series text (`name{labels}`) as written, a stable key for a target's series.
    pub series: &'a [u8],
    /// The metric name (unescaped).
    pub name: &'a str,
    /// Labels as written (unescaped; `le`/`quantile` normalised), without `__name__`, unsorted.
    pub labels: &'a [(Cow<'a, str>, Cow<'a, str>)],
    /// The value (NaN canonicalised).
    pub value: f64,
    /// The explicit timestamp in milliseconds, if any.
    pub timestamp_ms: Option<i64>,
    /// The type of the family this sample belongs to.
    pub kind: MetricType,
    /// 1-based line number.
    pub line: usize,
}

/// A parse error, naming where (1-based line and byte column).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Error {
    /// A line that does not follow the grammar.
    #[error("line {line}:{col}: {msg}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based byte column.
        col: usize,
        /// What is wrong.
        msg: String,
    },
    /// A line that is not valid UTF-8.
    #[error("line {line}:{col}: invalid utf-8")]
    InvalidUtf8 {
        /// 1-based line.
        line: usize,
        /// 1-based byte column of the first invalid byte.
        col: usize,
    },
    /// A line longer than the limit; it was skipped unread.
    #[error("line {line}: {len} bytes is longer than the limit of {max}")]
    LineTooLong {
        /// 1-based line.
        line: usize,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The same series twice in one body.
    #[error("line {line}: duplicate series {series}")]
    Duplicate {
        /// 1-based line of the second occurrence.
        line: usize,
        /// The series.
        series: String,
    },
    /// An OpenMetrics body that does not end with `# EOF`.
    #[error("line {line}: openmetrics body does not end with \"# EOF\"")]
    MissingEof {
        /// 1-based line after the last one.
        line: usize,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a streaming parse saw.
#[derive(Debug, Default)]
pub struct ParseStats {
    /// Samples handed out.
    pub samples: usize,
    /// Bad lines skipped (non-strict mode), in order; the first 100 are kept.
    pub errors: Vec<Error>,
    /// Number of bad lines, including those beyond the first 100.
    pub error_count: usize,
    /// The format that was parsed.
    pub format: Format,
    /// OpenMetrics exemplars seen: each was parsed and checked, then dropped.
    pub exemplars: usize,
}

/// Parses `body`, calling `f` for each sample without allocating per sample (except for
/// escaped label values). In strict mode the first bad line is returned as the error.
pub fn parse_each<F>(body: &[u8], opts: &ParseOptions, mut f: F) -> Result<ParseStats>
where
    F: FnMut(&SampleRef<'_>),
{
    let format = match opts.format {
        Format::Auto if is_openmetrics(body) => Format::OpenMetrics,
        Format::Auto => Format::Text004,
        f => f,
    };
    let mut stats = ParseStats {
        format,
        ..ParseStats::default()
    };
    let mut st = line::State::new(format);
    let om = format == Format::OpenMetrics;
    let mut labels: line::LabelVec<'_> = Vec::new();
    let mut pos = 0;
    let mut lineno = 0;
    let mut saw_eof = false;
    while pos < body.len() {
        lineno += 1;
        let end = memchr::memchr(b'\n', &body[pos..]).map_or(body.len(), |i| pos + i);
        let raw = &body[pos..end];
        pos = end + 1;
        let res = if saw_eof {
            // `# EOF` ends the body: even a blank line after it is an error, as in Prometheus.
            Err(Error::Syntax {
                line: lineno,
                col: 1,
                msg: "unexpected data after # EOF".into(),
            })
        } else if raw.len() > opts.max_line_bytes {
            Err(Error::LineTooLong {
                line: lineno,
                len: raw.len(),
                max: opts.max_line_bytes,
            })
        } else {
            match std::str::from_utf8(raw) {
                Err(_) if !om && text::is_comment(raw) => Ok(()),
                Err(e) => Err(Error::InvalidUtf8 {
                    line: lineno,
                    col: e.valid_up_to() + 1,
                }),
                Ok(text) => {
                    labels.clear();
                    match st.line(text, lineno, &mut labels) {
                        Ok(line::Parsed::Sample(s)) => {
                            stats.samples += 1;
                            stats.exemplars += usize::from(s.exemplar);
                            f(&SampleRef {
                                series: s.series,
                                name: &s.name,
                                labels: &labels,
                                value: s.value,
                                timestamp_ms: s.timestamp_ms,
                                kind: st.kind_of(&s.name),
                                line: lineno,
                            });
                            Ok(())
                        }
                        Ok(line::Parsed::Eof) => {
                            saw_eof = true;
                            Ok(())
                        }
                        Ok(line::Parsed::EndOfBody) => break,
                        Ok(line::Parsed::Nothing) => Ok(()),
                        Err(e) => Err(e),
                    }
                }
            }
        };
        if let Err(e) = res {
            if opts.strict {
                return Err(e);
            }
            stats.error_count += 1;
            if stats.errors.len() < 100 {
                stats.errors.push(e);
            }
            if saw_eof {
                break;
            }
        }
    }
    if om && !saw_eof {
        let e = Error::MissingEof { line: lineno + 1 };
        if opts.strict {
            return Err(e);
        }
        stats.error_count += 1;
        if stats.errors.len() < 100 {
            stats.errors.push(e);
        }
    }
    Ok(stats)
}

fn is_openmetrics(body: &[u8]) -> bool {
    let trimmed = body.trim_ascii_end();
    trimmed.ends_with(b"\n# EOF") || trimmed == b"# EOF"
}

/// Formats a float as Go's `strconv.FormatFloat(f, 'g', -1, 64)` does, with `.0` added to
/// integral values: Prometheus 3's normal form of `le` and `quantile` label values.
pub fn normalize_float_label(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = go_format_g(f);
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// Go's `%g` with shortest precision: exponent form when exp < -4 or exp >= 6 (Go uses
/// precision 6 for that decision when the precision is the shortest).
pub(crate) fn go_format_g(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e = format!("{f:e}"); // shortest digits: "-1.2345e-7"
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod cases;
