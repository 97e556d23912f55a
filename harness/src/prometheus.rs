//! Real Prometheus (Debian's `prometheus`), the oracle the tests and benches check PromQL
//! results against.

use std::path::Path;

use crate::paths;
use crate::process::Proc;

/// A configuration with one job, `envoy-stats`, reading `/stats/prometheus` from Envoy admin
/// ports `ports` on loopback every `interval` (a Prometheus duration: `1s`, `15s`).
pub fn envoy_stats_config(interval: &str, ports: &[u16]) -> String {
    let targets: Vec<String> = ports.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
    format!(
        "global: {{scrape_interval: {interval}, evaluation_interval: {interval}}}\nscrape_configs:\n- job_name: envoy-stats\n  metrics_path: /stats/prometheus\n  static_configs: [{{targets: [{}]}}]\n",
        targets.join(", ")
    )
}

/// Prometheus started in `dir` with `config` (written to `dir/prometheus.yml`, its data in
/// `dir/data`), listening on a free loopback port; the process (killed when dropped) and the
/// port.
pub fn start(dir: &Path, config: &str) -> anyhow::Result<(Proc, u16)> {
    std::fs::write(dir.join("prometheus.yml"), config)?;
    let port = paths::free_port();
    let prometheus = Proc::spawn(
        "prometheus",
        dir,
        Path::new("prometheus"),
        &[
            "--config.file=prometheus.yml".into(),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--storage.tsdb.path=data".into(),
            "--storage.tsdb.retention.time=1h".into(),
        ],
    )?;
    Ok((prometheus, port))
}
