//! The `mixerless-adapter` binary as a new user meets it: flags it cannot run with, a command
//! with no data, an adapter that is down, the help text and the README's examples. Each is run
//! as a process and judged by its exit status and what it prints.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mixerless_harness::paths;
use mixerless_harness::process::binary;

/// What a finished run printed.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the adapter with `args` in `dir`; an error when it is still running after `limit`
/// (it is killed then).
fn run(dir: &Path, args: &[&str], limit: Duration) -> anyhow::Result<Run> {
    let logs = tempfile::tempdir()?;
    let out = logs.path().join("stdout");
    let err = logs.path().join("stderr");
    let mut child = Command::new(binary("mixerless-adapter")?)
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out)?)
        .stderr(std::fs::File::create(&err)?)
        .spawn()
        .context("spawn mixerless-adapter")?;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{args:?} still running after {limit:?}; stderr:\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(Run {
        code: status.code(),
        stdout: std::fs::read_to_string(&out)?,
        stderr: std::fs::read_to_string(&err)?,
    })
}

/// Demonstrates that `serve` refuses flag values it cannot run with before it binds or
/// scrapes, exiting 1 with a message naming the flag (`--scrape-interval 0s` used to panic a
/// task and serve "warming up" forever), while the same command with sane values runs.
#[test]
fn serve_refuses_nonsense_flags_at_start() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("hpas"))?;
    let base = ["serve", "--hpa-dir", "hpas", "--listen", "127.0.0.1:0"];
    for (extra, want) in [
        (
            &["--scrape-interval", "0s"][..],
            "--scrape-interval 0s: must be longer than zero",
        ),
        (
            &["--query-interval", "0s"],
            "--query-interval 0s: must be longer than zero",
        ),
        (
            &["--stale-intervals", "0"],
            "--stale-intervals 0: must be from 1 to 1000",
        ),
        (
            &["--scrape-timeout", "10s"],
            "--scrape-timeout 10s: must not be longer than --scrape-interval 5s",
        ),
        (
            &["--query-concurrency", "0"],
            "--query-concurrency 0: must be at least 1",
        ),
        (
            &["--retention", "0s"],
            "--retention 0s: must be longer than zero",
        ),
        (
            &["--query-timeout", "0s"],
            "--query-timeout 0s: must be longer than zero",
        ),
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let r = run(dir.path(), &args, Duration::from_secs(20))?;
        assert_eq!(r.code, Some(1), "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{extra:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{extra:?}: {}", r.stderr);
    }
    // The same command with sane values keeps serving until stopped.
    let err = run(dir.path(), &base, Duration::from_secs(2))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("still running after"), "{err}");
    assert!(err.contains("serving external.metrics.k8s.io"), "{err}");
    Ok(())
}

/// Demonstrates that `explain` against an adapter that is not listening names the URL it
/// asked and the cause, and exits 1 (it printed "error sending request" and exited 0).
#[test]
fn explain_names_the_url_and_cause_of_a_down_adapter() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hpa = paths::root().join("demo/hpa/HorizontalPodAutoscaler-podinfo-total.yaml");
    let port = paths::free_port();
    let adapter = format!("https://127.0.0.1:{port}");
    let r = run(
        dir.path(),
        &[
            "explain",
            "--hpa",
            &hpa.to_string_lossy(),
            "--adapter",
            &adapter,
        ],
        Duration::from_secs(30),
    )?;
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    let note = r
        .stdout
        .lines()
        .find(|l| l.starts_with("test/podinfo-total prometheus-query: GET "))
        .unwrap_or_default();
    assert!(
        note.contains(&format!(
            "{adapter}/apis/external.metrics.k8s.io/v1beta1/namespaces/test/prometheus-query"
        )),
        "{}",
        r.stdout
    );
    assert!(note.contains("Connection refused"), "{}", r.stdout);
    assert!(r.stdout.contains("<unknown>/10 (avg)"), "{}", r.stdout);
    assert_eq!(
        r.stderr.trim(),
        "1 metric value(s) could not be read; see the notes above"
    );
    Ok(())
}

/// Demonstrates that `query` with no data source names both sources it accepts.
#[test]
fn query_without_data_names_both_sources() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let r = run(dir.path(), &["query", "sum(up)"], Duration::from_secs(20))?;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr.contains(
            "no data to query: give --data FILE (OpenMetrics with timestamps) or --target URL (live scrapes, repeatable)"
        ),
        "{}",
        r.stderr
    );
    Ok(())
}

/// Demonstrates the help text: one line per subcommand in the top-level list, each its own
/// summary (the `query` line was the doc comment of an internal struct), and a `serve` usage
/// line that asks for a source of HPAs rather than for `--listen`.
#[test]
fn help_lists_each_command_in_one_line() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let r = run(dir.path(), &["--help"], Duration::from_secs(20))?;
    assert_eq!(r.code, Some(0));
    let commands: Vec<&str> = r
        .stdout
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(
        commands,
        [
            "  serve       Serve `external.metrics.k8s.io/v1beta1` for the HPAs in `--hpa-dir` or the cluster",
            "  explain     Print what kube-controller-manager would do now with each HPA in a file",
            "  query       Evaluate PromQL over a data file or live targets and print Prometheus' JSON",
            "  promqltest  Run Prometheus promqltest scripts against the embedded engine",
            "  help        Print this message or the help of the given subcommand(s)",
        ]
    );
    let r = run(dir.path(), &["serve", "--help"], Duration::from_secs(20))?;
    assert!(
        r.stdout
            .contains("Usage: mixerless-adapter serve [OPTIONS] <--hpa-dir <DIR>|--kube>"),
        "{}",
        r.stdout
    );
    let r = run(dir.path(), &["query", "--help"], Duration::from_secs(20))?;
    for flag in ["--data <FILE>", "--target <URL>", "--max-wait <MAX_WAIT>"] {
        assert!(r.stdout.contains(flag), "{flag}: {}", r.stdout);
    }
    Ok(())
}

/// Demonstrates that the README's `promqltest` example runs as the README says: it exits 0
/// and its last line is the one the README quotes.
#[test]
fn readme_promqltest_example_prints_what_it_says() -> anyhow::Result<()> {
    let root = paths::root();
    let readme = std::fs::read_to_string(root.join("README.md"))?;
    let mut lines = readme.lines();
    let command = lines
        .find(|l| l.starts_with("mixerless-adapter promqltest "))
        .context("no promqltest example in README.md")?;
    let said = lines
        .next()
        .and_then(|l| l.split_once("then: "))
        .map(|(_, s)| s.trim())
        .context("the example's next line does not say what it prints")?;
    // The example names the shared data where it sits beside a checkout.
    let mut args = Vec::new();
    for a in command.split_whitespace().skip(1) {
        match a.strip_prefix("../shared/") {
            Some(rel) => match paths::shared_data(rel, "the README's promqltest example") {
                Some(p) => args.push(p.display().to_string()),
                None => return Ok(()),
            },
            None => args.push(a.to_owned()),
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(&root, &args, Duration::from_secs(120))?;
    assert_eq!(r.code, Some(0), "{command}: {}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.lines().last(), Some(said), "{command}");
    Ok(())
}

/// Demonstrates that `explain --prometheus-url` evaluates a metric that names its own
/// Prometheus (`prometheus-server`) there, never on --prometheus-url, and refuses one that
/// names an alias only `serve` can resolve.
#[test]
fn explain_keeps_a_metric_on_its_own_server() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let own = format!("http://127.0.0.1:{}", paths::free_port());
    let default = format!("http://127.0.0.1:{}", paths::free_port());
    std::fs::write(
        dir.path().join("h.yaml"),
        format!(
            "kind: HorizontalPodAutoscaler\nmetadata:\n  name: h\n  namespace: n\n  annotations:\n\
             \x20   metric-config.external.a.prometheus/query: sum(up)\n\
             \x20   metric-config.external.a.prometheus/prometheus-server-alias: other\n\
             \x20   metric-config.external.b.prometheus/query: sum(up)\n\
             \x20   metric-config.external.b.prometheus/prometheus-server: {own}\n\
             spec:\n  maxReplicas: 3\n  metrics:\n\
             \x20 - {{type: External, external: {{metric: {{name: a, selector: {{matchLabels: {{type: prometheus}}}}}}, target: {{type: Value, value: '1'}}}}}}\n\
             \x20 - {{type: External, external: {{metric: {{name: b, selector: {{matchLabels: {{type: prometheus}}}}}}, target: {{type: Value, value: '1'}}}}}}\n"
        ),
    )?;
    let r = run(
        dir.path(),
        &["explain", "--hpa", "h.yaml", "--prometheus-url", &default],
        Duration::from_secs(30),
    )?;
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    let note = |m: &str| {
        r.stdout
            .lines()
            .find(|l| l.starts_with(&format!("n/h {m}: ")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        note("a").contains("names prometheus-server-alias \"other\""),
        "{}",
        r.stdout
    );
    assert!(
        note("b").starts_with(&format!("n/h b: prometheus {own}: ")),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(&default), "{}", r.stdout);
    assert_eq!(
        r.stderr.trim(),
        "2 metric value(s) could not be read; see the notes above"
    );
    Ok(())
}
