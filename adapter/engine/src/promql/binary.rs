//! Binary operators: arithmetic, comparison (± `bool`), set operators, vector matching.

use promql_parser::parser::token::TokenId;
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB,
};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use rustc_hash::{FxHashMap, FxHashSet};

use super::eval::{Elem, Evaluator, Val};
use super::{Error, Result};
use crate::labels::{Labels, METRIC_NAME};

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// `(value, keep)`: arithmetic always keeps; a comparison keeps the left value when true.
fn apply(op: TokenId, l: f64, r: f64) -> Result<(f64, bool)> {
    Ok(match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_MOD => (l % r, true),
        T_POW => (l.powf(r), true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        other => {
            return Err(Error::Unsupported(format!(
                "binary operator {}",
                promql_parser::parser::token::TokenType::new(other)
            )))
        }
    })
}

pub(super) fn eval(ev: &mut Evaluator<'_>, b: &BinaryExpr, t: i64) -> Result<Val> {
    let op = b.op.id();
    if let Some(m) = &b.modifier {
        if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
            return Err(Error::Unsupported(
                "fill modifiers (fill, fill_left, fill_right)".into(),
            ));
        }
    }
    let lhs = ev.eval(&b.lhs, t)?;
    let rhs = ev.eval(&b.rhs, t)?;
    let return_bool = b.return_bool();
    let cmp = is_comparison(op);
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => {
            let (v, keep) = apply(op, l, r)?;
            Ok(Val::Scalar(if cmp { f64::from(u8::from(keep)) } else { v }))
        }
        (Val::Vector(v), Val::Scalar(s)) => vector_scalar(op, v, s, false, return_bool, t),
        (Val::Scalar(s), Val::Vector(v)) => vector_scalar(op, v, s, true, return_bool, t),
        (Val::Vector(l), Val::Vector(r)) => {
            if matches!(op, T_LAND | T_LOR | T_LUNLESS) {
                set_op(op, b, l, r)
            } else {
                vector_vector(ev, op, b, l, r, return_bool, t)
            }
        }
        (l, r) => Err(Error::Eval(format!(
            "binary {} between {} and {}",
            b.op,
            l.type_name(),
            r.type_name()
        ))),
    }
}

fn vector_scalar(
    op: TokenId,
    v: Vec<Elem>,
    s: f64,
    swap: bool,
    return_bool: bool,
    t: i64,
) -> Result<Val> {
    let cmp = is_comparison(op);
    let mut out = Vec::with_capacity(v.len());
    for mut e in v {
        let (l, r) = if swap { (s, e.v) } else { (e.v, s) };
        let (mut val, keep) = apply(op, l, r)?;
        if cmp && swap {
            val = r;
        }
        if return_bool {
            val = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        e.v = val;
        e.t = t;
        e.drop_name = e.drop_name || !cmp || return_bool;
        out.push(e);
    }
    Ok(Val::Vector(out))
}

fn signature(matching: &Option<LabelModifier>, l: &Labels) -> Labels {
    match matching {
        Some(LabelModifier::Include(ls)) => {
            l.keep(&ls.labels.iter().map(String::as_str).collect::<Vec<_>>())
        }
        Some(LabelModifier::Exclude(ls)) => {
            let mut names: Vec<&str> = ls.labels.iter().map(String::as_str).collect();
            names.push(METRIC_NAME);
            l.without(&names)
        }
        None => l.without_name(),
    }
}

fn set_op(op: TokenId, b: &BinaryExpr, l: Vec<Elem>, r: Vec<Elem>) -> Result<Val> {
    let matching = b.modifier.as_ref().and_then(|m| m.matching.clone());
    let rsigs: FxHashSet<Labels> = r.iter().map(|e| signature(&matching, &e.labels)).collect();
    Ok(Val::Vector(match op {
        T_LAND => l
            .into_iter()
            .filter(|e| rsigs.contains(&signature(&matching, &e.labels)))
            .collect(),
        T_LUNLESS => l
            .into_iter()
            .filter(|e| !rsigs.contains(&signature(&matching, &e.labels)))
            .collect(),
        _ => {
            let lsigs: FxHashSet<Labels> =
                l.iter().map(|e| signature(&matching, &e.labels)).collect();
            let mut out = l;
            out.extend(
                r.into_iter()
                    .filter(|e| !lsigs.contains(&signature(&matching, &e.labels))),
            );
            out
        }
    }))
}

fn vector_vector(
    ev: &mut Evaluator<'_>,
    op: TokenId,
    b: &BinaryExpr,
    l: Vec<Elem>,
    r: Vec<Elem>,
    return_bool: bool,
    t: i64,
) -> Result<Val> {
    let modifier = b.modifier.as_ref();
    let card = modifier.map_or(VectorMatchCardinality::OneToOne, |m| m.card.clone());
    let matching = modifier.and_then(|m| m.matching.clone());
    let cmp = is_comparison(op);
    let (many, one, swapped) = match card {
        VectorMatchCardinality::OneToMany(_) => (r, l, true),
        _ => (l, r, false),
    };
    let include: Vec<String> = match &card {
        VectorMatchCardinality::ManyToOne(ls) | VectorMatchCardinality::OneToMany(ls) => {
            ls.labels.clone()
        }
        _ => vec![],
    };
    let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);

    let mut right: FxHashMap<Labels, usize> = FxHashMap::default();
    for (i, e) in one.iter().enumerate() {
        ev.tick()?;
        let sig = signature(&matching, &e.labels);
        if let Some(&j) = right.get(&sig) {
            let side = if swapped { "left" } else { "right" };
            return Err(Error::Eval(format!(
                "found duplicate series for the match group {sig} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                one[j].labels, e.labels
            )));
        }
        right.insert(sig, i);
    }
    let mut matched = Matched::default();
    let mut out = Vec::new();
    for e in many {
        ev.tick()?;
        let sig = signature(&matching, &e.labels);
        let Some(&j) = right.get(&sig) else { continue };
        let o = &one[j];
        let (fl, fr) = if swapped { (o.v, e.v) } else { (e.v, o.v) };
        let (mut val, keep) = apply(op, fl, fr)?;
        if one_to_one {
            // Checked before filtering, so a comparison cannot hide a many-to-one match.
            if !matched.insert_one(&sig) {
                return Err(Error::Eval(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                ));
            }
        }
        if return_bool {
            val = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        // Result labels start from the "many" side.
        let mut labels = e.labels.clone();
        let drop_name = if cmp && !return_bool {
            e.drop_name
        } else {
            true
        };
        if one_to_one {
            match &matching {
                Some(LabelModifier::Include(ls)) => {
                    labels = labels.keep(&ls.labels.iter().map(String::as_str).collect::<Vec<_>>());
                }
                Some(LabelModifier::Exclude(ls)) => {
                    labels =
                        labels.without(&ls.labels.iter().map(String::as_str).collect::<Vec<_>>());
                }
                None => {}
            }
        }
        for ln in &include {
            labels = labels.with(ln, o.labels.get(ln).unwrap_or(""));
        }
        if !one_to_one {
            let key = if drop_name {
                labels.without_name()
            } else {
                labels.clone()
            };
            if !matched.0.entry(sig).or_default().insert(key) {
                return Err(Error::Eval(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                        .into(),
                ));
            }
        }
        out.push(Elem {
            labels,
            t,
            v: val,
            drop_name,
        });
    }
    Ok(Val::Vector(out))
}

/// Match groups seen so far: result label sets per signature (many-to-one), or presence.
#[derive(Default)]
struct Matched(FxHashMap<Labels, FxHashSet<Labels>>);

impl Matched {
    /// Records a one-to-one match; false if the signature matched before.
    fn insert_one(&mut self, sig: &Labels) -> bool {
        if self.0.contains_key(sig) {
            return false;
        }
        self.0.insert(sig.clone(), FxHashSet::default());
        true
    }
}
