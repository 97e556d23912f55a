//! Where the things under test live: the workspace, Envoy, the built filter and test modules.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The Envoy binary: `$ENVOY_BIN`, else the project venv that `make deps` fills.
pub fn envoy_bin() -> anyhow::Result<PathBuf> {
    let path = match std::env::var_os("ENVOY_BIN") {
        Some(p) => PathBuf::from(p),
        None => root().join(".venv/bin/envoy"),
    };
    anyhow::ensure!(
        path.exists(),
        "no Envoy at {}: run `make deps` (or set ENVOY_BIN)",
        path.display()
    );
    Ok(path)
}

/// The optimized filter module that `make wasm` writes.
pub fn filter_wasm() -> anyhow::Result<PathBuf> {
    let path = root().join("dist/mixerless-filter.wasm");
    anyhow::ensure!(
        path.exists(),
        "no filter at {}: run `make wasm`",
        path.display()
    );
    Ok(path)
}

/// The test-only module that plays Istio's metadata exchange filter
/// (`tests/istio-exchange`), as `make test-wasm` builds it.
pub fn istio_exchange_wasm() -> anyhow::Result<PathBuf> {
    let path = root().join("target/wasm32-wasip1/wasm/mixerless_test_istio_exchange.wasm");
    anyhow::ensure!(
        path.exists(),
        "no Istio exchange simulator at {}: run `make test-wasm`",
        path.display()
    );
    Ok(path)
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Where the project's shared upstream data lives: `$MIXERLESS_SHARED_DIR`, else `shared/`
/// beside the checkout (where CI puts it). A clone of the project alone does not have it.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("MIXERLESS_SHARED_DIR") {
        Some(p) => PathBuf::from(p),
        None => root().join("../shared"),
    }
}

/// `rel` under [`shared_dir`], or `None` (with one line on stderr saying what `what` skips and
/// how to provide the data) when it is not there.
pub fn shared_data(rel: &str, what: &str) -> Option<PathBuf> {
    let path = shared_dir().join(rel);
    if path.exists() {
        return Some(path);
    }
    eprintln!(
        "skipped: {what}: no {} (set MIXERLESS_SHARED_DIR to the shared data directory)",
        path.display()
    );
    None
}
