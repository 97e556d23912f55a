//! Content negotiation end to end: the real `mixerless-adapter serve` scrapes loopback targets
//! answering with each content type (text 0.0.4, OpenMetrics 1.0.0 with an exemplar, none,
//! an unknown one, OpenMetrics without `# EOF`, and none again under a file_sd fallback), and
//! its `/api/v1/query` must serve exactly the values of the targets Prometheus 3 would read and
//! nothing of the others, whose `/status` names why.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mixerless_e2e::hpa;
use mixerless_harness::process::{self, Proc};
use mixerless_harness::{http, paths};
use serde_json::Value;

/// Prometheus 3's default Accept header (`scrape_protocols` defaults, UTF-8 names allowed).
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// Each target: its name, Content-Type (None: no header) and body.
const TARGETS: [(&str, Option<&str>, &str); 6] = [
    (
        "text",
        Some("text/plain; version=0.0.4; charset=utf-8"),
        // Accepted by Prometheus, refused by the old parser: a space before '{', HELP without text.
        "# HELP istio_text_total\n# TYPE istio_text_total counter\nistio_text_total { code=\"200\" } 7\n",
    ),
    (
        "om",
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "# TYPE istio_om counter\n# HELP istio_om Requests.\nistio_om_total{code=\"200\"} 11 # {trace_id=\"abc\"} 1 1.5\n# EOF\n",
    ),
    ("missing", None, "istio_missing_total 5\n"),
    ("unknown", Some("application/json"), "istio_unknown_total 6\n"),
    (
        "noeof",
        Some("application/openmetrics-text; version=1.0.0"),
        "istio_noeof_total 8\n",
    ),
    ("fallback", None, "istio_fallback_total 13\n"),
];

type Accepts = Arc<Mutex<HashMap<&'static str, String>>>;

/// Answers one scrape with the target's type and body, recording the Accept header.
fn serve(mut s: TcpStream, name: &'static str, ct: Option<&str>, body: &str, accepts: &Accepts) {
    let Some(head) = http::read_head(&mut s, Duration::from_secs(10)) else {
        return;
    };
    if let (Some(accept), Ok(mut a)) = (head.header("accept"), accepts.lock()) {
        a.insert(name, accept.to_owned());
    }
    http::respond(&mut s, "200 OK", ct, body);
}

fn client() -> reqwest::Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
}

fn get(client: &reqwest::blocking::Client, url: &str) -> anyhow::Result<Value> {
    let text = client.get(url).send()?.text()?;
    serde_json::from_str(&text).with_context(|| format!("{url}: {text}"))
}

/// Every sample of an instant query, as `(labels, value)` text.
fn query(client: &reqwest::blocking::Client, base: &str, q: &str) -> anyhow::Result<Vec<String>> {
    let text = client
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", q)])
        .send()?
        .text()?;
    let v: Value = serde_json::from_str(&text).with_context(|| format!("{q}: {text}"))?;
    anyhow::ensure!(v["status"] == "success", "{q}: {v}");
    Ok(v["data"]["result"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|s| format!("{} {}", s["metric"]["code"], s["value"][1]))
                .collect()
        })
        .unwrap_or_default())
}

/// Demonstrates that text 0.0.4 and OpenMetrics targets are read by their Content-Type with
/// exactly their values (the exemplar dropped), that a target with no type, an unknown type or
/// OpenMetrics without `# EOF` is down with nothing served, as in Prometheus 3, that a file_sd
/// fallback reads a typeless target, and that the Accept header is Prometheus 3's (or the
/// file_sd group's protocols).
#[test]
fn targets_are_read_by_their_content_type() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let accepts: Accepts = Arc::default();
    let mut ports = HashMap::new();
    for (name, ct, body) in TARGETS {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        ports.insert(name, listener.local_addr()?.port());
        let accepts = accepts.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                serve(s, name, ct, body, &accepts);
            }
        });
    }
    let hpa_dir = dir.path().join("hpa");
    std::fs::create_dir_all(&hpa_dir)?;
    std::fs::write(
        hpa_dir.join("text.yaml"),
        hpa::legacy("text", "text", "text-rps", "sum(istio_text_total)", "10"),
    )?;
    let file_sd = dir.path().join("targets.yaml");
    std::fs::write(
        &file_sd,
        format!(
            "- targets: ['127.0.0.1:{}']\n  labels: {{__metrics_path__: /fallback, __scrape_protocols__: PrometheusText0.0.4, __fallback_scrape_protocol__: PrometheusText0.0.4}}\n",
            ports["fallback"]
        ),
    )?;
    let port = paths::free_port();
    let mut args: Vec<String> = [
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--hpa-dir",
        &hpa_dir.display().to_string(),
        "--scrape-interval",
        "1s",
        "--query-timeout",
        "10s",
        "--file-sd",
        &file_sd.display().to_string(),
    ]
    .map(str::to_owned)
    .to_vec();
    for (name, _, _) in &TARGETS[..5] {
        args.push("--target".into());
        args.push(format!("http://127.0.0.1:{}/{name}", ports[name]));
    }
    let mut adapter = Proc::spawn(
        "adapter",
        dir.path(),
        &process::binary("mixerless-adapter")?,
        &args,
    )?;
    let client = client()?;
    let base = format!("https://127.0.0.1:{port}");

    // Every target scraped at least twice.
    let deadline = Instant::now() + Duration::from_secs(60);
    let targets = loop {
        adapter.ensure_running()?;
        let status = get(&client, &format!("{base}/status")).ok();
        let targets = status.map(|s| s["targets"].clone()).unwrap_or_default();
        let scraped = targets.as_array().is_some_and(|ts| {
            ts.len() == TARGETS.len() && ts.iter().all(|t| t["scrapes"].as_u64() >= Some(2))
        });
        if scraped {
            break targets;
        }
        if Instant::now() > deadline {
            bail!("targets not scraped twice within 60 s: {targets}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let by_name = |name: &str| {
        targets
            .as_array()
            .and_then(|ts| {
                ts.iter().find(|t| {
                    t["url"]
                        .as_str()
                        .is_some_and(|u| u.ends_with(&format!("/{name}")))
                })
            })
            .cloned()
            .unwrap_or_default()
    };
    for (name, health, error) in [
        ("text", "up", ""),
        ("om", "up", ""),
        ("fallback", "up", ""),
        (
            "missing",
            "down",
            "blank Content-Type and no fallback scrape protocol",
        ),
        (
            "unknown",
            "down",
            "unsupported Content-Type \"application/json\"",
        ),
        (
            "noeof",
            "down",
            "line 2: openmetrics body does not end with \"# EOF\"",
        ),
    ] {
        let t = by_name(name);
        assert_eq!(t["health"], health, "{name}: {t}");
        let last = t["last_error"].as_str().unwrap_or_default();
        assert!(last.contains(error), "{name}: {last:?} lacks {error:?}");
    }

    assert_eq!(
        query(&client, &base, "istio_text_total")?,
        ["\"200\" \"7\""]
    );
    assert_eq!(query(&client, &base, "istio_om_total")?, ["\"200\" \"11\""]);
    assert_eq!(
        query(&client, &base, "istio_fallback_total")?,
        ["null \"13\""]
    );
    for gone in [
        "istio_missing_total",
        "istio_unknown_total",
        "istio_noeof_total",
    ] {
        assert_eq!(query(&client, &base, gone)?, Vec::<String>::new(), "{gone}");
    }

    let accepts = accepts.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    for name in ["text", "om", "missing", "unknown", "noeof"] {
        assert_eq!(
            accepts.get(name).map(String::as_str),
            Some(PROMETHEUS_ACCEPT),
            "{name}"
        );
    }
    assert_eq!(
        accepts.get("fallback").map(String::as_str),
        Some("text/plain;version=0.0.4;q=0.6,*/*;q=0.5")
    );
    Ok(())
}
