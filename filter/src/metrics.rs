//! The metric families, their label plans, and the bounded cache of metric ids per label tuple.

use hashbrown::HashMap;

use crate::config::{short_name, DefinitionType, MetricConfig, PluginConfig, Reporter};
use crate::derive::Values;
use crate::encode::{push_sanitized, stat_name};
use crate::expr::{Expr, Peers};
use crate::host::{Host, MetricKind};
use crate::labels::{self, idx, Domain};
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

/// What a TCP family counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpMeasure {
    Opened,
    Closed,
    /// Bytes sent to the downstream peer.
    Sent,
    /// Bytes received from the downstream peer.
    Received,
}

/// What a family records.
#[derive(Debug, Clone)]
enum Measure {
    Count,
    DurationMs,
    RequestBytes,
    ResponseBytes,
    RequestMessages,
    ResponseMessages,
    Tcp(TcpMeasure),
    Custom(Expr),
}

/// What happened, for the families of one [`Domain`].
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A finished HTTP or gRPC request.
    Request(&'a Request),
    /// gRPC messages since the last report of this stream.
    Messages { request: u64, response: u64 },
}

impl Event<'_> {
    fn domain(&self) -> Domain {
        match self {
            Event::Request(_) => Domain::Http,
            Event::Messages { .. } => Domain::Messages,
        }
    }
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
    domain: Domain,
    plan: Plan,
    families: Vec<Family>,
    /// Metric ids (one per family) by the label tuple's values joined with `\x1f`.
    ids: HashMap<String, Vec<u32>>,
    /// The overflow series' ids, per reporter.
    overflow: [Option<Vec<u32>>; 3],
}

/// The metric ids of one TCP connection's label tuple, resolved once when it is reported open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpSeries(Vec<(TcpMeasure, u32)>);

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

/// Istio's standard families: name without `istio_`, kind, measure, label set.
const STANDARD: [(&str, MetricKind, Domain); 10] = [
    ("requests_total", MetricKind::Counter, Domain::Http),
    (
        "request_duration_milliseconds",
        MetricKind::Histogram,
        Domain::Http,
    ),
    ("request_bytes", MetricKind::Histogram, Domain::Http),
    ("response_bytes", MetricKind::Histogram, Domain::Http),
    (
        "request_messages_total",
        MetricKind::Counter,
        Domain::Messages,
    ),
    (
        "response_messages_total",
        MetricKind::Counter,
        Domain::Messages,
    ),
    (
        "tcp_connections_opened_total",
        MetricKind::Counter,
        Domain::Tcp,
    ),
    (
        "tcp_connections_closed_total",
        MetricKind::Counter,
        Domain::Tcp,
    ),
    ("tcp_sent_bytes_total", MetricKind::Counter, Domain::Tcp),
    ("tcp_received_bytes_total", MetricKind::Counter, Domain::Tcp),
];

fn standard_measure(i: usize) -> Measure {
    match i {
        0 => Measure::Count,
        1 => Measure::DurationMs,
        2 => Measure::RequestBytes,
        3 => Measure::ResponseBytes,
        4 => Measure::RequestMessages,
        5 => Measure::ResponseMessages,
        6 => Measure::Tcp(TcpMeasure::Opened),
        7 => Measure::Tcp(TcpMeasure::Closed),
        8 => Measure::Tcp(TcpMeasure::Sent),
        _ => Measure::Tcp(TcpMeasure::Received),
    }
}

impl Metrics {
    /// Builds the families of a checked configuration.
    pub fn new(config: &PluginConfig) -> Result<Self, crate::expr::ExprError> {
        let mut families: Vec<(Domain, Plan, Family)> = Vec::new();
        for (i, (short, kind, domain)) in STANDARD.into_iter().enumerate() {
            let mut plan = Plan(
                labels::NAMES
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| domain.has(*i))
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
                    domain,
                    plan,
                    Family {
                        metric,
                        kind,
                        measure: standard_measure(i),
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
                    Domain::Http,
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
        for (domain, plan, family) in families {
            match groups
                .iter_mut()
                .find(|g| g.domain == domain && g.plan == plan)
            {
                Some(g) => g.families.push(family),
                None => groups.push(Group {
                    domain,
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

    /// Whether any family of `domain` is emitted (all of them may be dropped).
    pub fn emits(&self, domain: Domain) -> bool {
        self.groups.iter().any(|g| g.domain == domain)
    }

    /// Records `event` with its standard label `values` into the families of its domain.
    pub fn record(
        &mut self,
        host: &dyn Host,
        reporter: Reporter,
        values: &Values,
        event: Event<'_>,
        peers: Peers<'_>,
    ) {
        let domain = event.domain();
        for g in 0..self.groups.len() {
            if self
                .groups
                .get(g)
                .is_none_or(|group| group.domain != domain)
            {
                continue;
            }
            let result =
                self.lookup(host, g, reporter, values, peers)
                    .and_then(|found| match found {
                        Some((families, ids)) => add(host, families, ids, event),
                        None => Ok(()),
                    });
            if let Err(e) = result {
                log::warn!("{e}");
            }
        }
    }

    /// Defines (or finds) the TCP families' metrics for one connection's label tuple, so later
    /// reports of the connection need no labels.
    pub fn tcp_series(
        &mut self,
        host: &dyn Host,
        reporter: Reporter,
        values: &Values,
        peers: Peers<'_>,
    ) -> TcpSeries {
        let mut series = TcpSeries::default();
        for g in 0..self.groups.len() {
            if self
                .groups
                .get(g)
                .is_none_or(|group| group.domain != Domain::Tcp)
            {
                continue;
            }
            match self.lookup(host, g, reporter, values, peers) {
                Ok(Some((families, ids))) => {
                    for (family, id) in families.iter().zip(ids) {
                        if let Measure::Tcp(m) = family.measure {
                            series.0.push((m, *id));
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => log::warn!("{e}"),
            }
        }
        series
    }

    /// Adds `amount` to the `measure` counters of a connection's series.
    pub fn add_tcp(host: &dyn Host, series: &TcpSeries, measure: TcpMeasure, amount: u64) {
        if amount == 0 {
            return;
        }
        for (m, id) in &series.0 {
            if *m == measure {
                let amount = i64::try_from(amount).unwrap_or(i64::MAX);
                if let Err(e) = host.increment_metric(*id, amount) {
                    log::warn!("{e}");
                }
            }
        }
    }

    /// The families of group `g` and the metric ids of this label tuple: cached, newly defined
    /// while under `max_series`, else the group's overflow series (`None` if that cannot be had).
    fn lookup(
        &mut self,
        host: &dyn Host,
        g: usize,
        reporter: Reporter,
        values: &Values,
        peers: Peers<'_>,
    ) -> Result<Option<Found<'_>>, crate::host::HostError> {
        let Some(group) = self.groups.get_mut(g) else {
            return Ok(None);
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
        let overflow = if group.ids.contains_key(self.key.as_str()) {
            None
        } else if self.series < self.max_series {
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
            group.ids.insert(self.key.clone(), ids);
            None
        } else {
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
            Some(r)
        };
        let ids = match overflow {
            None => group.ids.get(self.key.as_str()),
            Some(r) => group.overflow.get(r).and_then(Option::as_ref),
        };
        Ok(ids.map(|ids| (group.families.as_slice(), ids.as_slice())))
    }
}

/// The families of a group and the metric ids of one label tuple, one per family.
type Found<'a> = (&'a [Family], &'a [u32]);

/// Records `event` into the families of one label tuple.
fn add(
    host: &dyn Host,
    families: &[Family],
    ids: &[u32],
    event: Event<'_>,
) -> Result<(), crate::host::HostError> {
    for (family, id) in families.iter().zip(ids.iter()) {
        let value = match (&family.measure, event) {
            (Measure::Count, Event::Request(_)) => 1,
            (Measure::DurationMs, Event::Request(req)) => req.duration_ms,
            (Measure::RequestBytes, Event::Request(req)) => req.request_bytes,
            (Measure::ResponseBytes, Event::Request(req)) => req.response_bytes,
            (Measure::Custom(e), Event::Request(_)) => match e.eval_int(host) {
                Some(v) => v.max(0) as u64,
                None => continue,
            },
            (Measure::RequestMessages, Event::Messages { request, .. }) => request,
            (Measure::ResponseMessages, Event::Messages { response, .. }) => response,
            _ => continue,
        };
        match family.kind {
            MetricKind::Counter if value > 0 => {
                host.increment_metric(*id, i64::try_from(value).unwrap_or(i64::MAX))?
            }
            MetricKind::Counter => {}
            MetricKind::Gauge | MetricKind::Histogram => host.record_metric(*id, value)?,
        }
    }
    Ok(())
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
