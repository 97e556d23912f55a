//! Parsing: `promql-parser` with its string errors turned into [`Error`]s, and the metric
//! names a query reads.
//!
//! Every expression passes [`check_size`] before the parser sees it: the parser, the
//! evaluator, the printer and every walk over the AST recurse once per level of nesting, so
//! an expression nested thousands deep (`1+1+…`, `((((…))))`, a long `or` chain) would
//! overflow a thread's stack and abort the whole process, which no `catch_unwind` can stop.
//! Bounding the nesting before parsing bounds all of them.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};

use super::{Error, Result};

/// Bounds on an expression's text, checked before it is parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseLimits {
    /// Longest expression, in bytes (`--query-max-length`). It also bounds what a regex
    /// matcher can make the regex compiler allocate.
    pub max_length: usize,
    /// Deepest nesting (`--query-max-depth`), counted as the deepest bracket nesting plus the
    /// number of operators: an upper bound of the syntax tree's depth that is known before
    /// parsing.
    pub max_depth: usize,
}

impl ParseLimits {
    /// 64 KiB and 128: an HPA query is about 100 bytes and 6 deep, a large dashboard query a
    /// few KB and 30 deep.
    pub const DEFAULT: ParseLimits = ParseLimits {
        max_length: 64 * 1024,
        max_depth: 128,
    };
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

// The limits are process-wide, so that every parse (the API, HPA annotations, the warm-up
// window, the store's metric filter) applies the same ones; `serve` sets them from its flags.
static MAX_LENGTH: AtomicUsize = AtomicUsize::new(ParseLimits::DEFAULT.max_length);
static MAX_DEPTH: AtomicUsize = AtomicUsize::new(ParseLimits::DEFAULT.max_depth);

/// Sets the limits every later [`parse`] applies.
pub fn set_limits(limits: ParseLimits) {
    MAX_LENGTH.store(limits.max_length, Ordering::Relaxed);
    MAX_DEPTH.store(limits.max_depth, Ordering::Relaxed);
}

/// The limits [`parse`] applies now.
pub fn limits() -> ParseLimits {
    ParseLimits {
        max_length: MAX_LENGTH.load(Ordering::Relaxed),
        max_depth: MAX_DEPTH.load(Ordering::Relaxed),
    }
}

/// Refuses an expression longer or deeper than `limits`, in one pass over its text.
pub fn check_size(expr: &str, limits: ParseLimits) -> Result<()> {
    if expr.len() > limits.max_length {
        return Err(Error::TooLarge(format!(
            "the expression is {} bytes long, more than the {} allowed (--query-max-length)",
            expr.len(),
            limits.max_length
        )));
    }
    let depth = nesting(expr, limits.max_depth);
    if depth > limits.max_depth {
        return Err(Error::TooLarge(format!(
            "the expression nests deeper than the {} allowed (brackets nested plus operators; --query-max-depth)",
            limits.max_depth
        )));
    }
    Ok(())
}

/// The deepest bracket nesting plus the number of operators in `expr`, outside strings and
/// comments, counted up to just past `stop`. Every level of the syntax tree is a bracketed
/// construct (call, aggregation, parenthesis, range, subquery) or an operator, so this bounds
/// the tree's depth; it may count too many (a `-` in `1e-3`, an `and` as a label name), never
/// too few.
fn nesting(expr: &str, stop: usize) -> usize {
    let b = expr.as_bytes();
    let (mut depth, mut deepest, mut operators) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while i < b.len() && deepest + operators <= stop {
        match b[i] {
            q @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' && q != b'`' { 2 } else { 1 };
                }
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'<' | b'>' => operators += 1,
            b'=' | b'!' if b.get(i + 1) == Some(&b'=') => {
                operators += 1;
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &expr[start..i];
                if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
                {
                    operators += 1;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    deepest + operators
}

thread_local! {
    /// Set while this thread runs the parser under `catch_unwind`: its panics are expected.
    static PARSING: Cell<bool> = const { Cell::new(false) };
}

/// Runs the parser so that a panic in it is an error for that expression: the panic hook says
/// nothing for it (the default hook printed a trace to stderr for every such query), every
/// other panic still reaches the hook that was installed before.
fn parse_quietly(expr: &str) -> std::thread::Result<Result<Expr, String>> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !PARSING.with(Cell::get) {
                previous(info);
            }
        }));
    });
    PARSING.with(|p| p.set(true));
    let parsed = std::panic::catch_unwind(|| parser::parse(expr));
    PARSING.with(|p| p.set(false));
    parsed
}

/// Parses a PromQL expression within [`limits`]; the error names the problem and, where it
/// can be found, its `line:column` (promql-parser reports no positions, so they are recovered
/// from the message).
pub fn parse(expr: &str) -> Result<Expr> {
    check_size(expr, limits())?;
    // promql-parser panics on some input (a bare range number too large for a Duration,
    // fuzz/regressions/promql): a hostile query is an error, never a crash.
    let parsed = parse_quietly(expr).map_err(|_| {
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
    metric_names_of(&parse(expr)?)
}

/// [`metric_names`] of a parsed expression.
pub fn metric_names_of(ast: &Expr) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    walk(ast, &mut out)?;
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
    Ok(steps_of(&parse(expr)?, default_step))
}

/// [`steps`] of a parsed expression.
pub fn steps_of(ast: &Expr, default_step: std::time::Duration) -> u64 {
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
    count(ast, default_step.as_millis())
}
