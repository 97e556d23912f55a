//! The evaluator: walks the AST at one timestamp; range queries repeat it per step.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use promql_parser::label::{MatchOp as PMatchOp, Matcher as PMatcher};
use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};
use rustc_hash::FxHashMap;

use super::value::{Sample, Series, Value};
use super::{aggregate, binary, functions, EngineOptions, Error, Result, StoreSource};
use crate::labels::Labels;
use crate::store::{is_stale, Matcher, Store};

/// An instant-vector element during evaluation; `drop_name` marks a `__name__` that is removed
/// when the result leaves the engine (Prometheus' delayed name removal).
#[derive(Clone, Debug)]
pub(super) struct Elem {
    pub(super) labels: Labels,
    pub(super) t: i64,
    pub(super) v: f64,
    pub(super) drop_name: bool,
}

/// A range-vector series during evaluation.
#[derive(Clone, Debug)]
pub(super) struct RangeSeries {
    pub(super) labels: Labels,
    pub(super) points: Vec<(i64, f64)>,
    pub(super) drop_name: bool,
}

/// Intermediate values.
#[derive(Clone, Debug)]
pub(super) enum Val {
    Scalar(f64),
    Vector(Vec<Elem>),
    Matrix(Vec<RangeSeries>),
    Str(String),
}

impl Val {
    /// Samples this value holds (a scalar or string counts one, as a point).
    fn samples(&self) -> usize {
        match self {
            Val::Scalar(_) | Val::Str(_) => 1,
            Val::Vector(v) => v.len(),
            Val::Matrix(m) => m.iter().map(|s| s.points.len()).sum(),
        }
    }

    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::Vector(_) => "instant vector",
            Val::Matrix(_) => "range vector",
            Val::Str(_) => "string",
        }
    }
}

pub(super) struct Evaluator<'a> {
    source: &'a dyn StoreSource,
    pub(super) opts: &'a EngineOptions,
    /// Query start and end (for `@ start()` / `@ end()`).
    start: i64,
    end: i64,
    /// Samples held right now (Prometheus' `currentSamples`): what selectors loaded and
    /// subqueries and range steps produced, until the node that holds them returns.
    held: usize,
    started: Instant,
    /// Loop iterations since the clock was last read (see [`Evaluator::tick`]).
    ticks: u32,
    matchers: FxHashMap<usize, Vec<Vec<Matcher>>>,
}

impl<'a> Evaluator<'a> {
    pub(super) fn new(
        source: &'a dyn StoreSource,
        opts: &'a EngineOptions,
        start: i64,
        end: i64,
        started: Instant,
    ) -> Self {
        Evaluator {
            source,
            opts,
            start,
            end,
            held: 0,
            started,
            ticks: 0,
            matchers: FxHashMap::default(),
        }
    }

    pub(super) fn instant(&mut self, ast: &Expr, t: i64) -> Result<Value> {
        Ok(match self.eval(ast, t)? {
            Val::Scalar(v) => Value::Scalar { t, v },
            Val::Str(v) => Value::String { t, v },
            Val::Vector(v) => {
                let mut out: Vec<Sample> = finish_vector(v)?
                    .into_iter()
                    .map(|(labels, v)| Sample { labels, t, v })
                    .collect();
                // Series order, as Prometheus' index gives it, unless the query orders them.
                if !ordered(ast) {
                    out.sort_by(|a, b| a.labels.cmp(&b.labels));
                }
                Value::Vector(out)
            }
            Val::Matrix(m) => {
                let mut out: Vec<Series> = Vec::with_capacity(m.len());
                for s in m {
                    let labels = if s.drop_name {
                        s.labels.without_name()
                    } else {
                        s.labels
                    };
                    out.push(Series {
                        labels,
                        points: s.points,
                    });
                }
                check_unique(out.iter().map(|s| &s.labels))?;
                Value::Matrix(out)
            }
        })
    }

    pub(super) fn range(&mut self, ast: &Expr, start: i64, end: i64, step: i64) -> Result<Value> {
        let mut series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
        let mut t = start;
        while t <= end {
            self.check_timeout()?;
            match self.eval(ast, t)? {
                Val::Scalar(v) => series.entry(Labels::default()).or_default().push((t, v)),
                Val::Vector(v) => {
                    for (labels, v) in finish_vector(v)? {
                        series.entry(labels).or_default().push((t, v));
                    }
                }
                other => {
                    return Err(Error::Eval(format!(
                        "invalid expression type \"{}\" for range query, must be scalar or instant vector",
                        other.type_name()
                    )))
                }
            }
            t += step;
        }
        Ok(Value::Matrix(
            series
                .into_iter()
                .map(|(labels, points)| Series { labels, points })
                .collect(),
        ))
    }

    /// Evaluates one node. Its inputs are released when it returns and what it returns is held
    /// by its parent, so `held` follows what the query holds at each moment; the limit is
    /// checked whenever samples are loaded or produced.
    pub(super) fn eval(&mut self, e: &Expr, t: i64) -> Result<Val> {
        let before = self.held;
        let v = self.eval_node(e, t)?;
        self.held = before;
        self.hold(v.samples())?;
        Ok(v)
    }

    fn eval_node(&mut self, e: &Expr, t: i64) -> Result<Val> {
        match e {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Val::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Val::Scalar(v) => Ok(Val::Scalar(-v)),
                Val::Vector(mut v) => {
                    for el in &mut v {
                        el.v = -el.v;
                        el.drop_name = true;
                    }
                    Ok(Val::Vector(v))
                }
                other => Err(Error::Eval(format!(
                    "unary minus on a {}",
                    other.type_name()
                ))),
            },
            Expr::VectorSelector(vs) => self.vector_selector(vs, t).map(Val::Vector),
            Expr::MatrixSelector(ms) => self
                .matrix_selector(&ms.vs, ms.range.as_millis() as i64, t)
                .map(Val::Matrix),
            Expr::Subquery(sq) => self.subquery(sq, t).map(Val::Matrix),
            Expr::Call(c) => functions::call(self, c, t),
            Expr::Aggregate(a) => aggregate::eval(self, a, t),
            Expr::Binary(b) => binary::eval(self, b, t),
            Expr::Extension(_) => Err(Error::Unsupported("extension expressions".into())),
        }
    }

    pub(super) fn eval_scalar(&mut self, e: &Expr, t: i64, what: &str) -> Result<f64> {
        match self.eval(e, t)? {
            Val::Scalar(v) => Ok(v),
            other => Err(Error::Eval(format!(
                "{what}: expected scalar, got {}",
                other.type_name()
            ))),
        }
    }

    pub(super) fn eval_vector(&mut self, e: &Expr, t: i64) -> Result<Vec<Elem>> {
        match self.eval(e, t)? {
            Val::Vector(v) => Ok(v),
            other => Err(Error::Eval(format!(
                "expected instant vector, got {}",
                other.type_name()
            ))),
        }
    }

    pub(super) fn eval_matrix(&mut self, e: &Expr, t: i64) -> Result<Vec<RangeSeries>> {
        match self.eval(e, t)? {
            Val::Matrix(v) => Ok(v),
            other => Err(Error::Eval(format!(
                "expected range vector, got {}",
                other.type_name()
            ))),
        }
    }

    /// The time a selector reads at: `@` first, then `offset`.
    pub(super) fn selector_time(
        &self,
        at: &Option<AtModifier>,
        offset: &Option<Offset>,
        t: i64,
    ) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => self.start,
            Some(AtModifier::End) => self.end,
            Some(AtModifier::At(st)) => system_time_ms(*st),
        };
        match offset {
            None => base,
            Some(Offset::Pos(d)) => base.saturating_sub(d.as_millis() as i64),
            Some(Offset::Neg(d)) => base.saturating_add(d.as_millis() as i64),
        }
    }

    fn matchers(&mut self, vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>> {
        let key = vs as *const VectorSelector as usize;
        if let Some(m) = self.matchers.get(&key) {
            return Ok(m.clone());
        }
        let mut sets = Vec::new();
        let name = vs.name.as_ref().map(|n| Matcher::equal("__name__", n));
        let mut groups: Vec<&Vec<PMatcher>> = vec![&vs.matchers.matchers];
        groups.extend(vs.matchers.or_matchers.iter());
        for g in groups {
            if g.is_empty() && sets.is_empty() && !vs.matchers.or_matchers.is_empty() {
                continue;
            }
            let mut set: Vec<Matcher> = name.iter().cloned().collect();
            for m in g {
                set.push(convert_matcher(m)?);
            }
            sets.push(set);
        }
        self.matchers.insert(key, sets.clone());
        Ok(sets)
    }

    /// Runs `f` over the series `vs` selects, with the store read for this selector only (see
    /// [`StoreSource`]); `f` copies what it keeps.
    fn select(
        &mut self,
        vs: &VectorSelector,
        mut f: impl FnMut(&mut Self, &crate::store::Series) -> Result<()>,
    ) -> Result<()> {
        self.check_timeout()?;
        let sets = self.matchers(vs)?;
        let source = self.source;
        let mut result = Ok(());
        source.read(&mut |store: &Store| {
            result = (|| {
                if sets.len() == 1 {
                    for s in store.select(&sets[0]) {
                        f(self, s)?;
                    }
                    return Ok(());
                }
                let mut seen: Vec<&crate::store::Series> = Vec::new();
                for set in &sets {
                    for s in store.select(set) {
                        if !seen.iter().any(|o| std::ptr::eq(*o, s)) {
                            seen.push(s);
                            f(self, s)?;
                        }
                    }
                }
                Ok(())
            })();
        });
        result
    }

    /// Counts `n` more samples held; fails past `max_samples` (Prometheus' "would load too many
    /// samples into memory"), so a query's memory stays bounded whatever its shape.
    fn hold(&mut self, n: usize) -> Result<()> {
        self.held += n;
        if self.held > self.opts.max_samples {
            return Err(Error::TooManySamples(self.opts.max_samples));
        }
        Ok(())
    }

    /// Fails once the query has run longer than its timeout.
    pub(super) fn check_timeout(&mut self) -> Result<()> {
        self.ticks = 0;
        if self.started.elapsed() > self.opts.timeout {
            return Err(Error::Timeout(self.opts.timeout));
        }
        Ok(())
    }

    /// For loops over series or points that select nothing: reads the clock every 1024
    /// iterations (reading it costs tens of nanoseconds, an iteration a few), so a timeout
    /// stops any loop within microseconds of work.
    pub(super) fn tick(&mut self) -> Result<()> {
        self.ticks += 1;
        if self.ticks >= 1024 {
            self.check_timeout()?;
        }
        Ok(())
    }

    fn vector_selector(&mut self, vs: &VectorSelector, t: i64) -> Result<Vec<Elem>> {
        let at = self.selector_time(&vs.at, &vs.offset, t);
        let lookback = self.opts.lookback.as_millis() as i64;
        let mut out = Vec::new();
        self.select(vs, |ev, s| {
            ev.tick()?;
            if let Some((ts, v)) = s.last_at_or_before(at) {
                if ts > at.saturating_sub(lookback) && !is_stale(v) {
                    ev.hold(1)?;
                    out.push(Elem {
                        labels: s.labels().clone(),
                        t: ts,
                        v,
                        drop_name: false,
                    });
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    fn matrix_selector(
        &mut self,
        vs: &VectorSelector,
        range: i64,
        t: i64,
    ) -> Result<Vec<RangeSeries>> {
        let at = self.selector_time(&vs.at, &vs.offset, t);
        let mut out = Vec::new();
        self.select(vs, |ev, s| {
            ev.tick()?;
            let mut points = s.range_vec(at.saturating_sub(range), at);
            points.retain(|p| !is_stale(p.1));
            if !points.is_empty() {
                ev.hold(points.len())?;
                out.push(RangeSeries {
                    labels: s.labels().clone(),
                    points,
                    drop_name: false,
                });
            }
            Ok(())
        })?;
        Ok(out)
    }

    fn subquery(&mut self, sq: &SubqueryExpr, t: i64) -> Result<Vec<RangeSeries>> {
        let end = self.selector_time(&sq.at, &sq.offset, t);
        let step = sq
            .step
            .unwrap_or(self.opts.default_subquery_step)
            .as_millis() as i64;
        if step <= 0 {
            return Err(Error::Eval("zero subquery step".into()));
        }
        let start = end.saturating_sub(sq.range.as_millis() as i64);
        if (end - start) / step > 1_000_000 {
            return Err(Error::Eval(format!(
                "subquery {sq} would evaluate more than 1000000 steps"
            )));
        }
        let mut ts = start.div_euclid(step) * step;
        if ts <= start {
            ts += step;
        }
        let mut series: BTreeMap<Labels, RangeSeries> = BTreeMap::new();
        // Each step's result stays held (it is moved into `series`), so the subquery's points
        // count against the samples limit as they accumulate.
        while ts <= end {
            self.check_timeout()?;
            match self.eval(&sq.expr, ts)? {
                Val::Scalar(v) => series
                    .entry(Labels::default())
                    .or_insert_with(|| RangeSeries {
                        labels: Labels::default(),
                        points: vec![],
                        drop_name: false,
                    })
                    .points
                    .push((ts, v)),
                Val::Vector(v) => {
                    for el in v {
                        series
                            .entry(el.labels.clone())
                            .or_insert_with(|| RangeSeries {
                                labels: el.labels,
                                points: vec![],
                                drop_name: el.drop_name,
                            })
                            .points
                            .push((ts, el.v));
                    }
                }
                other => return Err(Error::Eval(format!("subquery of a {}", other.type_name()))),
            }
            ts += step;
        }
        Ok(series.into_values().collect())
    }
}

/// Whether the expression's result order is part of its meaning (sort, topk, bottomk).
fn ordered(e: &Expr) -> bool {
    match e {
        Expr::Paren(p) => ordered(&p.expr),
        Expr::Call(c) => c.func.name.starts_with("sort"),
        Expr::Aggregate(a) => {
            matches!(
                a.op.id(),
                promql_parser::parser::token::T_TOPK | promql_parser::parser::token::T_BOTTOMK
            )
        }
        _ => false,
    }
}

/// Removes to-be-dropped names and rejects a vector with two equal label sets.
pub(super) fn finish_vector(v: Vec<Elem>) -> Result<Vec<(Labels, f64)>> {
    let out: Vec<(Labels, f64)> = v
        .into_iter()
        .map(|e| {
            (
                if e.drop_name {
                    e.labels.without_name()
                } else {
                    e.labels
                },
                e.v,
            )
        })
        .collect();
    check_unique(out.iter().map(|(l, _)| l))?;
    Ok(out)
}

fn check_unique<'l>(labels: impl Iterator<Item = &'l Labels>) -> Result<()> {
    let mut seen = rustc_hash::FxHashSet::default();
    for l in labels {
        if !seen.insert(l) {
            return Err(Error::Eval(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
    }
    Ok(())
}

fn convert_matcher(m: &PMatcher) -> Result<Matcher> {
    let bad =
        |e: regex::Error| Error::Parse(format!("invalid regular expression {:?}: {e}", m.value));
    Ok(match &m.op {
        PMatchOp::Equal => Matcher::equal(&m.name, &m.value),
        PMatchOp::NotEqual => Matcher {
            name: m.name.clone(),
            op: crate::store::MatchOp::NotEqual(m.value.clone()),
        },
        // The parser compiled `^(?:value)$` already; without a `.` that is the same language
        // as Prometheus 3's `^(?s:value)$` (the `s` flag changes only `.`), so it is used as it
        // is: a long alternation of pod names is compiled once per query, not twice.
        PMatchOp::Re(r) if !m.value.contains('.') => Matcher {
            name: m.name.clone(),
            op: crate::store::MatchOp::Regex(r.clone()),
        },
        PMatchOp::NotRe(r) if !m.value.contains('.') => Matcher {
            name: m.name.clone(),
            op: crate::store::MatchOp::NotRegex(r.clone()),
        },
        PMatchOp::Re(_) => Matcher::regex(&m.name, &m.value, false).map_err(bad)?,
        PMatchOp::NotRe(_) => Matcher::regex(&m.name, &m.value, true).map_err(bad)?,
    })
}

pub(super) fn system_time_ms(st: SystemTime) -> i64 {
    match st.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}
