//! One line of Prometheus text format 0.0.4, as Prometheus' `promlex.l`/`promparse.go` read
//! it: spaces and tabs allowed between tokens, `#` lines other than `# HELP`/`# TYPE` are
//! comments, integer millisecond timestamps.

use std::borrow::Cow;

use super::cursor::{parse_millis, parse_value, Cur};
use super::labels::{label_set, Rules};
use super::line::{require_name, LabelVec, Parsed, Sample, State};
use super::{MetricType, Result};

const RULES: Rules = Rules {
    text: true,
    exemplar: false,
};

pub(super) fn line<'a>(
    st: &mut State,
    c: &mut Cur<'a>,
    labels: &mut LabelVec<'a>,
) -> Result<Parsed<'a>> {
    c.skip_ws();
    match c.peek() {
        None => Ok(Parsed::Nothing),
        Some(0) => Ok(Parsed::EndOfBody),
        Some(b'#') => metadata(st, c),
        Some(b'{' | b'_' | b':') => sample(st, c, labels),
        Some(ch) if ch.is_ascii_alphabetic() => sample(st, c, labels),
        Some(_) => Err(c.err(format!(
            "expected a metric name, '{{' or '#', found {}",
            c.found()
        ))),
    }
}

/// Whether a line (any bytes) is a comment: `#` not followed by whitespace and `HELP` or
/// `TYPE` and whitespace. Prometheus reads a comment without looking at its bytes, so one that
/// is not UTF-8 is still accepted.
pub(super) fn is_comment(raw: &[u8]) -> bool {
    let rest = raw.trim_ascii_start();
    let Some(after) = rest.strip_prefix(b"#") else {
        return false;
    };
    let kw = after.trim_ascii_start();
    if kw.len() == after.len() {
        return true;
    }
    !((kw.starts_with(b"HELP") || kw.starts_with(b"TYPE"))
        && matches!(kw.get(4), Some(b' ' | b'\t')))
}

fn metadata<'a>(st: &mut State, c: &mut Cur<'a>) -> Result<Parsed<'a>> {
    c.i += 1;
    if !c.skip_ws() {
        return Ok(Parsed::Nothing);
    }
    let rest = c.rest().as_bytes();
    let kw = match rest.get(..4) {
        Some(b"HELP") => "HELP",
        Some(b"TYPE") => "TYPE",
        _ => return Ok(Parsed::Nothing),
    };
    if !matches!(rest.get(4), Some(b' ' | b'\t')) {
        // `# HELP` alone, `# TYPEfoo`: a comment.
        return Ok(Parsed::Nothing);
    }
    c.i += 4;
    c.skip_ws();
    let name_at = c.i;
    let name = match c.peek() {
        Some(b'"') => c.quoted().ok(),
        _ => c.metric_name().map(Cow::Borrowed),
    };
    let Some(name) = name else {
        c.i = name_at;
        return Err(c.err(format!(
            "expected metric name after {kw}, found {}",
            c.found()
        )));
    };
    // The rest of the line minus its first byte is the text; a rest of only blanks is empty.
    let rest = c.rest().as_bytes();
    let text: &[u8] = if rest.iter().all(|b| matches!(b, b' ' | b'\t')) || rest.len() < 2 {
        b""
    } else {
        &rest[1..]
    };
    let text_at = c.i + usize::from(!text.is_empty());
    match kw {
        "TYPE" => {
            let ty = match text {
                b"counter" => MetricType::Counter,
                b"gauge" => MetricType::Gauge,
                b"histogram" => MetricType::Histogram,
                b"summary" => MetricType::Summary,
                b"untyped" => MetricType::Untyped,
                _ => {
                    return Err(c.err_at(
                        text_at,
                        format!("invalid metric type {:?}", String::from_utf8_lossy(text)),
                    ))
                }
            };
            st.set_type(&name, ty);
        }
        _ => {
            if std::str::from_utf8(text).is_err() {
                return Err(c.err_at(text_at, "help text is not valid UTF-8"));
            }
        }
    }
    Ok(Parsed::Nothing)
}

fn sample<'a>(st: &mut State, c: &mut Cur<'a>, labels: &mut LabelVec<'a>) -> Result<Parsed<'a>> {
    let start = c.i;
    let mut name: Option<Cow<'a, str>> = c.metric_name().map(Cow::Borrowed);
    let mut series_end = c.i;
    c.skip_ws();
    if c.eat(b'{') {
        let mut seen = State::label_signature();
        label_set(c, RULES, &mut name, |c, at, n, v| {
            State::push_label(labels, &mut seen, c, at, n, v)
        })?;
        series_end = c.i;
    }
    let name = require_name(c, start, name)?;
    c.skip_ws();
    let value_at = c.i;
    let tok = c.token(|b| matches!(b, b' ' | b'\t' | b'{'));
    if tok.is_empty() {
        return Err(c.err(format!("expected value after metric, found {}", c.found())));
    }
    let value =
        parse_value(tok).ok_or_else(|| c.err_at(value_at, format!("invalid value {tok:?}")))?;
    c.skip_ws();
    let mut timestamp_ms = None;
    if !c.at_end() {
        let ts_at = c.i;
        let tok = c.token(|b| !b.is_ascii_digit());
        if tok.is_empty() {
            return Err(c.err(format!(
                "expected timestamp or end of line, found {}",
                c.found()
            )));
        }
        timestamp_ms = Some(
            parse_millis(tok)
                .ok_or_else(|| c.err_at(ts_at, format!("invalid timestamp {tok:?}")))?,
        );
        c.skip_ws();
        if !c.at_end() {
            return Err(c.err(format!(
                "expected end of line after the timestamp, found {}",
                c.found()
            )));
        }
    }
    st.normalize(labels);
    Ok(Parsed::Sample(Sample {
        series: &c.s.as_bytes()[start..series_end],
        name,
        value,
        timestamp_ms,
        exemplar: false,
    }))
}
