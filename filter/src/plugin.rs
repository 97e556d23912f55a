//! The per-VM plugin: configured once, then called for the headers and at the end of every
//! stream.

use hashbrown::HashMap;
use std::rc::Rc;

use crate::config::{ConfigError, Exchange, FilterType, PluginConfig, Reporter, ReporterSetting};
use crate::derive::{derive, Values};
use crate::expr::{decimal, Peers};
use crate::host::{AttributeNames, Attributes, Headers, Host};
use crate::labels::Domain;
use crate::metrics::{Event, Metrics};
use crate::node::Node;
use crate::peer::state::{Found, Side, StatePeers};
use crate::peer::{Peer, PeerCache, ID_HEADER, METADATA_HEADER};
use crate::request::{endpoint_workload, Request, Service};

use self::rejections::Rejections;
use self::tcp::Connection;

/// Malformed peer headers logged per VM before the rest are only counted.
const MAX_BAD_HEADER_LOGS: u32 = 100;

/// What a stream remembers between its callbacks.
#[derive(Debug, Default)]
pub struct Stream {
    /// Decided at the stream's first callback (the listener direction is a stream property).
    reporter: Option<Reporter>,
    downstream: Option<Rc<Peer>>,
    upstream: Option<Rc<Peer>>,
    /// The request carried exchange headers, so the response answers with ours.
    asked: bool,
    /// Istio's own exchange runs in front of this filter on this stream: every exchange header
    /// is its business (`metadata_exchange: auto`).
    istio: bool,
    /// Filter state held a peer this filter could not read: the peer is unknown.
    unusable: bool,
    grpc: bool,
    authority: String,
}

/// A configured plugin instance (one per Envoy worker VM).
#[derive(Debug)]
pub struct Plugin {
    /// The configured reporter; `None` follows each stream's listener direction.
    reporter: Option<Reporter>,
    use_host: bool,
    exchange: Exchange,
    /// `xds.*` or the legacy attribute names, chosen at configure time.
    names: AttributeNames,
    node: Node,
    metrics: Metrics,
    peers: PeerCache,
    /// Peers Istio's exchange left in filter state.
    state: StatePeers,
    services: HashMap<String, Option<Rc<Service>>>,
    values: Values,
    bad_headers: u32,
    rejections: Rejections,
    filter_type: FilterType,
    tcp_reporting_ms: u64,
    /// Open TCP connections by proxy-wasm context id (network filter only).
    connections: HashMap<u32, Connection>,
}

impl Plugin {
    /// Parses the plugin configuration and reads what is fixed for the VM's lifetime (node
    /// metadata, listener direction).
    pub fn configure(host: &dyn Host, config: &[u8]) -> Result<Self, ConfigError> {
        let config = PluginConfig::parse(config)?;
        let reporter = match config.reporter {
            Some(ReporterSetting::Source) => Some(Reporter::Source),
            Some(ReporterSetting::Destination) => Some(Reporter::Destination),
            Some(ReporterSetting::Waypoint) => Some(Reporter::Waypoint),
            // The listener direction is not readable at configure time: read it per stream.
            Some(ReporterSetting::Unspecified) | None => None,
        };
        let names = AttributeNames::detect(host);
        let host = &names.wrap(host);
        let node = Node::read(host).map_err(|e| ConfigError::Field {
            field: "node metadata".into(),
            reason: e.to_string(),
        })?;
        let metrics = Metrics::new(&config).map_err(|e| ConfigError::Field {
            field: "metrics".into(),
            reason: e.to_string(),
        })?;
        build::record(host, &node);
        log::info!(
            "type={} reporter={} workload={}.{} metadata_exchange={} max_series={} attributes={}",
            if config.filter_type == FilterType::Network {
                "NETWORK"
            } else {
                "HTTP"
            },
            reporter.map_or("from listener direction", Reporter::as_str),
            node.me.workload,
            node.me.namespace,
            config.metadata_exchange.as_str(),
            config.max_series,
            names.as_str()
        );
        Ok(Self {
            reporter,
            use_host: !config.disable_host_header_fallback,
            exchange: config.metadata_exchange,
            names,
            node,
            metrics,
            peers: PeerCache::new(config.max_peer_cache_size),
            state: StatePeers::new(config.max_peer_cache_size),
            services: HashMap::new(),
            values: Default::default(),
            bad_headers: 0,
            rejections: Rejections::default(),
            filter_type: config.filter_type,
            tcp_reporting_ms: config.tcp_reporting_ms,
            connections: HashMap::new(),
        })
    }

    /// Whether Envoy runs this instance as a network (TCP) filter.
    pub fn is_network(&self) -> bool {
        self.filter_type == FilterType::Network
    }

    /// The reporter of a stream: the configured one, else from `xds.listener_direction`.
    pub fn reporter(&self, host: &dyn Host, stream: &mut Stream) -> Reporter {
        self.stream_reporter(&self.names.wrap(host), stream)
    }

    /// [`Plugin::reporter`] with `host` already under this Envoy's attribute names.
    fn stream_reporter(&self, host: &Attributes<'_>, stream: &mut Stream) -> Reporter {
        if let Some(r) = self.reporter.or(stream.reporter) {
            return r;
        }
        let r = reporter_from_direction(host);
        stream.reporter = Some(r);
        r
    }

    /// Whether this filter speaks the exchange headers on `stream`: always (`on`), never
    /// (`off`), or (`auto`) unless Istio's exchange was found in front.
    fn speaks(&self, stream: &Stream) -> bool {
        match self.exchange {
            Exchange::On => true,
            Exchange::Off => false,
            Exchange::Auto => !stream.istio,
        }
    }

    /// Distinct label sets defined so far.
    pub fn series(&self) -> usize {
        self.metrics.series()
    }

    /// Request headers: remember the protocol and Host; find the downstream peer (Istio's filter
    /// state, else the exchange header, read and stripped) or send our metadata upstream.
    pub fn on_request_headers(&mut self, host: &dyn Host, stream: &mut Stream) {
        let host = &self.names.wrap(host);
        let reporter = self.stream_reporter(host, stream);
        stream.grpc = matches!(
            host.header(Headers::Request, "content-type"),
            Ok(Some(ct)) if ct.starts_with("application/grpc")
        );
        if self.use_host {
            stream.authority = host
                .header(Headers::Request, ":authority")
                .ok()
                .flatten()
                .unwrap_or_default();
        }
        let result = match reporter {
            Reporter::Source => match self.exchange {
                Exchange::Off => Ok(()),
                Exchange::On => self.send(host, Headers::Request),
                // Istio's exchange, in front, has already set its headers on the request.
                Exchange::Auto
                    if matches!(host.header(Headers::Request, ID_HEADER), Ok(Some(_))) =>
                {
                    stream.istio = true;
                    Ok(())
                }
                Exchange::Auto => self.send(host, Headers::Request),
            },
            Reporter::Destination | Reporter::Waypoint => {
                // Istio's exchange removes the header it read: a proxy that has seen Istio's
                // filter state reads that first; otherwise a header means Istio is not in front.
                let state_first = self.state.shape().is_some();
                if state_first {
                    self.peer_from_state(host, stream, Side::Downstream);
                }
                let header = if self.speaks(stream) {
                    host.header(Headers::Request, METADATA_HEADER)
                        .ok()
                        .flatten()
                } else {
                    None
                };
                if !state_first && header.is_none() {
                    self.peer_from_state(host, stream, Side::Downstream);
                }
                if self.speaks(stream) {
                    let peer = self.receive(host, Headers::Request, header);
                    stream.asked = peer.is_some();
                    if stream.downstream.is_none() && !stream.unusable {
                        stream.downstream = peer.flatten();
                    }
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            log::warn!("{e}");
        }
    }

    /// Response headers: read the upstream peer's metadata (stripped unless Istio's exchange,
    /// after this filter, still needs it) or answer a peer that asked (inbound).
    pub fn on_response_headers(&mut self, host: &dyn Host, stream: &mut Stream) {
        if self.exchange == Exchange::Off {
            return;
        }
        let host = &self.names.wrap(host);
        match self.stream_reporter(host, stream) {
            Reporter::Source | Reporter::Waypoint if !self.speaks(stream) => {
                // Read only: Istio's exchange reads and removes it after us.
                let value = host
                    .header(Headers::Response, METADATA_HEADER)
                    .ok()
                    .flatten();
                stream.upstream = value.and_then(|v| self.decode(host, Headers::Response, &v));
            }
            Reporter::Source | Reporter::Waypoint => {
                let value = host
                    .header(Headers::Response, METADATA_HEADER)
                    .ok()
                    .flatten();
                stream.upstream = self.receive(host, Headers::Response, value).flatten();
            }
            Reporter::Destination if stream.asked && self.speaks(stream) => {
                if let Err(e) = self.send(host, Headers::Response) {
                    log::warn!("{e}");
                }
            }
            Reporter::Destination => {}
        }
    }

    /// Takes the `side` peer from Istio's filter state, if its exchange left one; any object
    /// there means Istio's exchange runs in front.
    fn peer_from_state(&mut self, host: &dyn Host, stream: &mut Stream, side: Side) {
        let slot = match side {
            Side::Downstream => &mut stream.downstream,
            Side::Upstream => &mut stream.upstream,
        };
        match self.state.read(host, side) {
            Found::Nothing => {}
            Found::Peer(p) => {
                *slot = Some(p);
                stream.istio = true;
            }
            Found::Unusable => {
                *slot = None;
                stream.unusable = true;
                stream.istio = true;
            }
        }
    }

    /// Records one finished request.
    pub fn on_log(&mut self, host: &dyn Host, stream: &mut Stream) {
        let host = &self.names.wrap(host);
        let reporter = self.stream_reporter(host, stream);
        // Istio's exchange stores the upstream peer when it reads the response, after this
        // filter saw it: filter state is read here, and wins over the header.
        if reporter != Reporter::Destination
            && (stream.istio || stream.upstream.is_none() || self.state.shape().is_some())
        {
            self.peer_from_state(host, stream, Side::Upstream);
        }
        let authority = std::mem::take(&mut stream.authority);
        let req = Request::read(host, reporter, stream.grpc, authority, &mut self.services);
        self.check_peers(host, stream, reporter, &req);
        derive(
            &mut self.values,
            reporter,
            &self.node.me,
            stream.downstream.as_deref(),
            stream.upstream.as_deref(),
            &req,
            self.use_host,
        );
        let peers = Peers {
            downstream: stream.downstream.as_deref(),
            upstream: stream.upstream.as_deref(),
        };
        self.metrics
            .record(host, reporter, &self.values, Event::Request(&req), peers);
        if req.grpc && self.metrics.emits(Domain::Messages) {
            // Envoy's grpc_stats filter (`emit_filter_state: true`) counts the messages, as
            // Istio reads them; its text form is `<request>,<response>`.
            let counts = host
                .property(&["filter_state", "envoy.filters.http.grpc_stats"])
                .ok()
                .flatten()
                .and_then(|b| grpc_counts(&b));
            if let Some((request, response)) = counts {
                let event = Event::Messages { request, response };
                self.metrics
                    .record(host, reporter, &self.values, event, peers);
            }
        }
    }

    /// Drops a peer claim that the peer's verified certificate contradicts (the peer counts as
    /// unknown) and, on the client, falls back to istiod's endpoint metadata for the upstream.
    fn check_peers(
        &mut self,
        host: &dyn Host,
        stream: &mut Stream,
        reporter: Reporter,
        req: &Request,
    ) {
        // A claim the peer's verified certificate contradicts labels nothing: the peer counts
        // as unknown (the client then falls back to istiod's endpoint metadata below).
        let claimed = match reporter {
            Reporter::Source => &mut stream.upstream,
            Reporter::Destination | Reporter::Waypoint => &mut stream.downstream,
        };
        if claimed
            .as_deref()
            .is_some_and(|p| !self.rejections.trusted(host, p, req))
        {
            *claimed = None;
        }
        if reporter != Reporter::Destination && stream.upstream.is_none() && !stream.unusable {
            // No exchange answer: istiod's endpoint metadata names the upstream workload.
            stream.upstream = host
                .property(&["xds", "upstream_host_metadata"])
                .ok()
                .flatten()
                .and_then(|b| endpoint_workload(&b))
                .and_then(|w| Peer::from_endpoint(&w))
                .map(Rc::new);
        }
    }

    fn send(&self, host: &dyn Host, map: Headers) -> Result<(), crate::host::HostError> {
        host.set_header(map, METADATA_HEADER, Some(&self.node.exchange_header))?;
        host.set_header(map, ID_HEADER, Some(&self.node.id))
    }

    /// `None`: no exchange headers. `Some(None)`: present but unusable (logged). Both headers
    /// are removed, so the application never sees them. `value` is the metadata header, already
    /// read by the caller.
    fn receive(
        &mut self,
        host: &dyn Host,
        map: Headers,
        value: Option<String>,
    ) -> Option<Option<Rc<Peer>>> {
        let id_only = value.is_none() && matches!(host.header(map, ID_HEADER), Ok(Some(_)));
        if value.is_none() && !id_only {
            return None;
        }
        let peer = value.and_then(|v| self.decode(host, map, &v));
        for name in [METADATA_HEADER, ID_HEADER] {
            if let Err(e) = host.set_header(map, name, None) {
                log::warn!("{e}");
            }
        }
        Some(peer)
    }

    /// The peer of an exchange header value; a malformed one is logged (bounded) and unknown.
    fn decode(&mut self, host: &dyn Host, map: Headers, value: &str) -> Option<Rc<Peer>> {
        match self.peers.get_or_decode(value) {
            Ok(p) => Some(p),
            Err(e) => {
                self.bad_headers = self.bad_headers.saturating_add(1);
                if self.bad_headers <= MAX_BAD_HEADER_LOGS {
                    // Read only now: the id is needed for this log line and nothing else.
                    let id = host.header(map, ID_HEADER).ok().flatten();
                    log::warn!(
                        "ignoring {METADATA_HEADER} from `{}`: {e}; peer labels are unknown",
                        id.as_deref().unwrap_or("-")
                    );
                    if self.bad_headers == MAX_BAD_HEADER_LOGS {
                        log::warn!("further malformed peer headers are not logged");
                    }
                }
                None
            }
        }
    }
}

/// `request_message_count,response_message_count`, the text form of Envoy's gRPC stats
/// filter state.
fn grpc_counts(bytes: &[u8]) -> Option<(u64, u64)> {
    let (a, b) = std::str::from_utf8(bytes).ok()?.split_once(',')?;
    Some((decimal(a)?, decimal(b)?))
}

/// Envoy's `xds.listener_direction`: 1 is INBOUND (destination); OUTBOUND (2) and UNSPECIFIED
/// (0, gateways) report as source, as Istio does.
fn reporter_from_direction(host: &dyn Host) -> Reporter {
    match host.property(&["xds", "listener_direction"]) {
        Ok(Some(bytes)) if bytes.first() == Some(&1) => Reporter::Destination,
        _ => Reporter::Source,
    }
}

mod build;
mod rejections;
mod tcp;
#[cfg(test)]
mod tests;
