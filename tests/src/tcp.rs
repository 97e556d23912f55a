//! TCP sidecars for the network filter's tests and bench: the bootstraps of [`crate::istio`]
//! with the HTTP chain replaced by `envoy.filters.network.wasm` then `tcp_proxy`, and a TCP echo
//! server to put behind them.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{json, Value};

use mixerless_harness::bootstrap::Bootstrap;

/// `b` as a TCP proxy to `cluster`: the listener runs the module in `b.wasm` (if any) as a
/// network filter with `b.plugin_config`, then `tcp_proxy`. Everything else (node, ports,
/// clusters and their metadata, stats tags) is `b`'s.
pub fn render(b: &Bootstrap, cluster: &str) -> anyhow::Result<String> {
    let mut v: Value = serde_json::from_str(&b.render()).context("bootstrap JSON")?;
    let mut filters = Vec::new();
    if let Some(module) = &b.wasm {
        filters.push(json!({
            "name": "envoy.filters.network.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm",
                "config": {
                    "name": "mixerless",
                    "root_id": "mixerless",
                    "configuration": {
                        "@type": "type.googleapis.com/google.protobuf.StringValue",
                        "value": b.plugin_config,
                    },
                    "vm_config": {
                        "vm_id": "mixerless",
                        "runtime": "envoy.wasm.runtime.v8",
                        "code": {"local": {"filename": module}},
                    },
                },
            },
        }));
    }
    filters.push(json!({
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": "tcp",
            "cluster": cluster,
        },
    }));
    v["static_resources"]["listeners"][0]["filter_chains"][0]["filters"] = Value::Array(filters);
    Ok(v.to_string())
}

/// A loopback TCP echo server: every connection gets back what it sends, and is closed once the
/// peer has closed its side. Stops accepting when dropped.
#[derive(Debug)]
pub struct Echo {
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Echo {
    pub fn start() -> anyhow::Result<Self> {
        Self::start_on(0)
    }

    /// On `port` (0: any free one), e.g. again where a stopped echo was.
    pub fn start_on(port: u16) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(conn) = conn {
                    std::thread::spawn(move || echo(conn));
                }
            }
        });
        Ok(Self {
            port,
            stop,
            accept: Some(accept),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

fn echo(mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = conn.read(&mut buf) {
        let Some(data) = buf.get(..n).filter(|d| !d.is_empty()) else {
            break;
        };
        if conn.write_all(data).is_err() {
            return;
        }
    }
    let _ = conn.shutdown(Shutdown::Both);
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Sends `len` bytes on `conn` and reads the same number back (through an echo).
pub fn round_trip(conn: &mut TcpStream, len: usize) -> anyhow::Result<()> {
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    conn.write_all(&data)?;
    let mut back = vec![0u8; len];
    conn.read_exact(&mut back)?;
    anyhow::ensure!(back == data, "echo returned other bytes");
    Ok(())
}

/// A connection to `port` with a read timeout, so no test waits forever.
pub fn connect(port: u16) -> anyhow::Result<TcpStream> {
    let conn = TcpStream::connect(("127.0.0.1", port))?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    conn.set_nodelay(true)?;
    Ok(conn)
}

/// Reads until the peer closes; the bytes read.
pub fn drain(conn: &mut TcpStream) -> anyhow::Result<usize> {
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest)?;
    Ok(rest.len())
}
