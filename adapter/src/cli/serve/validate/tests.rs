use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

/// `serve --hpa-dir hpas <extra>` through clap, then [`Args::validate`]: the error text.
fn refusal(extra: &[&str]) -> Option<String> {
    let argv = ["serve", "--hpa-dir", "hpas"].iter().chain(extra);
    match Cli::try_parse_from(argv) {
        Err(e) => Some(e.to_string()),
        Ok(cli) => cli.args.validate().err().map(|e| e.to_string()),
    }
}

/// Demonstrates that every flag value the server cannot run with is refused at start with a
/// message naming the flag and the value, and that the defaults and sane values pass.
#[test]
fn nonsense_flags_are_refused_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--idle-timeout", "0s"],
            "--idle-timeout 0s: must be longer than zero",
        ),
        (
            &["--max-connections", "0"],
            "--max-connections 0: must be at least 1",
        ),
        (
            &["--query-max-depth", "2"],
            "--query-max-depth 2: must be at least 3",
        ),
        (
            &["--query-max-length", "0"],
            "--query-max-length 0: must be at least 64 bytes",
        ),
        (
            &["--scrape-interval", "0s"],
            "--scrape-interval 0s: must be longer than zero",
        ),
        (
            &["--scrape-interval", "2days"],
            "--scrape-interval 2days: must be at most 1day",
        ),
        (
            &["--scrape-timeout", "0s"],
            "--scrape-timeout 0s: must be longer than zero",
        ),
        (
            &["--scrape-timeout", "6s"],
            "--scrape-timeout 6s: must not be longer than --scrape-interval 5s",
        ),
        (
            &["--scrape-interval", "1s", "--scrape-timeout", "3s"],
            "--scrape-timeout 3s: must not be longer than --scrape-interval 1s",
        ),
        (
            &["--query-interval", "0s"],
            "--query-interval 0s: must be longer than zero",
        ),
        (
            &["--query-interval", "25h"],
            "--query-interval 1day 1h: must be at most 1day",
        ),
        (
            &["--query-timeout", "0ms"],
            "--query-timeout 0s: must be longer than zero",
        ),
        (
            &["--kube-resync", "0s", "--kube"],
            "--kube-resync 0s: must be longer than zero",
        ),
        (
            &["--retention", "0s"],
            "--retention 0s: must be longer than zero",
        ),
        (
            &["--retention", "9s"],
            "--retention 9s: must hold at least two scrapes (2 × --scrape-interval 5s)",
        ),
        (
            &["--stale-intervals", "0"],
            "--stale-intervals 0: must be from 1 to 1000",
        ),
        (
            &["--stale-intervals", "1001"],
            "--stale-intervals 1001: must be from 1 to 1000",
        ),
        (
            &["--scrape-concurrency", "0"],
            "--scrape-concurrency 0: must be at least 1",
        ),
        (
            &["--scrape-body-limit", "0"],
            "--scrape-body-limit 0: must be at least 1",
        ),
        (&["--max-series", "0"], "--max-series 0: must be at least 1"),
        (
            &["--query-max-samples", "0"],
            "--query-max-samples 0: must be at least 1",
        ),
        (
            &["--query-concurrency", "0"],
            "--query-concurrency 0: must be at least 1",
        ),
        (
            &["--kube", "--kube-metrics-port", "0"],
            "--kube-metrics-port 0: not a port",
        ),
        (
            &["--kube", "--kube-metrics-path", "stats"],
            "--kube-metrics-path \"stats\": must start with /",
        ),
        (&["--job", " "], "--job: must not be empty"),
        (
            &[
                "--prometheus-server-alias",
                "a=http://x",
                "--prometheus-server-alias",
                "a=http://y",
            ],
            "--prometheus-server-alias a: given twice",
        ),
        (&["--prometheus-server-alias", "a"], "\"a\" is not NAME=URL"),
        (
            &["--prometheus-server-alias", "=http://x"],
            "is not NAME=URL",
        ),
        // clap's own refusals for flags that mean nothing without another one
        (&["--kube-namespace", "a"], "--kube"),
        (
            &["--prometheus-bearer-token-file", "t"],
            "--prometheus-url <URL>",
        ),
        (
            &["--requestheader-allowed-names", "a"],
            "--requestheader-client-ca-file",
        ),
        (
            &["--scrape-interval=-1s"],
            "for '--scrape-interval <SCRAPE_INTERVAL>'",
        ),
    ];
    for (extra, want) in cases {
        let got = refusal(extra).unwrap_or_default();
        assert!(got.contains(want), "{extra:?}: want {want:?} in {got:?}");
    }
    for ok in [
        &[][..],
        &[
            "--scrape-interval",
            "1s",
            "--scrape-timeout",
            "1s",
            "--retention",
            "2s",
        ],
        &["--query-interval", "24h", "--stale-intervals", "1000"],
        &["--scrape-sample-limit", "0", "--target-series-limit", "0"],
        &[
            "--kube",
            "--kube-namespace",
            "a,b",
            "--kube-metrics-port",
            "15090",
        ],
    ] {
        assert_eq!(refusal(ok), None, "{ok:?}");
    }
}

/// Demonstrates the default scrape timeout: 3 s, or the scrape interval when shorter.
#[test]
fn scrape_timeout_defaults_to_at_most_the_interval() {
    let timeout = |extra: &[&str]| {
        let argv = ["serve", "--hpa-dir", "hpas"].iter().chain(extra);
        Cli::try_parse_from(argv)
            .map(|c| c.args.scrape_timeout())
            .ok()
    };
    let ms = Duration::from_millis;
    assert_eq!(timeout(&[]), Some(ms(3000)));
    assert_eq!(timeout(&["--scrape-interval", "1s"]), Some(ms(1000)));
    assert_eq!(timeout(&["--scrape-interval", "15s"]), Some(ms(3000)));
    assert_eq!(
        timeout(&["--scrape-interval", "15s", "--scrape-timeout", "10s"]),
        Some(ms(10_000))
    );
    assert_eq!(refusal(&["--scrape-interval", "1s"]), None);
}

/// Demonstrates that `serve` needs a source of HPAs and its usage line says which.
#[test]
fn usage_names_the_hpa_sources() {
    let err = Cli::try_parse_from(["serve"])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("<--hpa-dir <DIR>|--kube>"), "{err}");
    assert!(!err.contains("--listen"), "{err}");
    assert!(Cli::try_parse_from(["serve", "--kube"]).is_ok());
}
