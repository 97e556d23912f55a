//! `make demo --min-replicas 0`, shortened: scale to zero end to end with real Envoys, real
//! `hey` load, the real adapter and the demo's controller: podinfo starts with no replica, the
//! first requests end as 503 `UH` in the loadtester sidecar, activation brings podinfo to 1,
//! load to 2, silence back to 0; every request `hey` sent is counted by the callers' sidecar.
//! Run with the plain HPA and with `--keda` (the controller as KEDA's operator over the
//! adapter's gRPC scaler).

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mixerless_harness::paths;
use mixerless_harness::process::binary;
use serde_json::Value;

/// The demo as a child process that dies with the test (and is killed on drop).
struct Demo {
    child: Child,
    out: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped scale-to-zero HPA with a 10 s window and a 10 s scale-down stabilization instead
/// of 30 s and 60 s, so a whole 0 -> N -> 0 cycle fits in about 80 s.
fn shortened_zero_hpa(dir: &std::path::Path) -> anyhow::Result<()> {
    let name = "HorizontalPodAutoscaler-podinfo-zero.yaml";
    let text = std::fs::read_to_string(paths::root().join("istio/fast-scaling").join(name))?;
    anyhow::ensure!(text.contains("[30s]") && text.contains("stabilizationWindowSeconds: 60"));
    let text = text.replace("[30s]", "[10s]").replace(
        "stabilizationWindowSeconds: 60",
        "stabilizationWindowSeconds: 10",
    );
    std::fs::write(dir.join(name), text)?;
    Ok(())
}

/// Runs the demo to its end with `extra` flags; returns its output directory and stdout.
fn run(extra: &[&str]) -> anyhow::Result<(Demo, String)> {
    let out = tempfile::Builder::new()
        .prefix("mixerless-demo-zero-")
        .tempdir()?;
    let hpa_dir = out.path().join("hpa-in");
    std::fs::create_dir_all(&hpa_dir)?;
    shortened_zero_hpa(&hpa_dir)?;
    let log = out.path().join("demo.out");
    let child = mixerless_harness::process::guarded(binary("mixerless-demo")?)
        .arg("--adapter-bin")
        .arg(binary("mixerless-adapter")?)
        .arg("--out")
        .arg(out.path())
        .arg("--hpa-dir")
        .arg(&hpa_dir)
        // Two steps of 10 s at 6.7 and 13.3 req/s (1, then 2 replicas at 10 per replica), 20 s
        // at 20 req/s, then 40 s without load.
        .args(["--min-replicas", "0", "--ramp", "20s", "--ramp-steps", "2"])
        .args(["--steady", "20s", "--down", "0s", "--idle", "40s"])
        .args(["-c", "2", "-q", "10", "--sync-period", "2s"])
        .args(extra)
        .env("ENVOY_BIN", paths::envoy_bin()?)
        .current_dir(paths::root())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(Stdio::from(std::fs::File::create(
            out.path().join("demo.err"),
        )?))
        .spawn()?;
    let mut demo = Demo { child, out };
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = demo.child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            bail!("the demo did not end within 180 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = std::fs::read_to_string(&log)?;
    let stderr = std::fs::read_to_string(demo.out.path().join("demo.err"))?;
    println!("{stdout}\n{stderr}");
    anyhow::ensure!(status.success(), "the demo ended with {status}: {stderr}");
    Ok((demo, stdout))
}

/// Replicas after each controller sync (the scale it wrote, else the one it saw).
fn replicas(out: &std::path::Path) -> anyhow::Result<Vec<i64>> {
    let text = std::fs::read_to_string(out.join("timeline.jsonl"))?;
    let mut seen = Vec::new();
    for line in text.lines() {
        let t: Value = serde_json::from_str(line)?;
        if seen.is_empty() {
            seen.push(t["replicas"].as_i64().context("replicas")?);
        }
        seen.push(
            t["scaled_to"]
                .as_i64()
                .or(t["replicas"].as_i64())
                .context("replicas")?,
        );
    }
    Ok(seen)
}

/// The distinct replica counts in order: `[0, 0, 1, 1, 2, 0]` -> `[0, 1, 2, 0]`.
fn steps(replicas: &[i64]) -> Vec<i64> {
    let mut s = replicas.to_vec();
    s.dedup();
    s
}

/// Checks 0 -> 1 -> >= 2 -> ... -> 0 and that every request is counted on the callers' side.
fn check(out: &std::path::Path, stdout: &str) -> anyhow::Result<()> {
    let path = steps(&replicas(out)?);
    assert_eq!(path.first(), Some(&0), "podinfo starts at zero: {path:?}");
    assert_eq!(path.get(1), Some(&1), "activation brings it to 1: {path:?}");
    assert!(
        path.get(2).is_some_and(|n| *n >= 2),
        "load takes it to 2 or more: {path:?}"
    );
    assert_eq!(path.last(), Some(&0), "idle takes it back to 0: {path:?}");
    assert_eq!(
        path.iter().filter(|n| **n == 0).count(),
        2,
        "zero only at the start and the end: {path:?}"
    );

    let counts: Value = serde_json::from_str(&std::fs::read_to_string(out.join("counts.json"))?)?;
    let hey: BTreeMap<String, u64> = serde_json::from_value(counts["hey"].clone())?;
    let mut sidecar: BTreeMap<(String, String), u64> = BTreeMap::new();
    for c in counts["sidecar"].as_array().context("sidecar counts")? {
        let key = (
            c["code"].as_str().unwrap_or_default().to_owned(),
            c["flags"].as_str().unwrap_or_default().to_owned(),
        );
        *sidecar.entry(key).or_insert(0) += c["requests"].as_u64().context("requests")?;
    }
    let refused = sidecar
        .get(&("503".to_owned(), "UH".to_owned()))
        .copied()
        .unwrap_or(0);
    assert!(
        refused > 0,
        "the first requests, at zero replicas, end as 503 UH: {sidecar:?}"
    );
    assert_eq!(
        hey.get("503").copied().unwrap_or(0),
        refused,
        "hey saw as many 503s as the sidecar counted with UH"
    );
    assert_eq!(
        hey.get("200").copied().unwrap_or(0),
        sidecar
            .get(&("200".to_owned(), "-".to_owned()))
            .copied()
            .unwrap_or(0),
        "every 200 hey got was counted"
    );
    let sent: u64 = hey.values().sum();
    let counted: u64 = sidecar.values().sum();
    assert_eq!(
        hey.get("error"),
        None,
        "every request got an answer: {hey:?}"
    );
    assert_eq!(
        counted, sent,
        "every request is counted: hey {hey:?}, sidecar {sidecar:?}"
    );
    assert!(
        stdout.contains("replicas    start 0, peak ") && stdout.contains(", end 0"),
        "the summary says start 0 and end 0"
    );
    let chart = std::fs::read_to_string(out.join("chart.svg"))?;
    assert!(chart.starts_with("<svg") && chart.contains("<polyline"));
    Ok(())
}

/// Demonstrates scale to zero with the plain HPA (`minReplicas: 0`, AverageValue on the
/// callers' request rate): 0 -> 1 -> >= 2 -> 0, every request counted.
#[test]
fn scale_to_zero_with_the_plain_hpa() -> anyhow::Result<()> {
    let (demo, stdout) = run(&[])?;
    check(demo.out.path(), &stdout)
}

/// Demonstrates `--keda`: the controller as KEDA's operator over the adapter's gRPC scaler
/// takes podinfo 0 -> 1 on a pushed `StreamIsActive`, 1 -> N on `GetMetrics` through the HPA
/// arithmetic, and back to 0 after the cooldown; every request counted.
#[test]
fn scale_to_zero_as_keda() -> anyhow::Result<()> {
    let (demo, stdout) = run(&["--keda", "--downscale-stabilization", "10s"])?;
    check(demo.out.path(), &stdout)?;
    assert!(
        stdout.contains("keda: New size: 1; reason: StreamIsActive: trigger mixerless-")
            && stdout.contains("is active"),
        "KEDA took podinfo from 0 to 1 on StreamIsActive"
    );
    assert!(
        stdout.contains("keda: New size: 0; reason: StreamIsActive: trigger mixerless-")
            && stdout.contains("inactive for the cooldown (10s)"),
        "KEDA took podinfo back to 0 after the cooldown"
    );
    // The scale-up beyond 1 came from the HPA reading GetMetrics.
    let text = std::fs::read_to_string(demo.out.path().join("timeline.jsonl"))?;
    let ticks: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let up = ticks
        .iter()
        .find(|t| t["scaled_to"].as_i64().is_some_and(|n| n >= 2))
        .context("no scale-up to 2")?;
    let m = &up["hpas"][0]["metrics"][0];
    assert!(
        m["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("GetMetrics mixerless-")),
        "1 -> N read GetMetrics: {m}"
    );
    let usage = m["usage_milli"].as_i64().context("usage")?;
    assert_eq!(
        up["scaled_to"].as_i64(),
        Some((usage + 9_999) / 10_000),
        "AverageValue 10 over GetMetrics' value {usage}m"
    );
    let active: Vec<bool> = ticks.iter().filter_map(|t| t["active"].as_bool()).collect();
    assert!(
        active.contains(&true) && active.last() == Some(&false),
        "the timeline records StreamIsActive: {active:?}"
    );
    Ok(())
}
