//! The metric families, their label plans, and the bounded cache of metric ids per label tuple.

use hashbrown::HashMap;

use crate::config::{short_name, DefinitionType, MetricConfig, PluginConfig, Reporter};
use crate::derive::Values;
use crate::encode::{push_sanitized, stat_name};
use crate::expr::{Expr, Peers};
use crate::host::{Host, MetricKind};
use crate::labels::{self, idx};
use crate::request::Request;

/// Counts requests that fell over `max_series` (a plain stat without labels).
pub const OVERFLOW_METRIC: &str = "mixerless_series_overflow_total";
/// Counts requests whose peer metadata the verified peer certificate contradicted (a plain
/// stat without labels).
pub const REJECTED_METRIC: &str = "mixerless_peer_metadata_rejected_total";
/// The value of every non-local label in the overflow series.
pub const OVERFLOW_VALUE: &str = "overflow";

/// Where a label's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Standard(usize),
    Expr(Expr),
}

/// The labels of a family, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan(Vec<(String, Source)>);

/// What a family records per request.
#[derive(Debug, Clone)]
enum Measure {
    Count,
    DurationMs,
    RequestBytes,
    ResponseBytes,
    Custom(Expr),
}

#[derive(Debug, Clone)]
struct Family {
    metric: String,
    kind: MetricKind,
    measure: Measure,
}

/// Families sharing one label plan share one cache entry per label tuple.
#[derive(Debug)]
struct Group {
    plan: Plan,
    families: Vec<Family>,
    /// Metric ids (one per family) by the label tuple's values joined with `\x1f`.
    ids: HashMap<String, Vec<u32>>,
    /// The overflow series' ids, per reporter.
    overflow: [Option<Vec<u32>>; 3],
}

/// All families of one VM and their id caches.
#[derive(Debug)]
pub struct Metrics {
    groups: Vec<Group>,
    max_series: usize,
    series: usize,
    overflow_counter: Option<u32>,
    overflowed: bool,
    key: String,
    scratch: Vec<String>,
}

fn apply(plan: &mut Plan, m: &MetricConfig) -> Result<(), crate::expr::ExprError> {
    plan.0.retain(|(name, _)| !m.tags_to_remove.contains(name));
    for (name, text) in &m.dimensions {
        let expr = Expr::parse(text)?;
        match plan.0.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = Source::Expr(expr),
            None => plan.0.push((name.clone(), Source::Expr(expr))),
        }
    }
    Ok(())
}

impl Metrics {
    /// Builds the families of a checked configuration.
    pub fn new(config: &PluginConfig) -> Result<Self, crate::expr::ExprError> {
        let standard = [
            ("requests_total", MetricKind::Counter, Measure::Count),
            (
                "request_duration_milliseconds",
                MetricKind::Histogram,
                Measure::DurationMs,
            ),
            (
                "request_bytes",
                MetricKind::Histogram,
                Measure::RequestBytes,
            ),
            (
                "response_bytes",
                MetricKind::Histogram,
                Measure::ResponseBytes,
            ),
        ];
        let mut families: Vec<(Plan, Family)> = Vec::new();
        for (short, kind, measure) in standard {
            let mut plan = Plan(
                labels::NAMES
                    .iter()
                    .enumerate()
                    .map(|(i, n)| ((*n).to_owned(), Source::Standard(i)))
                    .collect(),
            );
            let mut drop = false;
            for m in config
                .metrics
                .iter()
                .filter(|m| m.name.is_empty() || short_name(&m.name) == short)
            {
                apply(&mut plan, m)?;
                drop |= m.drop;
            }
            if !drop {
                let metric = format!("istio_{short}");
                families.push((
                    plan,
                    Family {
                        metric,
                        kind,
                        measure,
                    },
                ));
            }
        }
        for d in &config.definitions {
            let short = short_name(&d.name);
            let mut plan = Plan(Vec::new());
            let mut drop = false;
            // As in Istio's stats filter, an entry without a name adds its dimensions to the
            // custom metrics too (a dropping entry without a name drops only the standard ones).
            for m in config
                .metrics
                .iter()
                .filter(|m| m.name.is_empty() || short_name(&m.name) == short)
            {
                if m.name.is_empty() && m.drop {
                    continue;
                }
                apply(&mut plan, m)?;
                drop |= m.drop;
            }
            let kind = match d.kind {
                DefinitionType::Counter => MetricKind::Counter,
                DefinitionType::Gauge => MetricKind::Gauge,
                DefinitionType::Histogram => MetricKind::Histogram,
            };
            if !drop {
                let metric = format!("istio_{short}");
                let measure = Measure::Custom(Expr::parse(&d.value)?);
                families.push((
                    plan,
                    Family {
                        metric,
                        kind,
                        measure,
                    },
                ));
            }
        }
        let mut groups: Vec<Group> = Vec::new();
        for (plan, family) in families {
            match groups.iter_mut().find(|g| g.plan == plan) {
                Some(g) => g.families.push(family),
                None => groups.push(Group {
                    plan,
                    families: vec![family],
                    ids: HashMap::new(),
                    overflow: [None, None, None],
                }),
            }
        }
        Ok(Self {
            groups,
            max_series: config.max_series,
            series: 0,
            overflow_counter: None,
            overflowed: false,
            key: String::with_capacity(512),
            scratch: Vec::new(),
        })
    }

    /// Distinct label tuples defined so far (over all groups).
    pub fn series(&self) -> usize {
        self.series
    }

    /// Records one request with its standard label `values`.
    pub fn record(
        &mut self,
        host: &dyn Host,
        reporter: Reporter,
        values: &Values,
        req: &Request,
        peers: Peers<'_>,
    ) {
        for g in 0..self.groups.len() {
            if let Err(e) = self.record_group(host, g, reporter, values, req, peers) {
                log::warn!("{e}");
            }
        }
    }

    fn record_group(
        &mut self,
        host: &dyn Host,
        g: usize,
        reporter: Reporter,
        values: &Values,
        req: &Request,
        peers: Peers<'_>,
    ) -> Result<(), crate::host::HostError> {
        let Some(group) = self.groups.get_mut(g) else {
            return Ok(());
        };
        // The tuple's values: standard ones borrowed, expressions evaluated into scratch.
        self.scratch.resize(group.plan.0.len(), String::new());
        self.key.clear();
        for ((_, source), slot) in group.plan.0.iter().zip(self.scratch.iter_mut()) {
            let v: &str = match source {
                Source::Standard(i) => values.get(*i).map(String::as_str).unwrap_or_default(),
                Source::Expr(e) => {
                    slot.clear();
                    let mut raw = String::new();
                    if e.eval(host, peers, &mut raw).is_some() {
                        push_sanitized(slot, &raw);
                    } else {
                        slot.push_str("unknown");
                    }
                    slot
                }
            };
            self.key.push_str(v);
            self.key.push('\u{1f}');
        }
        let ids = match group.ids.get(self.key.as_str()) {
            Some(ids) => ids,
            None if self.series < self.max_series => {
                let tags: Vec<(&str, &str)> = group
                    .plan
                    .0
                    .iter()
                    .zip(self.scratch.iter())
                    .map(|((name, source), scratch)| {
                        let v = match source {
                            Source::Standard(i) => {
                                values.get(*i).map(String::as_str).unwrap_or_default()
                            }
                            Source::Expr(_) => scratch.as_str(),
                        };
                        (name.as_str(), v)
                    })
                    .collect();
                let ids = define(host, &group.families, &tags)?;
                self.series += 1;
                group.ids.entry(self.key.clone()).or_insert(ids)
            }
            None => {
                if !self.overflowed {
                    self.overflowed = true;
                    log::warn!(
                        "more than {} label sets; further new ones are counted with `{OVERFLOW_VALUE}` labels and in {OVERFLOW_METRIC}",
                        self.max_series
                    );
                }
                let counter = match self.overflow_counter {
                    Some(id) => id,
                    None => {
                        let id = host.define_metric(MetricKind::Counter, OVERFLOW_METRIC)?;
                        self.overflow_counter = Some(id);
                        id
                    }
                };
                host.increment_metric(counter, 1)?;
                let r = reporter as usize;
                let local = local_labels(reporter);
                if group.overflow.get(r).is_some_and(Option::is_none) {
                    let tags: Vec<(&str, &str)> = group
                        .plan
                        .0
                        .iter()
                        .map(|(name, source)| {
                            let v = match source {
                                Source::Standard(i) if local.contains(i) => {
                                    values.get(*i).map(String::as_str).unwrap_or_default()
                                }
                                _ => OVERFLOW_VALUE,
                            };
                            (name.as_str(), v)
                        })
                        .collect();
                    let ids = define(host, &group.families, &tags)?;
                    if let Some(slot) = group.overflow.get_mut(r) {
                        *slot = Some(ids);
                    }
                }
                match group.overflow.get(r) {
                    Some(Some(ids)) => ids,
                    _ => return Ok(()),
                }
            }
        };
        for (family, id) in group.families.iter().zip(ids.iter()) {
            let value = match &family.measure {
                Measure::Count => 1,
                Measure::DurationMs => req.duration_ms,
                Measure::RequestBytes => req.request_bytes,
                Measure::ResponseBytes => req.response_bytes,
                Measure::Custom(e) => match e.eval_int(host) {
                    Some(v) => v.max(0) as u64,
                    None => continue,
                },
            };
            match family.kind {
                MetricKind::Counter if value > 0 => host.increment_metric(*id, value as i64)?,
                MetricKind::Counter => {}
                MetricKind::Gauge | MetricKind::Histogram => host.record_metric(*id, value)?,
            }
        }
        Ok(())
    }
}

/// Labels whose value is the same for every request of a proxy with this reporter; the overflow
/// series keeps them, so per-workload totals stay right.
fn local_labels(reporter: Reporter) -> &'static [usize] {
    match reporter {
        Reporter::Source => &[
            idx::REPORTER,
            idx::SOURCE_WORKLOAD,
            idx::SOURCE_CANONICAL_SERVICE,
            idx::SOURCE_CANONICAL_REVISION,
            idx::SOURCE_WORKLOAD_NAMESPACE,
            idx::SOURCE_APP,
            idx::SOURCE_VERSION,
            idx::SOURCE_CLUSTER,
        ],
        Reporter::Destination => &[
            idx::REPORTER,
            idx::DESTINATION_WORKLOAD,
            idx::DESTINATION_WORKLOAD_NAMESPACE,
            idx::DESTINATION_APP,
            idx::DESTINATION_VERSION,
            idx::DESTINATION_CANONICAL_SERVICE,
            idx::DESTINATION_CANONICAL_REVISION,
            idx::DESTINATION_SERVICE_NAMESPACE,
            idx::DESTINATION_CLUSTER,
        ],
        Reporter::Waypoint => &[idx::REPORTER],
    }
}

fn define(
    host: &dyn Host,
    families: &[Family],
    tags: &[(&str, &str)],
) -> Result<Vec<u32>, crate::host::HostError> {
    families
        .iter()
        .map(|f| host.define_metric(f.kind, &stat_name(tags.iter().copied(), &f.metric)))
        .collect()
}
