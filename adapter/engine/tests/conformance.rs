//! Conformance: Prometheus' own promqltest files, run through our engine. The figures are
//! checked in; the test fails when fewer cases pass than `CONFORMANCE.md` records.

use std::path::PathBuf;

use mixerless_engine::promqltest::{self, Outcome, Summary};

/// Files and the number of cases each must pass at least (kept in step with CONFORMANCE.md).
const FLOORS: &[(&str, usize)] = &[
    ("aggregators.test", 123),
    ("at_modifier.test", 78),
    ("collision.test", 2),
    ("duration_expression.test", 8),
    ("extended_vectors.test", 38),
    ("fill-modifier.test", 1),
    ("functions.test", 273),
    ("histograms.test", 54),
    ("info.test", 0),
    ("limit.test", 0),
    ("literals.test", 25),
    ("name_label_dropping.test", 30),
    ("native_histograms.test", 3),
    ("operators.test", 142),
    ("range_queries.test", 15),
    ("selectors.test", 31),
    ("staleness.test", 17),
    ("start_timestamps.test", 0),
    ("subquery.test", 32),
    ("trig_functions.test", 19),
    ("type_and_unit.test", 0),
];

/// `$MIXERLESS_SHARED_DIR/conformance/promqltest`, else `shared/` beside the workspace (where
/// CI puts it; the workspace is two levels above this crate). A clone of the project alone does
/// not have it.
fn corpus() -> PathBuf {
    let shared = match std::env::var_os("MIXERLESS_SHARED_DIR") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    shared.join("conformance/promqltest")
}

/// Demonstrates that the engine passes at least the recorded number of upstream cases per file.
#[test]
fn upstream_promqltest_files() {
    let dir = corpus();
    if !dir.exists() {
        eprintln!(
            "skipped: Prometheus' promqltest files: no {} (set MIXERLESS_SHARED_DIR to the shared data directory)",
            dir.display()
        );
        return;
    }
    let mut total = Summary::default();
    let mut report = String::new();
    let mut short = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("conformance files at {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let results = promqltest::run(&text);
        let s = Summary::of(&results);
        total.add(s);
        report.push_str(&format!(
            "| {name} | {} | {} | {} |\n",
            s.passed, s.failed, s.skipped
        ));
        if std::env::var_os("CONFORMANCE_VERBOSE").is_some() {
            for r in &results {
                match &r.outcome {
                    Outcome::Failed(m) => println!("FAIL {name}:{} {}\n    {m}", r.line, r.expr),
                    Outcome::Skipped(m) => println!("SKIP {name}:{} {}\n    {m}", r.line, r.expr),
                    Outcome::Passed => {}
                }
            }
        }
        if let Some((_, floor)) = FLOORS.iter().find(|(f, _)| *f == name) {
            if s.passed < *floor {
                short.push(format!("{name}: {} passed, floor {floor}", s.passed));
            }
        }
    }
    println!(
        "| file | passed | failed | skipped |\n|---|---|---|---|\n{report}| total | {} | {} | {} |",
        total.passed, total.failed, total.skipped
    );
    assert!(
        short.is_empty(),
        "fewer cases pass than CONFORMANCE.md records: {short:?}"
    );
}
