//! How much history a query needs before its value means what it says: its window.
//!
//! A store that starts empty answers wrongly at first: `rate(x[1m])` over the first 20 s of
//! data is not a rate over 20 s (Prometheus' extrapolation stops near the first sample, so
//! the result is about a third of the true rate, and an HPA reading it scales down a loaded
//! Deployment). The adapter therefore withholds a query's value until the store holds data for
//! the query's *window*: the longest stretch of past time it reads (range plus offset,
//! subqueries included).

use std::time::Duration;

use promql_parser::parser::{Expr, Offset};

/// Functions that read only the newest sample(s) of their range: they are right as soon as
/// there are samples, however short the history.
const NEWEST_ONLY: [&str; 3] = ["irate", "idelta", "last_over_time"];

/// The window a parsed query reads. `@` modifiers pin absolute times and are not considered.
pub fn of(ast: &Expr) -> Duration {
    Duration::from_millis(expr_ms(ast, false).max(0) as u64)
}

/// Milliseconds of history `e` reads before the evaluation time; `newest_only` when the
/// enclosing function reads only the newest samples of a range.
fn expr_ms(e: &Expr, newest_only: bool) -> i64 {
    match e {
        Expr::VectorSelector(vs) => offset_ms(&vs.offset),
        Expr::MatrixSelector(ms) => {
            let range = if newest_only {
                0
            } else {
                ms.range.as_millis() as i64
            };
            range.saturating_add(offset_ms(&ms.vs.offset))
        }
        Expr::Subquery(sq) => {
            let range = if newest_only {
                0
            } else {
                sq.range.as_millis() as i64
            };
            range
                .saturating_add(offset_ms(&sq.offset))
                .saturating_add(expr_ms(&sq.expr, false))
        }
        Expr::Call(c) => {
            let newest = NEWEST_ONLY.contains(&c.func.name);
            c.args
                .args
                .iter()
                .map(|a| expr_ms(a, newest))
                .max()
                .unwrap_or(0)
        }
        Expr::Aggregate(a) => {
            let p = a.param.as_ref().map_or(0, |p| expr_ms(p, false));
            p.max(expr_ms(&a.expr, false))
        }
        Expr::Binary(b) => expr_ms(&b.lhs, false).max(expr_ms(&b.rhs, false)),
        Expr::Unary(u) => expr_ms(&u.expr, newest_only),
        Expr::Paren(p) => expr_ms(&p.expr, newest_only),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => 0,
    }
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(_)) | None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::Query;

    /// The window of `query`, or `None` when it does not parse.
    fn window(query: &str) -> Option<Duration> {
        Query::parse(query).ok().map(|q| q.window())
    }

    /// Demonstrates the windows of the walk-through's queries and of the shapes that change
    /// them: offsets add, subqueries add their inner range, newest-sample functions need none.
    #[test]
    fn windows_of_queries() {
        let cases = [
            (
                r#"sum(rate(istio_requests_total{reporter="destination"}[1m]))"#,
                60,
            ),
            ("sum(rate(a_sum[1m])) / sum(rate(a_count[2m]))", 120),
            (
                "histogram_quantile(0.95, sum(rate(b_bucket[5m])) by (le))",
                300,
            ),
            (
                "histogram_quantile(0.95, sum(irate(b_bucket[5m])) by (le))",
                0,
            ),
            ("last_over_time(x[10m])", 0),
            ("max_over_time(rate(x[1m])[5m:30s])", 360),
            ("rate(x[1m] offset 2m)", 180),
            ("x offset 30s", 30),
            ("x", 0),
            ("vector(1)", 0),
            ("-(rate(x[45s]))", 45),
            ("quantile_over_time(0.9, x[3m])", 180),
            ("topk(scalar(max_over_time(y[90s])), x)", 90),
        ];
        for (q, secs) in cases {
            assert_eq!(window(q), Some(Duration::from_secs(secs)), "{q}");
        }
        assert_eq!(window("sum(rate(x[1m])"), None);
    }
}
