//! A runner for Prometheus' promqltest script format (`load`, `clear`, `eval`, `expect`), used
//! by the conformance suite and by `mixerless-adapter promqltest`.
//!
//! A case the engine does not implement (an unsupported function, a native histogram, syntax
//! `promql-parser` does not read) is skipped with its reason, never counted as passed.
//! Annotations (`expect warn|info|no_warn|no_info`) are not produced and are ignored; each
//! instant eval runs once (the Go harness also re-runs it as a range query and with `@`).

mod check;
mod script;

use std::fmt;

use crate::promql::{Engine, EngineOptions};
use crate::store::{Store, StoreConfig};

pub use script::{parse_duration_ms, Command};

/// How one case ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The result matched.
    Passed,
    /// The result did not match; why.
    Failed(String),
    /// The case needs something this engine does not implement; what.
    Skipped(String),
}

/// One `eval` and how it ended.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// 1-based line of the `eval` command.
    pub line: usize,
    /// The query.
    pub expr: String,
    /// The outcome.
    pub outcome: Outcome,
}

/// Counts of outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cases that matched.
    pub passed: usize,
    /// Cases that did not.
    pub failed: usize,
    /// Cases skipped as unsupported.
    pub skipped: usize,
}

impl Summary {
    /// Counts the outcomes of `results`.
    pub fn of(results: &[CaseResult]) -> Summary {
        let mut s = Summary::default();
        for r in results {
            match r.outcome {
                Outcome::Passed => s.passed += 1,
                Outcome::Failed(_) => s.failed += 1,
                Outcome::Skipped(_) => s.skipped += 1,
            }
        }
        s
    }

    /// Adds another summary.
    pub fn add(&mut self, o: Summary) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Runs a whole script; a command the runner cannot read is reported as a failed case.
pub fn run(text: &str) -> Vec<CaseResult> {
    let engine = Engine::new(EngineOptions::default());
    let mut store = Store::new(StoreConfig {
        max_series: usize::MAX,
        ..StoreConfig::default()
    });
    let mut unsupported = check::Unloadable::default();
    let mut out = Vec::new();
    for cmd in script::parse(text) {
        match cmd {
            Command::Clear => {
                store = Store::new(StoreConfig {
                    max_series: usize::MAX,
                    ..StoreConfig::default()
                });
                unsupported.clear();
            }
            Command::Load { series, nhcb, .. } => {
                for s in series {
                    let name = s.labels.name().unwrap_or("").to_string();
                    if nhcb {
                        // load_with_nhcb also creates a native histogram named without the suffix.
                        for suffix in ["_bucket", "_count", "_sum"] {
                            if let Some(base) = name.strip_suffix(suffix) {
                                let labels = s.labels.without(&["le"]).with("__name__", base);
                                unsupported.add(labels, "native histograms with custom buckets");
                            }
                        }
                    }
                    if let Some(why) = &s.unsupported {
                        unsupported.add(s.labels.clone(), why);
                    }
                    for (t, v) in s.points {
                        // Overlapping loads of one series keep the first point, as Go's
                        // appender rejects out-of-order samples.
                        let _ = store.append(&s.labels, t, v);
                    }
                }
            }
            Command::Eval(e) => {
                let outcome = check::eval_case(&engine, &store, &unsupported, &e);
                out.push(CaseResult {
                    line: e.line,
                    expr: e.expr.clone(),
                    outcome,
                });
            }
            Command::Invalid { line, msg } => out.push(CaseResult {
                line,
                expr: String::new(),
                outcome: Outcome::Failed(format!("unreadable command: {msg}")),
            }),
        }
    }
    out
}
