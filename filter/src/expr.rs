//! Dimension and value expressions: the subset of CEL that Istio's Telemetry examples use —
//! attribute paths (`request.host`, `xds.node.metadata['WORKLOAD_NAME']`), string and integer
//! literals, and `+` to concatenate. A full CEL crate (`cel-interpreter`) pulls in a parser
//! generator and regex engine far beyond the module's size budget; this covers the documented
//! uses and refuses anything else at configure time.

use crate::host::{Host, LEGACY_ROOTS};
use crate::peer::state::Side;
use crate::peer::Peer;

/// A parse failure with the byte position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at}")]
pub struct ExprError {
    pub what: &'static str,
    pub at: usize,
}

/// One operand of `+`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Str(String),
    Int(i64),
    /// A property path, e.g. `["request", "headers", "x-user"]`; legacy root names are written
    /// as `xds.*` (the host layer maps them back on an Envoy that predates `xds`).
    Path(Vec<String>),
    /// `filter_state.downstream_peer.<field>` / `filter_state.upstream_peer.labels['k']`: read
    /// from the stream's peer, whichever way it was found (Istio's filter state of any release,
    /// an exchange header, endpoint metadata).
    Peer(Side, PeerAttr),
}

/// What a peer expression reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAttr {
    /// A field of Istio's peer object (`workload`, `namespace`, `service`, ...).
    Field(String),
    /// A workload label.
    Label(String),
}

/// The stream's peers, for peer expressions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peers<'a> {
    pub downstream: Option<&'a Peer>,
    pub upstream: Option<&'a Peer>,
}

/// Turns a parsed path into its term: peer paths into [`Term::Peer`], legacy roots into `xds.*`.
fn path_term(mut path: Vec<String>, at: usize) -> Result<Term, ExprError> {
    let side = match path.get(..2) {
        Some([root, key]) if root == "filter_state" && key == "downstream_peer" => {
            Some(Side::Downstream)
        }
        Some([root, key]) if root == "filter_state" && key == "upstream_peer" => {
            Some(Side::Upstream)
        }
        _ => None,
    };
    if let Some(side) = side {
        let err = |what| Err(ExprError { what, at });
        return match path.get(2..) {
            Some([field]) if Peer::FIELDS.contains(&field.as_str()) => {
                Ok(Term::Peer(side, PeerAttr::Field(field.clone())))
            }
            Some([labels, key]) if labels == "labels" => {
                Ok(Term::Peer(side, PeerAttr::Label(key.clone())))
            }
            _ => err("expected a peer field (workload, namespace, cluster, service, revision, app, version, name, type, identity) or labels['key']"),
        };
    }
    if path
        .first()
        .is_some_and(|root| LEGACY_ROOTS.contains(&root.as_str()))
    {
        path.insert(0, "xds".to_owned());
    }
    Ok(Term::Path(path))
}

/// A parsed expression: terms joined by `+`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr(pub Vec<Term>);

/// Attributes Envoy returns as 8-byte integers (durations and timestamps in nanoseconds).
const INT_PATHS: [&str; 16] = [
    "request.duration",
    "request.size",
    "request.total_size",
    "request.time",
    "response.code",
    "response.size",
    "response.total_size",
    "response.grpc_status",
    "response.flags",
    "source.port",
    "destination.port",
    "upstream.port",
    "connection.id",
    "xds.listener_direction",
    "upstream.request_attempt_count",
    "response.backend_latency",
];
/// Attributes Envoy returns as one byte of bool.
const BOOL_PATHS: [&str; 1] = ["connection.mtls"];

impl Expr {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, ExprError> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let mut terms = vec![p.term()?];
        loop {
            p.ws();
            match p.peek() {
                None => break,
                Some(b'+') => {
                    p.i += 1;
                    terms.push(p.term()?);
                }
                Some(_) => {
                    return Err(ExprError {
                        what: "expected '+' or the end",
                        at: p.i,
                    })
                }
            }
        }
        Ok(Self(terms))
    }

    /// Evaluates to text; `None` when an attribute is missing or unreadable (the label then
    /// becomes `unknown`, as in Istio).
    pub fn eval(&self, host: &dyn Host, peers: Peers<'_>, out: &mut String) -> Option<()> {
        for term in &self.0 {
            match term {
                Term::Peer(side, attr) => {
                    let peer = match side {
                        Side::Downstream => peers.downstream,
                        Side::Upstream => peers.upstream,
                    }?;
                    let v = match attr {
                        PeerAttr::Field(f) => peer.field(f)?,
                        PeerAttr::Label(k) => peer.label(k)?,
                    };
                    if v.is_empty() {
                        return None;
                    }
                    out.push_str(v);
                }
                Term::Str(s) => out.push_str(s),
                Term::Int(n) => out.push_str(&n.to_string()),
                Term::Path(path) => {
                    let refs: Vec<&str> = path.iter().map(String::as_str).collect();
                    let bytes = host.property(&refs).ok()??;
                    let joined = path.join(".");
                    if INT_PATHS.contains(&joined.as_str()) {
                        out.push_str(&int(&bytes)?.to_string());
                    } else if BOOL_PATHS.contains(&joined.as_str()) {
                        out.push_str(if bytes.first() == Some(&1) {
                            "true"
                        } else {
                            "false"
                        });
                    } else {
                        out.push_str(std::str::from_utf8(&bytes).ok()?);
                    }
                }
            }
        }
        Some(())
    }

    /// Evaluates to an integer (a definition's value); `None` if it is not one.
    pub fn eval_int(&self, host: &dyn Host) -> Option<i64> {
        match self.0.as_slice() {
            [Term::Int(n)] => Some(*n),
            [Term::Path(path)] => {
                let refs: Vec<&str> = path.iter().map(String::as_str).collect();
                int(&host.property(&refs).ok()??)
            }
            _ => None,
        }
    }

    /// True when the expression can yield an integer (a literal or one attribute).
    pub fn is_int(&self) -> bool {
        matches!(self.0.as_slice(), [Term::Int(_)] | [Term::Path(_)])
    }
}

/// An 8-byte little-endian integer property.
pub fn int(bytes: &[u8]) -> Option<i64> {
    let a: [u8; 8] = bytes.try_into().ok()?;
    Some(i64::from_le_bytes(a))
}

/// A plain unsigned decimal (`"42"`; no sign, no spaces), `None` when empty, not digits or past
/// `u64`. Hand-rolled: `str::parse::<u64>` costs the module ~600 bytes for the same.
pub fn decimal(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.bytes().try_fold(0u64, |n, b| {
        let d = b.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn term(&mut self) -> Result<Term, ExprError> {
        self.ws();
        match self.peek() {
            Some(b'\'' | b'"') => Ok(Term::Str(self.string()?)),
            Some(c) if c.is_ascii_digit() => Ok(Term::Int(self.int()?)),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.i;
                let mut path = vec![self.ident()];
                loop {
                    match self.peek() {
                        Some(b'.') => {
                            self.i += 1;
                            if !self
                                .peek()
                                .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
                            {
                                return Err(self.err("expected a name after '.'"));
                            }
                            path.push(self.ident());
                        }
                        Some(b'[') => {
                            self.i += 1;
                            self.ws();
                            let key = match self.peek() {
                                Some(b'\'' | b'"') => self.string()?,
                                Some(c) if c.is_ascii_digit() => self.int()?.to_string(),
                                _ => return Err(self.err("expected a string or index in '[]'")),
                            };
                            self.ws();
                            if self.peek() != Some(b']') {
                                return Err(self.err("expected ']'"));
                            }
                            self.i += 1;
                            path.push(key);
                        }
                        _ => break,
                    }
                }
                path_term(path, start)
            }
            Some(_) => Err(self.err("expected a string, number or attribute")),
            None => Err(self.err("unexpected end of expression")),
        }
    }

    fn err(&self, what: &'static str) -> ExprError {
        ExprError { what, at: self.i }
    }

    fn ident(&mut self) -> String {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.i += 1;
        }
        String::from_utf8_lossy(self.s.get(start..self.i).unwrap_or_default()).into_owned()
    }

    fn int(&mut self) -> Result<i64, ExprError> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        std::str::from_utf8(self.s.get(start..self.i).unwrap_or_default())
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or(ExprError {
                what: "integer out of range",
                at: start,
            })
    }

    fn string(&mut self) -> Result<String, ExprError> {
        let start = self.i;
        let quote = self.peek();
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => {
                    return Err(ExprError {
                        what: "unterminated string",
                        at: start,
                    })
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or(ExprError {
                        what: "unterminated string",
                        at: start,
                    })?;
                    out.push(c);
                    self.i += 1;
                }
                Some(c) if Some(c) == quote => {
                    self.i += 1;
                    break;
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| ExprError {
            what: "string is not utf-8",
            at: start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeHost;

    /// Demonstrates parsing of the forms Istio's examples use, and errors with positions.
    #[test]
    fn parses() {
        let ok: [(&str, Expr); 4] = [
            (
                "request.host",
                Expr(vec![Term::Path(vec!["request".into(), "host".into()])]),
            ),
            (
                "'_' + xds.node.metadata['WORKLOAD_NAME']",
                Expr(vec![
                    Term::Str("_".into()),
                    Term::Path(vec![
                        "xds".into(),
                        "node".into(),
                        "metadata".into(),
                        "WORKLOAD_NAME".into(),
                    ]),
                ]),
            ),
            ("\"gateway\"", Expr(vec![Term::Str("gateway".into())])),
            ("42", Expr(vec![Term::Int(42)])),
        ];
        for (text, want) in ok {
            assert_eq!(Expr::parse(text).unwrap(), want, "{text}");
        }
        let bad: [(&str, &str, usize); 6] = [
            ("", "unexpected end of expression", 0),
            ("'abc", "unterminated string", 0),
            ("a.b +", "unexpected end of expression", 5),
            ("a b", "expected '+' or the end", 2),
            ("a[b]", "expected a string or index in '[]'", 2),
            ("size(request.host)", "expected '+' or the end", 4),
        ];
        for (text, what, at) in bad {
            assert_eq!(
                Expr::parse(text).unwrap_err(),
                ExprError { what, at },
                "{text}"
            );
        }
    }

    /// Demonstrates evaluation of strings, integer and bool attributes, and a missing one.
    #[test]
    fn evaluates() {
        let mut host = FakeHost::default();
        host.set_str("xds.node.metadata.WORKLOAD_NAME", "productpage-v1");
        host.set_int("response.code", 503);
        host.properties.insert("connection.mtls".into(), vec![1]);
        let cases: [(&str, Option<&str>); 4] = [
            (
                "'_' + xds.node.metadata['WORKLOAD_NAME']",
                Some("_productpage-v1"),
            ),
            ("'code-' + response.code", Some("code-503")),
            ("connection.mtls", Some("true")),
            ("request.headers['x-missing']", None),
        ];
        for (text, want) in cases {
            let mut out = String::new();
            let got = Expr::parse(text)
                .unwrap()
                .eval(&host, Peers::default(), &mut out)
                .map(|()| out);
            assert_eq!(got.as_deref(), want, "{text}");
        }
        assert_eq!(
            Expr::parse("response.code").unwrap().eval_int(&host),
            Some(503)
        );
        assert_eq!(Expr::parse("7").unwrap().eval_int(&host), Some(7));
    }
}
