//! `mixerless-adapter promqltest`: runs Prometheus promqltest scripts against the engine.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args as ClapArgs;
use mixerless_engine::promqltest::{self, Outcome, Summary};

/// Run Prometheus promqltest scripts against the embedded engine.
///
/// Scripts are in Prometheus' promqltest format (`load`, `clear`, `eval`, `expect`); the output
/// ends with the line `N passed, N failed, N skipped`. Failed cases are always printed with the reason. A case the engine does not support (a
/// function it rejects, native histograms, syntax it cannot parse) is skipped with its reason,
/// never counted as passed. Warn/info annotations are not checked. Exit status is 1 when any
/// case fails.
#[derive(Debug, Clone, ClapArgs)]
pub struct Args {
    /// Script files (`.test`).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Also print each skipped case with its reason.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Runs the files; exits with status 1 if any case failed.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let total = report(&args, &mut out)?;
    out.flush()?;
    if total.failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// Runs the files, writing failed (and with `--verbose` skipped) cases and the summary line.
pub fn report(args: &Args, out: &mut impl Write) -> anyhow::Result<Summary> {
    let mut total = Summary::default();
    for path in &args.files {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let results = promqltest::run(&text);
        for r in &results {
            let (tag, why) = match &r.outcome {
                Outcome::Failed(why) => ("FAIL", why),
                Outcome::Skipped(why) if args.verbose => ("SKIP", why),
                _ => continue,
            };
            writeln!(
                out,
                "{tag} {}:{} {}\n     {why}",
                path.display(),
                r.line,
                r.expr
            )?;
        }
        let s = Summary::of(&results);
        if args.files.len() > 1 {
            writeln!(out, "{}: {s}", path.display())?;
        }
        total.add(s);
    }
    writeln!(out, "{total}")?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates the report: a failed case with its reason, a skipped one with `--verbose`,
    /// and the closing `N passed, N failed, N skipped` line.
    #[test]
    fn report_lines() -> anyhow::Result<()> {
        let path =
            std::env::temp_dir().join(format!("mixerless-promqltest-{}.test", std::process::id()));
        std::fs::write(
            &path,
            "load 1m\n  m{a=\"1\"} 1 2 3\n\neval instant at 2m m\n  m{a=\"1\"} 3\n\n\
             eval instant at 2m m\n  m{a=\"1\"} 4\n\neval instant at 2m histogram_count(m)\n  {a=\"1\"} 1\n",
        )?;
        let mut out = Vec::new();
        let total = report(
            &Args {
                files: vec![path.clone()],
                verbose: true,
            },
            &mut out,
        )?;
        let _ = std::fs::remove_file(&path);
        let text = String::from_utf8(out)?;
        assert_eq!((total.passed, total.failed, total.skipped), (1, 1, 1));
        assert!(
            text.contains(":7 m\n     m{a=\"1\"}: expected 4@0, got 3@0\n"),
            "{text}"
        );
        assert!(
            text.contains("SKIP ") && text.contains("unsupported: function histogram_count()"),
            "{text}"
        );
        assert!(text.ends_with("1 passed, 1 failed, 1 skipped\n"), "{text}");
        Ok(())
    }
}
