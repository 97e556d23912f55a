//! `mixerless-adapter query`: evaluates one PromQL expression and prints Prometheus' JSON.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use clap::Args as ClapArgs;
use mixerless_engine::exposition::{self, Format, ParseOptions};
use mixerless_engine::promql::{Engine, EngineOptions, Error as QueryError};
use mixerless_engine::store::{Store, StoreConfig};
use mixerless_engine::Labels;
use serde_json::json;

/// The flags of `query` shared by both data sources (`--data` here, `--target` in
/// [`super::query_target`], whose doc comment is the subcommand's help).
#[derive(Debug, Clone, ClapArgs)]
pub struct Args {
    /// The PromQL expression.
    #[arg(value_name = "EXPR")]
    pub expr: String,
    /// OpenMetrics file with timestamped samples.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Evaluation time: RFC 3339 (`2026-01-02T03:04:05Z`) or unix seconds (`1767323045.5`).
    /// Default: now.
    #[arg(long, value_name = "TIME")]
    pub time: Option<String>,
    /// How far back an instant selector looks for a sample.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub lookback: Duration,
}

/// Loads the data, evaluates, prints; exits with status 1 on a query error.
pub fn run(args: Args) -> anyhow::Result<()> {
    let resp = response(&args)?;
    println!("{resp}");
    if resp["status"] != "success" {
        std::process::exit(1);
    }
    Ok(())
}

/// The whole `/api/v1/query` response body `run` prints (`status` "success" or "error").
pub fn response(args: &Args) -> anyhow::Result<serde_json::Value> {
    let time_ms = match &args.time {
        Some(t) => parse_time(t)?,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
    };
    let store = match &args.data {
        Some(path) => load_data(path)?,
        None => bail!(
            "no data to query: give --data FILE (OpenMetrics with timestamps) or --target URL \
             (live scrapes, repeatable)"
        ),
    };
    Ok(evaluate(args, &store, time_ms))
}

/// The response for `args.expr` over `store` at `time_ms` (also used by `--target`).
pub fn evaluate(args: &Args, store: &Store, time_ms: i64) -> serde_json::Value {
    let engine = Engine::new(EngineOptions {
        lookback: args.lookback,
        ..EngineOptions::default()
    });
    match engine.instant(store, &args.expr, time_ms) {
        Ok(v) => json!({"status": "success", "data": v.to_api_json()}),
        Err(e) => {
            let kind = match e {
                QueryError::Parse(_) | QueryError::TooLarge(_) => "bad_data",
                QueryError::Timeout(_) => "timeout",
                _ => "execution",
            };
            json!({"status": "error", "errorType": kind, "error": e.to_string()})
        }
    }
}

/// RFC 3339 or (fractional) unix seconds, to milliseconds.
pub fn parse_time(s: &str) -> anyhow::Result<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() {
            return Ok((secs * 1000.0).round() as i64);
        }
    }
    let t = humantime::parse_rfc3339_weak(s)
        .with_context(|| format!("--time {s:?}: not RFC 3339 or unix seconds"))?;
    Ok(match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    })
}

/// Reads an OpenMetrics file into a store; every sample must carry a timestamp.
pub fn load_data(path: &Path) -> anyhow::Result<Store> {
    let body = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    let mut store = Store::new(StoreConfig {
        max_series: usize::MAX,
        ..StoreConfig::default()
    });
    let mut problem: Option<anyhow::Error> = None;
    let opts = ParseOptions {
        strict: true,
        format: Format::OpenMetrics,
        max_line_bytes: 1 << 20,
    };
    exposition::parse_each(&body, &opts, |s| {
        if problem.is_some() {
            return;
        }
        let Some(t) = s.timestamp_ms else {
            problem = Some(anyhow::anyhow!(
                "{}: line {}: sample without a timestamp",
                path.display(),
                s.line
            ));
            return;
        };
        let labels = Labels::new(
            std::iter::once(("__name__", s.name)).chain(s.labels.iter().map(|(n, v)| (&**n, &**v))),
        );
        if let Err(e) = store.append(&labels, t, s.value) {
            problem = Some(anyhow::anyhow!("{}: line {}: {e}", path.display(), s.line));
        }
    })
    .with_context(|| format!("parse {}", path.display()))?;
    match problem {
        Some(e) => Err(e),
        None => Ok(store),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file path of this test process's own.
    fn scratch(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("mixerless-query-{}-{name}.om", std::process::id()))
    }

    fn args(expr: &str, data: &Path, time: &str) -> Args {
        Args {
            expr: expr.into(),
            data: Some(data.to_path_buf()),
            time: Some(time.into()),
            lookback: Duration::from_secs(300),
        }
    }

    /// Demonstrates `--time` in both forms and the response for a result and for an error.
    #[test]
    fn time_forms_and_responses() -> anyhow::Result<()> {
        assert_eq!(parse_time("1767323045.5")?, 1_767_323_045_500);
        assert_eq!(parse_time("2026-01-02T03:04:05Z")?, 1_767_323_045_000);
        assert!(parse_time("yesterday").is_err());
        let data = scratch("responses");
        std::fs::write(
            &data,
            "# TYPE r counter\nr_total{a=\"1\"} 1 0\nr_total{a=\"1\"} 31 30\nr_total{a=\"1\"} 61 60\n# EOF\n",
        )?;
        let ok = response(&args("sum(rate(r_total[1m]))", &data, "60"))?;
        assert_eq!(
            ok.to_string(),
            r#"{"data":{"result":[{"metric":{},"value":[60,"1"]}],"resultType":"vector"},"status":"success"}"#
        );
        let bad = response(&args("rate(r_total[1m]", &data, "60"))?;
        assert_eq!(bad["status"], "error");
        assert_eq!(bad["errorType"], "bad_data");
        assert_eq!(bad["error"], "parse error: 1:5: unclosed left parenthesis");
        let _ = std::fs::remove_file(&data);
        Ok(())
    }

    /// Demonstrates that a data file sample without a timestamp is refused with its line.
    #[test]
    fn data_needs_timestamps() -> anyhow::Result<()> {
        let data = scratch("timestamps");
        std::fs::write(&data, "# TYPE g gauge\ng 1 10\ng 2\n# EOF\n")?;
        let err = load_data(&data)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let _ = std::fs::remove_file(&data);
        assert!(err.ends_with("line 3: sample without a timestamp"), "{err}");
        Ok(())
    }
}
