//! gRPC through the sidecars, for the message counters: the bootstraps of [`crate::istio`]
//! speaking HTTP/2 upstream, with Envoy's `grpc_stats` filter (`emit_filter_state: true`, as
//! Istio's sidecars run it) before the mixerless filter, and a Python gRPC echo
//! (`tests/grpc/echo.py`, `grpcio` from `make deps`) as the app and as the client.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::{json, Value};

use mixerless_harness::bootstrap::Bootstrap;
use mixerless_harness::paths;
use mixerless_harness::process::Proc;

/// `b` with every cluster on HTTP/2 and `grpc_stats` first in the HTTP filter chain.
pub fn render(b: &Bootstrap) -> anyhow::Result<String> {
    let mut v: Value = serde_json::from_str(&b.render()).context("bootstrap JSON")?;
    if let Some(clusters) = v["static_resources"]["clusters"].as_array_mut() {
        for c in clusters {
            c["typed_extension_protocol_options"] = json!({
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "explicit_http_config": {"http2_protocol_options": {}},
                },
            });
        }
    }
    let hcm = &mut v["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"];
    if let Some(filters) = hcm["http_filters"].as_array_mut() {
        filters.insert(
            0,
            json!({
                "name": "envoy.filters.http.grpc_stats",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig",
                    "emit_filter_state": true,
                    "stats_for_all_methods": false,
                },
            }),
        );
    }
    Ok(v.to_string())
}

fn python() -> PathBuf {
    paths::root().join(".venv/bin/python")
}

fn script() -> PathBuf {
    paths::root().join("tests/grpc/echo.py")
}

/// The gRPC echo server on `port`, ready when this returns.
pub fn serve(dir: &std::path::Path, port: u16) -> anyhow::Result<Proc> {
    let args = vec![
        script().display().to_string(),
        "serve".to_owned(),
        port.to_string(),
    ];
    let mut proc = Proc::spawn("grpc-echo", dir, &python(), &args)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !proc.log().contains("ready") {
        proc.ensure_running()?;
        if Instant::now() > deadline {
            bail!("grpc echo not ready; log:\n{}", proc.log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(proc)
}

/// One Chat stream to `port` sending `messages`; the number of replies.
pub fn call(port: u16, messages: u32) -> anyhow::Result<u32> {
    let out = Command::new(python())
        .arg(script())
        .args(["call", &port.to_string(), &messages.to_string()])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "grpc call failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("grpc call printed {text:?}"))
}
