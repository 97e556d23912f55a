//! Reaction time, run by `scripts/bench-reaction.sh` (not part of `make test`: `#[ignore]`d,
//! prints figures rather than asserting speed). One Envoy with the filter under one load, watched
//! at once by every path:
//!
//! - (a) today's: Prometheus 2.42 scraping every 15 s, `rate[1m]`, the value collected every
//!   60 s (kube-metrics-adapter's default) and an HPA syncing every 15 s;
//! - (b) the adapter with its defaults (5 s scrape, 5 s evaluation), the same query;
//! - (c) the adapter with the fast recipe (1 s scrape and evaluation, `rate[15s]`);
//! - (d) 0 → 1: `StreamIsActive` against KEDA's default 30 s `IsActive` poll.
//!
//! The load steps from 5 to 35 req/s with the HPA at 1 replica and a target of 10 per replica,
//! so the first replica change is the first HPA sync that reads more than 11 (the 10 %
//! tolerance). Where a path's timers (the 60 s collection, the 15 s sync, the 30 s poll) fall
//! relative to the step is chance; rather than one phase per run, the value each path serves is
//! recorded every 250 ms and the change is computed for every phase of those timers on a 250 ms
//! grid: the figures are the median and range over phases.

#[path = "../adapter/keda/client.rs"]
mod client;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mixerless_harness::process::{binary, Proc};
use mixerless_harness::{bootstrap::Bootstrap, envoy::Envoy, http, paths, prometheus};
use serde_json::{json, Value};

const RPS_1M: &str = r#"sum(rate(istio_requests_total{destination_workload_namespace="test",reporter="destination"}[1m]))"#;
const RPS_15S: &str = r#"sum(rate(istio_requests_total{destination_workload_namespace="test",reporter="destination"}[15s]))"#;
const GRID: f64 = 0.25;

fn hpa(query: &str) -> String {
    format!(
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: podinfo\n  namespace: test\n  annotations:\n    metric-config.external.prometheus-query.prometheus/rps: |\n      {query}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: podinfo}}\n  maxReplicas: 10\n  metrics:\n  - type: External\n    external:\n      metric: {{name: prometheus-query, selector: {{matchLabels: {{query-name: rps}}}}}}\n      target: {{type: AverageValue, averageValue: \"10\"}}\n"
    )
}

fn adapter(d: &Path, name: &str, query: &str, extra: &[String]) -> anyhow::Result<(Proc, String)> {
    let dir = d.join(name);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("hpa.yaml"), hpa(query))?;
    let port = paths::free_port();
    let mut args: Vec<String> = vec![
        "serve".into(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--hpa-dir".into(),
        dir.display().to_string(),
        // Values from the first scrape on; the step comes after every window is covered.
        "--partial-data".into(),
        "serve".into(),
    ];
    args.extend_from_slice(extra);
    let p = Proc::spawn(name, d, &binary("mixerless-adapter")?, &args)?;
    Ok((p, format!("https://127.0.0.1:{port}")))
}

fn https() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client")
}

/// The HPA metric `rps` an adapter serves now.
fn served(base: &str) -> Option<f64> {
    let v: Value = https()
        .get(format!("{base}/apis/external.metrics.k8s.io/v1beta1/namespaces/test/prometheus-query?labelSelector=query-name%3Drps"))
        .send()
        .ok()?
        .json()
        .ok()?;
    let s = v["items"][0]["value"].as_str()?;
    match s.strip_suffix('m') {
        Some(m) => m.parse::<f64>().ok().map(|x| x / 1000.0),
        None => s.parse().ok(),
    }
}

/// What Prometheus answers for `query` now.
fn prometheus(port: u16, query: &str) -> Option<f64> {
    let v: Value = https()
        .get(format!("http://127.0.0.1:{port}/api/v1/query"))
        .query(&[("query", query)])
        .send()
        .ok()?
        .json()
        .ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

fn hey(url: &str, conc: u32, qps: u32) -> anyhow::Result<Child> {
    Ok(Command::new("hey")
        .args([
            "-c",
            &conc.to_string(),
            "-q",
            &qps.to_string(),
            "-z",
            "600s",
            url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}

/// Seconds from the step until a reader that reads `timeline` every `period` s, at each phase of
/// a 250 ms grid, first reads a value above `above`; the reading then passes through `then`
/// (another periodic reader, e.g. the HPA after the collector) the same way. Returns every
/// phase combination's result.
fn reactions(timeline: &[(f64, f64)], above: f64, periods: &[f64]) -> Vec<f64> {
    // The first time the path's own value is above: the readers see it from then on (the
    // load stays up, so the value only rises until it settles above).
    let Some(cross) = timeline.iter().find(|(_, v)| *v > above).map(|(t, _)| *t) else {
        return Vec::new();
    };
    let mut ready = vec![cross];
    for period in periods {
        let steps = (period / GRID).round() as usize;
        let mut next = Vec::new();
        for t in &ready {
            for k in 0..steps {
                let phase = k as f64 * GRID;
                // The first tick phase + n·period at or after t.
                let n = ((t - phase) / period).ceil().max(0.0);
                next.push(phase + n * period);
            }
        }
        ready = next;
    }
    ready
}

fn summary(mut r: Vec<f64>) -> (f64, f64, f64) {
    if r.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    r.sort_by(f64::total_cmp);
    (r[r.len() / 2], r[0], r[r.len() - 1])
}

/// Demonstrates nothing: it measures. See the module comment.
#[test]
#[ignore = "benchmark: scripts/bench-reaction.sh"]
fn bench_reaction() -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("mixerless-reaction-")
        .tempdir()?;
    let d = tmp.path();
    let envoy = Envoy::start(&Bootstrap::inbound(r#"{"reporter": "destination"}"#).render())?;
    http::get(&envoy.listener_url("/"))?;
    let stats = envoy.admin_url("/stats/prometheus");
    let (_prom, prom_port) = prometheus::start(
        d,
        &prometheus::envoy_stats_config("15s", &[envoy.admin_port()]),
    )?;
    let (_b, ours) = adapter(d, "ours", RPS_1M, &["--target".into(), stats.clone()])?;
    let grpc = format!("127.0.0.1:{}", paths::free_port());
    let (_c, fast) = adapter(
        d,
        "fast",
        RPS_15S,
        &[
            "--target".into(),
            stats,
            "--scrape-interval".into(),
            "1s".into(),
            "--query-interval".into(),
            "1s".into(),
            "--keda-grpc".into(),
            grpc.clone(),
        ],
    )?;

    // 5 req/s until every path reads it (Prometheus' rate[1m] needs a few 15 s scrapes).
    let url = envoy.listener_url("/");
    let mut base_load = hey(&url, 1, 5)?;
    let settled = |v: Option<f64>| v.is_some_and(|v| (4.0..=6.0).contains(&v));
    let deadline = Instant::now() + Duration::from_secs(300);
    while !(settled(prometheus(prom_port, RPS_1M))
        && settled(served(&ours))
        && settled(served(&fast)))
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the paths did not read 5 req/s within 300 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // A full minute at 5 req/s behind every window.
    std::thread::sleep(Duration::from_secs(60));

    let step = Instant::now();
    let mut step_load = hey(&url, 3, 10)?;
    let mut lines: [Vec<(f64, f64)>; 3] = Default::default();
    while step.elapsed() < Duration::from_secs(150) {
        let t = step.elapsed().as_secs_f64();
        let values = [prometheus(prom_port, RPS_1M), served(&ours), served(&fast)];
        for (line, v) in lines.iter_mut().zip(values) {
            if let Some(v) = v {
                line.push((t, v));
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = step_load.kill();
    let _ = base_load.kill();
    let _ = (step_load.wait(), base_load.wait());
    let [prom_line, ours_line, fast_line] = &lines;
    let a = summary(reactions(prom_line, 11.0, &[60.0, 15.0]));
    let b = summary(reactions(ours_line, 11.0, &[15.0]));
    let c = summary(reactions(fast_line, 11.0, &[15.0]));
    let cross = |l: &[(f64, f64)]| {
        l.iter()
            .find(|(_, v)| *v > 11.0)
            .map_or(f64::NAN, |(t, _)| *t)
    };
    println!(
        "RESULT reaction step=5->35rps a_today median={:.1} min={:.1} max={:.1} (prometheus >11 at {:.1}) | b_ours_1m median={:.1} min={:.1} max={:.1} (served >11 at {:.1}) | c_fast_15s median={:.1} min={:.1} max={:.1} (served >11 at {:.1}) | c/a={:.2}",
        a.0, a.1, a.2, cross(prom_line), b.0, b.1, b.2, cross(ours_line), c.0, c.1, c.2, cross(fast_line), c.0 / a.0
    );

    // (d) 0 -> 1: idle, then one request; the stream's change vs a 30 s IsActive poll.
    let mut keda = client::Keda::start(&grpc, &[])?;
    let meta = json!({"query": RPS_15S, "threshold": "10", "activationThreshold": "0"});
    let mut pushed = Vec::new();
    let mut polled = Vec::new();
    for run in 0..3u32 {
        let id = keda.send(json!({"rpc": "StreamIsActive", "metadata": meta}))?;
        // Inactive first: the 15 s window has to pass the last request.
        let mut state = None;
        let idle_by = Instant::now() + Duration::from_secs(60);
        while state != Some(false) {
            anyhow::ensure!(Instant::now() < idle_by, "not inactive within 60 s");
            if let Some(a) = keda.answer(id, Duration::from_secs(1)) {
                state = a["ok"]["result"].as_bool();
                anyhow::ensure!(a.get("ok").is_some(), "stream failed: {a}");
            }
        }
        // Quiet scrapes, then the first request at a different point of the 1 s scrape cycle
        // each run (the inactive state arrives just after a scrape).
        std::thread::sleep(Duration::from_millis(2000 + u64::from(run) * 333));
        let t0 = Instant::now();
        http::get(&url)?;
        let on = keda
            .answer(id, Duration::from_secs(30))
            .context("no activation within 30 s")?;
        anyhow::ensure!(on["ok"]["result"] == true, "{on}");
        let took = t0.elapsed().as_secs_f64();
        pushed.push(took);
        polled.extend(reactions(&[(took, 1.0)], 0.0, &[30.0]));
        // Let the stream's activation decay again (next round opens a new stream).
        std::thread::sleep(Duration::from_secs(16));
    }
    let p = summary(pushed.clone());
    let q = summary(polled);
    println!(
        "RESULT activation push_s median={:.2} min={:.2} max={:.2} (runs: {}) | poll30_s median={:.1} min={:.1} max={:.1}",
        p.0,
        p.1,
        p.2,
        pushed.iter().map(|v| format!("{v:.2}")).collect::<Vec<_>>().join(", "),
        q.0,
        q.1,
        q.2
    );
    Ok(())
}

/// The value a reader sees at `t`: the newest sample at or before it.
fn value_at(timeline: &[(f64, f64)], t: f64) -> Option<f64> {
    let i = timeline.partition_point(|(s, _)| *s <= t);
    i.checked_sub(1).map(|i| timeline[i].1)
}

/// Replica changes an HPA (target 10 per replica, AverageValue, 1–10 replicas, `behavior` or
/// the legacy path) makes over `[from, to)` syncing every 15 s from `sync_phase`, reading
/// `read(t)` at each sync; it starts at `start` replicas. The replica arithmetic and
/// stabilization are the adapter's copy of kube-controller-manager's (`hpa::replicas`).
fn changes(
    read: impl Fn(f64) -> Option<f64>,
    behavior: Option<mixerless_adapter::hpa::replicas::Behavior>,
    sync_phase: f64,
    (from, to): (f64, f64),
    start: i32,
) -> usize {
    use mixerless_adapter::hpa::replicas::{
        metric_replicas, Controller, Limits, Pods, Target, Tolerance,
    };
    let limits = Limits {
        min: 1,
        max: 10,
        behavior,
    };
    let mut controller = Controller::default();
    let (mut current, mut n) = (start, 0);
    let mut t = from + sync_phase;
    while t < to {
        if let Some(v) = read(t) {
            let p = metric_replicas(
                Target::AverageValue(10_000),
                (v * 1000.0).round() as i64,
                Pods::all(current),
                Tolerance::default(),
            );
            if let Ok(d) =
                controller.reconcile((t * 1000.0) as i64, &limits, current, Ok(p.replicas))
            {
                if d.desired != current {
                    n += 1;
                    current = d.desired;
                }
            }
        }
        t += 15.0;
    }
    n
}

/// Replica changes over 10 minutes of steady but noisy load (each second's rate drawn from
/// 10–50 req/s, mean 30) for today's path (a) and the fast recipe with its shipped `behavior`
/// (c), each HPA simulated over every phase of its timers. Target: (c) no more than (a).
#[test]
#[ignore = "benchmark: scripts/bench-reaction.sh"]
fn bench_noise() -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("mixerless-noise-")
        .tempdir()?;
    let d = tmp.path();
    let envoy = Envoy::start(&Bootstrap::inbound(r#"{"reporter": "destination"}"#).render())?;
    http::get(&envoy.listener_url("/"))?;
    let stats = envoy.admin_url("/stats/prometheus");
    let (_prom, prom_port) = prometheus::start(
        d,
        &prometheus::envoy_stats_config("15s", &[envoy.admin_port()]),
    )?;
    let (_c, fast) = adapter(
        d,
        "fast",
        RPS_15S,
        &[
            "--target".into(),
            stats,
            "--scrape-interval".into(),
            "1s".into(),
            "--query-interval".into(),
            "1s".into(),
        ],
    )?;
    // The load: each second a rate from a fixed pseudo-random sequence (an LCG), requests
    // spread evenly over the second, for 11 minutes.
    let url = envoy.listener_url("/");
    let load = std::thread::spawn(move || {
        let mut seed: u64 = 16;
        let started = Instant::now();
        for second in 0..660u64 {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let rate = 10 + (seed >> 33) % 41;
            for i in 0..rate {
                let at =
                    Duration::from_secs(second) + Duration::from_secs(1) * i as u32 / rate as u32;
                if let Some(wait) = at.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
                let _ = http::get(&url);
            }
        }
    });
    let t0 = Instant::now();
    let mut prom_line = Vec::new();
    let mut fast_line = Vec::new();
    while t0.elapsed() < Duration::from_secs(660) {
        let t = t0.elapsed().as_secs_f64();
        if let Some(v) = prometheus(prom_port, RPS_1M) {
            prom_line.push((t, v));
        }
        if let Some(v) = served(&fast) {
            fast_line.push((t, v));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = load.join();
    // The first minute fills the windows; ten minutes are counted.
    let span = (60.0, 660.0);
    let mut a = Vec::new();
    for q in 0..60 {
        for p in 0..15 {
            // kube-metrics-adapter collects every 60 s (phase q); the HPA reads the last collection.
            let read = |t: f64| {
                let collected = q as f64 + ((t - q as f64) / 60.0).floor() * 60.0;
                value_at(&prom_line, collected)
            };
            a.push(changes(read, None, p as f64, span, 3) as f64);
        }
    }
    // The shipped recipe's `behavior`, read as the adapter reads HPA manifests.
    let shipped = std::fs::read_to_string(
        paths::root().join("istio/fast-scaling/HorizontalPodAutoscaler-podinfo-fast.yaml"),
    )?;
    let fast_behavior = mixerless_adapter::hpa::manifest::parse_all(&shipped)?
        .first()
        .and_then(|h| h.limits().behavior)
        .context("no behavior in the shipped fast HPA")?;
    let c: Vec<f64> = (0..15)
        .map(|p| {
            changes(
                |t| value_at(&fast_line, t),
                Some(fast_behavior.clone()),
                p as f64,
                span,
                3,
            ) as f64
        })
        .collect();
    let (sa, sc) = (summary(a), summary(c));
    println!(
        "RESULT noise load=10..50rps(mean 30) minutes=10 a_today changes median={} min={} max={} | c_fast_15s changes median={} min={} max={} | c<=a {}",
        sa.0, sa.1, sa.2, sc.0, sc.1, sc.2, sc.0 <= sa.0
    );
    Ok(())
}
