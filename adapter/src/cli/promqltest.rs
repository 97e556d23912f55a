//! `mixerless-adapter promqltest`: runs Prometheus promqltest scripts against the engine.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args as ClapArgs;
use mixerless_engine::promqltest::{self, Outcome, Summary};

/// Run PromQL test scripts in Prometheus' promqltest format (`load`, `clear`, `eval`, `expect`)
/// against the embedded engine, and end with the line `N passed, N failed, N skipped`.
///
/// Failed cases are always printed with the reason. A case the engine does not support (a
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
    let mut total = Summary::default();
    let mut out = std::io::stdout().lock();
    for path in &args.files {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let results = promqltest::run(&text);
        for r in &results {
            match &r.outcome {
                Outcome::Failed(why) => writeln!(
                    out,
                    "FAIL {}:{} {}\n     {why}",
                    path.display(),
                    r.line,
                    r.expr
                )?,
                Outcome::Skipped(why) if args.verbose => writeln!(
                    out,
                    "SKIP {}:{} {}\n     {why}",
                    path.display(),
                    r.line,
                    r.expr
                )?,
                _ => {}
            }
        }
        let s = Summary::of(&results);
        if args.files.len() > 1 {
            writeln!(out, "{}: {s}", path.display())?;
        }
        total.add(s);
    }
    writeln!(out, "{total}")?;
    out.flush()?;
    if total.failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
