//! Whole-process comparison in one run: the HPA queries over 1k, 10k and 100k series, answered
//! by our engine (in process) and by real Prometheus 2.42 (`/usr/bin/prometheus`, HTTP on
//! loopback) on the same data; then bytes per sample and per series of the store at a 1 s
//! scrape interval. Prints markdown tables for BENCHMARKS.md.
//!
//! `cargo bench -p mixerless-engine --bench query` (scripts/bench-engine.sh runs it).

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mixerless_engine::labels::Labels;
use mixerless_engine::promql::{Engine, EngineOptions, Value};
use mixerless_engine::store::{Store, StoreConfig};

mod fixture;

const T0: i64 = 1_700_000_000;
const STEP: i64 = 30;
const STEPS: i64 = 14;
const RPS: &str = r#"sum(rate(istio_requests_total{destination_workload_namespace="test",reporter="destination"}[1m]))"#;
const P95: &str = r#"histogram_quantile(0.95, sum(rate(istio_request_duration_milliseconds_bucket{destination_workload_namespace="test"}[5m])) by (le))"#;
const BOUNDS: [&str; 10] = [
    "1.0", "5.0", "10.0", "25.0", "50.0", "100.0", "250.0", "500.0", "1000.0", "+Inf",
];

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

/// `n` counter series and `n` bucket series (n/10 histograms), one sample every 30 s.
fn data(n: usize) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut rng = Lcg(n as u64);
    let mut out = Vec::with_capacity(2 * n);
    let common = |pod: usize| {
        vec![
            (
                "destination_workload_namespace".to_string(),
                "test".to_string(),
            ),
            ("reporter".to_string(), "destination".to_string()),
            ("destination_workload".to_string(), format!("w{}", pod % 50)),
            ("pod".to_string(), format!("p{pod}")),
        ]
    };
    for i in 0..n {
        let mut l = common(i / 4);
        l.push(("__name__".into(), "istio_requests_total".into()));
        l.push((
            "response_code".into(),
            ["200", "201", "404", "503"][i % 4].into(),
        ));
        let mut v = 1000.0 + rng.next(1000) as f64;
        let pts = (0..STEPS)
            .map(|k| {
                v += rng.next(300) as f64;
                ((T0 + k * STEP + 7) * 1000, v)
            })
            .collect();
        out.push((Labels::new(l), pts));
    }
    for h in 0..n / 10 {
        let mut counts = [0f64; 10];
        let mut series: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 10];
        for k in 0..STEPS {
            let mut acc = 0.0;
            for (b, c) in counts.iter_mut().enumerate() {
                acc += rng.next(30) as f64;
                *c += acc;
                series[b].push(((T0 + k * STEP + 11) * 1000, *c));
            }
        }
        for (b, pts) in series.into_iter().enumerate() {
            let mut l = common(h);
            l.push((
                "__name__".into(),
                "istio_request_duration_milliseconds_bucket".into(),
            ));
            l.push(("le".into(), BOUNDS[b].into()));
            out.push((Labels::new(l), pts));
        }
    }
    out
}

fn openmetrics(data: &[(Labels, Vec<(i64, f64)>)], path: &Path) -> std::io::Result<()> {
    let mut s = String::new();
    s.push_str("# TYPE istio_requests counter\n");
    let mut hist_header = false;
    for (l, pts) in data {
        let name = l.name().unwrap_or("");
        if name.ends_with("_bucket") && !hist_header {
            s.push_str("# TYPE istio_request_duration_milliseconds histogram\n");
            hist_header = true;
        }
        let labels: Vec<String> = l
            .iter()
            .filter(|(k, _)| *k != "__name__")
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        for (t, v) in pts {
            let _ = writeln!(s, "{name}{{{}}} {v} {}", labels.join(","), t / 1000);
        }
    }
    s.push_str("# EOF\n");
    std::fs::write(path, s)
}

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default())
}

impl Prometheus {
    fn start(dir: &Path) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1h\n").expect("write config");
        let port = free_port();
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--", "/usr/bin/prometheus"])
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=100y")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/bin/prometheus");
        let p = Prometheus { child, port };
        let deadline = Instant::now() + Duration::from_secs(120);
        while !http_get(port, "/-/ready").is_ok_and(|b| b.contains("Ready")) {
            assert!(Instant::now() < deadline, "prometheus not ready");
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }

    /// Wall time of one HTTP query, and Prometheus' own evaluation time.
    fn query(&self, expr: &str, t: i64) -> (Duration, f64, String) {
        let path = format!("/api/v1/query?query={}&time={t}&stats=all", encode(expr));
        let start = Instant::now();
        let body = http_get(self.port, &path).expect("query prometheus");
        let wall = start.elapsed();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let eval = json["data"]["stats"]["timings"]["evalTotalTime"]
            .as_f64()
            .unwrap_or(f64::NAN);
        let v = json["data"]["result"][0]["value"][1]
            .as_str()
            .unwrap_or("none")
            .to_string();
        (wall, eval, v)
    }
}

fn stats(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], xs[0], xs[xs.len() - 1])
}

fn query_bench(out: &mut String) {
    let _ = writeln!(out, "| query | series | ours median (min–max) | Prometheus HTTP median (min–max) | Prometheus eval median | ours / Prometheus HTTP | ours / Prometheus eval |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let t = T0 + (STEPS - 1) * STEP + 15;
    for n in [1_000usize, 10_000, 100_000] {
        let d = data(n);
        let dir = tempfile::Builder::new()
            .prefix("mixerless-bench-")
            .tempdir()
            .expect("tempdir");
        let om = dir.path().join("data.om");
        openmetrics(&d, &om).expect("write data");
        let st = Command::new("/usr/bin/promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&om)
            .arg(dir.path().join("data"))
            .stdout(Stdio::null())
            .status()
            .expect("promtool");
        assert!(st.success(), "promtool failed");
        let _ = std::fs::remove_file(&om);
        let prom = Prometheus::start(dir.path());
        let mut store = Store::new(StoreConfig {
            max_series: usize::MAX,
            ..StoreConfig::default()
        });
        for (l, pts) in &d {
            for (ts, v) in pts {
                store.append(l, *ts, *v).expect("append");
            }
        }
        drop(d);
        let engine = Engine::new(EngineOptions::default());
        for (name, q) in [("rps", RPS), ("p95", P95)] {
            let iters = if n >= 100_000 { 10 } else { 30 };
            // Warm both, and check they agree before timing.
            let ours_v = match engine.instant(&store, q, t * 1000).expect("our query") {
                Value::Vector(v) => v.first().map(|s| s.v).unwrap_or(f64::NAN),
                _ => f64::NAN,
            };
            let (_, _, theirs_v) = prom.query(q, t);
            let theirs_v: f64 = theirs_v.parse().unwrap_or(f64::NAN);
            assert!(
                (ours_v - theirs_v).abs() <= 1e-9 * ours_v.abs(),
                "{name} n={n}: ours {ours_v} prometheus {theirs_v}"
            );
            let (mut ours, mut wall, mut eval) = (vec![], vec![], vec![]);
            for _ in 0..iters {
                let s = Instant::now();
                let _ = std::hint::black_box(engine.instant(&store, q, t * 1000));
                ours.push(s.elapsed().as_secs_f64() * 1e3);
                let (w, e, _) = prom.query(q, t);
                wall.push(w.as_secs_f64() * 1e3);
                eval.push(e * 1e3);
            }
            let (o, omin, omax) = stats(ours);
            let (w, wmin, wmax) = stats(wall);
            let (e, _, _) = stats(eval);
            let _ = writeln!(
                out,
                "| {name} | {n} | {o:.2} ms ({omin:.2}–{omax:.2}) | {w:.2} ms ({wmin:.2}–{wmax:.2}) | {e:.2} ms | {:.2} | {:.2} |",
                o / w,
                o / e
            );
            eprintln!("{name} n={n}: ours {o:.2} ms, prometheus {w:.2} ms (eval {e:.2} ms)");
        }
    }
}

fn memory_bench(out: &mut String) {
    let series = 1_000usize;
    let seconds = 3_600i64;
    let mut rng = Lcg(42);
    let mut counters: Vec<u64> = (0..series).map(|_| 1000 + rng.next(100_000)).collect();
    let mut store = Store::new(StoreConfig {
        retention: Duration::from_secs(7200),
        ..StoreConfig::default()
    });
    let target = [
        ("job".to_string(), "podinfo".to_string()),
        ("instance".to_string(), "10.0.0.1:15090".to_string()),
    ];
    let mut body = String::new();
    let mut after_first = 0;
    for s in 0..seconds {
        body.clear();
        body.push_str("# TYPE istio_requests_total counter\n");
        for (i, c) in counters.iter_mut().enumerate() {
            // About 10 requests a second per series, some idle.
            if i % 3 != 0 {
                *c += rng.next(20);
            }
            let _ = writeln!(
                body,
                "istio_requests_total{{{}}} {c}",
                fixture::istio_labels(i)
            );
        }
        store
            .ingest(&target, s * 1000, body.as_bytes())
            .expect("ingest");
        if s == 0 {
            after_first = store.memory_bytes();
        }
    }
    let total = store.memory_bytes();
    let samples = store.sample_count();
    let per_sample = (total - after_first) as f64 / (samples - series) as f64;
    let per_series = after_first as f64 / series as f64;
    let _ = writeln!(out, "| series | samples | interval | store bytes | bytes per sample | bytes per series (labels, index, first sample) |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let _ = writeln!(
        out,
        "| {series} | {samples} | 1 s | {total} | {per_sample:.2} | {per_series:.0} |"
    );
}

fn main() {
    // `cargo test --benches` runs bench targets with --bench absent; do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // MIXERLESS_BENCH_PROFILE=<series>: only our engine, in a loop, for a profiler.
    if let Some(n) = std::env::var("MIXERLESS_BENCH_PROFILE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut store = Store::new(StoreConfig {
            max_series: usize::MAX,
            ..StoreConfig::default()
        });
        for (l, pts) in &data(n) {
            for (ts, v) in pts {
                store.append(l, *ts, *v).expect("append");
            }
        }
        let engine = Engine::new(EngineOptions::default());
        let t = (T0 + (STEPS - 1) * STEP + 15) * 1000;
        let s = Instant::now();
        for _ in 0..20 {
            let _ = std::hint::black_box(engine.instant(&store, RPS, t));
            let _ = std::hint::black_box(engine.instant(&store, P95, t));
        }
        eprintln!("20 × (rps + p95) over {n} series: {:?}", s.elapsed());
        return;
    }
    let mut out = String::new();
    memory_bench(&mut out);
    out.push('\n');
    query_bench(&mut out);
    println!("{out}");
}
