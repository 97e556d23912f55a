//! TCP connections (the plugin as a network filter), counted as Istio's stats filter counts
//! them: `opened` once the peer is known, bytes as deltas on every reporting tick and at close,
//! `closed` at close.
//!
//! Istio reports a connection open once its TCP metadata exchange has read the peer (or at close
//! when it never does). This filter does not speak the TCP exchange, so it takes the first moment
//! the peer can be known: the first byte from downstream on an inbound connection (Istio's
//! exchange, in front, has read its frame by then), the first byte from upstream on an outbound
//! one (the endpoint is chosen and has answered); a connection that closes before that is
//! reported at close.

use crate::config::Reporter;
use crate::derive::derive;
use crate::expr::Peers;
use crate::host::{Attributes, Host};
use crate::labels::idx;
use crate::metrics::{Metrics, TcpMeasure, TcpSeries};
use crate::peer::state::Side;
use crate::request::Request;

use super::{reporter_from_direction, Plugin, Stream};

/// What one TCP connection remembers between its callbacks.
#[derive(Debug, Default)]
pub(crate) struct Connection {
    stream: Stream,
    /// Set once the connection is reported open.
    series: Option<TcpSeries>,
    /// Bytes sent to / received from downstream so far, and how many of them are reported.
    sent: u64,
    received: u64,
    reported_sent: u64,
    reported_received: u64,
}

impl Connection {
    /// Reports the bytes not reported yet.
    fn flush(&mut self, host: &dyn Host) {
        if let Some(series) = &self.series {
            let sent = self.sent.saturating_sub(self.reported_sent);
            let received = self.received.saturating_sub(self.reported_received);
            Metrics::add_tcp(host, series, TcpMeasure::Sent, sent);
            Metrics::add_tcp(host, series, TcpMeasure::Received, received);
            self.reported_sent = self.sent;
            self.reported_received = self.received;
        }
    }
}

impl Plugin {
    /// How often [`Plugin::on_tick`] should run (milliseconds; 0: never).
    pub fn tick_ms(&self) -> u64 {
        if self.is_network() {
            self.tcp_reporting_ms
        } else {
            0
        }
    }

    /// TCP connections open now.
    pub fn open_connections(&self) -> usize {
        self.connections.len()
    }

    /// A new downstream connection, by its context id.
    pub fn on_new_connection(&mut self, _host: &dyn Host, id: u32) {
        self.connections.insert(id, Connection::default());
    }

    /// `bytes` from downstream: counted; on an inbound connection the first ones report it open.
    pub fn on_downstream_data(&mut self, host: &dyn Host, id: u32, bytes: usize) {
        self.on_data(host, id, bytes, false);
    }

    /// `bytes` from upstream (sent downstream): counted; on an outbound connection the first
    /// ones report it open.
    pub fn on_upstream_data(&mut self, host: &dyn Host, id: u32, bytes: usize) {
        self.on_data(host, id, bytes, true);
    }

    fn on_data(&mut self, host: &dyn Host, id: u32, bytes: usize, upstream: bool) {
        let host = &self.names.wrap(host);
        let configured = self.reporter;
        // One lookup per read or write; the connection leaves the map only the once it opens.
        let Some(conn) = self.connections.get_mut(&id) else {
            return;
        };
        let bytes = bytes as u64;
        if upstream {
            conn.sent = conn.sent.saturating_add(bytes);
        } else {
            conn.received = conn.received.saturating_add(bytes);
        }
        if conn.series.is_some() || bytes == 0 {
            return;
        }
        let reporter = match configured.or(conn.stream.reporter) {
            Some(r) => r,
            None => {
                let r = reporter_from_direction(host);
                conn.stream.reporter = Some(r);
                r
            }
        };
        if (reporter == Reporter::Source) == upstream {
            if let Some(mut conn) = self.connections.remove(&id) {
                self.open(host, &mut conn);
                self.connections.insert(id, conn);
            }
        }
    }

    /// The downstream connection closed (either end, or reset): the rest of its bytes and
    /// `closed`; `opened` too if it was not reported yet. Later calls for `id` do nothing.
    pub fn on_connection_closed(&mut self, host: &dyn Host, id: u32) {
        let host = &self.names.wrap(host);
        let Some(mut conn) = self.connections.remove(&id) else {
            return;
        };
        if conn.series.is_none() {
            self.open(host, &mut conn);
        }
        conn.flush(host);
        if let Some(series) = &conn.series {
            Metrics::add_tcp(host, series, TcpMeasure::Closed, 1);
        }
    }

    /// The reporting tick: the bytes of every connection reported open since the last tick.
    pub fn on_tick(&mut self, host: &dyn Host) {
        for conn in self.connections.values_mut() {
            conn.flush(host);
        }
    }

    /// Finds the peer, derives the TCP labels, defines the connection's series and counts it
    /// opened.
    fn open(&mut self, host: &Attributes<'_>, conn: &mut Connection) {
        let stream = &mut conn.stream;
        let reporter = self.stream_reporter(host, stream);
        let side = match reporter {
            Reporter::Source => Side::Upstream,
            Reporter::Destination | Reporter::Waypoint => Side::Downstream,
        };
        self.peer_from_state(host, stream, side);
        let req = Request::read_connection(host, reporter, &mut self.services);
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
        if let Some(protocol) = self.values.get_mut(idx::REQUEST_PROTOCOL) {
            protocol.clear();
            protocol.push_str("tcp");
        }
        let peers = Peers {
            downstream: stream.downstream.as_deref(),
            upstream: stream.upstream.as_deref(),
        };
        let series = self.metrics.tcp_series(host, reporter, &self.values, peers);
        Metrics::add_tcp(host, &series, TcpMeasure::Opened, 1);
        conn.series = Some(series);
    }
}

#[cfg(test)]
mod tests;
