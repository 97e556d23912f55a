//! One line of OpenMetrics 1.0 text, as Prometheus' `openmetricslex.l`/`openmetricsparse.go`
//! read it: exactly one space between tokens and none inside braces, only `# HELP`, `# TYPE`,
//! `# UNIT` and `# EOF` lines, float-second timestamps, and an optional exemplar
//! (` # {labels} value [timestamp]`), which is parsed and checked, then dropped.

use std::borrow::Cow;

use super::cursor::{parse_seconds, parse_value, Cur};
use super::labels::{label_set, Rules};
use super::line::{require_name, LabelVec, Parsed, Sample, State};
use super::{MetricType, Result};

const RULES: Rules = Rules {
    text: false,
    exemplar: false,
};

pub(super) fn line<'a>(
    st: &mut State,
    c: &mut Cur<'a>,
    labels: &mut LabelVec<'a>,
) -> Result<Parsed<'a>> {
    match c.peek() {
        None => Err(c.err("empty line (OpenMetrics has no blank lines)")),
        Some(b'#') => metadata(st, c),
        Some(b'{' | b'_' | b':') => sample(st, c, labels),
        Some(ch) if ch.is_ascii_alphabetic() => sample(st, c, labels),
        Some(_) => Err(c.err(format!(
            "expected a metric name, '{{' or '# ', found {}",
            c.found()
        ))),
    }
}

fn metadata<'a>(st: &mut State, c: &mut Cur<'a>) -> Result<Parsed<'a>> {
    let rest = c.rest();
    if rest == "# EOF" {
        return Ok(Parsed::Eof);
    }
    let kw = match rest.as_bytes().get(..7) {
        Some(b"# HELP ") => "HELP",
        Some(b"# TYPE ") => "TYPE",
        Some(b"# UNIT ") => "UNIT",
        _ if rest.starts_with("# EOF") => {
            return Err(c.err_at(c.i + 5, "unexpected data after # EOF"));
        }
        _ => {
            return Err(c.err(
                "expected \"# HELP \", \"# TYPE \", \"# UNIT \" or \"# EOF\" (OpenMetrics has no other comments)",
            ))
        }
    };
    c.i += 7;
    let name_at = c.i;
    let name = match c.peek() {
        Some(b'"') => c.quoted_raw(),
        _ => c.metric_name(),
    };
    let Some(name) = name else {
        c.i = name_at;
        return Err(c.err(format!(
            "expected metric name after {kw}, found {}",
            c.found()
        )));
    };
    if !c.eat(b' ') {
        return Err(c.err(format!(
            "expected a space and text in {kw}, found {}",
            c.found()
        )));
    }
    let text_at = c.i;
    let text = c.rest();
    match kw {
        "TYPE" => {
            let ty = match text {
                "counter" => MetricType::Counter,
                "gauge" => MetricType::Gauge,
                "histogram" => MetricType::Histogram,
                "gaugehistogram" => MetricType::GaugeHistogram,
                "summary" => MetricType::Summary,
                "info" => MetricType::Info,
                "stateset" => MetricType::StateSet,
                "unknown" => MetricType::Untyped,
                _ => return Err(c.err_at(text_at, format!("invalid metric type {text:?}"))),
            };
            let family: Cow<'_, str> = if c.s.as_bytes().get(name_at) == Some(&b'"') {
                let mut q = Cur::new(c.s, c.line);
                q.i = name_at;
                q.quoted()?
            } else {
                Cow::Borrowed(name)
            };
            st.set_type(&family, ty);
        }
        "UNIT" => {
            let suffix_ok = name.len() > text.len()
                && name.ends_with(text)
                && name.as_bytes()[name.len() - text.len() - 1] == b'_';
            if !text.is_empty() && !suffix_ok {
                return Err(c.err_at(
                    text_at,
                    format!("unit {text:?} is not a suffix of metric {name:?}"),
                ));
            }
        }
        _ => {}
    }
    Ok(Parsed::Nothing)
}

fn sample<'a>(st: &mut State, c: &mut Cur<'a>, labels: &mut LabelVec<'a>) -> Result<Parsed<'a>> {
    let start = c.i;
    let mut name: Option<Cow<'a, str>> = c.metric_name().map(Cow::Borrowed);
    if c.eat(b'{') {
        let mut seen = State::label_signature();
        label_set(c, RULES, &mut name, |c, at, n, v| {
            State::push_label(labels, &mut seen, c, at, n, v)
        })?;
    }
    let series_end = c.i;
    let name = require_name(c, start, name)?;
    let value = space_then_float(c, "value after metric")?;
    let mut timestamp_ms = None;
    let mut exemplar = false;
    if !c.at_end() {
        if c.rest().starts_with(" # {") {
            exemplar = true;
        } else {
            let at = c.i + 1;
            let tok = space_then_token(c, "timestamp or exemplar")?;
            timestamp_ms = Some(
                parse_seconds(tok)
                    .ok_or_else(|| c.err_at(at, format!("invalid timestamp {tok:?}")))?,
            );
            if !c.at_end() {
                if !c.rest().starts_with(" # {") {
                    return Err(c.err(format!(
                        "expected end of line or \" # {{\" after the timestamp, found {}",
                        c.found()
                    )));
                }
                exemplar = true;
            }
        }
    }
    if exemplar {
        c.i += 4;
        parse_exemplar(c)?;
    }
    st.normalize(labels);
    Ok(Parsed::Sample(Sample {
        series: &c.s.as_bytes()[start..series_end],
        name,
        value,
        timestamp_ms,
        exemplar,
    }))
}

/// The rest of an exemplar after ` # {`: labels, a value and an optional timestamp, checked
/// as Prometheus checks them and then dropped (the store keeps no exemplars).
fn parse_exemplar(c: &mut Cur<'_>) -> Result<()> {
    let rules = Rules {
        exemplar: true,
        ..RULES
    };
    label_set(c, rules, &mut None, |_, _, _, _| Ok(()))?;
    space_then_float(c, "value after exemplar labels")?;
    if !c.at_end() {
        let at = c.i + 1;
        let tok = space_then_token(c, "exemplar timestamp")?;
        parse_seconds(tok)
            .ok_or_else(|| c.err_at(at, format!("invalid exemplar timestamp {tok:?}")))?;
        if !c.at_end() {
            return Err(c.err(format!(
                "expected end of line after the exemplar timestamp, found {}",
                c.found()
            )));
        }
    }
    Ok(())
}

/// One space, then a token up to the next space or the end of the line.
fn space_then_token<'a>(c: &mut Cur<'a>, what: &str) -> Result<&'a str> {
    if !c.eat(b' ') {
        return Err(c.err(format!("expected a space and {what}, found {}", c.found())));
    }
    let tok = c.token(|b| b == b' ');
    if tok.is_empty() {
        return Err(c.err(format!("expected {what}, found {}", c.found())));
    }
    Ok(tok)
}

fn space_then_float(c: &mut Cur<'_>, what: &str) -> Result<f64> {
    let at = c.i + 1;
    let tok = space_then_token(c, what)?;
    parse_value(tok).ok_or_else(|| c.err_at(at, format!("invalid value {tok:?}")))
}
