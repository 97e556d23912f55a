//! A small JSON reader for the plugin configuration.
//!
//! Written by hand because `serde_json` with serde's derives made up 52 KB of the 185 KB module
//! (measured: the same build without it is 133 KB after `wasm-opt -Oz`), and the issue's budget
//! is 150 KB; the configuration needs objects, arrays, strings, integers and booleans, with
//! errors that give the line and column as `serde_json` does.

use std::fmt;

/// Deepest nesting accepted.
const MAX_DEPTH: usize = 64;

/// A parsed JSON value. Numbers keep only what the configuration uses: an integer, or `None`
/// for a fraction, an exponent or an integer out of range.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(Option<i64>),
    Str(String),
    Arr(Vec<Json>),
    /// Members in document order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// What kind of value this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Int(_) => "a number",
            Json::Str(_) => "a string",
            Json::Arr(_) => "an array",
            Json::Obj(_) => "an object",
        }
    }
}

/// A syntax error with its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub what: &'static str,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.what, self.line, self.column
        )
    }
}

impl std::error::Error for JsonError {}

/// Parses one JSON document (surrounding whitespace allowed).
pub fn parse(text: &[u8]) -> Result<Json, JsonError> {
    let mut p = Parser { s: text, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i < p.s.len() {
        p.i += 1;
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &'static str) -> JsonError {
        let upto = self.s.get(..self.i.min(self.s.len())).unwrap_or_default();
        let line = 1 + upto.iter().filter(|b| **b == b'\n').count();
        // As serde_json counts: the characters consumed on the line, the offending one included.
        let column = upto.iter().rev().take_while(|b| **b != b'\n').count();
        JsonError { what, line, column }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8], v: Json) -> Result<Json, JsonError> {
        if self.s.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("expected value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("recursion limit exceeded"));
        }
        match self.peek() {
            None => Err(self.err("EOF while parsing a value")),
            Some(b'n') => self.literal(b"null", Json::Null),
            Some(b't') => self.literal(b"true", Json::Bool(true)),
            Some(b'f') => self.literal(b"false", Json::Bool(false)),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        None => return Err(self.err("EOF while parsing a list")),
                        Some(_) => {
                            self.i += 1;
                            return Err(self.err("expected `,` or `]`"));
                        }
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(members));
                }
                loop {
                    self.ws();
                    match self.peek() {
                        Some(b'"') => {}
                        None => return Err(self.err("EOF while parsing an object")),
                        Some(_) => {
                            self.i += 1;
                            return Err(self.err("key must be a string"));
                        }
                    }
                    let key = self.string()?;
                    self.ws();
                    if self.peek() != Some(b':') {
                        self.i += 1;
                        return Err(self.err("expected `:`"));
                    }
                    self.i += 1;
                    self.ws();
                    members.push((key, self.value(depth + 1)?));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(members));
                        }
                        None => return Err(self.err("EOF while parsing an object")),
                        Some(_) => {
                            self.i += 1;
                            return Err(self.err("expected `,` or `}`"));
                        }
                    }
                }
            }
            Some(_) => {
                self.i += 1;
                Err(self.err("expected value"))
            }
        }
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        // JSON has no leading zeros (`01`); serde_json refuses them too.
        if self.i == digits || (self.i - digits > 1 && self.s.get(digits) == Some(&b'0')) {
            return Err(self.err("invalid number"));
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.i += 1;
            let frac = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            if self.i == frac {
                return Err(self.err("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integer = false;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            let exp = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            if self.i == exp {
                return Err(self.err("invalid number"));
            }
        }
        let text = std::str::from_utf8(self.s.get(start..self.i).unwrap_or_default()).ok();
        Ok(Json::Int(
            text.filter(|_| integer).and_then(|t| t.parse::<i64>().ok()),
        ))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut n = 0;
        for _ in 0..4 {
            let d = self
                .peek()
                .and_then(|c| char::from(c).to_digit(16))
                .ok_or_else(|| self.err("invalid escape"))?;
            n = n * 16 + d;
            self.i += 1;
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.i += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.err("EOF while parsing a string")),
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self
                        .peek()
                        .ok_or_else(|| self.err("EOF while parsing a string"))?;
                    self.i += 1;
                    let ch = match c {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(self.err("lone leading surrogate in hex escape"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(self.err("invalid unicode code point"));
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            char::from_u32(code)
                                .ok_or_else(|| self.err("invalid unicode code point"))?
                        }
                        _ => return Err(self.err("invalid escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                Some(c) if c < 0x20 => {
                    return Err(self
                        .err("control character (\\u0000-\\u001F) found while parsing a string"))
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| self.err("invalid unicode code point"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates values of every kind, escapes and nesting.
    #[test]
    fn parses_values() {
        let v = parse(br#" {"a": [1, -2, 3.5, 1e3, true, false, null], "s": "x\"\\\/\n\u00e9\ud83d\ude00", "o": {}} "#)
            .unwrap();
        assert_eq!(
            v,
            Json::Obj(vec![
                (
                    "a".into(),
                    Json::Arr(vec![
                        Json::Int(Some(1)),
                        Json::Int(Some(-2)),
                        Json::Int(None),
                        Json::Int(None),
                        Json::Bool(true),
                        Json::Bool(false),
                        Json::Null
                    ])
                ),
                ("s".into(), Json::Str("x\"\\/\né😀".into())),
                ("o".into(), Json::Obj(vec![])),
            ])
        );
    }

    /// Demonstrates errors with serde_json's wording and 1-based line and column.
    #[test]
    fn errors_have_positions() {
        let cases: [(&str, &str); 8] = [
            (
                "{reporter: destination",
                "key must be a string at line 1 column 2",
            ),
            ("{not json", "key must be a string at line 1 column 2"),
            ("{\"a\":\n  tru}", "expected value at line 2 column 2"),
            ("{\"a\" 1}", "expected `:` at line 1 column 6"),
            ("[1 2]", "expected `,` or `]` at line 1 column 4"),
            (
                "{\"a\": \"b",
                "EOF while parsing a string at line 1 column 8",
            ),
            ("{} x", "trailing characters at line 1 column 4"),
            ("", "EOF while parsing a value at line 1 column 0"),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse(text.as_bytes()).unwrap_err().to_string(),
                want,
                "{text}"
            );
        }
        for bad in ["[01]", "{\"max_series\": 05663217222768978076}", "-00"] {
            let e = parse(bad.as_bytes()).unwrap_err().to_string();
            assert!(e.starts_with("invalid number"), "{bad}: {e}");
        }
        assert_eq!(parse(b"[0, -0, 0.5]").map(|_| ()), Ok(()));
        let deep = "[".repeat(100);
        assert_eq!(
            parse(deep.as_bytes()).unwrap_err().what,
            "recursion limit exceeded"
        );
    }
}
