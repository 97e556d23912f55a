//! Running one `eval` and comparing its result with the expectation.

use super::script::{Eval, Expected};
use super::Outcome;
use crate::labels::Labels;
use crate::promql::{almost_equal, format_value, Engine, Error, Value};
use crate::store::{MatchOp, Matcher, Store};
use promql_parser::label::{MatchOp as PMatchOp, Matcher as PMatcher};
use promql_parser::parser::{Expr, VectorSelector};

/// The tolerance of the Go harness (util/almost, ε = 1e-6).
const EPSILON: f64 = 1e-6;

pub(super) fn eval_case(
    engine: &Engine,
    store: &Store,
    unsupported: &Unloadable,
    e: &Eval,
) -> Outcome {
    if let Some(m) = &e.unreadable {
        return Outcome::Failed(format!("unreadable expectation: {m}"));
    }
    if e.expected.iter().any(|x| x.native) {
        return Outcome::Skipped("expects native histogram values".into());
    }
    if let Some(why) = unsupported.read_by(&e.expr) {
        return Outcome::Skipped(format!("reads a series with {why}"));
    }
    let res = match e.range {
        None => engine.instant(store, &e.expr, e.at),
        Some((a, b, s)) => engine.range(store, &e.expr, a, b, s),
    };
    match res {
        Err(Error::Unsupported(m)) => Outcome::Skipped(format!("unsupported: {m}")),
        Err(Error::Parse(m)) if e.fail.is_none() => {
            Outcome::Skipped(format!("promql-parser does not read it: {m}"))
        }
        Err(_) if e.fail.is_some() => Outcome::Passed,
        Err(err) => Outcome::Failed(format!("error: {err}")),
        Ok(_) if e.fail.is_some() => {
            Outcome::Failed("expected the query to fail, it succeeded".into())
        }
        Ok(v) => match compare(e, v) {
            Ok(()) => Outcome::Passed,
            Err(m) => Outcome::Failed(m),
        },
    }
}

fn eq(a: f64, b: f64) -> bool {
    almost_equal(a, b, EPSILON)
}

fn compare(e: &Eval, v: Value) -> Result<(), String> {
    if let Some(want) = &e.string {
        return match v {
            Value::String { v, .. } if v == *want => Ok(()),
            other => Err(format!("expected string {want:?}, got {other:?}")),
        };
    }
    match (e.range, v) {
        (None, Value::Scalar { v, .. }) => match e.expected.as_slice() {
            [Expected {
                labels: None,
                values,
                ..
            }] if values.len() == 1 && values[0].is_some_and(|x| eq(x, v)) => Ok(()),
            _ => Err(format!(
                "got scalar {}, expected {:?}",
                format_value(v),
                e.expected
            )),
        },
        (None, Value::Vector(got)) => {
            let got: Vec<(Labels, Vec<(i64, f64)>)> = got
                .into_iter()
                .map(|s| (s.labels, vec![(0, s.v)]))
                .collect();
            let want = expected_series(e, |_| 0)?;
            match_series(&want, &got, e.ordered)
        }
        (None, Value::Matrix(got)) => {
            let Some((a, _, s)) = e.range_vector else {
                return Err("got a range vector without an `expect range vector` line".into());
            };
            let got: Vec<(Labels, Vec<(i64, f64)>)> =
                got.into_iter().map(|s| (s.labels, s.points)).collect();
            let want = expected_series(e, |k| a + k as i64 * s)?;
            match_series(&want, &got, e.ordered)
        }
        (Some((a, _, s)), Value::Matrix(got)) => {
            let got: Vec<(Labels, Vec<(i64, f64)>)> =
                got.into_iter().map(|s| (s.labels, s.points)).collect();
            let want = expected_series(e, |k| a + k as i64 * s)?;
            match_series(&want, &got, false)
        }
        (_, other) => Err(format!("unexpected result {other:?}")),
    }
}

type Points = Vec<(i64, f64)>;

fn expected_series(
    e: &Eval,
    time_of: impl Fn(usize) -> i64,
) -> Result<Vec<(Labels, Points)>, String> {
    e.expected
        .iter()
        .map(|x| {
            let labels = x.labels.clone().ok_or("expected a scalar, got a vector")?;
            let pts = x
                .values
                .iter()
                .enumerate()
                .filter_map(|(k, v)| v.map(|v| (time_of(k), v)))
                .collect();
            Ok((labels, pts))
        })
        .collect()
}

fn match_series(
    want: &[(Labels, Points)],
    got: &[(Labels, Points)],
    ordered: bool,
) -> Result<(), String> {
    // An expected series with no points at all (all `_`) expects nothing.
    let want: Vec<&(Labels, Points)> = want.iter().filter(|w| !w.1.is_empty()).collect();
    if want.len() != got.len() {
        let g: Vec<String> = got.iter().map(|g| g.0.to_string()).collect();
        return Err(format!(
            "expected {} series, got {}: {}",
            want.len(),
            got.len(),
            g.join(", ")
        ));
    }
    for (i, w) in want.iter().enumerate() {
        let g = if ordered {
            got.get(i).filter(|g| g.0 == w.0)
        } else {
            got.iter().find(|g| g.0 == w.0)
        };
        let Some(g) = g else {
            return Err(format!(
                "expected series {} not in the result{}",
                w.0,
                if ordered { " (at this position)" } else { "" }
            ));
        };
        if g.1.len() != w.1.len()
            || g.1
                .iter()
                .zip(&w.1)
                .any(|(a, b)| a.0 != b.0 || !eq(a.1, b.1))
        {
            let fmt = |p: &Points| {
                p.iter()
                    .map(|(t, v)| format!("{}@{}", format_value(*v), t / 1000))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            return Err(format!(
                "{}: expected {}, got {}",
                w.0,
                fmt(&w.1),
                fmt(&g.1)
            ));
        }
    }
    Ok(())
}

/// Series a script loaded only in part (native histograms, start timestamps, type labels), so
/// cases that select them are skipped.
#[derive(Default)]
pub(super) struct Unloadable(Vec<(Labels, String)>);

impl Unloadable {
    pub(super) fn add(&mut self, labels: Labels, why: &str) {
        self.0.push((labels, why.to_string()));
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    /// Why `expr` cannot be answered, if one of its selectors matches such a series.
    fn read_by(&self, expr: &str) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let ast = crate::promql::parse::parse(expr).ok()?;
        let mut why = None;
        self.walk(&ast, &mut why);
        why
    }

    fn walk(&self, e: &Expr, why: &mut Option<String>) {
        if why.is_some() {
            return;
        }
        match e {
            Expr::VectorSelector(vs) => *why = self.selects(vs),
            Expr::MatrixSelector(ms) => *why = self.selects(&ms.vs),
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.walk(p, why);
                }
                self.walk(&a.expr, why);
            }
            Expr::Unary(u) => self.walk(&u.expr, why),
            Expr::Binary(b) => {
                self.walk(&b.lhs, why);
                self.walk(&b.rhs, why);
            }
            Expr::Paren(p) => self.walk(&p.expr, why),
            Expr::Subquery(s) => self.walk(&s.expr, why),
            Expr::Call(c) => c.args.args.iter().for_each(|a| self.walk(a, why)),
            _ => {}
        }
    }

    fn selects(&self, vs: &VectorSelector) -> Option<String> {
        let mut sets: Vec<&Vec<PMatcher>> = vec![&vs.matchers.matchers];
        sets.extend(vs.matchers.or_matchers.iter());
        for set in sets {
            let mut ms: Vec<Matcher> = vs
                .name
                .iter()
                .map(|n| Matcher::equal("__name__", n))
                .collect();
            for m in set {
                let conv = match &m.op {
                    PMatchOp::Equal => Ok(Matcher::equal(&m.name, &m.value)),
                    PMatchOp::NotEqual => Ok(Matcher {
                        name: m.name.clone(),
                        op: MatchOp::NotEqual(m.value.clone()),
                    }),
                    PMatchOp::Re(_) => Matcher::regex(&m.name, &m.value, false),
                    PMatchOp::NotRe(_) => Matcher::regex(&m.name, &m.value, true),
                };
                match conv {
                    Ok(c) => ms.push(c),
                    // A matcher we cannot compile: assume it may select such a series.
                    Err(_) => return self.0.first().map(|x| x.1.clone()),
                }
            }
            if let Some((_, why)) = self.0.iter().find(|(l, _)| ms.iter().all(|m| m.matches(l))) {
                return Some(why.clone());
            }
        }
        None
    }
}
