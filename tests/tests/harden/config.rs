//! Configuration changing under a running `mixerless-adapter serve`: HPAs added, edited and
//! removed, HPA files caught half-written, targets sharing one `host:port`. The sidecar is a
//! test-served target whose counters grow exactly 10/s, so every value served has one right
//! answer (issue 12, items 4, 5 and 6).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mixerless_e2e::hpa;
use mixerless_harness::process::{self, Proc};
use mixerless_harness::{http, paths};
use serde_json::Value;

const RATE: f64 = 10.0;
/// The range the rate queries read: the warm-up a newly read metric needs.
const WINDOW: Duration = Duration::from_secs(20);

/// A sidecar on one port: `/a` exposes counters growing `RATE`/s (an Istio family and two
/// others) and the gauge `gauge_a 7`; `/b` exposes `gauge_b 3` and answers 500 once `fail_b`.
struct Target {
    port: u16,
    fail_b: Arc<AtomicBool>,
}

fn target() -> anyhow::Result<Target> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let started = Instant::now();
    let fail_b = Arc::new(AtomicBool::new(false));
    let fail = fail_b.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let fail = fail.clone();
            std::thread::spawn(move || answer(stream, started, &fail));
        }
    });
    Ok(Target { port, fail_b })
}

fn answer(mut s: TcpStream, started: Instant, fail_b: &AtomicBool) {
    let Some(head) = http::read_head(&mut s, Duration::from_secs(2)) else {
        return;
    };
    let path = head.path;
    let v = RATE * started.elapsed().as_secs_f64();
    let (status, body) = match path.as_str() {
        "/a" => (
            "200 OK",
            format!(
                "# TYPE istio_requests_total counter\nistio_requests_total{{destination_workload=\"podinfo\"}} {v:.3}\nistio_other_total {v:.3}\napp_requests_total {v:.3}\napp_other_total {v:.3}\ngauge_a 7\n"
            ),
        ),
        "/b" if fail_b.load(Ordering::Relaxed) => ("500 Internal Server Error", "down\n".into()),
        "/b" => ("200 OK", "gauge_b 3\n".into()),
        _ => ("404 Not Found", String::new()),
    };
    http::respond(&mut s, status, Some("text/plain; version=0.0.4"), &body);
}

fn start(dir: &Path, port: u16, args: &[String]) -> anyhow::Result<Proc> {
    let mut all: Vec<String> = [
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--hpa-dir",
        &dir.join("hpa").display().to_string(),
        "--scrape-interval",
        "1s",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    all.extend(args.iter().cloned());
    Proc::spawn("adapter", dir, &process::binary("mixerless-adapter")?, &all)
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client")
}

/// What an HPA's request gets when no HPA defines its query-name (another HPA in the
/// namespace defines the metric `prometheus-query`): 200 and no items.
const ABSENT: &str = "no such HPA";

/// One answer to an HPA's request: the value, or the status and message.
fn ask(c: &reqwest::blocking::Client, base: &str, query_name: &str) -> Result<f64, (u16, String)> {
    let r = c
        .get(format!("{base}{}", hpa::legacy_path(query_name)))
        .send()
        .map_err(|e| (0, e.to_string()))?;
    let code = r.status().as_u16();
    let body: Value = r.json().unwrap_or_default();
    if code != 200 {
        return Err((code, body["message"].as_str().unwrap_or("").to_owned()));
    }
    if body["items"] == serde_json::json!([]) {
        return Err((code, ABSENT.into()));
    }
    body["items"][0]["value"]
        .as_str()
        .and_then(mixerless_adapter::quantity::parse_milli)
        .map(|m| m as f64 / 1000.0)
        .ok_or((code, format!("no value in {body}")))
}

fn get_json(c: &reqwest::blocking::Client, url: &str) -> Value {
    c.get(url).send().and_then(|r| r.json()).unwrap_or_default()
}

/// Waits until `query_name` is served a value within `within`.
fn wait_value(
    c: &reqwest::blocking::Client,
    base: &str,
    query_name: &str,
    adapter: &mut Proc,
    within: Duration,
) -> anyhow::Result<f64> {
    let deadline = Instant::now() + within;
    loop {
        adapter.ensure_running()?;
        match ask(c, base, query_name) {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() > deadline => {
                bail!(
                    "{query_name}: no value within {within:?}, last {e:?}; log:\n{}",
                    adapter.log()
                )
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn rate_hpa(name: &str, metric: &str) -> String {
    hpa::legacy(
        name,
        name,
        name,
        &format!("sum(rate({metric}[{}s]))", WINDOW.as_secs()),
        "10",
    )
}

/// Demonstrates the warm-up per metric: an HPA added to a running adapter whose query reads a
/// metric the store was not keeping (`app_requests_total`; `--keep-metrics` keeps `istio_.*`)
/// is answered 503 "warming up" until the history since the store began keeping it covers the
/// query's 20 s, then the true rate, never a value from seconds of history; `/readyz` stays
/// ready throughout (the other HPA keeps its value). An HPA added at the same time over a
/// metric the store kept all along (`istio_other_total`) is served the true rate at once; a
/// query edited to read another new metric (`app_other_total`) warms up again.
#[test]
fn a_newly_read_metric_warms_up_like_a_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let t = target()?;
    let port = paths::free_port();
    let base = format!("https://127.0.0.1:{port}");
    std::fs::create_dir_all(dir.path().join("hpa"))?;
    let hpa_file = |name: &str| dir.path().join("hpa").join(format!("{name}.yaml"));
    std::fs::write(hpa_file("a"), rate_hpa("a", "istio_requests_total"))?;
    let mut adapter = start(
        dir.path(),
        port,
        &["--target".into(), format!("http://127.0.0.1:{}/a", t.port)],
    )?;
    let c = client();
    // The first value after the start comes once the window is covered.
    wait_value(
        &c,
        &base,
        "a",
        &mut adapter,
        WINDOW + Duration::from_secs(30),
    )?;

    std::fs::write(hpa_file("b"), rate_hpa("b", "app_requests_total"))?;
    std::fs::write(hpa_file("c"), rate_hpa("c", "istio_other_total"))?;
    let added = Instant::now();
    let (mut warming, mut c_first) = (0, None);
    let b_first = loop {
        adapter.ensure_running()?;
        // Ready throughout, but for the instant between reading b and evaluating it.
        let ready = c
            .get(format!("{base}/readyz"))
            .send()
            .map(|r| (r.status().as_u16(), r.text().unwrap_or_default()));
        assert!(
            matches!(&ready, Ok((200, _)))
                || matches!(&ready, Ok((503, m)) if m.contains("not evaluated yet")),
            "/readyz after adding b: {ready:?}"
        );
        let a = ask(&c, &base, "a");
        assert!(
            a.as_ref().is_ok_and(|v| (v - RATE).abs() <= 0.1 * RATE),
            "a: {a:?}"
        );
        if c_first.is_none() {
            if let Ok(v) = ask(&c, &base, "c") {
                c_first = Some((added.elapsed(), v));
            }
        }
        match ask(&c, &base, "b") {
            Ok(v) => break (added.elapsed(), v),
            Err((503, m)) if m.contains("warming up") => warming += 1,
            // Not read yet (the directory settles first), or not evaluated yet.
            Err((200, m)) if m == ABSENT => {}
            Err((503, m)) if m.contains("not evaluated yet") => {}
            Err(e) => bail!("b: {e:?}\n{}", adapter.log()),
        }
        if added.elapsed() > WINDOW + Duration::from_secs(20) {
            bail!("b never served; log:\n{}", adapter.log());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "b: first value {:.3} after {:?} ({warming} warming-up answers); c: {c_first:?}",
        b_first.1, b_first.0
    );
    assert!(warming > 0, "b was answered warming up");
    assert!(
        (b_first.1 - RATE).abs() <= 0.1 * RATE,
        "b's first value {} (true rate {RATE})",
        b_first.1
    );
    assert!(
        b_first.0 >= WINDOW,
        "b served {:?} after it was added",
        b_first.0
    );
    let (c_at, c_v) = c_first.context("c was never served while b warmed up")?;
    assert!((c_v - RATE).abs() <= 0.1 * RATE, "c's first value {c_v}");
    assert!(
        c_at < WINDOW / 2,
        "c, over a metric kept all along, served only after {c_at:?}"
    );

    // Edited to read another new metric: warming up again, then the true rate.
    std::fs::write(hpa_file("b"), rate_hpa("b", "app_other_total"))?;
    let edited = Instant::now();
    let deadline = edited + Duration::from_secs(10);
    loop {
        match ask(&c, &base, "b") {
            Err((503, m)) if m.contains("warming up") => break,
            _ if Instant::now() > deadline => {
                bail!("the edited b never warmed up\n{}", adapter.log())
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let v = wait_value(
        &c,
        &base,
        "b",
        &mut adapter,
        WINDOW + Duration::from_secs(20),
    )?;
    assert!(
        edited.elapsed() >= WINDOW,
        "the edited b served after {:?}",
        edited.elapsed()
    );
    assert!(
        (v - RATE).abs() <= 0.1 * RATE,
        "the edited b's first value {v}"
    );
    let log = adapter.log();
    assert!(
        log.contains("began keeping the metrics the query reads"),
        "{log}"
    );
    Ok(())
}

/// Demonstrates target identity: two `--target` URLs on one `host:port` with different paths
/// are two targets, each keeping its series fresh; when one fails, only its own series go
/// stale (polled every 50 ms, the other's never blinks) and its HPA gets an error; a URL
/// given twice, and once more by a file_sd file, is scraped once, and `/status` and the log
/// name both sources; a file_sd file that does not load is on `/status`.
#[test]
fn targets_sharing_host_and_port_keep_their_own_series() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let t = target()?;
    let port = paths::free_port();
    let base = format!("https://127.0.0.1:{port}");
    let hpas = dir.path().join("hpa");
    std::fs::create_dir_all(&hpas)?;
    std::fs::write(
        hpas.join("a.yaml"),
        hpa::legacy("a", "a", "a", "sum(gauge_a)", "10"),
    )?;
    std::fs::write(
        hpas.join("b.yaml"),
        hpa::legacy("b", "b", "b", "sum(gauge_b)", "10"),
    )?;
    let sd = dir.path().join("sd.yaml");
    std::fs::write(
        &sd,
        format!(
            "- targets: ['127.0.0.1:{}']\n  labels: {{__metrics_path__: /a}}\n",
            t.port
        ),
    )?;
    let bad_sd = dir.path().join("bad.yaml");
    std::fs::write(&bad_sd, "- targets: [http://x/y]\n")?;
    let (a, b) = (
        format!("http://127.0.0.1:{}/a", t.port),
        format!("http://127.0.0.1:{}/b", t.port),
    );
    let mut adapter = start(
        dir.path(),
        port,
        &[
            "--target".into(),
            a.clone(),
            "--target".into(),
            b.clone(),
            "--target".into(),
            a.clone(),
            "--file-sd".into(),
            sd.display().to_string(),
            "--file-sd".into(),
            bad_sd.display().to_string(),
        ],
    )?;
    let c = client();
    assert_eq!(
        wait_value(&c, &base, "a", &mut adapter, Duration::from_secs(20))?,
        7.0
    );
    assert_eq!(
        wait_value(&c, &base, "b", &mut adapter, Duration::from_secs(20))?,
        3.0
    );
    // Both fresh for a while: neither target marks the other's series stale.
    let instant = |q: &str| -> usize {
        get_json(&c, &format!("{base}/api/v1/query?query={q}"))["data"]["result"]
            .as_array()
            .map_or(0, Vec::len)
    };
    for _ in 0..40 {
        assert_eq!((instant("gauge_a"), instant("gauge_b")), (1, 1));
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = get_json(&c, &format!("{base}/status"));
    assert_eq!(
        status["targets"].as_array().map(Vec::len),
        Some(2),
        "{status}"
    );
    let errors = status["target_errors"].to_string();
    for want in [
        format!("target {a} {{instance=\\\"127.0.0.1:{}\\\", job=\\\"envoy-stats\\\"}} is listed by file_sd:{} and again by static: scraped once", t.port, sd.display()),
        format!("targets {a} and {b} have the same labels"),
        format!("file_sd {}: target \\\"http://x/y\\\" is not host:port (keeping its previous targets)", bad_sd.display()),
    ] {
        assert!(errors.contains(&want), "{want}\n not in {errors}");
    }
    assert!(
        adapter.log().contains("is listed by file_sd:"),
        "{}",
        adapter.log()
    );

    t.fail_b.store(true, Ordering::Relaxed);
    let failed = Instant::now();
    let mut b_gone = None;
    while failed.elapsed() < Duration::from_secs(5) {
        assert_eq!(
            instant("gauge_a"),
            1,
            "gauge_a blinked {:?} after b failed",
            failed.elapsed()
        );
        let va = ask(&c, &base, "a");
        assert_eq!(va, Ok(7.0));
        if b_gone.is_none() && instant("gauge_b") == 0 {
            b_gone = Some(failed.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let b_gone = b_gone.context("gauge_b never went stale")?;
    assert!(b_gone < Duration::from_secs(3), "{b_gone:?}");
    let vb = ask(&c, &base, "b");
    assert!(
        matches!(vb, Err((code, _)) if code >= 500),
        "b after its target failed: {vb:?}"
    );
    Ok(())
}

/// Demonstrates HPA files caught mid-write: a file cut in the middle of its second HPA (not
/// valid YAML) keeps serving both HPAs, with the error on `/status` saying so; a file paused
/// mid-write at a document boundary (valid, one HPA fewer) never makes the second HPA vanish;
/// an HPA removed for good has no value, and added back within the grace period (the
/// retention) it is served at once, its metric's history kept.
#[test]
fn a_half_written_hpa_file_keeps_the_previous_hpas() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let t = target()?;
    let port = paths::free_port();
    let base = format!("https://127.0.0.1:{port}");
    let hpas = dir.path().join("hpa");
    std::fs::create_dir_all(&hpas)?;
    let file = hpas.join("hpas.yaml");
    let first = rate_hpa("a", "istio_requests_total");
    let full = format!("{first}---\n{}", rate_hpa("b", "app_requests_total"));
    std::fs::write(&file, &full)?;
    let mut adapter = start(
        dir.path(),
        port,
        &["--target".into(), format!("http://127.0.0.1:{}/a", t.port)],
    )?;
    let c = client();
    let within = WINDOW + Duration::from_secs(30);
    wait_value(&c, &base, "a", &mut adapter, within)?;
    wait_value(&c, &base, "b", &mut adapter, within)?;

    // Truncated mid-document and left so.
    std::fs::write(&file, &full[..full.len() - 250])?;
    let cut = Instant::now();
    let mut errors = Value::Null;
    while cut.elapsed() < Duration::from_secs(4) {
        for q in ["a", "b"] {
            let v = ask(&c, &base, q);
            assert!(
                v.as_ref().is_ok_and(|v| (v - RATE).abs() <= 0.1 * RATE),
                "{q} after the cut: {v:?}"
            );
        }
        errors = get_json(&c, &format!("{base}/status"))["file_errors"].clone();
        std::thread::sleep(Duration::from_millis(200));
    }
    let error = errors[0]["error"].as_str().unwrap_or("");
    assert!(
        error.starts_with("not a valid manifest: ")
            && error.ends_with("; serving its last good version (2 HPAs)"),
        "{errors}"
    );

    // Written in two steps, paused at the document boundary: b never vanishes.
    {
        let mut f = std::fs::File::create(&file)?;
        f.write_all(format!("{first}---\n").as_bytes())?;
        f.flush()?;
        let paused = Instant::now();
        while paused.elapsed() < Duration::from_millis(600) {
            let v = ask(&c, &base, "b");
            assert!(v.is_ok(), "b mid-write: {v:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
        f.write_all(rate_hpa("b", "app_requests_total").as_bytes())?;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while get_json(&c, &format!("{base}/status"))["file_errors"] != serde_json::json!([]) {
        assert!(
            Instant::now() < deadline,
            "the whole file was never read again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(ask(&c, &base, "b").is_ok());

    // b removed for good, then back within the grace period: no new warm-up.
    std::fs::write(&file, &first)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !matches!(ask(&c, &base, "b"), Err((200, m)) if m == ABSENT) {
        assert!(Instant::now() < deadline, "b was never removed");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    std::fs::write(&file, &full)?;
    let back = Instant::now();
    let v = wait_value(&c, &base, "b", &mut adapter, Duration::from_secs(10))?;
    assert!(
        back.elapsed() < WINDOW / 2,
        "b back after {:?}: its history was dropped",
        back.elapsed()
    );
    assert!((v - RATE).abs() <= 0.1 * RATE, "b back: {v}");
    Ok(())
}
