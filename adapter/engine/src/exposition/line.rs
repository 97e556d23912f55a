//! One line of an exposition body: comment, metadata or sample.

use std::borrow::Cow;

use super::{normalize_float_label, Error, Format, MetricType, Result, SampleRef};

/// The canonical NaN Prometheus stores for every NaN value.
pub(crate) const NORMAL_NAN: u64 = 0x7ff8_0000_0000_0001;

pub(super) enum Parsed<'a> {
    Sample(SampleRef<'a>),
    Eof,
    Nothing,
}

/// Parser state carried across lines: the format and the current family.
pub(super) struct State {
    format: Format,
    family: String,
    family_type: MetricType,
}

struct Cur<'a> {
    s: &'a str,
    i: usize,
    line: usize,
}

impl<'a> Cur<'a> {
    fn err(&self, msg: impl Into<String>) -> Error {
        Error::Syntax {
            line: self.line,
            col: self.i + 1,
            msg: msg.into(),
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }
    fn skip_ws(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i > start
    }
    fn word(&mut self) -> &'a str {
        let start = self.i;
        while !matches!(self.peek(), None | Some(b' ' | b'\t')) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }
    fn name(&mut self, label: bool) -> Result<&'a str> {
        let b = self.s.as_bytes();
        let start = self.i;
        while let Some(&c) = b.get(self.i) {
            let ok = c == b'_'
                || c.is_ascii_alphabetic()
                || (!label && c == b':')
                || (self.i > start && c.is_ascii_digit());
            if !ok {
                break;
            }
            self.i += 1;
        }
        if self.i == start {
            let what = if label { "label name" } else { "metric name" };
            return Err(match self.peek() {
                Some(c) => self.err(format!("expected {what}, found {:?}", c as char)),
                None => self.err(format!("expected {what}, found end of line")),
            });
        }
        Ok(&self.s[start..self.i])
    }
    /// A double-quoted string with `\\`, `\"` and `\n` escapes (others are kept as written).
    fn quoted(&mut self) -> Result<Cow<'a, str>> {
        if self.peek() != Some(b'"') {
            return Err(self.err("expected '\"'"));
        }
        self.i += 1;
        let start = self.i;
        let b = self.s.as_bytes();
        let mut owned: Option<String> = None;
        let mut seg = start;
        loop {
            match b.get(self.i) {
                None => return Err(self.err("unterminated quoted string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    let o = owned.get_or_insert_with(String::new);
                    o.push_str(&self.s[seg..self.i]);
                    match b.get(self.i + 1) {
                        Some(b'\\') => o.push('\\'),
                        Some(b'"') => o.push('"'),
                        Some(b'n') => o.push('\n'),
                        Some(_) => {
                            // Unknown escapes are kept verbatim, as Prometheus does.
                            seg = self.i;
                            self.i += 1;
                            continue;
                        }
                        None => return Err(self.err("unterminated quoted string")),
                    }
                    self.i += 2;
                    seg = self.i;
                }
                Some(_) => self.i += 1,
            }
        }
        let out = match owned {
            Some(mut o) => {
                o.push_str(&self.s[seg..self.i]);
                Cow::Owned(o)
            }
            None => Cow::Borrowed(&self.s[start..self.i]),
        };
        self.i += 1;
        Ok(out)
    }
}

impl State {
    pub(super) fn new(format: Format) -> State {
        State {
            format,
            family: String::new(),
            family_type: MetricType::Untyped,
        }
    }

    pub(super) fn line<'a, 'b>(
        &mut self,
        text: &'a str,
        lineno: usize,
        labels: &'b mut Vec<(&'a str, Cow<'a, str>)>,
    ) -> Result<Parsed<'b>>
    where
        'a: 'b,
    {
        let text = text.strip_suffix('\r').unwrap_or(text);
        let mut c = Cur {
            s: text,
            i: 0,
            line: lineno,
        };
        c.skip_ws();
        match c.peek() {
            None => Ok(Parsed::Nothing),
            Some(b'#') => self.comment(c),
            Some(_) => self.sample(c, labels).map(Parsed::Sample),
        }
    }

    fn comment<'b>(&mut self, mut c: Cur<'_>) -> Result<Parsed<'b>> {
        c.i += 1;
        c.skip_ws();
        let kw = c.word();
        match kw {
            "EOF" if self.format == Format::OpenMetrics => Ok(Parsed::Eof),
            "TYPE" | "HELP" | "UNIT" => {
                if !c.skip_ws() {
                    return Err(c.err(format!("expected metric name after {kw}")));
                }
                let name: Cow<'_, str> = if c.peek() == Some(b'"') {
                    c.quoted()?
                } else {
                    Cow::Borrowed(c.name(false)?)
                };
                if kw == "TYPE" {
                    if !c.skip_ws() {
                        return Err(c.err("expected metric type"));
                    }
                    let t = c.word();
                    let ty = MetricType::parse(t)
                        .ok_or_else(|| c.err(format!("unknown metric type {t:?}")))?;
                    self.family.clear();
                    self.family.push_str(&name);
                    self.family_type = ty;
                }
                Ok(Parsed::Nothing)
            }
            _ => Ok(Parsed::Nothing),
        }
    }

    fn kind_of(&self, name: &str) -> MetricType {
        if self.family.is_empty() {
            return MetricType::Untyped;
        }
        match name.strip_prefix(self.family.as_str()) {
            Some("") => self.family_type,
            Some(rest) if self.family_type.suffixes().contains(&rest) => self.family_type,
            _ => MetricType::Untyped,
        }
    }

    fn sample<'a, 'b>(
        &mut self,
        mut c: Cur<'a>,
        labels: &'b mut Vec<(&'a str, Cow<'a, str>)>,
    ) -> Result<SampleRef<'b>>
    where
        'a: 'b,
    {
        let start = c.i;
        let mut name: Option<&'a str> = None;
        if c.peek() != Some(b'{') {
            name = Some(c.name(false)?);
        }
        if c.peek() == Some(b'{') {
            c.i += 1;
            loop {
                c.skip_ws();
                match c.peek() {
                    Some(b'}') => {
                        c.i += 1;
                        break;
                    }
                    None => return Err(c.err("expected '}' to close the label set")),
                    _ => {}
                }
                let lcol = c.i;
                let lname: &'a str = if c.peek() == Some(b'"') {
                    let q = c.quoted()?;
                    c.skip_ws();
                    if c.peek() != Some(b'=') {
                        // A lone quoted string is the metric name (Prometheus 3 UTF-8 names).
                        if name.is_some() {
                            return Err(Error::Syntax {
                                line: c.line,
                                col: lcol + 1,
                                msg: "metric name given twice".into(),
                            });
                        }
                        name = Some(match q {
                            Cow::Borrowed("") => return Err(c.err("empty metric name")),
                            Cow::Borrowed(s) => s,
                            Cow::Owned(_) => {
                                return Err(
                                    c.err("escapes in a quoted metric name are not supported")
                                )
                            }
                        });
                        c.skip_ws();
                        match c.peek() {
                            Some(b',') => c.i += 1,
                            Some(b'}') => {}
                            _ => return Err(c.err("expected ',' or '}'")),
                        }
                        continue;
                    }
                    match q {
                        Cow::Borrowed("") => return Err(c.err("empty label name")),
                        Cow::Borrowed(s) => s,
                        Cow::Owned(_) => {
                            return Err(c.err("escapes in a quoted label name are not supported"))
                        }
                    }
                } else {
                    c.name(true)?
                };
                c.skip_ws();
                if c.peek() != Some(b'=') {
                    return Err(c.err(format!("expected '=' after label name {lname:?}")));
                }
                c.i += 1;
                c.skip_ws();
                let value = c.quoted()?;
                if labels.iter().any(|(n, _)| *n == lname) {
                    return Err(Error::Syntax {
                        line: c.line,
                        col: lcol + 1,
                        msg: format!("duplicate label {lname:?}"),
                    });
                }
                if lname == "__name__" {
                    return Err(Error::Syntax {
                        line: c.line,
                        col: lcol + 1,
                        msg: "label __name__ inside braces".into(),
                    });
                }
                labels.push((lname, value));
                c.skip_ws();
                match c.peek() {
                    Some(b',') => c.i += 1,
                    Some(b'}') => {}
                    Some(ch) => {
                        return Err(c.err(format!("expected ',' or '}}', found {:?}", ch as char)))
                    }
                    None => return Err(c.err("expected '}' to close the label set")),
                }
            }
        }
        let series_end = c.i;
        let name = name.ok_or_else(|| Error::Syntax {
            line: c.line,
            col: start + 1,
            msg: "sample without a metric name".into(),
        })?;
        if !c.skip_ws() {
            return Err(match c.peek() {
                None => c.err("expected a value, found end of line"),
                Some(ch) => c.err(format!("unexpected {:?} after the series", ch as char)),
            });
        }
        let vcol = c.i;
        let vtok = c.word();
        let value = parse_value(vtok).ok_or_else(|| Error::Syntax {
            line: c.line,
            col: vcol + 1,
            msg: format!("invalid value {vtok:?}"),
        })?;
        let mut timestamp_ms = None;
        c.skip_ws();
        if !c.at_end() && c.peek() != Some(b'#') {
            let tcol = c.i;
            let ttok = c.word();
            let ts = match self.format {
                Format::OpenMetrics => ttok
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && !ttok.contains(['p', 'P', '_']))
                    // Prometheus truncates: int64(ts * 1000).
                    .map(|s| (s * 1000.0) as i64),
                _ => parse_int_ts(ttok),
            };
            timestamp_ms = Some(ts.ok_or_else(|| Error::Syntax {
                line: c.line,
                col: tcol + 1,
                msg: format!("invalid timestamp {ttok:?}"),
            })?);
            c.skip_ws();
        }
        if !c.at_end() {
            // An OpenMetrics exemplar (`# {…} v [t]`) is accepted and ignored.
            if !(self.format == Format::OpenMetrics && c.peek() == Some(b'#')) {
                return Err(c.err("unexpected text after the sample"));
            }
        }
        let kind = self.kind_of(name);
        self.normalize(kind, name, value, labels, &c)?;
        Ok(SampleRef {
            series: &c.s.as_bytes()[start..series_end],
            name,
            labels,
            value,
            timestamp_ms,
            kind,
            line: c.line,
        })
    }

    fn normalize(
        &self,
        kind: MetricType,
        name: &str,
        value: f64,
        labels: &mut [(&str, Cow<'_, str>)],
        c: &Cur<'_>,
    ) -> Result<()> {
        let (key, is_bucket) = match kind {
            MetricType::Histogram | MetricType::GaugeHistogram if name.ends_with("_bucket") => {
                ("le", true)
            }
            MetricType::Summary if name == self.family => ("quantile", false),
            _ => return Ok(()),
        };
        let err = |msg: String| Error::Syntax {
            line: c.line,
            col: 1,
            msg,
        };
        if is_bucket && value.is_nan() {
            return Err(err(format!("histogram bucket {name} has a NaN count")));
        }
        let Some(slot) = labels.iter_mut().find(|(n, _)| *n == key) else {
            return if is_bucket {
                Err(err(format!("histogram bucket {name} without an le label")))
            } else {
                Ok(())
            };
        };
        let f = parse_value(&slot.1)
            .ok_or_else(|| err(format!("{key}={:?} is not a number", slot.1)))?;
        if f.is_nan() {
            return Err(err(format!("{name} has {key}=\"NaN\"")));
        }
        let norm = normalize_float_label(f);
        if norm != slot.1 {
            slot.1 = Cow::Owned(norm);
        }
        Ok(())
    }
}

/// Go's ParseFloat without hex floats or digit separators, NaN canonicalised.
pub(crate) fn parse_value(tok: &str) -> Option<f64> {
    if tok.is_empty() || tok.contains(['p', 'P', '_']) {
        return None;
    }
    let v: f64 = tok.parse().ok()?;
    Some(if v.is_nan() {
        f64::from_bits(NORMAL_NAN)
    } else {
        v
    })
}

fn parse_int_ts(tok: &str) -> Option<i64> {
    let digits = tok.strip_prefix('-').unwrap_or(tok);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    tok.parse().ok()
}
