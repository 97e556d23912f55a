//! Parsing: `promql-parser` with its string errors turned into [`Error`]s, and the metric
//! names a query reads.

use std::collections::BTreeSet;

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};

use super::{Error, Result};

/// Parses a PromQL expression.
pub fn parse(expr: &str) -> Result<Expr> {
    parser::parse(expr).map_err(|e| Error::Parse(e.trim().to_string()))
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
