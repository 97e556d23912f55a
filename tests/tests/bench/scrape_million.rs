//! Benchmark driver (run by `scripts/bench-scrape-million.sh`, not by `make test`: `#[ignore]`d,
//! it prints figures rather than asserting speed): one target that sends a million series of a
//! queried metric, beside a good target, against the release adapter. Run with the default
//! limits (the 16 MiB body limit refuses the scrape), with the body limit raised (the 50,000
//! sample limit refuses it), and with both lifted so that the whole million is stored,
//! reporting the adapter's memory, the scrape's time and the good HPA's value and API latency
//! meanwhile.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mixerless_e2e::hpa;
use mixerless_harness::paths;
use mixerless_harness::process::{self, Proc};
use serde_json::Value;

const SERIES: usize = 1_000_000;

fn line(workload: &str, extra: &str, v: f64) -> String {
    format!(
        "istio_requests_total{{reporter=\"destination\",destination_workload=\"{workload}\",destination_workload_namespace=\"test\"{extra}}} {v}\n"
    )
}

fn serve(mut s: TcpStream, started: Instant, million: Arc<Vec<u8>>) {
    let mut r = BufReader::new(match s.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut first = String::new();
    if r.read_line(&mut first).is_err() {
        return;
    }
    let mut l = String::new();
    while r.read_line(&mut l).is_ok_and(|n| n > 2) {
        l.clear();
    }
    let body: Vec<u8> = if first.contains("/million") {
        million.to_vec()
    } else {
        format!(
            "# TYPE istio_requests_total counter\n{}",
            line("good", "", 10.0 * started.elapsed().as_secs_f64())
        )
        .into_bytes()
    };
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(&body);
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One run: the adapter with `body_limit` scraping the good and the million target for
/// `seconds`; prints one RESULT line.
fn run(
    body_limit: u64,
    sample_limit: usize,
    seconds: u64,
    port_good: u16,
    port_million: u16,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hpa_dir = dir.path().join("hpa");
    std::fs::create_dir_all(&hpa_dir)?;
    std::fs::write(
        hpa_dir.join("good.yaml"),
        hpa::legacy(
            "good",
            "good",
            "good-rps",
            r#"sum(rate(istio_requests_total{destination_workload="good"}[30s]))"#,
            "10",
        ),
    )?;
    let port = paths::free_port();
    let mut adapter = Proc::spawn(
        "adapter",
        dir.path(),
        &process::binary_in("release", "mixerless-adapter")?,
        &[
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--hpa-dir".into(),
            hpa_dir.display().to_string(),
            "--target".into(),
            format!("http://127.0.0.1:{port_good}/good"),
            "--target".into(),
            format!("http://127.0.0.1:{port_million}/million"),
            "--scrape-interval".into(),
            "15s".into(),
            "--scrape-timeout".into(),
            "10s".into(),
            "--scrape-body-limit".into(),
            body_limit.to_string(),
            "--partial-data".into(),
            "serve".into(),
            "--scrape-sample-limit".into(),
            sample_limit.to_string(),
            // The million series are one target's: the per-target limit goes with the sample one.
            "--target-series-limit".into(),
            sample_limit.to_string(),
            "--max-series".into(),
            "1100000".into(),
        ],
    )?;
    let client = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()?;
    let base = format!("https://127.0.0.1:{port}");
    let url = format!("{base}{}", hpa::legacy_path("good-rps"));
    let start = Instant::now();
    let mut lat = Vec::new();
    let mut values = Vec::new();
    let mut errors = 0;
    let mut last_error = String::new();
    while start.elapsed() < Duration::from_secs(seconds) {
        adapter.ensure_running()?;
        let t = Instant::now();
        match client.get(&url).send() {
            Ok(r) if r.status() == 200 => {
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                let v: Value = serde_json::from_str(&r.text()?)?;
                if let Some(m) = v["items"][0]["value"]
                    .as_str()
                    .and_then(mixerless_adapter::quantity::parse_milli)
                {
                    values.push(m as f64 / 1000.0);
                }
            }
            Ok(r) => {
                errors += 1;
                last_error = r.text().unwrap_or_default();
            }
            Err(e) => {
                errors += 1;
                last_error = e.to_string();
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status: Value =
        serde_json::from_str(&client.get(format!("{base}/status")).send()?.text()?)?;
    let target = |p: &str| {
        status["targets"]
            .as_array()
            .and_then(|ts| {
                ts.iter()
                    .find(|t| t["url"].as_str().is_some_and(|u| u.ends_with(p)))
            })
            .cloned()
            .unwrap_or_default()
    };
    let m = target("/million");
    // From the adapter's own gauge: a query counting a million series would pass the query
    // sample limit.
    let metrics = client.get(format!("{base}/metrics")).send()?.text()?;
    let series: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("mixerless_adapter_store_series "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN);
    lat.sort_by(f64::total_cmp);
    eprintln!("last error answer: {last_error}");
    let last = values.last().copied().unwrap_or(f64::NAN);
    println!(
        "RESULT million body_limit={body_limit} sample_limit={sample_limit} peak_rss_mib={} rss_mib={} million_health={} million_scrapes={} million_last_duration_s={:.2} million_error={:?} stored_series={series} good_health={} get_ok={} get_errors={errors} get_p50_ms={:.2} get_p99_ms={:.2} hpa_value_last={last:.3}",
        status_kib(adapter.pid(), "VmHWM:") >> 10,
        status_kib(adapter.pid(), "VmRSS:") >> 10,
        m["health"],
        m["scrapes"],
        m["last_duration_s"].as_f64().unwrap_or(0.0),
        m["last_error"].as_str().unwrap_or(""),
        target("/good")["health"],
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
    );
    Ok(())
}

/// Prints figures for a million-series target at the default body limit and at a raised one.
#[test]
#[ignore = "benchmark: run by scripts/bench-scrape-million.sh"]
fn bench_million_series_target() -> anyhow::Result<()> {
    let mut million = b"# TYPE istio_requests_total counter\n".to_vec();
    for i in 0..SERIES {
        million.extend_from_slice(line("million", &format!(",id=\"{i}\""), 1.0).as_bytes());
    }
    eprintln!("million body: {} MiB", million.len() >> 20);
    let million = Arc::new(million);
    let started = Instant::now();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port_good = listener.local_addr()?.port();
    let listener_m = TcpListener::bind("127.0.0.1:0")?;
    let port_million = listener_m.local_addr()?.port();
    for l in [listener, listener_m] {
        let million = million.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let million = million.clone();
                std::thread::spawn(move || serve(s, started, million));
            }
        });
    }
    let seconds: u64 = std::env::var("SECONDS_PER_RUN")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    run(16 << 20, 50_000, seconds, port_good, port_million).context("default limits")?;
    run(256 << 20, 50_000, seconds, port_good, port_million).context("body limit raised")?;
    run(256 << 20, 0, seconds, port_good, port_million).context("no sample limit")?;
    Ok(())
}
