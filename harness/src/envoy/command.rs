//! Envoy's command line, shared by the tests' [`Envoy`](super::Envoy) and the demo's: its
//! arguments, the ports a bootstrap gives it, the readiness probe, and `--mode validate`.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::paths;

/// The admin port and the first listener's port of a bootstrap (0 where it has none).
pub fn ports(bootstrap: &serde_json::Value) -> (u16, u16) {
    let port = |pointer: &str| {
        bootstrap
            .pointer(pointer)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0) as u16
    };
    (
        port("/admin/address/socket_address/port_value"),
        port("/static_resources/listeners/0/address/socket_address/port_value"),
    )
}

/// Envoy's arguments for the bootstrap file `config`: one worker thread and a dynamic base id
/// (so that many Envoys run side by side), logging at `level`.
pub fn args(config: &Path, level: &str) -> Vec<String> {
    [
        "-c",
        &config.display().to_string(),
        "--concurrency",
        "1",
        "--use-dynamic-base-id",
        "-l",
        level,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// True when the admin interface on `admin_port` answers `/ready` with LIVE within a second.
pub fn is_live(admin_port: u16) -> bool {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(1))
        .build();
    agent
        .get(&format!("http://127.0.0.1:{admin_port}/ready"))
        .call()
        .ok()
        .and_then(|resp| resp.into_string().ok())
        .is_some_and(|body| body.trim() == "LIVE")
}

/// Runs `envoy --mode validate` on a bootstrap: Ok(log) if Envoy accepts it, Err(log) if not.
pub fn validate(bootstrap: &str) -> anyhow::Result<Result<String, String>> {
    let dir = tempfile::Builder::new()
        .prefix("mixerless-validate-")
        .tempdir()?;
    let config = dir.path().join("bootstrap.json");
    fs::write(&config, bootstrap)?;
    let out = Command::new(paths::envoy_bin()?)
        .arg("--mode")
        .arg("validate")
        .arg("-c")
        .arg(&config)
        .args(["--use-dynamic-base-id", "-l", "info"])
        .output()?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(if out.status.success() {
        Ok(log)
    } else {
        Err(log)
    })
}
