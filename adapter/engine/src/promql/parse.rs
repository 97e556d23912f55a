//! Parsing: `promql-parser` with its string errors turned into [`Error`]s, and the metric
//! names a query reads.

use std::collections::BTreeSet;

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};

use super::{Error, Result};

/// Parses a PromQL expression; the error names the problem and, where it can be found, its
/// `line:column` (promql-parser reports no positions, so they are recovered from the message).
pub fn parse(expr: &str) -> Result<Expr> {
    // promql-parser panics on some input (a bare range number too large for a Duration,
    // fuzz/regressions/promql): a hostile query is an error, never a crash.
    let parsed = std::panic::catch_unwind(|| parser::parse(expr)).map_err(|_| {
        Error::Parse("the expression cannot be read (a number is out of range)".to_string())
    })?;
    parsed.map_err(|e| {
        let msg = e.trim();
        match locate(expr, msg) {
            Some(off) => {
                let (line, col) = line_col(expr, off);
                Error::Parse(format!("{line}:{col}: {msg}"))
            }
            None => Error::Parse(msg.to_string()),
        }
    })
}

/// 1-based line and column (in characters) of byte offset `off`.
fn line_col(s: &str, off: usize) -> (usize, usize) {
    let before = &s[..off.min(s.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Byte offset the parser's message points at, when the message makes it recoverable.
fn locate(expr: &str, msg: &str) -> Option<usize> {
    for (open, close, word) in [
        ('(', ')', "parenthesis"),
        ('[', ']', "bracket"),
        ('{', '}', "brace"),
    ] {
        if msg.contains("unclosed") && msg.contains(word) {
            return unmatched(expr, open, close);
        }
    }
    if msg.contains("unexpected end of input") || msg == "invalid promql query" {
        return Some(expr.trim_end().len());
    }
    // A quoted token: 'foo' (a function name is looked up with its parenthesis).
    let tok = msg.split('\'').nth(1).filter(|t| !t.is_empty())?;
    expr.find(&format!("{tok}(")).or_else(|| expr.find(tok))
}

/// The last opening bracket left unclosed, outside quoted strings.
fn unmatched(expr: &str, open: char, close: char) -> Option<usize> {
    let mut stack = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in expr.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            c if c == open => stack.push(i),
            c if c == close => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.pop()
}

/// The metric names `expr` selects; an error if a selector names no metric exactly.
pub fn metric_names(expr: &str) -> Result<BTreeSet<String>> {
    let ast = parse(expr)?;
    let mut out = BTreeSet::new();
    walk(&ast, &mut out)?;
    Ok(out)
}

fn walk(e: &Expr, out: &mut BTreeSet<String>) -> Result<()> {
    match e {
        Expr::VectorSelector(vs) => selector(vs, out),
        Expr::MatrixSelector(ms) => selector(&ms.vs, out),
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                walk(p, out)?;
            }
            walk(&a.expr, out)
        }
        Expr::Unary(u) => walk(&u.expr, out),
        Expr::Binary(b) => {
            walk(&b.lhs, out)?;
            walk(&b.rhs, out)
        }
        Expr::Paren(p) => walk(&p.expr, out),
        Expr::Subquery(s) => walk(&s.expr, out),
        Expr::Call(c) => c.args.args.iter().try_for_each(|a| walk(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::Extension(_) => Err(Error::Unsupported("extension expressions".into())),
    }
}

fn selector(vs: &parser::VectorSelector, out: &mut BTreeSet<String>) -> Result<()> {
    if let Some(n) = &vs.name {
        out.insert(n.clone());
        return Ok(());
    }
    let exact = vs
        .matchers
        .matchers
        .iter()
        .find(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
        .map(|m| m.value.clone());
    match exact {
        Some(n) if vs.matchers.or_matchers.is_empty() => {
            out.insert(n);
            Ok(())
        }
        _ => Err(Error::NoMetricName(vs.to_string())),
    }
}

/// How many times `expr`'s nodes are evaluated at one evaluation time: one per node, times
/// each enclosing subquery's steps (`default_step` where a subquery gives none). Selectors are
/// bounded by the samples limit, so a query can only run long through many steps; this tells
/// such a query apart before it runs.
pub fn steps(expr: &str, default_step: std::time::Duration) -> Result<u64> {
    fn count(e: &Expr, default_step: u128) -> u64 {
        let sum = |es: &mut dyn Iterator<Item = &Expr>| {
            es.fold(1u64, |n, e| n.saturating_add(count(e, default_step)))
        };
        match e {
            Expr::Subquery(s) => {
                let step = s.step.map_or(default_step, |d| d.as_millis()).max(1);
                let n = u64::try_from(s.range.as_millis() / step).unwrap_or(u64::MAX);
                n.saturating_add(1)
                    .saturating_mul(count(&s.expr, default_step))
            }
            Expr::Aggregate(a) => sum(&mut a.param.iter().map(|p| &**p).chain([&*a.expr])),
            Expr::Unary(u) => sum(&mut [&*u.expr].into_iter()),
            Expr::Binary(b) => sum(&mut [&*b.lhs, &*b.rhs].into_iter()),
            Expr::Paren(p) => sum(&mut [&*p.expr].into_iter()),
            Expr::Call(c) => sum(&mut c.args.args.iter().map(|a| &**a)),
            _ => 1,
        }
    }
    Ok(count(&parse(expr)?, default_step.as_millis()))
}
