//! Hostile queries against the real `mixerless-adapter serve` process, started with small limits
//! (`--query-timeout 500ms --query-max-samples 10000 --query-concurrency 2`): threads send
//! expensive `/api/v1/query` requests (nested subqueries at a 1 ms step, ranges and subqueries
//! over 6,000 series, a burst beyond the concurrency bound) beside cheap ones, and one HPA
//! annotation carries an expensive query. Three targets on 127.0.0.1 are served by this test.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mixerless_harness::process::{self, binary, Proc};
use mixerless_harness::{http, paths};
use serde_json::Value;

/// Targets the adapter scrapes; each serves `hq_pods 7`, so `sum(hq_pods)` is exactly 21.
const TARGETS: usize = 3;
/// Series of `hq_bulk` per target: what the hostile queries chew on.
const BULK: usize = 2_000;
const MAX_SAMPLES: usize = 10_000;

const HPAS: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: good
  namespace: test
  annotations:
    metric-config.external.prometheus-query.prometheus/good-pods: sum(hq_pods)
    metric-config.external.prometheus-query.prometheus/good-clock: max(hq_clock)
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: good}
  maxReplicas: 5
  metrics:
  - {type: External, external: {metric: {name: prometheus-query, selector: {matchLabels: {query-name: good-pods}}}, target: {type: Value, value: "10"}}}
  - {type: External, external: {metric: {name: prometheus-query, selector: {matchLabels: {query-name: good-clock}}}, target: {type: Value, value: "10"}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: hostile
  namespace: test
  annotations:
    metric-config.external.prometheus-query.prometheus/slow: |
      max_over_time(max_over_time((hq_bulk > 1e300)[2s:1ms])[2s:1ms])
    metric-config.external.prometheus-query.prometheus/big: |
      count(last_over_time(hq_bulk[10m]))
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: hostile}
  maxReplicas: 5
  metrics:
  - {type: External, external: {metric: {name: prometheus-query, selector: {matchLabels: {query-name: slow}}}, target: {type: Value, value: "10"}}}
  - {type: External, external: {metric: {name: prometheus-query, selector: {matchLabels: {query-name: big}}}, target: {type: Value, value: "10"}}}
"#;

/// Never finishes at a 1 ms step (4 million steps over 6,000 series) and holds nothing.
const SLOW: &str = "max_over_time(max_over_time((hq_bulk > 1e300)[2s:1ms])[2s:1ms])";
/// 6,000 series with a sample every second: past 10,000 samples from the second scrape on.
const BIG: &str = "count_over_time(hq_bulk[10m])";
/// 30,000 steps each loading 6,000 samples: the timeout or the limit, whichever comes first.
const QUANTILE: &str = "quantile_over_time(0.9, sum(hq_bulk)[30s:1ms])";

const UNAVAILABLE_MSG: &str = "too many queries: 2 are being evaluated (--query-concurrency; 1 of them with more than 10000 steps) and none finished within 500ms";
const TIMEOUT_MSG: &str = "query timed out after 500ms";
const SAMPLES_MSG: &str = "query processing would load too many samples into memory in query execution (limit 10000 samples)";

/// Serves one scrape: the clock (seconds since the test started), the pods gauge, the bulk.
fn serve(mut s: TcpStream, started: Instant) {
    if http::read_head(&mut s, Duration::from_secs(2)).is_none() {
        return;
    }
    let mut body = format!(
        "# TYPE hq_clock gauge\nhq_clock {:.3}\n# TYPE hq_pods gauge\nhq_pods{{workload=\"good\"}} 7\n# TYPE hq_bulk gauge\n",
        started.elapsed().as_secs_f64()
    );
    for i in 0..BULK {
        body.push_str(&format!("hq_bulk{{id=\"{i}\"}} {i}\n"));
    }
    http::respond(&mut s, "200 OK", Some("text/plain; version=0.0.4"), &body);
}

fn targets(started: Instant) -> anyhow::Result<Vec<u16>> {
    let mut ports = Vec::new();
    for _ in 0..TARGETS {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        ports.push(listener.local_addr()?.port());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || serve(stream, started));
            }
        });
    }
    Ok(ports)
}

/// Starts the targets and writes `hpas` to `dir/hpa/hpas.yaml`; the adapter's port and
/// `serve` arguments (1 s scrape and query intervals, `extra` added).
fn setup(
    dir: &std::path::Path,
    started: Instant,
    hpas: &str,
    extra: &[&str],
) -> anyhow::Result<(u16, Vec<String>)> {
    let ports = targets(started)?;
    let hpa_dir = dir.join("hpa");
    std::fs::create_dir_all(&hpa_dir)?;
    std::fs::write(hpa_dir.join("hpas.yaml"), hpas)?;
    let port = paths::free_port();
    let mut args: Vec<String> = [
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--hpa-dir",
        &hpa_dir.display().to_string(),
        "--scrape-interval",
        "1s",
        "--query-interval",
        "1s",
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|a| a.to_string()));
    for p in &ports {
        args.push("--target".into());
        args.push(format!("http://127.0.0.1:{p}/metrics"));
    }
    Ok((port, args))
}

/// One `/api/v1/query` answer: HTTP status and body.
fn query(client: &reqwest::blocking::Client, base: &str, q: &str) -> anyhow::Result<(u16, Value)> {
    let r = client
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", q)])
        .send()?;
    let code = r.status().as_u16();
    let text = r.text()?;
    let v = serde_json::from_str(&text).with_context(|| format!("{q}: {text}"))?;
    Ok((code, v))
}

/// How a hostile query was answered.
#[derive(Debug, Default)]
struct Tally {
    timeout: usize,
    samples: usize,
    unavailable: usize,
    other: Vec<String>,
}

impl Tally {
    fn record(&mut self, q: &str, code: u16, v: &Value) {
        match (code, v["errorType"].as_str(), v["error"].as_str()) {
            (503, Some("timeout"), Some(TIMEOUT_MSG)) => self.timeout += 1,
            (422, Some("execution"), Some(SAMPLES_MSG)) => self.samples += 1,
            (503, Some("unavailable"), Some(UNAVAILABLE_MSG)) => self.unavailable += 1,
            _ => self.other.push(format!("{q}: {code} {v}")),
        }
    }
}

fn external(
    client: &reqwest::blocking::Client,
    base: &str,
    name: &str,
) -> anyhow::Result<(u16, Value)> {
    let r = client
        .get(format!(
            "{base}/apis/external.metrics.k8s.io/v1beta1/namespaces/test/prometheus-query?labelSelector=query-name%3D{name}"
        ))
        .send()?;
    let code = r.status().as_u16();
    Ok((code, serde_json::from_str(&r.text()?)?))
}

fn value(list: &Value) -> anyhow::Result<f64> {
    let q = list["items"][0]["value"]
        .as_str()
        .with_context(|| format!("no item: {list}"))?;
    Ok(mixerless_adapter::quantity::parse_milli(q).context("quantity")? as f64 / 1000.0)
}

/// Demonstrates that expensive `/api/v1/query` requests end with Prometheus' errors (503
/// `timeout` at the time limit, 422 `execution` at the samples limit, 503 `unavailable` beyond
/// the concurrency bound) while cheap queries beside them answer the right value without waiting
/// out a slot; that an
/// expensive HPA annotation gives that HPA its error (on `/status` and in the log) while the
/// other HPA keeps serving a right and fresh value; and that the adapter's memory stays bounded.
#[test]
fn hostile_queries_are_cut_off_and_spare_the_good_ones() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let (port, args) = setup(
        dir.path(),
        started,
        HPAS,
        &[
            "--query-timeout",
            "500ms",
            "--query-max-samples",
            &MAX_SAMPLES.to_string(),
            "--query-concurrency",
            "2",
        ],
    )?;
    let mut adapter = Proc::spawn("adapter", dir.path(), &binary("mixerless-adapter")?, &args)?;
    let client = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()?;
    let base = format!("https://127.0.0.1:{port}");

    // Until the good HPA is served and the hostile one has been evaluated (its window, 4 s, is
    // covered).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        adapter.ensure_running()?;
        let good = external(&client, &base, "good-pods").ok();
        let slow = external(&client, &base, "slow").ok();
        if good.is_some_and(|(c, _)| c == 200)
            && slow.is_some_and(|(_, v)| {
                v["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(TIMEOUT_MSG))
            })
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("HPAs not evaluated within 30 s:\n{}", adapter.log());
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    // The attack: two threads loop over the hostile queries, one sends the cheap query.
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut threads = Vec::new();
    for k in 0..2 {
        let (client, base, stop, tally) =
            (client.clone(), base.clone(), stop.clone(), tally.clone());
        threads.push(std::thread::spawn(move || -> anyhow::Result<()> {
            let mut n = k;
            while !stop.load(Ordering::Relaxed) {
                let q = [SLOW, BIG, QUANTILE][n % 3];
                n += 1;
                let (code, v) = query(&client, &base, q)?;
                tally.lock().unwrap().record(q, code, &v);
            }
            Ok(())
        }));
    }
    let good = {
        let (client, base, stop) = (client.clone(), base.clone(), stop.clone());
        std::thread::spawn(move || -> anyhow::Result<(usize, usize)> {
            let (mut right, mut unavailable) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                let (code, v) = query(&client, &base, "sum(hq_pods)")?;
                if code == 503 && v["errorType"] == "unavailable" {
                    unavailable += 1;
                    continue;
                }
                anyhow::ensure!(code == 200, "sum(hq_pods): {code} {v}");
                let result = &v["data"]["result"];
                anyhow::ensure!(
                    result.as_array().map(Vec::len) == Some(1) && result[0]["value"][1] == "21",
                    "sum(hq_pods) is not 21: {v}"
                );
                right += 1;
            }
            Ok((right, unavailable))
        })
    };

    // Meanwhile the external metrics API: the good HPA right and fresh, read every 250 ms.
    let attack = Instant::now();
    let mut reads = 0;
    let mut worst_age = 0.0f64;
    let mut burst_done = false;
    while attack.elapsed() < Duration::from_secs(8) {
        if !burst_done && attack.elapsed() > Duration::from_secs(3) {
            // Ten more at once: one slot for long queries, held up to 500 ms, and 500 ms to
            // wait for it, so at most about two of them are admitted.
            let burst: Vec<_> = (0..10)
                .map(|_| {
                    let (client, base, tally) = (client.clone(), base.clone(), tally.clone());
                    std::thread::spawn(move || -> anyhow::Result<()> {
                        let (code, v) = query(&client, &base, SLOW)?;
                        tally.lock().unwrap().record(SLOW, code, &v);
                        Ok(())
                    })
                })
                .collect();
            for b in burst {
                b.join().expect("burst thread")?;
            }
            burst_done = true;
        }
        let (code, pods) = external(&client, &base, "good-pods")?;
        anyhow::ensure!(code == 200, "good-pods: {code} {pods}");
        anyhow::ensure!(value(&pods)? == 21.0, "good-pods: {pods}");
        let (code, clock) = external(&client, &base, "good-clock")?;
        anyhow::ensure!(code == 200, "good-clock: {code} {clock}");
        let age = started.elapsed().as_secs_f64() - value(&clock)?;
        worst_age = worst_age.max(age);
        reads += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("hostile thread")?;
    }
    let (right, good_unavailable) = good.join().expect("good thread")?;
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    eprintln!(
        "hostile answers: {tally:?}; cheap query right {right} times, unavailable {good_unavailable}; {reads} external reads, worst clock age {worst_age:.2} s"
    );
    adapter.ensure_running()?;

    assert!(
        tally.other.is_empty(),
        "unexpected answers: {:?}",
        tally.other
    );
    assert!(tally.timeout >= 2, "{tally:?}");
    assert!(tally.samples >= 2, "{tally:?}");
    assert!(tally.unavailable >= 5, "{tally:?}");
    assert!(
        right >= 5,
        "the cheap query was answered right {right} times"
    );
    // The long queries (the two subqueries) hold at most one of the two slots.
    assert_eq!(good_unavailable, 0, "the cheap query waited out a slot");
    // One scrape and one evaluation interval (1 s each) plus up to a timeout's worth of lock
    // wait and an evaluation; the adapter itself refuses values older than 3 intervals.
    assert!(
        worst_age < 5.0,
        "the good HPA's data was {worst_age:.2} s old"
    );

    // The hostile HPA carries both errors on /status and in the log.
    let status: Value =
        serde_json::from_str(&client.get(format!("{base}/status")).send()?.text()?)?;
    let errors: Vec<String> = status["metrics"]
        .as_array()
        .context("metrics")?
        .iter()
        .filter(|m| m.to_string().contains("\"hostile\""))
        .map(|m| m.to_string())
        .collect();
    assert_eq!(errors.len(), 2, "{status}");
    assert!(errors.iter().any(|e| e.contains(TIMEOUT_MSG)), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains(SAMPLES_MSG)), "{errors:?}");
    let (code, big) = external(&client, &base, "big")?;
    assert!(code >= 500, "{code} {big}");
    assert!(
        big["message"]
            .as_str()
            .is_some_and(|m| m.contains(SAMPLES_MSG)),
        "{big}"
    );
    let log = adapter.log();
    assert!(
        log.contains(TIMEOUT_MSG) && log.contains(SAMPLES_MSG),
        "{log}"
    );

    let rss = process::peak_rss_mib(adapter.pid())?;
    eprintln!("adapter peak RSS {rss} MiB");
    assert!(rss < 400, "adapter peak RSS {rss} MiB");
    Ok(())
}

/// `n` copies of `unit` joined by `sep`.
fn chain(unit: &str, sep: &str, n: usize) -> String {
    vec![unit; n].join(sep)
}

/// One POSTed `/api/v1/query` (form body, as Grafana sends it) with extra URL parameters.
fn post_query(
    client: &reqwest::blocking::Client,
    base: &str,
    url_params: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<(u16, Value)> {
    let r = client
        .post(format!("{base}/api/v1/query{url_params}"))
        .form(form)
        .send()?;
    let code = r.status().as_u16();
    let text = r.text()?;
    Ok((code, serde_json::from_str(&text).with_context(|| text)?))
}

fn expect_bad_data(what: &str, (code, v): (u16, Value), needle: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        code == 400
            && v["errorType"] == "bad_data"
            && v["error"].as_str().is_some_and(|m| m.contains(needle)),
        "{what}: expected 400 bad_data naming {needle:?}, got {code} {v}"
    );
    Ok(())
}

/// The good HPA of [`deep_and_oversized_input_is_refused_and_never_crashes`], and a second
/// file whose annotations are nested thousands deep or too long.
const GOOD_HPA: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: good
  namespace: test
  annotations:
    metric-config.external.prometheus-query.prometheus/good-pods: sum(hq_pods)
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: good}
  maxReplicas: 5
  metrics:
  - {type: External, external: {metric: {name: prometheus-query, selector: {matchLabels: {query-name: good-pods}}}, target: {type: Value, value: "10"}}}
"#;

fn deep_hpa() -> String {
    let parens = "(".repeat(20_000) + "hq_pods" + &")".repeat(20_000);
    format!(
        r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: deep
  namespace: test
  annotations:
    metric-config.external.prometheus-query.prometheus/deep-sum: "{sum}"
    metric-config.external.prometheus-query.prometheus/deep-parens: "{parens}"
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: deep}}
  maxReplicas: 5
  metrics:
  - {{type: External, external: {{metric: {{name: prometheus-query, selector: {{matchLabels: {{query-name: deep-sum}}}}}}, target: {{type: Value, value: "10"}}}}}}
  - {{type: External, external: {{metric: {{name: prometheus-query, selector: {{matchLabels: {{query-name: deep-parens}}}}}}, target: {{type: Value, value: "10"}}}}}}
"#,
        sum = chain("hq_pods", " + ", 3_000),
    )
}

/// Demonstrates that input nested thousands deep or longer than `--query-max-length` (over
/// `/api/v1`, in an HPA annotation on hot reload and again after a restart, and to the `query`
/// command) gets an error naming the flag, never a stack overflow that aborts the process;
/// that the good HPA keeps its exact value throughout; that a query the parser panics on is an
/// error without a panic trace in the log; and `/api/v1`'s parameters as Prometheus reads them
/// (`timeout`, out-of-range `time`, `query` in both the URL and the body).
#[test]
fn deep_and_oversized_input_is_refused_and_never_crashes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (port, args) = setup(dir.path(), Instant::now(), GOOD_HPA, &[])?;
    let hpa_dir = dir.path().join("hpa");
    let bin = binary("mixerless-adapter")?;
    let client = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()?;
    let base = format!("https://127.0.0.1:{port}");
    let good_is_21 = |adapter: &mut Proc| -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            adapter.ensure_running()?;
            if let Ok((200, v)) = external(&client, &base, "good-pods") {
                anyhow::ensure!(value(&v)? == 21.0, "good-pods: {v}");
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "good-pods not served:\n{}",
                adapter.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let mut adapter = Proc::spawn("adapter", dir.path(), &bin, &args)?;
    good_is_21(&mut adapter)?;

    // /api/v1: each deep shape, a regex alternation past the length limit, a regex bomb.
    let deep = [
        ("2,000-term sum", chain("1", "+", 2_000)),
        (
            "5,000 parentheses",
            format!("{}1{}", "(".repeat(5_000), ")".repeat(5_000)),
        ),
        ("8,000-term or", chain("x", " or ", 8_000)),
        (
            "20,000 parentheses",
            format!("{}1{}", "(".repeat(20_000), ")".repeat(20_000)),
        ),
        ("10,000 unary minus", format!("{}1", "-".repeat(10_000))),
        (
            "3,000 nested calls",
            format!("{}hq_pods{}", "abs(".repeat(3_000), ")".repeat(3_000)),
        ),
    ];
    for (what, q) in &deep {
        expect_bad_data(
            what,
            post_query(&client, &base, "", &[("query", q)])?,
            "--query-max-depth",
        )?;
        adapter.ensure_running()?;
    }
    let long = format!(
        r#"hq_pods{{workload=~"{}"}}"#,
        chain("podinfo-[a-z0-9]+", "|", 10_000)
    );
    expect_bad_data(
        "190 KB regex",
        post_query(&client, &base, "", &[("query", &long)])?,
        "--query-max-length",
    )?;
    expect_bad_data(
        "regex bomb",
        post_query(
            &client,
            &base,
            "",
            &[("query", r#"hq_pods{workload=~"(a{100}){100}{100}"}"#)],
        )?,
        "",
    )?;
    expect_bad_data(
        "parser panic",
        post_query(
            &client,
            &base,
            "",
            &[("query", "rate(hq_pods[340444444444444444444444])")],
        )?,
        "out of range",
    )?;
    // Within the limit, the same shapes evaluate: 100 terms of 7 per target.
    let (code, v) = post_query(
        &client,
        &base,
        "",
        &[("query", &format!("sum({})", chain("hq_pods", " + ", 100)))],
    )?;
    anyhow::ensure!(
        code == 200 && v["data"]["result"][0]["value"][1] == "2100",
        "{code} {v}"
    );

    // Prometheus' parameters: the body's query wins over the URL's; a bad or out-of-range time
    // or timeout is refused.
    let (code, v) = post_query(
        &client,
        &base,
        "?query=vector(1)",
        &[("query", "vector(2)")],
    )?;
    anyhow::ensure!(
        code == 200 && v["data"]["result"][0]["value"][1] == "2",
        "{code} {v}"
    );
    expect_bad_data(
        "timeout=abc",
        post_query(&client, &base, "?timeout=abc", &[("query", "vector(1)")])?,
        "invalid parameter \"timeout\"",
    )?;
    expect_bad_data(
        "time=-1e300",
        post_query(&client, &base, "?time=-1e300", &[("query", "vector(1)")])?,
        "valid timestamp",
    )?;
    let (code, v) = post_query(&client, &base, "?timeout=30s", &[("query", "vector(1)")])?;
    anyhow::ensure!(code == 200, "{code} {v}");
    let slow = "count(max_over_time(hq_pods[10m:1ms]))";
    let (code, v) = post_query(&client, &base, "?timeout=50ms", &[("query", slow)])?;
    anyhow::ensure!(
        code == 503 && v["error"] == "query timed out after 50ms",
        "a 50 ms timeout: {code} {v}"
    );

    // Hot reload: the deep HPA gets annotation errors naming the flag; the good one goes on.
    std::fs::write(hpa_dir.join("deep.yaml"), deep_hpa())?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        adapter.ensure_running()?;
        let status: Value =
            serde_json::from_str(&client.get(format!("{base}/status")).send()?.text()?)?;
        if status.to_string().contains("--query-max-depth") {
            break status;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no annotation error on /status: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let deep_errors = status["hpas"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["name"] == "deep"))
        .map(|h| h["errors"].clone())
        .context("no deep HPA on /status")?;
    anyhow::ensure!(
        deep_errors.as_array().is_some_and(|e| e.len() == 2
            && e.iter()
                .all(|e| e.as_str().is_some_and(|e| e.contains("--query-max-depth")))),
        "{status}"
    );
    good_is_21(&mut adapter)?;

    // A restart reads the same files and stays up.
    drop(adapter);
    let mut adapter = Proc::spawn("adapter-again", dir.path(), &bin, &args)?;
    good_is_21(&mut adapter)?;
    std::thread::sleep(Duration::from_secs(2));
    good_is_21(&mut adapter)?;
    let log = adapter.log();
    anyhow::ensure!(
        log.contains("--query-max-depth"),
        "the annotation error is not logged:\n{log}"
    );
    anyhow::ensure!(
        !log.contains("panicked"),
        "a panic trace in the log:\n{log}"
    );

    // The query command: a clear error and status 1.
    let data = dir.path().join("data.prom");
    std::fs::write(&data, "hq_pods 7 0\n# EOF\n")?;
    let out = std::process::Command::new(&bin)
        .args(["query", "--data"])
        .arg(&data)
        .arg(&deep[0].1)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.code() == Some(1) && stdout.contains("--query-max-depth"),
        "query: {:?} {stdout} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
