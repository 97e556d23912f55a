//! Evaluator tests on the HPA query shapes, with hand-computed expectations.

use super::*;
use crate::store::{Store, StoreConfig};

fn store_with(bodies: &[(i64, &str)]) -> Store {
    let mut s = Store::new(StoreConfig::default());
    let target = [
        ("job".to_string(), "app".to_string()),
        ("instance".to_string(), "a:15020".to_string()),
    ];
    for (t, b) in bodies {
        let r = s.ingest(&target, *t, b.as_bytes()).unwrap();
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }
    s
}

fn vector(v: Value) -> Vec<Sample> {
    match v {
        Value::Vector(v) => v,
        other => panic!("expected a vector, got {other:?}"),
    }
}

/// Demonstrates that sum(rate()) over a counter scraped every 15 s is the per-second increase.
#[test]
fn rps() {
    let bodies: Vec<(i64, String)> = (0..=8)
        .map(|i| (i * 15_000, format!("# TYPE istio_requests_total counter\nistio_requests_total{{destination_workload=\"app\",response_code=\"200\"}} {}\n", 100 + i * 30)))
        .collect();
    let refs: Vec<(i64, &str)> = bodies.iter().map(|(t, b)| (*t, b.as_str())).collect();
    let s = store_with(&refs);
    let e = Engine::default();
    let v = vector(
        e.instant(
            &s,
            r#"sum(rate(istio_requests_total{destination_workload="app"}[1m]))"#,
            120_000,
        )
        .unwrap(),
    );
    assert_eq!(v.len(), 1);
    assert!(v[0].labels.is_empty());
    // Samples at 75,90,105,120 s in (60,120]: increase 90 over 45 s; the 15 s gap to the window
    // start is under 1.1 × the 15 s interval, so it is extrapolated in full: 90 × 60/45 / 60 s.
    assert!(almost_equal(v[0].v, 2.0, 1e-12), "{}", v[0].v);
}

/// Demonstrates the average-latency ratio and the P95 over classic buckets.
#[test]
fn latency_ratio_and_p95() {
    let body = |i: i64| {
        format!(
            "# TYPE lat histogram\nlat_bucket{{le=\"10\"}} {}\nlat_bucket{{le=\"100\"}} {}\nlat_bucket{{le=\"+Inf\"}} {}\nlat_sum {}\nlat_count {}\n",
            50 * i,
            90 * i,
            100 * i,
            2000 * i,
            100 * i
        )
    };
    let bodies: Vec<(i64, String)> = (0..=4).map(|i| (i * 15_000, body(i))).collect();
    let refs: Vec<(i64, &str)> = bodies.iter().map(|(t, b)| (*t, b.as_str())).collect();
    let s = store_with(&refs);
    let e = Engine::default();
    let avg = vector(
        e.instant(
            &s,
            "sum(rate(lat_sum[1m]))/sum(rate(lat_count[1m]))",
            60_000,
        )
        .unwrap(),
    );
    assert!(almost_equal(avg[0].v, 20.0, 1e-12), "{}", avg[0].v);
    let p80 = vector(
        e.instant(
            &s,
            "histogram_quantile(0.8, sum(rate(lat_bucket[1m])) by (le))",
            60_000,
        )
        .unwrap(),
    );
    // rank 80 of 100 lies in (10,100] holding 40 of them, 30 above 50: 10 + 90 * 30/40.
    assert!(
        almost_equal(p80[0].v, 10.0 + 90.0 * 30.0 / 40.0, 1e-12),
        "{}",
        p80[0].v
    );
    let p99 = vector(
        e.instant(
            &s,
            "histogram_quantile(0.99, sum(rate(lat_bucket[1m])) by (le))",
            60_000,
        )
        .unwrap(),
    );
    assert_eq!(
        p99[0].v, 100.0,
        "the +Inf bucket answers the second-highest bound"
    );
}

/// Demonstrates that bad queries give errors naming the problem.
#[test]
fn errors_name_the_problem() {
    let s = Store::new(StoreConfig::default());
    let e = Engine::default();
    let err = e.instant(&s, "sum(rate(x[1m]", 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "parse error: 1:9: unclosed left parenthesis"
    );
    let err = e.instant(&s, "sum(\n  foo(x))", 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "parse error: 2:3: unknown function with name 'foo'"
    );
    let err = e.instant(&s, r#"x{a="(" 1"#, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "parse error: 1:9: unexpected character inside braces: '1'"
    );
    let err = e.instant(&s, "histogram_count(x)", 0).unwrap_err();
    assert_eq!(err.to_string(), "unsupported: function histogram_count()");
    assert_eq!(
        metric_names(r#"sum(rate(a[1m])) / on() b + c{x="y"}"#)
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["a", "b", "c"]
    );
    assert!(metric_names(r#"{__name__=~"a.*"}"#).is_err());
}

/// Demonstrates the API JSON shape Prometheus' /api/v1/query returns.
#[test]
fn api_json() {
    let v = Value::Vector(vec![Sample {
        labels: Labels::new([("a", "b")]),
        t: 1_500,
        v: f64::INFINITY,
    }]);
    assert_eq!(
        v.to_api_json().to_string(),
        r#"{"result":[{"metric":{"a":"b"},"value":[1.5,"+Inf"]}],"resultType":"vector"}"#
    );
    assert_eq!(
        Value::Scalar { t: 0, v: 0.1 }.to_api_json()["result"][1],
        "0.1"
    );
}

use crate::labels::Labels;

/// Demonstrates that mutated queries give results or errors, never a panic.
#[test]
fn mutated_queries_never_panic() {
    let s = store_with(&[
        (0, "# TYPE x histogram\nx_bucket{le=\"1\"} 1\nx_bucket{le=\"+Inf\"} 2\nx_sum 3\nx_count 2\ny 5\n"),
        (15_000, "# TYPE x histogram\nx_bucket{le=\"1\"} 3\nx_bucket{le=\"+Inf\"} 4\nx_sum 6\nx_count 4\ny 6\n"),
    ]);
    let e = Engine::default();
    let queries = [
        r#"histogram_quantile(0.9, sum by (le) (rate(x_bucket{job="app"}[1m])))"#,
        "sum(rate(x_sum[1m])) / sum(rate(x_count[1m])) * on() group_left y offset 5s",
        "topk(1, y) or label_replace(y, \"a\", \"$1\", \"job\", \"(.*)\") unless x_sum @ 10",
        "max_over_time(rate(y[30s])[1m:5s]) > bool 1 - -y ^ 2 % 3",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..2000 {
        let mut q: Vec<char> = queries[round % queries.len()].chars().collect();
        for _ in 0..(1 + next() % 4) {
            let i = (next() as usize) % q.len().max(1);
            let c = "()[]{}:,\"' 0123456789e.+-*/^%=!~@_abc\n"
                .chars()
                .nth((next() % 38) as usize)
                .unwrap_or('x');
            match next() % 3 {
                0 if !q.is_empty() => q[i] = c,
                1 if !q.is_empty() => {
                    q.remove(i);
                }
                _ => q.insert(i.min(q.len()), c),
            }
        }
        let q: String = q.into_iter().collect();
        let _ = e.instant(&s, &q, 20_000);
        let _ = e.range(&s, &q, 0, 20_000, 5_000);
    }
}

/// A store of one series `x` with a sample every second from 0 to `secs` s.
fn one_series_every_second(secs: i64) -> Store {
    let bodies: Vec<(i64, String)> = (0..=secs).map(|i| (i * 1000, format!("x {i}\n"))).collect();
    let refs: Vec<(i64, &str)> = bodies.iter().map(|(t, b)| (*t, b.as_str())).collect();
    store_with(&refs)
}

fn limited(max_samples: usize, timeout: std::time::Duration) -> Engine {
    Engine::new(EngineOptions {
        max_samples,
        timeout,
        ..EngineOptions::default()
    })
}

/// Demonstrates the samples limit with Prometheus' meaning: what a query holds at once counts
/// (a range selector's points, a subquery's steps, a range query's output), not what it
/// touched over its whole run.
#[test]
fn samples_limit_counts_what_is_held() {
    let s = one_series_every_second(300);
    let e = limited(100, std::time::Duration::from_secs(60));
    let too_many = Err(Error::TooManySamples(100));
    // 120 points of one range selector.
    assert_eq!(e.instant(&s, "count_over_time(x[2m])", 300_000), too_many);
    assert!(e.instant(&s, "count_over_time(x[1m])", 300_000).is_ok());
    // A subquery over an instant selector: one sample per step, 120 steps held.
    assert_eq!(e.instant(&s, "max_over_time(x[2m:1s])", 300_000), too_many);
    // A subquery of a constant loads nothing but still holds its points.
    assert_eq!(
        e.instant(&s, "max_over_time(vector(1)[2m:1s])", 300_000),
        too_many
    );
    // A range query holds its output: 101 steps of one series.
    assert_eq!(e.range(&s, "x", 0, 100_000, 1_000), too_many);
    assert!(e.range(&s, "x", 0, 99_000, 1_000).is_ok());
    // 30 steps each loading 60 points (1,800 over the run) but holding at most 60 + 30.
    let v = e
        .range(&s, "count_over_time(x[1m])", 200_000, 229_000, 1_000)
        .unwrap();
    let Value::Matrix(m) = v else { panic!("{v:?}") };
    assert_eq!(m[0].points.len(), 30);
    assert_eq!(m[0].points[0], (200_000, 60.0));
    assert_eq!(
        e.instant(&s, "x[2m]", 300_000).unwrap_err().to_string(),
        "query processing would load too many samples into memory in query execution (limit 100 samples)"
    );
}

/// Demonstrates that the timeout stops queries that select nothing for a long time: nested
/// subqueries of a constant (10^12 steps) and a range query over a large subquery.
#[test]
fn timeout_stops_loops_without_selectors() {
    let s = one_series_every_second(10);
    let ms = std::time::Duration::from_millis(1);
    let e = limited(50_000_000, ms);
    assert_eq!(
        e.instant(
            &s,
            "max_over_time(max_over_time(vector(1)[1000s:1ms])[1000s:1ms])",
            1_000_000
        ),
        Err(Error::Timeout(ms))
    );
    assert_eq!(
        e.range(
            &s,
            "max_over_time(vector(time())[100s:1ms])",
            0,
            10_000_000,
            1_000
        ),
        Err(Error::Timeout(ms))
    );
}

/// Demonstrates that a store behind a lock is read per selector: a writer gets the lock while a
/// long query is still running (it ends later, at its timeout), instead of after it.
#[test]
fn a_long_query_does_not_hold_the_lock() {
    let lock = std::sync::RwLock::new(one_series_every_second(10));
    let timeout = std::time::Duration::from_secs(2);
    let e = limited(50_000_000, timeout);
    std::thread::scope(|scope| {
        let query = scope.spawn(|| {
            e.instant(
                &lock,
                "max_over_time(max_over_time((x > 1e300)[1000s:1ms])[1000s:1ms])",
                10_000,
            )
        });
        // Once the query has started reading (its first selector), take the write lock.
        while lock.try_write().is_ok() && !query.is_finished() {
            std::thread::yield_now();
        }
        let target = [("job".to_string(), "app".to_string())];
        lock.write()
            .unwrap()
            .ingest(&target, 11_000, b"x 11\n")
            .unwrap();
        assert!(!query.is_finished(), "the write waited for the whole query");
        assert_eq!(query.join().unwrap(), Err(Error::Timeout(timeout)));
    });
}

/// Demonstrates the step count that tells long-running queries apart before they run.
#[test]
fn steps_multiply_through_subqueries() {
    let minute = std::time::Duration::from_secs(60);
    let steps = |q: &str| parse::steps(q, minute).unwrap();
    assert_eq!(steps("x"), 1);
    assert_eq!(steps("sum(rate(x[1m])) / sum(rate(y[1m]))"), 7);
    // 61 steps of a 2-node expression under the function.
    assert_eq!(steps("max_over_time(rate(x[1m])[1m:1s])"), 1 + 61 * 2);
    // The default step: 10 m / 1 m + 1.
    assert_eq!(steps("max_over_time(x[10m:])"), 1 + 11);
    assert_eq!(
        steps("max_over_time(max_over_time(x[1s:1ms])[1s:1ms])"),
        1 + 1001 * (1 + 1001)
    );
    assert!(parse::steps("sum(", minute).is_err());
}

mod limits;
