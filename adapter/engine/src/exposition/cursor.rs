//! A cursor over one line, with the tokens both formats share: names, quoted strings, floats.

use std::borrow::Cow;

use super::{Error, Result};

/// The canonical NaN Prometheus stores for every NaN value.
pub(crate) const NORMAL_NAN: u64 = 0x7ff8_0000_0000_0001;

pub(super) struct Cur<'a> {
    pub(super) s: &'a str,
    pub(super) i: usize,
    pub(super) line: usize,
}

impl<'a> Cur<'a> {
    pub(super) fn new(s: &'a str, line: usize) -> Self {
        Cur { s, i: 0, line }
    }

    /// An error at the cursor.
    pub(super) fn err(&self, msg: impl Into<String>) -> Error {
        self.err_at(self.i, msg)
    }

    /// An error at byte offset `i` of the line.
    pub(super) fn err_at(&self, i: usize, msg: impl Into<String>) -> Error {
        Error::Syntax {
            line: self.line,
            col: i + 1,
            msg: msg.into(),
        }
    }

    /// What the cursor is at, for error messages.
    pub(super) fn found(&self) -> String {
        match self.s[self.i..].chars().next() {
            Some(ch) => format!("{ch:?}"),
            None => "end of line".into(),
        }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    pub(super) fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    pub(super) fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }

    /// Consumes `b` if the cursor is at it.
    pub(super) fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.i += usize::from(hit);
        hit
    }

    /// Skips spaces and tabs (text format only); whether there were any.
    pub(super) fn skip_ws(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i > start
    }

    /// The bytes up to the first one `stop` accepts (or the end of the line).
    pub(super) fn token(&mut self, stop: impl Fn(u8) -> bool) -> &'a str {
        let start = self.i;
        let b = self.s.as_bytes();
        while b.get(self.i).is_some_and(|&c| !stop(c)) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    /// A legacy metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    pub(super) fn metric_name(&mut self) -> Option<&'a str> {
        self.name(METRIC_FIRST, METRIC_REST)
    }

    /// A legacy label name, `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub(super) fn label_name(&mut self) -> Option<&'a str> {
        self.name(LABEL_FIRST, LABEL_REST)
    }

    fn name(&mut self, first: u8, rest: u8) -> Option<&'a str> {
        let b = self.s.as_bytes();
        let start = self.i;
        if b.get(self.i)
            .is_none_or(|&c| NAME_CHARS[usize::from(c)] & first == 0)
        {
            return None;
        }
        self.i += 1;
        // One table lookup per byte: names are most of a label set's bytes.
        while b
            .get(self.i)
            .is_some_and(|&c| NAME_CHARS[usize::from(c)] & rest != 0)
        {
            self.i += 1;
        }
        Some(&self.s[start..self.i])
    }

    /// A double-quoted string at the cursor, unescaped as Prometheus does: `\\`, `\"` and `\n`
    /// are replaced, any other escape is kept as written.
    pub(super) fn quoted(&mut self) -> Result<Cow<'a, str>> {
        let open = self.i;
        if !self.eat(b'"') {
            return Err(self.err(format!("expected '\"', found {}", self.found())));
        }
        let start = self.i;
        let b = self.s.as_bytes();
        let mut owned: Option<String> = None;
        let mut seg = start;
        loop {
            // Jump to the next quote or backslash (memchr2 scans many bytes at a time).
            self.i += memchr::memchr2(b'"', b'\\', &b[self.i..]).unwrap_or(b.len() - self.i);
            match b.get(self.i) {
                None => return Err(self.err_at(open, "unterminated quoted string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    let replacement = match b.get(self.i + 1) {
                        Some(b'\\') => '\\',
                        Some(b'"') => '"',
                        Some(b'n') => '\n',
                        Some(_) => {
                            // Kept verbatim; skipping the escaped byte keeps `\"` from closing.
                            self.i += 2;
                            continue;
                        }
                        None => return Err(self.err_at(open, "unterminated quoted string")),
                    };
                    let o = owned.get_or_insert_with(String::new);
                    o.push_str(&self.s[seg..self.i]);
                    o.push(replacement);
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

    /// The raw text between double quotes (escapes left as written), as metadata names are read.
    pub(super) fn quoted_raw(&mut self) -> Option<&'a str> {
        let save = self.i;
        let start = self.i + 1;
        match self.quoted() {
            Ok(_) => Some(&self.s[start..self.i - 1]),
            Err(_) => {
                self.i = save;
                None
            }
        }
    }
}

const METRIC_FIRST: u8 = 1;
const METRIC_REST: u8 = 2;
const LABEL_FIRST: u8 = 4;
const LABEL_REST: u8 = 8;

/// Which name positions each byte may take.
static NAME_CHARS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        let mut v = 0;
        if alpha || b == b':' {
            v |= METRIC_FIRST | METRIC_REST;
        }
        if b.is_ascii_digit() {
            v |= METRIC_REST | LABEL_REST;
        }
        if alpha {
            v |= LABEL_FIRST | LABEL_REST;
        }
        t[c] = v;
        c += 1;
    }
    t
};

/// Go's `strconv.ParseFloat` without hex floats or digit separators (Prometheus'
/// `parseFloat`), NaN canonicalised: `inf`/`infinity`/`nan` in any case, a sign on infinities
/// but not on NaN, and no overflow to infinity (Go reports a range error there).
pub(crate) fn parse_value(tok: &str) -> Option<f64> {
    if tok.is_empty() || tok.contains(['p', 'P', '_']) {
        return None;
    }
    let v: f64 = tok.parse().ok()?;
    if v.is_nan() {
        // Rust takes "+nan" and "-nan"; Go does not.
        return tok
            .eq_ignore_ascii_case("nan")
            .then(|| f64::from_bits(NORMAL_NAN));
    }
    if v.is_infinite() {
        let word = tok.trim_start_matches(['+', '-']);
        if !(word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("infinity")) {
            return None;
        }
    }
    Some(v)
}

/// An OpenMetrics timestamp (float seconds) in milliseconds, truncated as Prometheus does
/// (`int64(ts * 1000)`); NaN and infinities are refused.
pub(super) fn parse_seconds(tok: &str) -> Option<i64> {
    parse_value(tok)
        .filter(|f| f.is_finite())
        .map(|s| (s * 1000.0) as i64)
}

/// A text-format timestamp: decimal digits (no sign) that fit an i64 of milliseconds.
pub(super) fn parse_millis(tok: &str) -> Option<i64> {
    if tok.is_empty() || !tok.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    tok.parse().ok()
}
