//! The HTTPS server: accepts TLS connections, attaches the verified client identity to each
//! request, and serves the router over HTTP/1.1 or HTTP/2, with every phase of a connection
//! bounded in time and the number of connections bounded (see [`Limits`]).

mod connection;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use prometheus_client::metrics::gauge::Gauge;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::telemetry::Telemetry;

/// Most HTTP/2 streams (requests) one connection may have open at once (Go's default is 250,
/// hyper's 200). Each may buffer a request body of up to [`crate::api::BODY_LIMIT`], so this
/// bounds what one connection can make the adapter hold; the aggregator multiplexes every HPA
/// controller request over a few connections and needs far fewer.
pub const HTTP2_MAX_CONCURRENT_STREAMS: u32 = 100;
/// An HTTP/2 connection that has received nothing for this long is pinged …
pub const HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// … and closed when the ping is not answered within this, so a vanished peer does not keep
/// its connection slot.
pub const HTTP2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest HTTP/1 read buffer of a connection (hyper's default is about 400 KiB), which bounds
/// a request head: a connection limit's worth of clients sending endless headers holds at most
/// this much each.
pub const HTTP1_MAX_BUF: usize = 64 << 10;
/// When the server closes a connection for a timeout (no request is in progress then) it lets
/// the connection end cleanly for this long, then drops it: an HTTP/2 client gets a GOAWAY and
/// a ping to answer, which a silent one never does.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// How often the connection limit being reached is logged, at most.
const LIMIT_LOG_EVERY: Duration = Duration::from_secs(10);

/// Bounds on client connections (`serve`'s flags of the same names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A TLS handshake must complete within this.
    pub tls_handshake_timeout: Duration,
    /// The head of an HTTP/1 request (line and headers) must arrive within this from the end of
    /// the handshake or of the previous response, which also bounds an idle HTTP/1 keep-alive
    /// connection; a new connection of either protocol must start its first request within it.
    pub header_read_timeout: Duration,
    /// A connection with no request in progress for this long is closed (HTTP/2: GOAWAY).
    pub idle_timeout: Duration,
    /// Connections open at once; beyond it new connections wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            tls_handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// Serves `app` on `listener` with TLS until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: Router,
    limits: Limits,
    telemetry: Arc<Telemetry>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let http = connection::http_builder(&limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut last_limit_log: Option<Instant> = None;
    let mut waits_since_log = 0u64;
    loop {
        // At the limit, stop accepting: new connections wait in the kernel's listen backlog
        // and are served as slots free (each phase of a connection is bounded in time).
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                telemetry.http_connection_limit_waits.inc();
                waits_since_log += 1;
                if last_limit_log.is_none_or(|t| t.elapsed() >= LIMIT_LOG_EVERY) {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        times = waits_since_log,
                        "connection limit reached (--max-connections): new connections wait \
                         in the listen backlog until open ones finish or time out"
                    );
                    last_limit_log = Some(Instant::now());
                    waits_since_log = 0;
                }
                match slots.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                }
            }
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let conn = connection::Connection {
            acceptor: acceptor.clone(),
            http: http.clone(),
            app: app.clone(),
            limits: limits.clone(),
            telemetry: telemetry.clone(),
        };
        let slot = Slot::take(permit, &telemetry);
        tokio::spawn(async move {
            conn.run(tcp, peer).await;
            drop(slot);
        });
    }
}

/// A connection's place under the limit, counted in `http_connections` until dropped.
struct Slot {
    _permit: OwnedSemaphorePermit,
    open: Gauge,
}

impl Slot {
    fn take(permit: OwnedSemaphorePermit, telemetry: &Telemetry) -> Self {
        telemetry.http_connections.inc();
        Self {
            _permit: permit,
            open: telemetry.http_connections.clone(),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.dec();
    }
}

/// The warning `serve` logs at start when anyone who reaches `listen` is served: it is not a
/// loopback address and no client CA is configured.
pub fn exposure_warning(listen: SocketAddr, client_ca: bool) -> Option<String> {
    if client_ca || listen.ip().is_loopback() {
        return None;
    }
    Some(format!(
        "listening on {listen} without client authentication: anyone who reaches this address \
         can read the external metrics and run /api/v1 queries; give \
         --requestheader-client-ca-file (the aggregator's front-proxy CA, with \
         --requestheader-allowed-names) or --listen 127.0.0.1:{}",
        listen.port()
    ))
}

#[cfg(test)]
#[path = "server/tests.rs"]
mod tests;
