//! PromQL functions: one section per family, then the name-to-function table (as Prometheus'
//! `promql/functions.go`, `FunctionCalls`).

mod histogram;
mod time;

use promql_parser::parser::{Call, Expr};

use super::eval::{Elem, Evaluator, RangeSeries, Val};
use super::{Error, Result};
use crate::labels::{Labels, METRIC_NAME};

type Func = fn(&mut Evaluator<'_>, &Call, i64) -> Result<Val>;

pub(super) fn call(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let name = c.func.name;
    match FUNCTIONS.iter().find(|(n, _)| *n == name) {
        Some((_, f)) => f(ev, c, t),
        None => Err(Error::Unsupported(format!("function {name}()"))),
    }
}

fn arg(c: &Call, i: usize) -> Result<&Expr> {
    c.args
        .args
        .get(i)
        .map(|b| &**b)
        .ok_or_else(|| Error::Eval(format!("{}(): missing argument {}", c.func.name, i + 1)))
}

// ---- kahan summation (util/kahansum) ----

pub(super) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

pub(super) fn kahan_sum(vals: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for v in vals {
        (s, c) = kahan_inc(v, s, c);
    }
    s + c
}

/// Mean with a compensated sum, falling back to an incremental mean when the sum overflows.
pub(super) fn mean(vals: &[f64]) -> f64 {
    let n = vals.len() as f64;
    let s = kahan_sum(vals.iter().copied());
    if s.is_finite() || vals.iter().any(|v| !v.is_finite()) {
        return s / n;
    }
    let (mut m, mut c) = (0.0, 0.0);
    for (i, v) in vals.iter().enumerate() {
        let k = (i + 1) as f64;
        (m, c) = kahan_inc(v / k - (m + c) / k, m, c);
    }
    m + c
}

/// Population variance (Welford, compensated), as stdvar/stdvar_over_time.
pub(super) fn variance(vals: &[f64]) -> f64 {
    let (mut count, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &v in vals {
        count += 1.0;
        let delta = v - (mean + cm);
        (mean, cm) = kahan_inc(delta / count, mean, cm);
        (aux, ca) = kahan_inc(delta * (v - (mean + cm)), aux, ca);
    }
    (aux + ca) / count
}

/// φ-quantile of values (aggregation `quantile` and `quantile_over_time`).
pub(super) fn quantile(q: f64, vals: &mut [f64]) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Go's sort.Float64s puts NaN first.
    vals.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.total_cmp(b),
    });
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let w = rank - rank.floor();
    vals[lower as usize] * (1.0 - w) + vals[upper as usize] * w
}

// ---- rate, increase, delta: one extrapolation helper, as upstream ----

/// `(range_start, range_end, range_ms)` of a range argument at evaluation time `t`.
fn range_of(ev: &Evaluator<'_>, e: &Expr, t: i64) -> Result<(i64, i64, i64)> {
    let (end, range) = match e {
        Expr::MatrixSelector(ms) => (ev.selector_time(&ms.vs.at, &ms.vs.offset, t), ms.range),
        Expr::Subquery(sq) => (ev.selector_time(&sq.at, &sq.offset, t), sq.range),
        Expr::Paren(p) => return range_of(ev, &p.expr, t),
        _ => {
            return Err(Error::Eval(
                "expected a range vector selector or subquery".into(),
            ))
        }
    };
    let r = range.as_millis() as i64;
    Ok((end.saturating_sub(r), end, r))
}

fn extrapolated_rate(
    ev: &mut Evaluator<'_>,
    c: &Call,
    t: i64,
    is_counter: bool,
    is_rate: bool,
) -> Result<Val> {
    let a = arg(c, 0)?;
    let (range_start, range_end, range_ms) = range_of(ev, a, t)?;
    let m = ev.eval_matrix(a, t)?;
    let mut out = Vec::with_capacity(m.len());
    for s in m {
        ev.tick()?;
        let p = &s.points;
        if p.len() < 2 {
            continue;
        }
        let (first, last) = (p[0], p[p.len() - 1]);
        let mut result = last.1 - first.1;
        if is_counter {
            for w in p.windows(2) {
                if w[1].1 < w[0].1 {
                    result += w[0].1;
                }
            }
        }
        let mut to_start = (first.0 - range_start) as f64 / 1000.0;
        let mut to_end = (range_end - last.0) as f64 / 1000.0;
        let sampled = (last.0 - first.0) as f64 / 1000.0;
        let avg = sampled / (p.len() - 1) as f64;
        let threshold = avg * 1.1;
        if to_start >= threshold {
            to_start = avg / 2.0;
        }
        if is_counter && result > 0.0 && first.1 >= 0.0 {
            let to_zero = sampled * (first.1 / result);
            if to_zero < to_start {
                to_start = to_zero;
            }
        }
        if to_end >= threshold {
            to_end = avg / 2.0;
        }
        let mut factor = (sampled + to_start + to_end) / sampled;
        if is_rate {
            factor /= range_ms as f64 / 1000.0;
        }
        out.push(Elem {
            labels: s.labels,
            t,
            v: result * factor,
            drop_name: true,
        });
    }
    Ok(Val::Vector(out))
}

fn rate(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    extrapolated_rate(ev, c, t, true, true)
}
fn increase(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    extrapolated_rate(ev, c, t, true, false)
}
fn delta(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    extrapolated_rate(ev, c, t, false, false)
}

fn instant_value(ev: &mut Evaluator<'_>, c: &Call, t: i64, is_rate: bool) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |p| {
        let n = p.len();
        if n < 2 {
            return None;
        }
        let (prev, last) = (p[n - 2], p[n - 1]);
        if last.0 == prev.0 {
            return None;
        }
        let mut v = last.1 - prev.1;
        if is_rate {
            if last.1 < prev.1 {
                v = last.1;
            }
            v /= (last.0 - prev.0) as f64 / 1000.0;
        }
        Some(v)
    })
}
fn irate(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    instant_value(ev, c, t, true)
}
fn idelta(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    instant_value(ev, c, t, false)
}

// ---- other range-vector functions ----

/// Applies `f` to each series' points of range argument `i`; `keep_name` for the functions
/// that keep `__name__` (last_over_time, first_over_time).
fn over_matrix(
    ev: &mut Evaluator<'_>,
    c: &Call,
    i: usize,
    t: i64,
    keep_name: bool,
    f: impl Fn(&[(i64, f64)]) -> Option<f64>,
) -> Result<Val> {
    let m = ev.eval_matrix(arg(c, i)?, t)?;
    let mut out = Vec::with_capacity(m.len());
    for s in m {
        ev.tick()?;
        let s: RangeSeries = s;
        if let Some(v) = f(&s.points) {
            out.push(Elem {
                labels: s.labels,
                t,
                v,
                drop_name: !keep_name || s.drop_name,
            });
        }
    }
    Ok(Val::Vector(out))
}

fn values(p: &[(i64, f64)]) -> Vec<f64> {
    p.iter().map(|x| x.1).collect()
}

fn resets(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |p| {
        Some(p.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64)
    })
}
fn changes(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |p| {
        Some(
            p.windows(2)
                .filter(|w| w[1].1 != w[0].1 && !(w[1].1.is_nan() && w[0].1.is_nan()))
                .count() as f64,
        )
    })
}
fn avg_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |p| Some(mean(&values(p))))
}
fn sum_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |p| {
        Some(kahan_sum(p.iter().map(|x| x.1)))
    })
}
fn min_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |p| {
        Some(
            p.iter()
                .skip(1)
                .fold(p[0].1, |m, x| if x.1 < m || m.is_nan() { x.1 } else { m }),
        )
    })
}
fn max_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |p| {
        Some(
            p.iter()
                .skip(1)
                .fold(p[0].1, |m, x| if x.1 > m || m.is_nan() { x.1 } else { m }),
        )
    })
}
fn count_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |p| Some(p.len() as f64))
}
fn last_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, true, |p| p.last().map(|x| x.1))
}
fn first_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, true, |p| p.first().map(|x| x.1))
}
/// Timestamp (seconds) of the sample `pick` chooses: first, last, minimum or maximum.
fn ts_of(p: &[(i64, f64)], pick: fn(f64, f64) -> bool) -> Option<f64> {
    let mut best = *p.first()?;
    for &x in &p[1..] {
        if pick(x.1, best.1) || best.1.is_nan() {
            best = x;
        }
    }
    Some(best.0 as f64 / 1000.0)
}
fn ts_of_max_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |p| ts_of(p, |x, best| x > best))
}
fn ts_of_min_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |p| ts_of(p, |x, best| x < best))
}
fn ts_of_first_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |p| {
        p.first().map(|x| x.0 as f64 / 1000.0)
    })
}
fn ts_of_last_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |p| {
        p.last().map(|x| x.0 as f64 / 1000.0)
    })
}
fn present_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |_| Some(1.0))
}
fn stdvar_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |p| Some(variance(&values(p))))
}
fn stddev_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |p| Some(variance(&values(p)).sqrt()))
}
fn quantile_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let q = ev.eval_scalar(arg(c, 0)?, t, "quantile_over_time")?;
    over_matrix(ev, c, 1, t, false, |p| Some(quantile(q, &mut values(p))))
}
fn mad_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |p| {
        let mut v = values(p);
        if v.iter().any(|x| x.is_nan()) {
            return Some(f64::NAN);
        }
        let med = quantile(0.5, &mut v);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
        Some(quantile(0.5, &mut dev))
    })
}

/// Least-squares fit of points against time (seconds from `intercept_t`), compensated sums.
fn linear_regression(p: &[(i64, f64)], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = p[0].1;
    let mut const_y = true;
    for &(ts, v) in p {
        if v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (ts - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(v, sy, cy);
        (sxy, cxy) = kahan_inc(x * v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn deriv(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    over_matrix(ev, c, 0, t, false, |p| {
        (p.len() >= 2).then(|| linear_regression(p, p[0].0).0)
    })
}
fn predict_linear(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let d = ev.eval_scalar(arg(c, 1)?, t, "predict_linear")?;
    over_matrix(ev, c, 0, t, false, |p| {
        (p.len() >= 2).then(|| {
            let (slope, intercept) = linear_regression(p, t);
            slope * d + intercept
        })
    })
}

// ---- instant-vector math ----

fn map_vector(ev: &mut Evaluator<'_>, c: &Call, t: i64, f: impl Fn(f64) -> f64) -> Result<Val> {
    let v = ev.eval_vector(arg(c, 0)?, t)?;
    Ok(Val::Vector(
        v.into_iter()
            .map(|e| Elem {
                labels: e.labels,
                t,
                v: f(e.v),
                drop_name: true,
            })
            .collect(),
    ))
}

macro_rules! math_fns {
    ($($name:ident => $f:expr),* $(,)?) => {
        $(fn $name(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> { map_vector(ev, c, t, $f) })*
    };
}

math_fns! {
    abs => f64::abs,
    ceil => f64::ceil,
    floor => f64::floor,
    exp => f64::exp,
    sqrt => f64::sqrt,
    ln => f64::ln,
    log2 => f64::log2,
    log10 => f64::log10,
    sgn => |v: f64| if v > 0.0 { 1.0 } else if v < 0.0 { -1.0 } else { v },
    sin => f64::sin,
    cos => f64::cos,
    tan => f64::tan,
    asin => f64::asin,
    acos => f64::acos,
    atan => f64::atan,
    sinh => f64::sinh,
    cosh => f64::cosh,
    tanh => f64::tanh,
    asinh => f64::asinh,
    acosh => f64::acosh,
    atanh => f64::atanh,
    deg => |v: f64| v * 180.0 / std::f64::consts::PI,
    rad => |v: f64| v * std::f64::consts::PI / 180.0,
}

fn round(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let to = match c.args.args.get(1) {
        Some(e) => ev.eval_scalar(e, t, "round")?,
        None => 1.0,
    };
    let inv = 1.0 / to;
    map_vector(ev, c, t, move |v| (v * inv + 0.5).floor() / inv)
}

fn clamp(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let lo = ev.eval_scalar(arg(c, 1)?, t, "clamp")?;
    let hi = ev.eval_scalar(arg(c, 2)?, t, "clamp")?;
    if hi < lo {
        return Ok(Val::Vector(vec![]));
    }
    map_vector(ev, c, t, move |v| go_max(lo, go_min(hi, v)))
}
fn clamp_min(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let lo = ev.eval_scalar(arg(c, 1)?, t, "clamp_min")?;
    map_vector(ev, c, t, move |v| go_max(lo, v))
}
fn clamp_max(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let hi = ev.eval_scalar(arg(c, 1)?, t, "clamp_max")?;
    map_vector(ev, c, t, move |v| go_min(hi, v))
}

/// Go's math.Max: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}
/// Go's math.Min: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

// ---- conversions and time ----

fn scalar(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let v = ev.eval_vector(arg(c, 0)?, t)?;
    Ok(Val::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }))
}
fn vector(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let v = ev.eval_scalar(arg(c, 0)?, t, "vector")?;
    Ok(Val::Vector(vec![Elem {
        labels: Labels::default(),
        t,
        v,
        drop_name: false,
    }]))
}
fn time_fn(_: &mut Evaluator<'_>, _: &Call, t: i64) -> Result<Val> {
    Ok(Val::Scalar(t as f64 / 1000.0))
}
fn pi(_: &mut Evaluator<'_>, _: &Call, _: i64) -> Result<Val> {
    Ok(Val::Scalar(std::f64::consts::PI))
}
fn timestamp(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let v = ev.eval_vector(arg(c, 0)?, t)?;
    Ok(Val::Vector(
        v.into_iter()
            .map(|e| Elem {
                labels: e.labels,
                t,
                v: e.t as f64 / 1000.0,
                drop_name: true,
            })
            .collect(),
    ))
}

// ---- absent ----

fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::default(),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut dup: Vec<String> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        // A label named by more than one matcher is left out.
        if names.contains(&m.name.as_str()) {
            dup.push(m.name.clone());
        }
        names.push(&m.name);
        if matches!(m.op, promql_parser::label::MatchOp::Equal) {
            pairs.push((m.name.clone(), m.value.clone()));
        }
    }
    pairs.retain(|(n, _)| !dup.contains(n));
    Labels::new(pairs)
}

fn absent(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let a = arg(c, 0)?;
    let found = !ev.eval_vector(a, t)?.is_empty();
    Ok(absent_result(found, a, t))
}
fn absent_over_time(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let a = arg(c, 0)?;
    let found = !ev.eval_matrix(a, t)?.is_empty();
    Ok(absent_result(found, a, t))
}
/// `absent*`: nothing when the argument found series, else one sample of 1 with the labels
/// its equality matchers name.
fn absent_result(found: bool, a: &Expr, t: i64) -> Val {
    Val::Vector(if found {
        vec![]
    } else {
        vec![Elem {
            labels: absent_labels(a),
            t,
            v: 1.0,
            drop_name: false,
        }]
    })
}

// ---- sorting and labels ----

fn sort(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let mut v = ev.eval_vector(arg(c, 0)?, t)?;
    // NaN sorts last in both directions, as Prometheus does.
    v.sort_by(|a, b| nan_last(a.v, b.v, false));
    Ok(Val::Vector(v))
}
fn sort_desc(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let mut v = ev.eval_vector(arg(c, 0)?, t)?;
    v.sort_by(|a, b| nan_last(a.v, b.v, true));
    Ok(Val::Vector(v))
}
fn nan_last(a: f64, b: f64, desc: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ if desc => b.total_cmp(&a),
        _ => a.total_cmp(&b),
    }
}

fn sort_by_label_impl(ev: &mut Evaluator<'_>, c: &Call, t: i64, desc: bool) -> Result<Val> {
    let mut names = Vec::new();
    for i in 1..c.args.args.len() {
        names.push(string_arg(ev, c, i, t)?);
    }
    let mut v = ev.eval_vector(arg(c, 0)?, t)?;
    v.sort_by(|a, b| {
        let ord = names
            .iter()
            .map(|n| natural_cmp(a.labels.get(n).unwrap_or(""), b.labels.get(n).unwrap_or("")))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.labels.cmp(&b.labels));
        if desc {
            ord.reverse()
        } else {
            ord
        }
    });
    Ok(Val::Vector(v))
}
fn sort_by_label(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    sort_by_label_impl(ev, c, t, false)
}
fn sort_by_label_desc(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    sort_by_label_impl(ev, c, t, true)
}

/// Natural order: runs of digits compare as numbers (`a2` < `a10`).
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let dx = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let dy = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (nx, ny) = (&x[..dx], &y[..dy]);
                let tx = nx
                    .iter()
                    .position(|c| *c != b'0')
                    .map_or(&nx[nx.len()..], |i| &nx[i..]);
                let ty = ny
                    .iter()
                    .position(|c| *c != b'0')
                    .map_or(&ny[ny.len()..], |i| &ny[i..]);
                let o = tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty));
                if o.is_ne() {
                    return o;
                }
                x = &x[dx..];
                y = &y[dy..];
            }
            (Some(p), Some(q)) => {
                if p != q {
                    return p.cmp(q);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

fn string_arg(ev: &mut Evaluator<'_>, c: &Call, i: usize, t: i64) -> Result<String> {
    match ev.eval(arg(c, i)?, t)? {
        Val::Str(s) => Ok(s),
        other => Err(Error::Eval(format!(
            "{}(): argument {} must be a string, got {}",
            c.func.name,
            i + 1,
            other.type_name()
        ))),
    }
}

fn valid_label_name(s: &str) -> bool {
    // Prometheus 3 accepts any non-empty UTF-8 label name.
    !s.is_empty()
}

fn label_replace(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let dst = string_arg(ev, c, 1, t)?;
    let repl = string_arg(ev, c, 2, t)?;
    let src = string_arg(ev, c, 3, t)?;
    let re = string_arg(ev, c, 4, t)?;
    let re = crate::store::matcher::compile_anchored(&re).map_err(|e| {
        Error::Eval(format!(
            "invalid regular expression in label_replace(): {e}"
        ))
    })?;
    if !valid_label_name(&dst) {
        return Err(Error::Eval(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let v = ev.eval_vector(arg(c, 0)?, t)?;
    let mut out = Vec::with_capacity(v.len());
    for mut e in v {
        let val = e.labels.get(&src).unwrap_or("").to_string();
        if let Some(caps) = re.captures(&val) {
            let mut res = String::new();
            caps.expand(&repl, &mut res);
            e.labels = e.labels.with(&dst, &res);
            if dst == METRIC_NAME {
                e.drop_name = false;
            }
        }
        out.push(e);
    }
    Ok(Val::Vector(out))
}

fn label_join(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> {
    let dst = string_arg(ev, c, 1, t)?;
    let sep = string_arg(ev, c, 2, t)?;
    let mut srcs = Vec::new();
    for i in 3..c.args.args.len() {
        srcs.push(string_arg(ev, c, i, t)?);
    }
    if !valid_label_name(&dst) {
        return Err(Error::Eval(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let v = ev.eval_vector(arg(c, 0)?, t)?;
    Ok(Val::Vector(
        v.into_iter()
            .map(|mut e| {
                let joined: Vec<&str> =
                    srcs.iter().map(|s| e.labels.get(s).unwrap_or("")).collect();
                e.labels = e.labels.with(&dst, &joined.join(&sep));
                if dst == METRIC_NAME {
                    e.drop_name = false;
                }
                e
            })
            .collect(),
    ))
}

/// Every function this engine implements; any other is rejected by name.
const FUNCTIONS: &[(&str, Func)] = &[
    ("abs", abs),
    ("absent", absent),
    ("absent_over_time", absent_over_time),
    ("acos", acos),
    ("acosh", acosh),
    ("asin", asin),
    ("asinh", asinh),
    ("atan", atan),
    ("atanh", atanh),
    ("avg_over_time", avg_over_time),
    ("ceil", ceil),
    ("changes", changes),
    ("clamp", clamp),
    ("clamp_max", clamp_max),
    ("clamp_min", clamp_min),
    ("cos", cos),
    ("cosh", cosh),
    ("count_over_time", count_over_time),
    ("day_of_month", time::day_of_month),
    ("day_of_week", time::day_of_week),
    ("day_of_year", time::day_of_year),
    ("days_in_month", time::days_in_month),
    ("deg", deg),
    ("delta", delta),
    ("deriv", deriv),
    ("exp", exp),
    ("first_over_time", first_over_time),
    ("floor", floor),
    ("histogram_quantile", histogram::histogram_quantile),
    ("hour", time::hour),
    ("idelta", idelta),
    ("increase", increase),
    ("irate", irate),
    ("label_join", label_join),
    ("label_replace", label_replace),
    ("last_over_time", last_over_time),
    ("ln", ln),
    ("log10", log10),
    ("log2", log2),
    ("mad_over_time", mad_over_time),
    ("max_over_time", max_over_time),
    ("min_over_time", min_over_time),
    ("minute", time::minute),
    ("month", time::month),
    ("pi", pi),
    ("predict_linear", predict_linear),
    ("present_over_time", present_over_time),
    ("quantile_over_time", quantile_over_time),
    ("rad", rad),
    ("rate", rate),
    ("resets", resets),
    ("round", round),
    ("scalar", scalar),
    ("sgn", sgn),
    ("sin", sin),
    ("sinh", sinh),
    ("sort", sort),
    ("sort_by_label", sort_by_label),
    ("sort_by_label_desc", sort_by_label_desc),
    ("sort_desc", sort_desc),
    ("sqrt", sqrt),
    ("stddev_over_time", stddev_over_time),
    ("stdvar_over_time", stdvar_over_time),
    ("sum_over_time", sum_over_time),
    ("tan", tan),
    ("tanh", tanh),
    ("time", time_fn),
    ("timestamp", timestamp),
    ("ts_of_first_over_time", ts_of_first_over_time),
    ("ts_of_last_over_time", ts_of_last_over_time),
    ("ts_of_max_over_time", ts_of_max_over_time),
    ("ts_of_min_over_time", ts_of_min_over_time),
    ("vector", vector),
    ("year", time::year),
];
