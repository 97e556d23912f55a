//! Oracle: our `query --data` answers (`cli::query::response`, the JSON the subcommand prints)
//! agree with real Prometheus 2.42's `/api/v1/query` on the same data.
//!
//! The data (generated here, deterministic) has three pods scraped every 15 s for 30 minutes
//! with 2xx and 5xx request counters and a latency histogram (10 buckets, `_sum`, `_count`);
//! pod `p2` restarts (counter reset) at 14 m, pod `p3` has a 2-minute gap at 20 m. It is written
//! as OpenMetrics, loaded into Prometheus with `promtool tsdb create-blocks-from openmetrics`,
//! and into our engine from the same file, and both answer the example HPAs' queries (rps,
//! average latency, P95) and Flagger's request-success-rate and request-duration queries at
//! every minute from 10 m to 29 m. Values must agree within a relative 1e-9.
//!
//! Prometheus 2.42 and 3.x differ in two places, which the data keeps clear of:
//! - Range windows are closed `[T−r, T]` in 2.x and left-open `(T−r, T]` in 3.x: sample times
//!   are 3, 7 or 11 s past a 15 s tick and queries run on whole minutes, so no sample ever sits
//!   on a window edge.
//! - 2.x applies `rate`'s zero-point clamp before the "start gap ≥ 1.1 × interval" check, 3.x
//!   after; they differ only when a window starts well after its first sample is expected (a
//!   series start or a gap) *and* the counter is close to zero there. Counters start at ≥ 1000
//!   and keep counting through the gap, and every series exists 10 minutes before the first
//!   query, so the zero clamp never applies.
//!
//! Both also sum with different compensation (2.42 plain, 3.x Kahan–Neumaier), a difference of
//! a few ulps, far inside 1e-9.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mixerless_adapter::cli::query;
use mixerless_harness::paths::free_port;
use serde_json::Value;

const T0: i64 = 1_700_000_000;
const PODS: [(&str, i64); 3] = [("p1", 3), ("p2", 7), ("p3", 11)];
const BOUNDS: [&str; 10] = [
    "1.0", "5.0", "10.0", "25.0", "50.0", "100.0", "250.0", "500.0", "1000.0", "+Inf",
];

const QUERIES: &[(&str, &str)] = &[
    (
        "hpa rps",
        r#"sum(rate(istio_requests_total{destination_workload_namespace="test",reporter="destination"}[1m]))"#,
    ),
    (
        "hpa average latency",
        r#"sum(rate(istio_request_duration_milliseconds_sum{destination_workload_namespace="test",reporter="destination"}[1m]))
          /sum(rate(istio_request_duration_milliseconds_count{destination_workload_namespace="test",reporter="destination"}[1m]))"#,
    ),
    (
        "hpa p95",
        r#"histogram_quantile(0.95,sum(irate(istio_request_duration_milliseconds_bucket{destination_workload_namespace="test",destination_canonical_service="podinfo"}[5m]))by (le))"#,
    ),
    (
        "flagger request-success-rate",
        r#"sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",destination_workload=~"podinfo",response_code!~"5.*"}[1m]))
          / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",destination_workload=~"podinfo"}[1m])) * 100"#,
    ),
    (
        "flagger request-duration",
        r#"histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="test",destination_workload=~"podinfo"}[1m])) by (le))"#,
    ),
    (
        "per-pod rate by code",
        r#"sum by (pod, response_code) (rate(istio_requests_total{destination_workload="podinfo"}[2m]))"#,
    ),
];

/// A small deterministic generator (64-bit LCG), so the data is the same in every run.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn labels(pod: &str) -> String {
    format!(
        r#"destination_workload_namespace="test",destination_workload="podinfo",destination_canonical_service="podinfo",reporter="destination",pod="{pod}""#
    )
}

/// Whether pod `pod` is scraped at step `i` (p3 misses 8 scrapes from 20 m).
fn scraped(pod: &str, i: i64) -> bool {
    !(pod == "p3" && (80..88).contains(&i))
}

fn openmetrics() -> String {
    let mut out = String::new();
    let steps = 120;
    out.push_str("# TYPE istio_requests counter\n");
    for (pod, off) in PODS {
        for code in ["200", "503"] {
            let mut rng = Lcg(pod.len() as u64 * 7919 + code.len() as u64 + off as u64);
            let mut v: u64 = 1000 + rng.next(5000);
            for i in 0..steps {
                // p2 restarts at 14 m: its counters begin again from zero.
                if pod == "p2" && i == 56 {
                    v = 0;
                }
                v += if code == "200" {
                    20 + rng.next(300)
                } else {
                    rng.next(20)
                };
                if scraped(pod, i) {
                    let _ = writeln!(
                        out,
                        "istio_requests_total{{{},response_code=\"{code}\"}} {v} {}",
                        labels(pod),
                        T0 + i * 15 + off
                    );
                }
            }
        }
    }
    out.push_str("# TYPE istio_request_duration_milliseconds histogram\n");
    for (pod, off) in PODS {
        let mut rng = Lcg(off as u64 * 104_729);
        let mut counts = [0u64; 10];
        let mut sum = 0.0f64;
        for (k, c) in counts.iter_mut().enumerate() {
            *c = 1000 + 200 * k as u64;
        }
        for i in 0..steps {
            if pod == "p2" && i == 56 {
                counts = [0; 10];
                sum = 0.0;
            }
            // New observations, spread over buckets; cumulative counts stay monotonic.
            let mut add = [0u64; 10];
            for a in add.iter_mut() {
                *a = rng.next(40);
            }
            let mut acc = 0;
            for k in 0..10 {
                acc += add[k];
                counts[k] += acc;
            }
            sum += acc as f64 * 37.25 + rng.next(1000) as f64 / 8.0;
            if !scraped(pod, i) {
                continue;
            }
            let ts = T0 + i * 15 + off;
            for (k, le) in BOUNDS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "istio_request_duration_milliseconds_bucket{{{},le=\"{le}\"}} {} {ts}",
                    labels(pod),
                    counts[k]
                );
            }
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_sum{{{}}} {sum} {ts}",
                labels(pod)
            );
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_count{{{}}} {} {ts}",
                labels(pod),
                counts[9]
            );
        }
    }
    out.push_str("# EOF\n");
    out
}

/// Real Prometheus on a loopback port, killed when dropped (and with the test thread, by
/// `setpriv --pdeathsig KILL`).
struct Prometheus {
    child: Child,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(dir: &Path) -> anyhow::Result<Prometheus> {
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1h\n")?;
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log"))?;
        let child = mixerless_harness::process::guarded("/usr/bin/prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=100y")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("spawn /usr/bin/prometheus (installed by make deps)")?;
        let p = Prometheus { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = ureq::get(&format!("http://127.0.0.1:{port}/-/ready")).call() {
                if r.status() == 200 {
                    return Ok(p);
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "prometheus not ready: {}",
                    std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn query(&self, expr: &str, t: i64) -> anyhow::Result<Value> {
        let r = ureq::get(&format!("http://127.0.0.1:{}/api/v1/query", self.port))
            .query("query", expr)
            .query("time", &t.to_string())
            .call()?;
        Ok(serde_json::from_str(&r.into_string()?)?)
    }
}

/// `(metric, value)` pairs of an instant-vector response, sorted by metric.
fn samples(resp: &Value) -> anyhow::Result<Vec<(String, f64)>> {
    anyhow::ensure!(resp["status"] == "success", "query failed: {resp}");
    anyhow::ensure!(
        resp["data"]["resultType"] == "vector",
        "not a vector: {resp}"
    );
    let mut out: Vec<(String, f64)> = resp["data"]["result"]
        .as_array()
        .context("no result")?
        .iter()
        .map(|s| {
            let v = match s["value"][1].as_str().unwrap_or("") {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                other => other.parse().unwrap_or(f64::NAN),
            };
            (s["metric"].to_string(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn agree(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Demonstrates that the embedded engine and Prometheus 2.42 give the same answers (relative
/// 1e-9, same label sets) for the HPA and Flagger queries on data with resets and gaps.
#[test]
fn engine_agrees_with_prometheus() -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("mixerless-oracle-")
        .tempdir()?;
    let data = dir.path().join("data.om");
    std::fs::write(&data, openmetrics())?;
    let out = Command::new("/usr/bin/promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&data)
        .arg(dir.path().join("data"))
        .output()
        .context("run promtool (installed by make deps)")?;
    anyhow::ensure!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prom = Prometheus::start(dir.path())?;

    let mut compared = 0;
    let mut mismatches = Vec::new();
    for (name, expr) in QUERIES {
        let mut nonempty = 0;
        for k in 0..20 {
            let t = T0 + 600 + 60 * k;
            let theirs = samples(&prom.query(expr, t)?)?;
            let ours = samples(&query::response(&query::Args {
                expr: expr.to_string(),
                data: Some(data.clone()),
                time: Some(t.to_string()),
                lookback: Duration::from_secs(300),
            })?)?;
            let same = theirs.len() == ours.len()
                && theirs
                    .iter()
                    .zip(&ours)
                    .all(|(a, b)| a.0 == b.0 && agree(a.1, b.1));
            if !same {
                mismatches.push(format!(
                    "{name} at {t}: prometheus {theirs:?}, ours {ours:?}"
                ));
            }
            nonempty += usize::from(!theirs.is_empty());
            compared += theirs.len();
        }
        // Every query has an answer at every time, so an empty-vs-empty match proves nothing.
        assert_eq!(nonempty, 20, "{name}: Prometheus returned empty results");
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(compared >= 5 * 20, "compared {compared} samples");
    Ok(())
}
