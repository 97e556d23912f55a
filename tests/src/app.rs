//! A loopback HTTP app behind a server sidecar that records the exchange headers it received, so
//! tests can tell whether `x-envoy-peer-metadata` reached the application, and how many copies.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mixerless_harness::http;

/// One request as the app saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    /// Every `x-envoy-peer-metadata*` header, name lowercased, in arrival order (repeats kept).
    pub exchange: Vec<(String, String)>,
}

impl Seen {
    /// All values of header `name`.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.exchange
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The running app: `/unavailable` answers 503, every other path 200. Dropping it stops it.
#[derive(Debug)]
pub struct RecordingApp {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl RecordingApp {
    /// Binds a free loopback port and serves each connection on its own thread.
    pub fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopped) = (Arc::clone(&seen), Arc::clone(&stop));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let log = Arc::clone(&log);
                std::thread::spawn(move || serve(conn, &log));
            }
        });
        Ok(Self { port, seen, stop })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The requests so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for RecordingApp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Answers one request per connection (`connection: close`); Envoy opens another as needed.
fn serve(mut conn: TcpStream, log: &Mutex<Vec<Seen>>) {
    let Some(head) = http::read_head(&mut conn, Duration::from_secs(10)) else {
        return;
    };
    let exchange = head
        .headers
        .into_iter()
        .filter(|(n, _)| n.starts_with("x-envoy-peer-metadata"))
        .collect();
    let status = if head.path.starts_with("/unavailable") {
        "503 Service Unavailable"
    } else {
        "200 OK"
    };
    if let Ok(mut log) = log.lock() {
        log.push(Seen {
            path: head.path,
            exchange,
        });
    }
    http::respond(&mut conn, status, Some("text/plain"), "ok\n");
}
