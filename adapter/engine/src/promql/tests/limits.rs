//! The size limits checked before parsing: nothing that input controls recurses unbounded.

use super::super::parse::{self, check_size, ParseLimits};
use super::super::*;
use crate::store::{Store, StoreConfig};

/// Runs `f` on a thread with `stack` bytes of stack: a recursion the limits do not bound
/// overflows it and aborts the test binary.
fn on_stack<T: Send + 'static>(stack: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// `n` copies of `unit` joined by `sep`.
fn chain(unit: &str, sep: &str, n: usize) -> String {
    vec![unit; n].join(sep)
}

fn wrapped(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

/// Expressions nested thousands deep, each of a shape that makes a different node recurse:
/// left- and right-associative operators, set operators, unary minus, parentheses, calls,
/// aggregations, subqueries.
fn deep_shapes() -> Vec<(&'static str, String)> {
    vec![
        ("2,000-term sum", chain("1", "+", 2_000)),
        ("5,000 parentheses", wrapped("(", "1", ")", 5_000)),
        ("20,000 parentheses", wrapped("(", "1", ")", 20_000)),
        ("8,000-term or", chain("x", " or ", 8_000)),
        ("3,000-term OR in capitals", chain("x", " OR ", 3_000)),
        ("power tower", chain("2", "^", 3_000)),
        ("comparison chain", chain("x", " == bool ", 3_000)),
        ("unary minus", format!("{}1", "-".repeat(10_000))),
        ("nested calls", wrapped("abs(", "x", ")", 3_000)),
        ("nested aggregations", wrapped("sum(", "x", ")", 3_000)),
        (
            "nested subqueries",
            wrapped("max_over_time(", "x", "[1m:])", 1_000),
        ),
        ("sum of rates", chain("rate(x[1m])", " + ", 1_000)),
    ]
}

/// Demonstrates that each deep shape is refused by every entry point before anything recurses:
/// on a 256 KiB stack, which the unbounded parse of any of them overflows.
#[test]
fn deep_expressions_are_refused_before_parsing() {
    on_stack(256 << 10, || {
        let engine = Engine::default();
        let store = Store::new(StoreConfig::default());
        for (what, q) in deep_shapes() {
            let refused = |r: Result<()>| match r {
                Err(Error::TooLarge(m)) => assert!(m.contains("--query-max-depth"), "{what}: {m}"),
                other => panic!("{what}: expected TooLarge, got {other:?}"),
            };
            refused(parse::parse(&q).map(drop));
            refused(metric_names(&q).map(drop));
            refused(parse::steps(&q, std::time::Duration::from_secs(60)).map(drop));
            refused(engine.instant(&store, &q, 0).map(drop));
            refused(engine.range(&store, &q, 0, 60_000, 15_000).map(drop));
        }
    });
}

/// Demonstrates that expressions exactly at the default depth parse, evaluate, print and drop
/// on a 2 MiB stack (a tokio worker's) in this unoptimized build, with their true values; one
/// level more is refused.
#[test]
fn expressions_at_the_limit_evaluate() {
    let max = ParseLimits::DEFAULT.max_depth;
    on_stack(2 << 20, move || {
        let mut store = Store::new(StoreConfig::default());
        let target = [("job".to_string(), "a".to_string())];
        for (t, v) in [(20_000, 40), (40_000, 60)] {
            let body = format!("# TYPE x counter\nx {v}\n");
            store.ingest(&target, t, body.as_bytes()).unwrap();
        }
        let engine = Engine::default();
        let scalar = |q: &str| match engine.instant(&store, q, 60_000) {
            Ok(Value::Scalar { v, .. }) => v,
            Ok(Value::Vector(v)) if v.len() == 1 => v[0].v,
            other => panic!("{q:.60}…: {other:?}"),
        };
        // (terms, operators): max operators is the limit.
        let sum = chain("1", "+", max + 1);
        assert_eq!(scalar(&sum), (max + 1) as f64);
        let parens = wrapped("(", "2", ")", max);
        assert_eq!(scalar(&parens), 2.0);
        let minus = format!("{}3", "-".repeat(max));
        assert_eq!(scalar(&minus), if max % 2 == 0 { 3.0 } else { -3.0 });
        // Each term reads 60; `sum(...)` adds one bracket level, each term two.
        let rates = format!("sum({})", chain("max_over_time(x[1m])", " + ", max / 4));
        assert_eq!(scalar(&rates), 60.0 * (max / 4) as f64);
        let calls = wrapped("abs(", "-x", ")", max - 1);
        assert_eq!(scalar(&calls), 60.0);
        for q in [&sum, &parens, &minus, &rates, &calls] {
            let ast = parse::parse(q).expect("within the limit");
            // The printer recurses too.
            assert!(!ast.to_string().is_empty());
            assert!(crate::promql::parse::steps(q, std::time::Duration::from_secs(60)).is_ok());
        }
        assert_eq!(metric_names(&rates).unwrap().len(), 1);
        for over in [
            chain("1", "+", max + 2),
            wrapped("(", "2", ")", max + 1),
            format!("{}3", "-".repeat(max + 1)),
        ] {
            assert!(matches!(parse::parse(&over), Err(Error::TooLarge(_))));
        }
    });
}

/// Demonstrates what the depth count skips (strings and comments) and what it counts in full.
#[test]
fn depth_counts_brackets_and_operators_outside_strings() {
    let limits = ParseLimits {
        max_length: 1 << 20,
        max_depth: 10,
    };
    let ok = |q: &str| check_size(q, limits).is_ok();
    // Brackets and operators inside a string or a comment are not syntax.
    assert!(ok(&format!(r#"x{{a="{}"}}"#, "((((((((((((+-".repeat(20))));
    assert!(ok(&format!("x{{a='{}'}}", "(((((((((((((".repeat(20))));
    assert!(ok(&format!("x{{a=`{}`}}", "[[[[[[[[[[[[[[".repeat(20))));
    assert!(ok(&format!(r#"x{{a="\"{}"}}"#, "((((((((((((".repeat(20))));
    assert!(ok(&format!("# {}\nx", "((((((((((((".repeat(20))));
    // Ten is allowed, eleven is not: brackets nested plus operators.
    assert!(ok("((((((((((x))))))))))"));
    assert!(!ok("(((((((((((x)))))))))))"));
    let latency = "sum(rate(x[1m])) / sum(rate(y[1m])) + 1 - 2 * 3 / 4 % 5"; // 3 + 6
    assert!(ok(latency));
    assert!(ok(&format!("{latency} ^ 6")));
    assert!(!ok(&format!("{latency} ^ 6 ^ 7")));
    // Brackets that close do not add up: depth is the deepest, not the count.
    assert!(ok(&chain("(x)", " ", 50)));
    // Keywords count whatever their case; names that only contain them do not.
    assert!(!ok(&chain("x", " AnD ", 12)));
    assert!(ok(&chain("orchestra", " ", 20)));
    // The length limit names its flag.
    let long = format!(r#"x{{a=~"{}"}}"#, "abc|".repeat(300_000));
    match check_size(&long, limits) {
        Err(Error::TooLarge(m)) => assert!(m.contains("--query-max-length"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// Demonstrates that a regex matcher whose compiled program would be huge is refused with a
/// message, not compiled into hundreds of MB.
#[test]
fn regex_bombs_are_refused() {
    let bomb = crate::store::matcher::compile_anchored("(a{100}){100}{100}");
    assert!(bomb.is_err());
    assert!(crate::store::matcher::compile_anchored("podinfo-.*|web-[0-9]+").is_ok());
    let engine = Engine::default();
    let store = Store::new(StoreConfig::default());
    match engine.instant(&store, r#"x{a=~"(a{100}){100}{100}"}"#, 0) {
        Err(Error::Parse(m)) => assert!(
            m.contains("regular expression") || m.contains("regex") || m.contains("size"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    match engine.instant(
        &store,
        r#"label_replace(vector(1), "a", "$1", "b", "(a{100}){100}{100}")"#,
        0,
    ) {
        Err(Error::Eval(m)) => assert!(m.contains("label_replace"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// Demonstrates that a parser panic is an error and leaves the panic hook silent for it, while
/// the previously installed hook still sees every other panic.
#[test]
fn parser_panics_are_errors() {
    let q = "rate(x[340444444444444444444444])";
    assert!(matches!(parse::parse(q), Err(Error::Parse(_))));
    assert!(matches!(parse::parse(q), Err(Error::Parse(_))));
}
