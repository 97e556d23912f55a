//! Aggregation operators: sum, avg, min, max, count, group, stddev, stdvar, quantile,
//! count_values, topk, bottomk.

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_MAX, T_MIN, T_QUANTILE, T_STDDEV,
    T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, LabelModifier};
use rustc_hash::FxHashMap;

use super::eval::{Elem, Evaluator, Val};
use super::functions::{kahan_sum, mean, quantile, variance};
use super::value::format_value;
use super::{Error, Result};
use crate::labels::{Labels, METRIC_NAME};

pub(super) fn eval(ev: &mut Evaluator<'_>, a: &AggregateExpr, t: i64) -> Result<Val> {
    let op = a.op.id();
    if !matches!(
        op,
        T_SUM
            | T_AVG
            | T_COUNT
            | T_GROUP
            | T_MIN
            | T_MAX
            | T_STDVAR
            | T_STDDEV
            | T_QUANTILE
            | T_TOPK
            | T_BOTTOMK
            | T_COUNT_VALUES
    ) {
        return Err(Error::Unsupported(format!("aggregation {}", a.op)));
    }
    let param = match &a.param {
        Some(p) => Some(ev.eval(p, t)?),
        None => None,
    };
    let input = ev.eval_vector(&a.expr, t)?;
    let by_names: Vec<&str> = match &a.modifier {
        Some(m) => m.labels().labels.iter().map(String::as_str).collect(),
        None => vec![],
    };
    let key = |l: &Labels| -> Labels {
        match &a.modifier {
            Some(LabelModifier::Include(_)) => l.keep(&by_names),
            Some(LabelModifier::Exclude(_)) => {
                let mut names = by_names.clone();
                names.push(METRIC_NAME);
                l.without(&names)
            }
            None => Labels::default(),
        }
    };
    let keeps_name =
        matches!(&a.modifier, Some(LabelModifier::Include(_))) && by_names.contains(&METRIC_NAME);

    // Group members in first-seen order.
    let mut index: FxHashMap<Labels, usize> = FxHashMap::default();
    let mut groups: Vec<(Labels, Vec<Elem>)> = Vec::new();
    if op == T_COUNT_VALUES {
        let label = match &param {
            Some(Val::Str(s)) => s.clone(),
            _ => {
                return Err(Error::Eval(
                    "count_values(): parameter must be a string".into(),
                ))
            }
        };
        if label.is_empty() {
            return Err(Error::Eval(format!("invalid label name {label:?}")));
        }
        for e in input {
            let k = key(&e.labels).with(&label, &format_value(e.v));
            push(&mut index, &mut groups, k, e);
        }
        return Ok(Val::Vector(
            groups
                .into_iter()
                .map(|(labels, m)| Elem {
                    labels,
                    t,
                    v: m.len() as f64,
                    drop_name: false,
                })
                .collect(),
        ));
    }
    let single = a.modifier.is_none();
    // `by (…)`: group on a hash of the listed values and build each group's labels once.
    let by: Option<Vec<&str>> = match &a.modifier {
        Some(LabelModifier::Include(_)) => {
            let mut names = by_names.clone();
            names.sort_unstable();
            names.dedup();
            Some(names)
        }
        _ => None,
    };
    let mut by_hash: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
    for e in input {
        ev.tick()?;
        if single {
            if groups.is_empty() {
                groups.push((Labels::default(), Vec::new()));
            }
            groups[0].1.push(e);
        } else if let Some(names) = &by {
            let h = e.labels.hash_of(names);
            let slot = by_hash.entry(h).or_default();
            let found = slot
                .iter()
                .copied()
                .find(|&i| names.iter().all(|n| groups[i].0.get(n) == e.labels.get(n)));
            match found {
                Some(i) => groups[i].1.push(e),
                None => {
                    slot.push(groups.len());
                    groups.push((key(&e.labels), vec![e]));
                }
            }
        } else {
            let k = key(&e.labels);
            push(&mut index, &mut groups, k, e);
        }
    }
    if op == T_TOPK || op == T_BOTTOMK {
        let k = match param {
            Some(Val::Scalar(k)) => k,
            _ => return Err(Error::Eval("topk/bottomk: k must be a scalar".into())),
        };
        if k.is_nan() || k.abs() >= 9.2e18 {
            return Err(Error::Eval(format!("scalar value {k} overflows int64")));
        }
        let k = k as i64;
        let mut out = Vec::new();
        if k < 1 {
            return Ok(Val::Vector(out));
        }
        let desc = op == T_TOPK;
        for (_, mut members) in groups {
            members.sort_by(|x, y| {
                use std::cmp::Ordering::*;
                match (x.v.is_nan(), y.v.is_nan()) {
                    (true, true) => Equal,
                    (true, false) => Greater,
                    (false, true) => Less,
                    _ if desc => y.v.total_cmp(&x.v),
                    _ => x.v.total_cmp(&y.v),
                }
            });
            members.truncate(k as usize);
            out.extend(members.into_iter().map(|mut e| {
                e.t = t;
                e
            }));
        }
        return Ok(Val::Vector(out));
    }
    let q = if op == T_QUANTILE {
        match param {
            Some(Val::Scalar(q)) => q,
            _ => return Err(Error::Eval("quantile: φ must be a scalar".into())),
        }
    } else {
        0.0
    };
    let mut out = Vec::with_capacity(groups.len());
    for (labels, members) in groups {
        ev.tick()?;
        let mut vals: Vec<f64> = members.iter().map(|e| e.v).collect();
        let v = match op {
            T_SUM => kahan_sum(vals.iter().copied()),
            T_AVG => mean(&vals),
            T_COUNT => vals.len() as f64,
            T_GROUP => 1.0,
            T_MIN => vals
                .iter()
                .skip(1)
                .fold(vals[0], |m, &x| if x < m || m.is_nan() { x } else { m }),
            T_MAX => vals
                .iter()
                .skip(1)
                .fold(vals[0], |m, &x| if x > m || m.is_nan() { x } else { m }),
            T_STDVAR => variance(&vals),
            T_STDDEV => variance(&vals).sqrt(),
            T_QUANTILE => quantile(q, &mut vals),
            _ => return Err(Error::Unsupported(format!("aggregation {}", a.op))),
        };
        let drop_name = keeps_name && members.iter().any(|e| e.drop_name);
        out.push(Elem {
            labels,
            t,
            v,
            drop_name,
        });
    }
    Ok(Val::Vector(out))
}

fn push(
    index: &mut FxHashMap<Labels, usize>,
    groups: &mut Vec<(Labels, Vec<Elem>)>,
    k: Labels,
    e: Elem,
) {
    match index.get(&k) {
        Some(&i) => groups[i].1.push(e),
        None => {
            index.insert(k.clone(), groups.len());
            groups.push((k, vec![e]));
        }
    }
}
