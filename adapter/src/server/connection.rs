//! One client connection: the TLS handshake within its timeout, then HTTP/1.1 or HTTP/2 under
//! a watchdog that closes the connection when it does not start its first request in time or
//! sits without a request in progress for the idle timeout.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::Request;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::{Limits, CLOSE_GRACE, HTTP1_MAX_BUF, HTTP2_KEEP_ALIVE_INTERVAL};
use super::{HTTP2_KEEP_ALIVE_TIMEOUT, HTTP2_MAX_CONCURRENT_STREAMS};
use crate::api::ClientIdentity;
use crate::telemetry::Telemetry;

/// The HTTP/1.1 and HTTP/2 settings every connection shares.
pub(super) fn http_builder(limits: &Limits) -> Builder<TokioExecutor> {
    let mut b = Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(HTTP1_MAX_BUF);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(HTTP2_MAX_CONCURRENT_STREAMS)
        .keep_alive_interval(HTTP2_KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(HTTP2_KEEP_ALIVE_TIMEOUT);
    b
}

/// Why the server closed a connection, the `reason` of `http_connections_closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    TlsHandshakeTimeout,
    TlsHandshakeError,
    /// No complete request head in time: a new connection of either protocol, or an HTTP/1
    /// connection after its previous response.
    HeaderReadTimeout,
    /// No request in progress for the idle timeout.
    IdleTimeout,
}

impl Closed {
    fn as_str(self) -> &'static str {
        match self {
            Self::TlsHandshakeTimeout => "tls_handshake_timeout",
            Self::TlsHandshakeError => "tls_handshake_error",
            Self::HeaderReadTimeout => "header_read_timeout",
            Self::IdleTimeout => "idle_timeout",
        }
    }
}

/// What one accepted connection needs.
pub(super) struct Connection {
    pub(super) acceptor: TlsAcceptor,
    pub(super) http: Builder<TokioExecutor>,
    pub(super) app: Router,
    pub(super) limits: Limits,
    pub(super) telemetry: Arc<Telemetry>,
}

impl Connection {
    /// Serves the connection until the client is done or a bound closes it.
    pub(super) async fn run(self, tcp: TcpStream, peer: SocketAddr) {
        if let Some(why) = self.serve(tcp, peer).await {
            tracing::debug!(%peer, reason = why.as_str(), "connection closed by the server");
            self.telemetry.connection_closed(why.as_str());
        }
    }

    async fn serve(&self, tcp: TcpStream, peer: SocketAddr) -> Option<Closed> {
        let handshake =
            tokio::time::timeout(self.limits.tls_handshake_timeout, self.acceptor.accept(tcp));
        let tls = match handshake.await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(%peer, "tls handshake: {e}");
                return Some(Closed::TlsHandshakeError);
            }
            Err(_) => return Some(Closed::TlsHandshakeTimeout),
        };
        let identity = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|leaf| ClientIdentity {
                common_name: crate::tls::common_name(leaf).unwrap_or_default(),
            });
        let activity = Arc::new(Activity::new());
        let svc = {
            let activity = activity.clone();
            let app = self.app.clone();
            tower::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                if let Some(id) = &identity {
                    req.extensions_mut().insert(id.clone());
                }
                let busy = activity.begin();
                let app = app.clone();
                async move {
                    let resp = app.oneshot(req).await;
                    drop(busy);
                    resp
                }
            })
        };
        let conn = self
            .http
            .serve_connection_with_upgrades(TokioIo::new(tls), TowerToHyperService::new(svc));
        tokio::pin!(conn);
        let opened = Instant::now();
        loop {
            let (deadline, why) = activity.deadline(opened, &self.limits);
            tokio::select! {
                result = conn.as_mut() => {
                    let e = result.err()?;
                    let timeout = e
                        .downcast_ref::<hyper::Error>()
                        .is_some_and(hyper::Error::is_timeout);
                    if timeout {
                        return Some(Closed::HeaderReadTimeout);
                    }
                    tracing::debug!(%peer, "connection: {e}");
                    return None;
                }
                () = activity.changed.notified() => {}
                () = tokio::time::sleep_until(deadline.into()) => {
                    if activity.deadline(opened, &self.limits).0 > Instant::now() {
                        continue;
                    }
                    // HTTP/2 gets a GOAWAY, an idle HTTP/1 connection is closed; either may
                    // finish its last writes, briefly.
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(CLOSE_GRACE, conn.as_mut()).await;
                    return Some(why);
                }
            }
        }
    }
}

/// Requests in progress on one connection, for the watchdog.
struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

struct ActivityState {
    in_progress: usize,
    started: u64,
    idle_since: Instant,
}

/// Marks a request in progress until dropped.
struct Busy(Arc<Activity>);

impl Activity {
    fn new() -> Self {
        Self {
            state: Mutex::new(ActivityState {
                in_progress: 0,
                started: 0,
                idle_since: Instant::now(),
            }),
            changed: Notify::new(),
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.in_progress += 1;
        s.started += 1;
        drop(s);
        self.changed.notify_one();
        Busy(self.clone())
    }

    /// When the watchdog closes the connection unless a request starts, and the reason then.
    /// While a request is in progress it looks again an idle timeout later (or when the
    /// request ends).
    fn deadline(&self, opened: Instant, limits: &Limits) -> (Instant, Closed) {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.started == 0 {
            (
                opened + limits.header_read_timeout,
                Closed::HeaderReadTimeout,
            )
        } else if s.in_progress > 0 {
            (Instant::now() + limits.idle_timeout, Closed::IdleTimeout)
        } else {
            (s.idle_since + limits.idle_timeout, Closed::IdleTimeout)
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut s = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.in_progress -= 1;
        s.idle_since = Instant::now();
        drop(s);
        self.0.changed.notify_one();
    }
}
