//! Restart under load: the adapter is killed and started again while clients keep asking it
//! for an HPA's metric. Its store is in memory, so after the restart it holds seconds of
//! history where the query reads 20 s. The sidecar is a test-served counter that grows exactly
//! 10/s, so every value served has one right answer.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mixerless_e2e::hpa;
use mixerless_harness::process::{self, Proc};
use mixerless_harness::{http, paths};
use serde_json::Value;

/// The query's range: the history a restarted adapter needs before it may serve.
const WINDOW: Duration = Duration::from_secs(20);
const SCRAPE_INTERVAL: Duration = Duration::from_secs(1);
const RATE: f64 = 10.0;

/// The HPA's query: the history it reads is `WINDOW`.
const QUERY: &str = r#"sum(rate(istio_requests_total{destination_workload="podinfo"}[20s]))"#;

/// A sidecar whose request counter grows by exactly `RATE` per second since `started`.
fn counter_target() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let started = Instant::now();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream, started));
        }
    });
    Ok(port)
}

fn answer(mut s: TcpStream, started: Instant) {
    // One request per connection: read its head, answer, close.
    if http::read_head(&mut s, Duration::from_secs(2)).is_none() {
        return;
    }
    let v = RATE * started.elapsed().as_secs_f64();
    let body = format!(
        "# TYPE istio_requests_total counter\nistio_requests_total{{reporter=\"destination\",destination_workload=\"podinfo\",destination_workload_namespace=\"test\"}} {v:.3}\n"
    );
    http::respond(&mut s, "200 OK", Some("text/plain; version=0.0.4"), &body);
}

fn start_adapter(
    dir: &Path,
    port: u16,
    target: u16,
    partial: &str,
    n: usize,
) -> anyhow::Result<Proc> {
    let hpa_dir = dir.join("hpa");
    std::fs::create_dir_all(&hpa_dir)?;
    std::fs::write(
        hpa_dir.join("podinfo.yaml"),
        hpa::legacy("podinfo", "podinfo", "rps", QUERY, "10"),
    )?;
    Proc::spawn(
        &format!("adapter-{n}"),
        dir,
        &process::binary("mixerless-adapter")?,
        &[
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--hpa-dir".into(),
            hpa_dir.display().to_string(),
            "--target".into(),
            format!("http://127.0.0.1:{target}/stats/prometheus"),
            "--scrape-interval".into(),
            format!("{}s", SCRAPE_INTERVAL.as_secs()),
            "--partial-data".into(),
            partial.into(),
        ],
    )
}

/// One answer to the HPA's request, as the clients saw it.
#[derive(Debug, Clone)]
enum Seen {
    /// No connection (the adapter is down or not listening yet).
    Down,
    Value(f64),
    /// An error status and its message.
    Refused(u16, String),
}

/// `/readyz` as a probe saw it: the status (`None`: no connection) and the body.
type Probe = (Instant, Option<u16>, String);

/// Clients asking for the HPA's metric every 20 ms (4 threads, about 200 req/s), and a
/// readiness probe every 100 ms, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(Instant, Seen)>>>,
    probes: Arc<Mutex<Vec<Probe>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(base: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let probes = Arc::new(Mutex::new(Vec::new()));
        let mut threads: Vec<_> = (0..4)
            .map(|_| {
                let (stop, seen, url) = (
                    stop.clone(),
                    seen.clone(),
                    format!("{base}{}", hpa::legacy_path("rps")),
                );
                std::thread::spawn(move || {
                    let client = api_client();
                    while !stop.load(Ordering::Relaxed) {
                        // Stamped when sent: an answer the killed adapter wrote before it died
                        // can be read after the restart, and is not the restarted one's.
                        let sent = Instant::now();
                        let s = observe(&client, &url);
                        seen.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((sent, s));
                        std::thread::sleep(Duration::from_millis(20));
                    }
                })
            })
            .collect();
        let (stop_probe, probed, url) = (stop.clone(), probes.clone(), format!("{base}/readyz"));
        threads.push(std::thread::spawn(move || {
            let client = api_client();
            while !stop_probe.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let probe = match client.get(&url).send() {
                    Ok(r) => (Some(r.status().as_u16()), r.text().unwrap_or_default()),
                    Err(_) => (None, String::new()),
                };
                probed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((sent, probe.0, probe.1));
                std::thread::sleep(Duration::from_millis(100));
            }
        }));
        Load {
            stop,
            seen,
            probes,
            threads,
        }
    }

    fn since(&self, t: Instant) -> Vec<(Instant, Seen)> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter().filter(|(at, _)| *at >= t).cloned().collect()
    }

    fn probes_since(&self, t: Instant) -> Vec<Probe> {
        let probes = self.probes.lock().unwrap_or_else(|e| e.into_inner());
        probes.iter().filter(|p| p.0 >= t).cloned().collect()
    }

    fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A client for the adapter's API (its self-signed certificate, on loopback).
fn api_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client")
}

fn observe(client: &reqwest::blocking::Client, url: &str) -> Seen {
    let Ok(r) = client.get(url).send() else {
        return Seen::Down;
    };
    let code = r.status().as_u16();
    let body: Value = r
        .text()
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    if code != 200 {
        return Seen::Refused(code, body["message"].as_str().unwrap_or("").to_owned());
    }
    body["items"][0]["value"]
        .as_str()
        .and_then(mixerless_adapter::quantity::parse_milli)
        .map_or(Seen::Refused(code, format!("no value in {body}")), |m| {
            Seen::Value(m as f64 / 1000.0)
        })
}

/// Waits until the clients have seen a value, returning when.
fn first_value(
    load: &Load,
    after: Instant,
    adapter: &mut Proc,
    within: Duration,
) -> anyhow::Result<(Instant, f64)> {
    let deadline = Instant::now() + within;
    loop {
        adapter.ensure_running()?;
        if let Some((at, Seen::Value(v))) = load
            .since(after)
            .into_iter()
            .find(|(_, s)| matches!(s, Seen::Value(_)))
        {
            return Ok((at, v));
        }
        if Instant::now() > deadline {
            bail!("no value served within {within:?}; log:\n{}", adapter.log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the clients saw from the restart on.
struct Restart {
    seen: Vec<(Instant, Seen)>,
    restarted: Instant,
    /// When the first value after the restart was served.
    served: Instant,
    /// `/api/v1/query` warnings for the HPA query soon after the restart, and after the
    /// first value was served.
    warnings: (Value, Value),
    /// `/readyz` from the restart on.
    probes: Vec<Probe>,
    /// The restarted adapter.
    adapter: Proc,
    /// Its directory (with the logs), removed after the adapter is gone.
    _dir: tempfile::TempDir,
}

/// The `warnings` of the first successful `/api/v1/query` answer for the HPA's query
/// (`Value::Null` when there are none).
fn api_warnings(base: &str, adapter: &mut Proc) -> anyhow::Result<Value> {
    let client = api_client();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        adapter.ensure_running()?;
        let answer = client
            .get(format!("{base}/api/v1/query"))
            .query(&[("query", QUERY)])
            .send()
            .and_then(|r| r.json::<Value>());
        if let Ok(v) = answer {
            if v["status"] == "success" && !v["data"]["result"].as_array().is_none_or(Vec::is_empty)
            {
                return Ok(v["warnings"].clone());
            }
        }
        if Instant::now() > deadline {
            bail!("no /api/v1/query answer with data; log:\n{}", adapter.log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs the restart: a first adapter until it serves the right value, killed, a second one on
/// the same port.
fn restart_under_load(partial: &str) -> anyhow::Result<Restart> {
    let dir = tempfile::tempdir()?;
    let target = counter_target()?;
    let port = paths::free_port();
    let base = format!("https://127.0.0.1:{port}");
    let mut first = start_adapter(dir.path(), port, target, partial, 1)?;
    let load = Load::start(&base);
    // The first adapter, once its history is long enough, serves the true rate.
    let deadline = Instant::now() + WINDOW + Duration::from_secs(30);
    loop {
        first.ensure_running()?;
        let right = load
            .since(Instant::now() - Duration::from_millis(500))
            .iter()
            .any(|(_, s)| matches!(s, Seen::Value(v) if (v - RATE).abs() <= 0.05 * RATE));
        if right {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the first adapter never served ~{RATE}; log:\n{}",
                first.log()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(first); // SIGKILL: no goodbye, as an OOM kill or a node loss
    let restarted = Instant::now();
    let mut second = start_adapter(dir.path(), port, target, partial, 2)?;
    let early = api_warnings(&base, &mut second)?;
    let (served, _) = first_value(
        &load,
        restarted,
        &mut second,
        WINDOW + Duration::from_secs(30),
    )?;
    // Keep the clients going a little past the first value.
    std::thread::sleep(Duration::from_secs(2));
    let late = api_warnings(&base, &mut second)?;
    let seen = load.since(restarted);
    let probes = load.probes_since(restarted);
    load.finish();
    Ok(Restart {
        seen,
        restarted,
        served,
        warnings: (early, late),
        probes,
        adapter: second,
        _dir: dir,
    })
}

/// Demonstrates the default (`--partial-data refuse`) across a SIGKILL and restart under
/// about 200 req/s: until the new store holds the 20 s the query reads, every answer is a 503
/// that says it is warming up (or the adapter is not listening yet); the first value served is
/// the true rate (10/s ± 10 %), never a low one from seconds of history; and it is served
/// within one scrape interval plus the window (plus start-up slack) after the restart.
#[test]
fn restarted_adapter_withholds_values_until_its_window_is_covered() -> anyhow::Result<()> {
    let Restart {
        seen,
        restarted,
        served,
        warnings,
        probes,
        adapter: second,
        _dir,
    } = restart_under_load("refuse")?;
    // /api/v1/query answers as Prometheus would, and says the data is partial until it is not.
    assert!(
        warnings.0[0]
            .as_str()
            .is_some_and(|w| w.contains("computed from partial data")),
        "{warnings:?}"
    );
    assert_eq!(
        warnings.1,
        Value::Null,
        "no warning once the window is covered"
    );
    let took = served - restarted;
    let mut values = Vec::new();
    let (mut down, mut warming) = (0, 0);
    for (_, s) in &seen {
        match s {
            Seen::Down => down += 1,
            Seen::Value(v) => values.push(*v),
            Seen::Refused(503, m)
                if m.contains("warming up") || m.contains("not evaluated yet") =>
            {
                warming += 1
            }
            Seen::Refused(code, m) => bail!("unexpected answer {code} {m}\n{}", second.log()),
        }
    }
    eprintln!(
        "restart → first value {:.2} s (window {} s + scrape interval {} s); answers: {down} no connection, {warming} warming up, {} values (min {:.3}, max {:.3})",
        took.as_secs_f64(),
        WINDOW.as_secs(),
        SCRAPE_INTERVAL.as_secs(),
        values.len(),
        values.iter().copied().fold(f64::INFINITY, f64::min),
        values.iter().copied().fold(0.0, f64::max),
    );
    assert!(warming > 0, "the clients were told it is warming up");
    for v in &values {
        assert!(
            (v - RATE).abs() <= 0.1 * RATE,
            "served {v} after the restart; the true rate is {RATE}"
        );
    }
    assert!(
        took >= WINDOW,
        "served {took:?} after the restart, before {WINDOW:?} of history could exist"
    );
    // The first scrape comes within one interval; the window then fills; the rest is the
    // process start and one evaluation tick on a busy machine.
    assert!(
        took <= WINDOW + SCRAPE_INTERVAL + Duration::from_secs(4),
        "served only {took:?} after the restart"
    );
    let log = second.log();
    assert!(
        log.contains("withheld") && log.contains("history covers the query's window"),
        "the log says what happened:\n{log}"
    );
    // Not ready while it withholds the value, ready when it serves it: a Service sends the
    // HPA's requests to the other replica meanwhile.
    let ready = first_ready(&probes, restarted)?;
    assert!(
        probes.iter().any(|(_, code, body)| *code == Some(503)
            && body.starts_with("warming up: 1 of 1 HPA queries read more history")),
        "/readyz said it is warming up: {probes:?}"
    );
    let early = served.saturating_duration_since(ready);
    let late = ready.saturating_duration_since(served);
    eprintln!(
        "ready {:.2} s after the restart ({:.2} s before, {:.2} s after the first value)",
        (ready - restarted).as_secs_f64(),
        early.as_secs_f64(),
        late.as_secs_f64()
    );
    // The probe and the clients run on their own threads, each instant taken when its answer
    // is in: allow their polling intervals and a slow answer on a loaded machine (without the
    // check, ready came 20 s early).
    assert!(
        early <= Duration::from_secs(1),
        "ready {early:?} before the first value"
    );
    assert!(
        late <= Duration::from_secs(2),
        "ready only {late:?} after the first value"
    );
    Ok(())
}

/// When `/readyz` first said 200 after the restart.
fn first_ready(probes: &[Probe], restarted: Instant) -> anyhow::Result<Instant> {
    probes
        .iter()
        .find(|(_, code, _)| *code == Some(200))
        .map(|p| p.0)
        .with_context(|| {
            format!(
                "/readyz never said 200 after the restart: {:?}",
                probes
                    .iter()
                    .map(|(at, code, body)| format!(
                        "{:.1}s {code:?} {body}",
                        (*at - restarted).as_secs_f64()
                    ))
                    .collect::<Vec<_>>()
            )
        })
}

/// Demonstrates why that is the default: with `--partial-data serve` the restarted adapter
/// serves at once, and its first values, computed from seconds of a 20 s window, read far
/// below the true rate (an HPA would scale the Deployment down under load), marked partial on
/// `/status` and in the log.
#[test]
fn partial_values_after_a_restart_read_low_and_are_marked() -> anyhow::Result<()> {
    let Restart {
        seen,
        restarted,
        served,
        probes,
        adapter: second,
        _dir,
        ..
    } = restart_under_load("serve")?;
    let first = seen
        .iter()
        .find_map(|(_, s)| match s {
            Seen::Value(v) => Some(*v),
            _ => None,
        })
        .context("no value")?;
    eprintln!(
        "partial: first value {first} served {:.2} s after the restart",
        (served - restarted).as_secs_f64()
    );
    assert!(
        first < 0.8 * RATE,
        "the first partial value {first} is low (true rate {RATE})"
    );
    assert!(
        served - restarted < WINDOW,
        "served before the window filled"
    );
    let log = second.log();
    assert!(log.contains("serving a partial value"), "{log}");
    let ready = first_ready(&probes, restarted)? - restarted;
    assert!(
        ready < WINDOW / 2,
        "ready {ready:?} after the restart: nothing is withheld"
    );
    Ok(())
}
