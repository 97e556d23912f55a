//! Running one `eval` and comparing its result with the expectation.

use std::collections::BTreeMap;

use super::script::{Eval, Expected};
use super::Outcome;
use crate::labels::Labels;
use crate::promql::{almost_equal, format_value, Engine, Error, Value};
use crate::store::Store;

/// The tolerance of the Go harness (util/almost, ε = 1e-6).
const EPSILON: f64 = 1e-6;

pub(super) fn eval_case(
    engine: &Engine,
    store: &Store,
    unsupported: &BTreeMap<String, String>,
    e: &Eval,
) -> Outcome {
    if let Some(m) = &e.unreadable {
        return Outcome::Failed(format!("unreadable expectation: {m}"));
    }
    if e.expected.iter().any(|x| x.native) {
        return Outcome::Skipped("expects native histogram values".into());
    }
    if !unsupported.is_empty() {
        match crate::promql::metric_names(&e.expr) {
            Ok(names) => {
                if let Some(why) = names.iter().find_map(|n| unsupported.get(n)) {
                    return Outcome::Skipped(format!("reads a series with {why}"));
                }
            }
            Err(Error::NoMetricName(_)) => {
                return Outcome::Skipped(
                    "may read series this engine cannot load (selector without a metric name)"
                        .into(),
                )
            }
            Err(_) => {}
        }
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
