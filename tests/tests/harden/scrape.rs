//! Adversarial scrape targets against the real `mixerless-adapter serve` process: targets that
//! hang mid-body, trickle bytes, stream an endless body, send 100,000 series or invalid UTF-8,
//! or new series every scrape, all served from 127.0.0.1 by this test, beside a good target whose
//! counter grows at exactly 10 per second. The hostile targets must cost bounded time, bytes and
//! memory, and the good target's rate and every API answer must stay right.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mixerless_e2e::hpa;
use mixerless_harness::paths;
use serde_json::Value;

/// The adapter's scrape timeout in this test.
const TIMEOUT: Duration = Duration::from_secs(2);
/// The adapter's body cap in this test (16 MiB, the default).
const BODY_LIMIT: u64 = 16 << 20;
/// Series the `/many` target sends in every scrape.
const MANY: usize = 100_000;
/// The adapter's `--scrape-sample-limit` here: `/many` is at it, `/over` one past it.
const SAMPLE_LIMIT: usize = MANY;
/// The most the endless target sends per connection (1 GiB), if nobody hangs up.
const ENDLESS: u64 = 1 << 30;
/// New series the `/churn` target sends in every scrape.
const CHURN: usize = 2_000;
/// `/late` answers 404 for this long, then like `/good`.
const LATE: Duration = Duration::from_secs(10);
/// Series of each `/big*` target: three of them overfill `--max-series 5000`.
const BIG: usize = 1_700;

fn adapter_bin() -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| paths::root().join("target"), PathBuf::from);
    let bin = dir.join("debug/mixerless-adapter");
    anyhow::ensure!(
        bin.exists(),
        "no {}: run `cargo build -p mixerless-adapter` (make test does)",
        bin.display()
    );
    Ok(bin)
}

/// The adapter process, killed when dropped (also under `setpriv --pdeathsig KILL`).
struct Adapter {
    child: Child,
    log: PathBuf,
}

impl Adapter {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Peak resident memory (`VmHWM`) in KiB.
    fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmHWM")
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Held by each test for its whole run: under `cargo test` (one process, threads) the two
/// tests take turns, as `.config/nextest.toml` makes nextest's processes do.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Bytes the endless target managed to send, over all connections.
static ENDLESS_SENT: AtomicU64 = AtomicU64::new(0);
/// Scrapes of the churn target so far (each one's series are new).
static CHURN_SCRAPES: AtomicU64 = AtomicU64::new(0);

fn series_line(workload: &str, extra: &str, v: f64) -> String {
    format!(
        "istio_requests_total{{reporter=\"destination\",destination_workload=\"{workload}\",destination_workload_namespace=\"test\"{extra}}} {v}\n"
    )
}

/// Answers one scrape by path; each connection runs on its own thread.
fn serve(mut s: TcpStream, started: Instant, many: Arc<Vec<u8>>, over: Arc<Vec<u8>>) {
    let path;
    {
        let mut r = BufReader::new(match s.try_clone() {
            Ok(c) => c,
            Err(_) => return,
        });
        let mut line = String::new();
        if r.read_line(&mut line).is_err() {
            return;
        }
        path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        // Drain the request headers.
        while r.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
    }
    let head = |len: Option<usize>| {
        match len {
        Some(n) => format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {n}\r\nconnection: close\r\n\r\n"),
        None => "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_owned(),
    }
    };
    match path.as_str() {
        "/good" => {
            let body = format!(
                "# TYPE istio_requests_total counter\n{}",
                series_line("good", "", 10.0 * started.elapsed().as_secs_f64())
            );
            let _ = write!(s, "{}{body}", head(Some(body.len())));
        }
        "/stall" => {
            // Headers and a little body, then silence: the scrape must time out.
            let _ = writeln!(
                s,
                "{}# TYPE istio_requests_total counter",
                head(Some(100_000))
            );
            std::thread::sleep(Duration::from_secs(30));
        }
        "/trickle" => {
            // A valid body, one byte every 50 ms: it would take minutes to finish.
            let body = series_line("trickle", "", 1.0).repeat(100);
            let _ = write!(s, "{}", head(Some(body.len())));
            for b in body.bytes() {
                if s.write_all(&[b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        "/endless" => {
            // Chunked, no length, up to 1 GiB: the adapter must hang up at its cap.
            let _ = write!(s, "{}", head(None));
            let chunk = series_line("endless", ",x=\"y\"", 1.0).repeat(1 << 10);
            let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
            let mut sent = 0u64;
            while sent < ENDLESS {
                if s.write_all(framed.as_bytes()).is_err() {
                    break;
                }
                sent += chunk.len() as u64;
                ENDLESS_SENT.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }
        "/many" => {
            let _ = write!(s, "{}", head(Some(many.len())));
            let _ = s.write_all(&many);
        }
        "/over" => {
            let _ = write!(s, "{}", head(Some(over.len())));
            let _ = s.write_all(&over);
        }
        "/late" if started.elapsed() >= LATE => {
            let body = format!(
                "# TYPE istio_requests_total counter\n{}",
                series_line("late", "", 10.0 * started.elapsed().as_secs_f64())
            );
            let _ = write!(s, "{}{body}", head(Some(body.len())));
        }
        p if p.starts_with("/big") => {
            let mut body = String::from("# TYPE istio_requests_total counter\n");
            for i in 0..BIG {
                body.push_str(&series_line(&p[1..], &format!(",id=\"{i}\""), 1.0));
            }
            let _ = write!(s, "{}{body}", head(Some(body.len())));
        }
        "/churn" => {
            let n = CHURN_SCRAPES.fetch_add(1, Ordering::Relaxed) as usize;
            let mut body = String::from("# TYPE istio_requests_total counter\n");
            for i in n * CHURN..(n + 1) * CHURN {
                body.push_str(&series_line("churn", &format!(",id=\"{i}\""), 1.0));
            }
            let _ = write!(s, "{}{body}", head(Some(body.len())));
        }
        "/utf8" => {
            let mut body = b"# TYPE istio_requests_total counter\n".to_vec();
            body.extend_from_slice(b"istio_requests_total{destination_workload=\"\xff\xfe\"} 1\n");
            body.extend_from_slice(b"istio_\xc3\x28requests_total{a=\"b\"} 2\n");
            body.extend_from_slice(b"# HELP istio_requests_total \xe2\x82 broken\n");
            body.extend_from_slice(series_line("utf8", "", 5.0).as_bytes());
            body.extend_from_slice(
                b"istio_requests_total{destination_workload=\"x\xed\xa0\x80\"} 3\n",
            );
            let _ = write!(s, "{}", head(Some(body.len())));
            let _ = s.write_all(&body);
        }
        _ => {
            let _ = write!(s, "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        }
    }
}

/// The targets named by `paths`, each on its own port (the adapter identifies a target by its
/// `instance`, host:port, as Prometheus labels it). Returns (path, port) pairs.
fn targets(paths: &[&'static str]) -> anyhow::Result<Vec<(&'static str, u16)>> {
    let started = Instant::now();
    let mut many = b"# TYPE istio_requests_total counter\n".to_vec();
    for i in 0..MANY {
        many.extend_from_slice(series_line("many", &format!(",id=\"{i}\""), 1.0).as_bytes());
    }
    let many = Arc::new(many);
    let mut over = b"# TYPE istio_requests_total counter\n".to_vec();
    for i in 0..=SAMPLE_LIMIT {
        over.extend_from_slice(series_line("over", &format!(",id=\"{i}\""), 1.0).as_bytes());
    }
    let over = Arc::new(over);
    let mut out = Vec::new();
    for &path in paths {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        out.push((path, listener.local_addr()?.port()));
        let (many, over) = (many.clone(), over.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (many, over) = (many.clone(), over.clone());
                std::thread::spawn(move || serve(stream, started, many, over));
            }
        });
    }
    Ok(out)
}

const PATHS: [&str; 7] = [
    "good", "stall", "trickle", "endless", "many", "over", "utf8",
];

/// A client for the adapter's API (its self-signed certificate, on loopback).
fn api_client() -> reqwest::Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
}

fn get(client: &reqwest::blocking::Client, url: &str) -> anyhow::Result<Value> {
    let text = client.get(url).send()?.text()?;
    serde_json::from_str(&text).with_context(|| format!("{url}: {text}"))
}

fn query(client: &reqwest::blocking::Client, base: &str, q: &str) -> anyhow::Result<Value> {
    query_at(client, base, q, None)
}

fn query_at(
    client: &reqwest::blocking::Client,
    base: &str,
    q: &str,
    time: Option<f64>,
) -> anyhow::Result<Value> {
    let mut params = vec![("query", q.to_owned())];
    if let Some(t) = time {
        params.push(("time", format!("{t:.3}")));
    }
    let text = client
        .get(format!("{base}/api/v1/query"))
        .query(&params)
        .send()?
        .text()?;
    let v: Value = serde_json::from_str(&text).with_context(|| format!("{q}: {text}"))?;
    anyhow::ensure!(v["status"] == "success", "{q}: {v}");
    Ok(v["data"]["result"].clone())
}

fn scalar(result: &Value) -> Option<f64> {
    result[0]["value"][1].as_str()?.parse().ok()
}

fn health<'a>(status: &'a Value, path: &str) -> anyhow::Result<&'a Value> {
    status
        .as_array()
        .and_then(|ts| {
            ts.iter()
                .find(|t| t["url"].as_str().is_some_and(|u| u.ends_with(path)))
        })
        .with_context(|| format!("no target {path} in {status}"))
}

/// The adapter scraping `targets` every 2 s, with an HPA on `workload`'s rate (metric
/// `<workload>-rps`) and these flags added.
fn spawn_adapter(
    dir: &Path,
    port: u16,
    targets: &[(&str, u16)],
    workload: &str,
    flags: &[&str],
) -> anyhow::Result<Adapter> {
    let hpa_dir = dir.join("hpa");
    std::fs::create_dir_all(&hpa_dir)?;
    std::fs::write(
        hpa_dir.join(format!("{workload}.yaml")),
        hpa::legacy(
            workload,
            workload,
            &format!("{workload}-rps"),
            &format!(
                r#"sum(rate(istio_requests_total{{destination_workload="{workload}"}}[30s]))"#
            ),
            "10",
        ),
    )?;
    let log = dir.join("adapter.log");
    let out = std::fs::File::create(&log)?;
    let mut args: Vec<String> = vec![
        "serve".into(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--hpa-dir".into(),
        hpa_dir.display().to_string(),
        "--scrape-interval".into(),
        "2s".into(),
        "--scrape-timeout".into(),
        format!("{}ms", TIMEOUT.as_millis()),
        "--scrape-body-limit".into(),
        BODY_LIMIT.to_string(),
        // The queries here check values, not the query limits: a debug build's `/api/v1`
        // evaluation runs at nice 19 and, beside the rest of the suite on 2 cores, once took
        // longer than the default 2 s.
        "--query-timeout".into(),
        "10s".into(),
    ];
    args.extend(flags.iter().map(|f| f.to_string()));
    for (path, target_port) in targets {
        args.push("--target".into());
        args.push(format!("http://127.0.0.1:{target_port}/{path}"));
    }
    let child = mixerless_harness::process::guarded(adapter_bin()?)
        .args(&args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("spawn mixerless-adapter")?;
    Ok(Adapter { child, log })
}

/// Demonstrates that stalled, trickling, endless, 100,000-series, over-the-sample-limit and
/// invalid-UTF-8 targets each fail (or are read) within the scrape timeout, body cap and sample
/// limit, that the adapter hangs up on an endless body near its cap instead of reading 1 GiB,
/// that a target one series over the limit is down and none of its series served, and that
/// meanwhile the good target's
/// rate (10/s) is served right by `/api/v1/query` and the external metrics API.
#[test]
fn hostile_targets_cost_bounded_time_and_memory_and_spare_the_good_one() -> anyhow::Result<()> {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir()?;
    let hostile = targets(&PATHS)?;
    let port = paths::free_port();
    let sample_limit = SAMPLE_LIMIT.to_string();
    let flags = [
        "--scrape-sample-limit",
        &sample_limit,
        "--target-series-limit",
        &sample_limit,
        // Room for both big targets: the default (150,000) would fill up and refuse the good
        // target's series when its first scrape comes after theirs.
        "--max-series",
        "300000",
    ];
    let mut adapter = spawn_adapter(dir.path(), port, &hostile, "good", &flags)?;
    let client = api_client()?;
    let base = format!("https://127.0.0.1:{port}");

    // Every target scraped at least twice, and the good one long enough for rate[30s].
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(code) = adapter.child.try_wait()? {
            bail!("adapter exited with {code}:\n{}", adapter.log());
        }
        let ready = get(&client, &format!("{base}/status"))
            .ok()
            .filter(|s| {
                PATHS.iter().all(|p| {
                    health(&s["targets"], p).is_ok_and(|t| t["scrapes"].as_u64() >= Some(2))
                })
            })
            .filter(|s| {
                health(&s["targets"], "good").is_ok_and(|t| t["scrapes"].as_u64() >= Some(17))
            });
        if let Some(s) = ready {
            break s;
        }
        if Instant::now() > deadline {
            bail!("targets not scraped within 90 s:\n{}", adapter.log());
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let targets = &status["targets"];

    // Bounded time: no scrape may run past its timeout, plus slack for a loaded machine (the
    // stall and trickle targets would otherwise take 30 s and minutes).
    let limit = TIMEOUT.as_secs_f64() + 2.0;
    let mut report = Vec::new();
    for path in PATHS {
        let t = health(targets, path)?;
        let took = t["last_duration_s"].as_f64().context("last_duration_s")?;
        report.push(format!(
            "{path}: {} in {took:.3}s, samples {}, error {}",
            t["health"], t["samples"], t["last_error"]
        ));
        assert!(took <= limit, "{path} took {took} s (limit {limit}): {t}");
    }
    eprintln!("{}", report.join("\n"));
    let error = |p: &str| -> anyhow::Result<String> {
        Ok(health(targets, p)?["last_error"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    };
    assert_eq!(health(targets, "good")?["health"], "up");
    assert!(error("stall")?.contains("timed out"), "{}", error("stall")?);
    assert!(
        error("trickle")?.contains("timed out"),
        "{}",
        error("trickle")?
    );
    assert!(
        error("endless")?.contains("larger than"),
        "{}",
        error("endless")?
    );
    assert_eq!(health(targets, "many")?["health"], "up");
    assert_eq!(health(targets, "many")?["samples"], MANY);
    assert!(
        error("over")?
            .contains("1 samples of queried metrics beyond the limit of 100000 per scrape"),
        "{}",
        error("over")?
    );

    // Bounded bytes: each endless scrape was cut near the cap, not read to 1 GiB.
    let scrapes = health(targets, "endless")?["scrapes"].as_u64().unwrap_or(1);
    let per_scrape = ENDLESS_SENT.load(Ordering::Relaxed) / (scrapes + 1).max(1);
    eprintln!(
        "endless: {} MiB sent over {scrapes}+ scrapes ({} MiB per scrape)",
        ENDLESS_SENT.load(Ordering::Relaxed) >> 20,
        per_scrape >> 20
    );
    assert!(
        per_scrape < 4 * BODY_LIMIT,
        "the adapter read {per_scrape} bytes per scrape of an endless body (cap {BODY_LIMIT})"
    );

    // The good target's samples are all there and on time: the counter grows 10 per second,
    // and `deriv` (least squares over the window's samples, no extrapolation) reads 10 within
    // scrape jitter. (`rate` extrapolates by where the window starts between two scrapes: a
    // first scrape 0.3 s late made it 9.57 once, so the HPA value below is allowed 10 %.)
    let newest = health(targets, "good")?["last_scrape_ms"]
        .as_f64()
        .context("last_scrape_ms")?
        / 1000.0;
    let slope = scalar(&query_at(
        &client,
        &base,
        r#"sum(deriv(istio_requests_total{destination_workload="good"}[30s]))"#,
        Some(newest),
    )?)
    .context("no good slope")?;
    let raw = query_at(
        &client,
        &base,
        r#"istio_requests_total{destination_workload="good"}[30s]"#,
        Some(newest),
    )?;
    let samples = raw[0]["values"].as_array().map_or(0, Vec::len);
    assert!(
        (slope - 10.0).abs() < 0.3 && samples >= 14,
        "good slope {slope} over {samples} samples, want 10 over 15; samples {raw}; status {}",
        health(targets, "good")?
    );
    let rate = scalar(&query_at(
        &client,
        &base,
        r#"sum(rate(istio_requests_total{destination_workload="good"}[30s]))"#,
        Some(newest),
    )?)
    .context("no good rate")?;
    let many = scalar(&query(
        &client,
        &base,
        r#"count(istio_requests_total{destination_workload="many"})"#,
    )?);
    assert_eq!(
        many,
        Some(MANY as f64),
        "all 100,000 series of /many queryable: {}",
        query(
            &client,
            &base,
            "count by (destination_workload) (istio_requests_total)"
        )?
    );
    let over = query(
        &client,
        &base,
        r#"count(istio_requests_total{destination_workload="over"})"#,
    )?;
    assert_eq!(
        over,
        serde_json::json!([]),
        "the over-limit target is down: {over}"
    );
    // Invalid UTF-8 fails that target's scrape as Prometheus does (nothing of it is stored),
    // with an error naming line and column.
    assert!(
        error("utf8")?.contains("line 2:44: invalid utf-8"),
        "{}",
        error("utf8")?
    );
    let utf8 = query(
        &client,
        &base,
        r#"istio_requests_total{destination_workload="utf8"}"#,
    )?;
    assert_eq!(
        utf8,
        serde_json::json!([]),
        "nothing stored from the invalid body"
    );

    // The external metrics API serves the HPA from the good target.
    let list = get(&client, &format!("{base}{}", hpa::legacy_path("good-rps")))?;
    let value = list["items"][0]["value"]
        .as_str()
        .with_context(|| format!("no item: {list}"))?;
    let milli = mixerless_adapter::quantity::parse_milli(value).context("quantity")?;
    eprintln!(
        "good at its newest sample: deriv[30s] {slope} over {samples} samples, rate[30s] {rate}; HPA value: {value}"
    );
    // The adapter evaluates the HPA query at its own times, when the newest sample can be a
    // scrape (plus an ingest) old; extrapolation then covers up to 10 % less of the window.
    assert!(
        (milli - 10_000).abs() <= 1_000,
        "HPA value {value}, want ~10"
    );

    // Bounded memory: 100,000 stored series, an endless body cut at 16 MiB, and the rest.
    let rss = adapter.peak_rss_kib()?;
    eprintln!("adapter peak RSS: {} MiB", rss >> 10);
    assert!(
        rss < 1 << 20,
        "adapter peak RSS {} MiB (bound 1 GiB)",
        rss >> 10
    );
    assert!(adapter.child.try_wait()?.is_none(), "adapter died");
    Ok(())
}

/// A gauge or counter from the adapter's `/metrics`.
fn own_metric(client: &reqwest::blocking::Client, base: &str, name: &str) -> anyhow::Result<f64> {
    let text = client.get(format!("{base}/metrics")).send()?.text()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .with_context(|| format!("no {name} in /metrics:\n{text}"))
}

/// An adapter scraping `paths` (among them `/late`, which answers after 10 s) with `flags` and
/// an HPA on the late target, once 15 samples of it are in its rate window and one more
/// evaluation (every scrape interval, 2 s) has seen them; with its directory, an API client
/// and its base URL. After 90 s, fails with the late target's `/status` entry and the log.
fn with_late_window(
    paths: &[&'static str],
    flags: &[&str],
) -> anyhow::Result<(
    tempfile::TempDir,
    Adapter,
    reqwest::blocking::Client,
    String,
)> {
    let dir = tempfile::tempdir()?;
    let targets = targets(paths)?;
    let port = paths::free_port();
    let mut adapter = spawn_adapter(dir.path(), port, &targets, "late", flags)?;
    let client = api_client()?;
    let base = format!("https://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(90);
    let late_samples = r#"count_over_time(istio_requests_total{destination_workload="late"}[30s])"#;
    loop {
        if let Some(code) = adapter.child.try_wait()? {
            bail!("adapter exited with {code}:\n{}", adapter.log());
        }
        let n = query(&client, &base, late_samples)
            .ok()
            .and_then(|r| scalar(&r))
            .unwrap_or(0.0);
        if n >= 15.0 {
            std::thread::sleep(Duration::from_millis(2500));
            return Ok((dir, adapter, client, base));
        }
        if Instant::now() > deadline {
            let status = get(&client, &format!("{base}/status")).unwrap_or_default();
            bail!(
                "the late target has {n} samples in its window after 90 s: {}\n{}",
                health(&status["targets"], "late")
                    .cloned()
                    .unwrap_or_default(),
                adapter.log()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The late target's HPA value is its true rate (10/s) within 10 %, and the adapter is alive.
fn assert_late_hpa_value(
    adapter: &mut Adapter,
    client: &reqwest::blocking::Client,
    base: &str,
) -> anyhow::Result<()> {
    let list = get(client, &format!("{base}{}", hpa::legacy_path("late-rps")))?;
    let value = list["items"][0]["value"]
        .as_str()
        .with_context(|| format!("no item for the late target: {list}\n{}", adapter.log()))?;
    let milli = mixerless_adapter::quantity::parse_milli(value).context("quantity")?;
    assert!(
        (milli - 10_000).abs() <= 1_000,
        "late HPA value {value}, want ~10"
    );
    assert!(adapter.child.try_wait()?.is_none(), "adapter died");
    Ok(())
}

/// Demonstrates `--target-series-limit`: a target that sends 2,000 new series every scrape
/// would fill `--max-series 5000` in three scrapes and starve a target that first answers
/// later. With the limit at 2,000 it holds 2,000 series, its later scrapes fail naming the flag,
/// nothing is dropped for the store being full, and the late target's HPA value is right.
/// (With `--target-series-limit 0` this test fails: the late target gets no sample stored.)
#[test]
fn a_target_changing_its_series_every_scrape_cannot_starve_a_late_one() -> anyhow::Result<()> {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let limit = CHURN.to_string();
    let flags = ["--target-series-limit", &limit, "--max-series", "5000"];
    let (_dir, mut adapter, client, base) = with_late_window(&["churn", "late"], &flags)?;
    let status = get(&client, &format!("{base}/status"))?;
    let churn = health(&status["targets"], "churn")?;
    eprintln!("churn: {churn}");
    let scrapes = CHURN_SCRAPES.load(Ordering::Relaxed);
    assert!(
        scrapes as usize * CHURN > 5000,
        "the churn target sent only {scrapes} scrapes: not enough to fill the store"
    );
    assert_eq!(churn["health"], "down");
    let error = churn["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("the target holds 2000 series")
            && error.contains("this scrape has 2000 new series beyond them")
            && error.ends_with("raise --target-series-limit"),
        "{error}"
    );
    let stored = own_metric(&client, &base, "mixerless_adapter_store_series")?;
    let dropped = own_metric(
        &client,
        &base,
        "mixerless_adapter_store_series_dropped_total",
    )?;
    assert_eq!(
        (stored, dropped),
        ((CHURN + 1) as f64, 0.0),
        "the churn target's first 2,000 series and the late one's"
    );

    assert_late_hpa_value(&mut adapter, &client, &base)
}

/// Demonstrates fair shares of a full store: three targets of 1,700 series each, within
/// `--target-series-limit 2000`, together overfill `--max-series 5000`. A target that first
/// answers after 10 s still gets its series (the largest holders' newest ones make room), its
/// HPA value is right, and `/status` and `/metrics` name the big targets as limited.
/// (Without the fair share the late target's series are refused and it has no HPA value.)
#[test]
fn targets_that_fill_the_store_together_leave_a_late_one_its_share() -> anyhow::Result<()> {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let bigs = ["big1", "big2", "big3"];
    let flags = ["--target-series-limit", "2000", "--max-series", "5000"];
    let (_dir, mut adapter, client, base) =
        with_late_window(&["big1", "big2", "big3", "late"], &flags)?;
    let status = get(&client, &format!("{base}/status"))?;
    let late = health(&status["targets"], "late")?;
    assert_eq!(
        (late["health"].as_str(), late["series_refused"].as_u64()),
        (Some("up"), Some(0)),
        "{late}"
    );
    for big in bigs {
        let t = health(&status["targets"], big)?;
        assert_eq!(t["health"], "up", "{t}");
        assert!(
            t["series_refused"].as_u64() > Some(0),
            "{big} is limited: {t}"
        );
    }
    let stored = own_metric(&client, &base, "mixerless_adapter_store_series")?;
    let evicted = own_metric(
        &client,
        &base,
        "mixerless_adapter_store_series_evicted_total",
    )?;
    assert_eq!(stored, 5000.0, "the store is full");
    assert!(
        evicted >= 1.0,
        "the late target's series made room: {evicted}"
    );
    let text = client.get(format!("{base}/metrics")).send()?.text()?;
    for big in bigs {
        assert!(
            text.lines().any(
                |l| l.starts_with("mixerless_adapter_target_series_refused_total{")
                    && l.contains(&format!("/{big}\""))
            ),
            "{big} not in mixerless_adapter_target_series_refused_total"
        );
    }
    assert!(
        !text.lines().any(
            |l| l.starts_with("mixerless_adapter_target_series_refused_total{")
                && l.contains("/late\"")
        ),
        "late is not limited"
    );

    assert_late_hpa_value(&mut adapter, &client, &base)
}
