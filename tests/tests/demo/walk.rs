//! `make demo`, shortened: the whole walk-through with real Envoys, real `hey` load, the real
//! adapter and the demo's HPA controller loop, judged from the adapter's answers.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mixerless_harness::paths;
use mixerless_harness::process::binary;
use serde_json::Value;

/// The demo as a child process that dies with the test (and is killed on drop).
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Lines read while waiting for the end.
    seen: Vec<String>,
    out: tempfile::TempDir,
}

impl Demo {
    fn start(flags: &[&str]) -> anyhow::Result<Self> {
        let demo = binary("mixerless-demo")?;
        let adapter = binary("mixerless-adapter")?;
        let out = tempfile::Builder::new()
            .prefix("mixerless-demo-test-")
            .tempdir()?;
        let mut child = mixerless_harness::process::guarded(demo)
            .arg("--adapter-bin")
            .arg(adapter)
            .arg("--out")
            .arg(out.path())
            .args(flags)
            .env("ENVOY_BIN", paths::envoy_bin()?)
            .current_dir(paths::root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (tx, lines) = mpsc::channel();
        for pipe in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    println!("demo| {line}");
                    let _ = tx.send(line);
                }
            });
        }
        Ok(Self {
            child,
            lines,
            seen: Vec::new(),
            out,
        })
    }

    /// Waits for a line containing `needle`; returns it.
    fn line_with(&self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return Ok(l),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        bail!("the demo printed no line with {needle:?} within {timeout:?}")
    }

    fn wait(&mut self, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            // Keep draining output so the pipes never fill.
            while let Ok(l) = self.lines.try_recv() {
                self.seen.push(l);
            }
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("the demo did not end within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Processes still running whose command line mentions this demo's output directory
    /// (every Envoy bootstrap, the adapter's flags, hey's logs live there).
    fn leftovers(&self) -> Vec<String> {
        let needle = self.out.path().display().to_string();
        let mut left = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(&needle) && !cmd.contains("mixerless-demo --adapter-bin") {
                left.push(cmd);
            }
        }
        left
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kubectl --kubeconfig <the demo's kubeconfig> get --raw <path>`, as the README shows it.
fn kubectl_raw(kubeconfig: &std::path::Path, path: &str) -> anyhow::Result<Result<Value, String>> {
    let kubectl = paths::root().join(".venv/bin/kubectl");
    anyhow::ensure!(
        kubectl.exists(),
        "no {}: run `make deps`",
        kubectl.display()
    );
    let out = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["get", "--raw", path])
        .stdin(Stdio::null())
        .output()?;
    Ok(if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout)?)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

const RPS_PATH: &str =
    "/apis/external.metrics.k8s.io/v1beta1/namespaces/test/prometheus-query?labelSelector=query-name%3Dprocessed-requests-per-second";

/// Demonstrates the walk-through end to end, shortened (70 s of load, 44 s of trickle): under
/// `hey -c 2 -q 10` the adapter's requests-per-second answer rises above 10 per replica and the
/// controller scales podinfo from 1 to 2 replicas; once the load drops to a trickle the answer
/// falls and podinfo goes back to 1. Each scaling decision is checked against the adapter answer
/// it was made on, the adapter's API is asked with kubectl while the demo runs, and the chart is
/// written.
#[test]
fn shortened_demo_scales_up_under_load_and_back_down() -> anyhow::Result<()> {
    let mut demo = Demo::start(&[
        "--ramp",
        "0s",
        "--steady",
        "70s",
        "--down",
        "44s",
        "-c",
        "2",
        "-q",
        "10",
        "--sync-period",
        "2s",
        "--downscale-stabilization",
        "4s",
        "--scrape-interval",
        "1s",
    ])?;
    demo.line_with("  adapter ", Duration::from_secs(60))?;
    let kubeconfig = demo.out.path().join("kubeconfig");

    // While the load runs, the adapter answers kubectl itself: discovery, then the HPA's metric.
    let discovery = kubectl_raw(&kubeconfig, "/apis/external.metrics.k8s.io/v1beta1")?
        .map_err(anyhow::Error::msg)?;
    assert_eq!(discovery["resources"][0]["name"], "prometheus-query");
    let mut peak = 0.0_f64;
    // The steady phase: the adapter withholds the 1m rate until it holds a minute of history,
    // then answers about 20.
    let until = Instant::now() + Duration::from_secs(69);
    let mut warming = 0;
    while Instant::now() < until {
        while let Ok(l) = demo.lines.try_recv() {
            demo.seen.push(l);
        }
        match kubectl_raw(&kubeconfig, RPS_PATH)? {
            Ok(list) => {
                for item in list["items"].as_array().into_iter().flatten() {
                    peak = peak.max(quantity(item["value"].as_str().unwrap_or("0")));
                }
            }
            Err(e) if e.contains("warming up") => warming += 1,
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        warming > 0,
        "the first answers say the adapter is warming up"
    );
    assert!(
        peak > 11.0,
        "the adapter's requests/s answer rose above 10 × 1.1 under 20 req/s of load (peak {peak})"
    );

    let status = demo.wait(Duration::from_secs(120))?;
    assert!(status.success(), "the demo ended with {status}");
    assert!(
        demo.leftovers().is_empty(),
        "processes left behind: {:?}",
        demo.leftovers()
    );

    let text = std::fs::read_to_string(demo.out.path().join("timeline.jsonl"))?;
    let ticks: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let total = |t: &Value| -> Option<Value> {
        t["hpas"]
            .as_array()?
            .iter()
            .find(|h| h["name"] == "podinfo-total")
            .cloned()
    };
    assert_eq!(
        ticks.first().map(|t| t["replicas"].clone()),
        Some(1.into()),
        "podinfo starts with 1 replica"
    );

    // Scale-up: the first decision above 1, made on an adapter answer above 10 × 1.1 per replica.
    let up = ticks
        .iter()
        .position(|t| t["scaled_to"].as_i64().is_some_and(|n| n >= 2))
        .context("podinfo never scaled to 2 or more")?;
    let usage = |t: &Value| {
        total(t)
            .and_then(|h| h["metrics"][0]["usage_milli"].as_i64())
            .unwrap_or(-1)
    };
    let (u, r) = (
        usage(&ticks[up]),
        ticks[up]["replicas"].as_i64().unwrap_or(0),
    );
    assert!(
        u as f64 > 11_000.0 * r as f64,
        "scaled up on an answer of {u}m for {r} replica(s)"
    );
    assert_eq!(
        ticks[up]["scaled_to"].as_i64(),
        Some((u + 9_999) / 10_000),
        "AverageValue 10: ceil(usage / 10)"
    );
    assert!(
        ticks[up]["phase"] == "steady",
        "scaled up while the load ran: {}",
        ticks[up]["phase"]
    );

    // Scale-down: later, back to 1, on an answer at or below one replica's target.
    let down = up
        + ticks[up..]
            .iter()
            .position(|t| t["scaled_to"].as_i64() == Some(1))
            .context("podinfo never scaled back down to 1")?;
    let u = usage(&ticks[down]);
    assert!(
        (0..=10_000).contains(&u),
        "scaled down on an answer of {u}m"
    );
    assert_eq!(ticks[down]["phase"], "down");
    let last = ticks.last().context("no ticks")?;
    assert_eq!(
        last["scaled_to"].as_i64().or(last["replicas"].as_i64()),
        Some(1)
    );

    let chart = std::fs::read_to_string(demo.out.path().join("chart.svg"))?;
    assert!(
        chart.starts_with("<svg") && chart.contains("<polyline"),
        "chart.svg is an SVG with lines"
    );
    Ok(())
}

/// A Quantity string as a number (enough for the adapter's canonical milli output).
fn quantity(s: &str) -> f64 {
    match s.strip_suffix('m') {
        Some(n) => n.parse::<f64>().unwrap_or(0.0) / 1000.0,
        None => match s.strip_suffix('k') {
            Some(n) => n.parse::<f64>().unwrap_or(0.0) * 1000.0,
            None => s.parse().unwrap_or(0.0),
        },
    }
}

/// Demonstrates that a port in use is refused with a message naming it and nothing is started.
#[test]
fn busy_port_is_named_and_nothing_starts() -> anyhow::Result<()> {
    let held = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = held.local_addr()?.port().to_string();
    let mut demo = Demo::start(&["--client-port", &port])?;
    let status = demo.wait(Duration::from_secs(30))?;
    assert!(!status.success());
    std::thread::sleep(Duration::from_millis(200));
    while let Ok(l) = demo.lines.try_recv() {
        demo.seen.push(l);
    }
    let said = demo.seen.join("\n");
    assert!(
        said.contains(&format!("127.0.0.1:{port} is already in use")),
        "message: {said}"
    );
    assert!(demo.leftovers().is_empty());
    Ok(())
}

/// Demonstrates that Ctrl-C (SIGINT) in the middle of the demo stops every process it started.
#[test]
fn ctrl_c_stops_everything() -> anyhow::Result<()> {
    let mut demo = Demo::start(&["--steady", "60s", "--ramp", "0s", "--down", "0s"])?;
    demo.line_with("NAME", Duration::from_secs(60))?;
    assert!(
        !demo.leftovers().is_empty(),
        "Envoys, hey and the adapter run during the demo"
    );
    let pid = demo.child.id().to_string();
    // setpriv execs the demo, so the child's pid is the demo's.
    Command::new("kill").args(["-INT", &pid]).status()?;
    let status = demo.wait(Duration::from_secs(20))?;
    assert_eq!(status.code(), Some(130));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        demo.leftovers().is_empty(),
        "processes left behind: {:?}",
        demo.leftovers()
    );
    Ok(())
}
