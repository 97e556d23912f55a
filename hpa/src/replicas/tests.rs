//! The upstream test vectors of the reference (§9), one row per case.

use super::*;

fn value(target: i64, usage: i64, pods: Pods) -> i32 {
    metric_replicas(Target::Value(target), usage, pods, Tolerance::default()).replicas
}

/// Demonstrates the replica calculator's vectors 1–6 (`replica_calculator_test.go`).
#[test]
fn replica_calculator_vectors() {
    // 1: Value, 3 pods of which 1 ready: ceil(8600/4400 × 1) = 2.
    let p = Pods {
        status_replicas: 3,
        ready: 1,
    };
    assert_eq!(value(4400, 8600, p), 2);
    // 2: scale down: ceil(0.59997 × 5) = 3.
    assert_eq!(value(14334, 8600, Pods::all(5)), 3);
    // 3: ratio 0.9676 is inside the tolerance.
    assert_eq!(value(8888, 8600, Pods::all(3)), 3);
    // 4–6: AverageValue, with the average the status would show.
    let avg = |t, usage, n| {
        metric_replicas(
            Target::AverageValue(t),
            usage,
            Pods::all(n),
            Tolerance::default(),
        )
    };
    assert_eq!(
        avg(2150, 8600, 3),
        Proposal {
            replicas: 4,
            current_milli: 2867
        }
    );
    assert_eq!(
        avg(2867, 8600, 5),
        Proposal {
            replicas: 3,
            current_milli: 1720
        }
    );
    assert_eq!(
        avg(2900, 8600, 3),
        Proposal {
            replicas: 3,
            current_milli: 2867
        }
    );
}

/// Demonstrates vectors 7–9: configurable tolerance, zero status replicas, usage overflow.
#[test]
fn newer_calculator_vectors() {
    let tol = Tolerance {
        down: 0.1,
        up: 0.01,
    };
    assert_eq!(
        metric_replicas(Target::Value(8800), 8900, Pods::all(3), tol).replicas,
        4
    );
    assert_eq!(
        metric_replicas(
            Target::AverageValue(5000),
            20000,
            Pods::all(0),
            Tolerance::default()
        ),
        Proposal {
            replicas: 4,
            current_milli: 0
        }
    );
    let usage = sum_usage(&[i64::MAX / 2 + 1, i64::MAX / 2 + 1]);
    assert_eq!(usage, i64::MAX);
    assert_eq!(value(i64::MAX, usage, Pods::all(3)), 3);
}

fn legacy(min: i32, max: i32) -> Limits {
    Limits {
        min,
        max,
        behavior: None,
    }
}

/// Demonstrates the controller vectors 10–13 (`horizontal_test.go`), each from an empty history.
#[test]
fn horizontal_controller_vectors() {
    let sync = |limits: Limits, current: i32, target: Target| {
        let p = metric_replicas(target, 8600, Pods::all(current), Tolerance::default());
        let mut c = Controller::new(0);
        c.reconcile(0, &limits, current, combine(current, &[Ok(p)]))
            .unwrap()
            .desired
    };
    assert_eq!(sync(legacy(2, 6), 3, Target::Value(6666)), 4);
    assert_eq!(sync(legacy(2, 6), 3, Target::AverageValue(2222)), 4);
    assert_eq!(sync(legacy(1, 6), 5, Target::Value(14400)), 3);
    assert_eq!(sync(legacy(1, 6), 5, Target::AverageValue(3000)), 3);
    // 13: min 0 lets usage 0 scale to zero.
    let p = metric_replicas(Target::Value(14400), 0, Pods::all(5), Tolerance::default());
    let mut c = Controller::new(0);
    let d = c
        .reconcile(0, &legacy(0, 6), 5, combine(5, &[Ok(p)]))
        .unwrap();
    assert_eq!(d.desired, 0);
}

/// Demonstrates the legacy stabilisation window: a scale-down waits until the higher
/// recommendation leaves the 5 min window.
#[test]
fn downscale_waits_for_the_stabilisation_window() {
    let mut c = Controller::default();
    let l = legacy(1, 10);
    assert_eq!(c.reconcile(0, &l, 5, Ok(8)).unwrap().desired, 8);
    let d = c.reconcile(60_000, &l, 8, Ok(2)).unwrap();
    assert_eq!(d.desired, 8, "the recommendation of 8 holds for 5 min");
    let d = c.reconcile(299_000, &l, 8, Ok(2)).unwrap();
    assert_eq!(d.desired, 8);
    let d = c.reconcile(301_000, &l, 8, Ok(2)).unwrap();
    assert_eq!(d.desired, 2);
}

/// Demonstrates the scale-up limit max(2 × current, 4) and the max/min clamps.
#[test]
fn scale_up_is_limited_and_clamped() {
    let mut c = Controller::new(0);
    let d = c.reconcile(0, &legacy(1, 100), 3, Ok(50)).unwrap();
    assert_eq!(
        d,
        Decision {
            desired: 6,
            reason: Reason::ScaleUpLimit
        }
    );
    let mut c = Controller::new(0);
    let d = c.reconcile(0, &legacy(1, 5), 3, Ok(50)).unwrap();
    assert_eq!(
        d,
        Decision {
            desired: 5,
            reason: Reason::TooManyReplicas
        }
    );
    let mut c = Controller::new(0);
    let d = c.reconcile(0, &legacy(2, 5), 3, Ok(1)).unwrap();
    assert_eq!(d.desired, 2);
    assert_eq!(d.reason, Reason::TooFewReplicas);
}

/// Demonstrates several metrics: the maximum wins; an invalid metric blocks a scale-down but
/// not a scale-up; all invalid is an error.
#[test]
fn several_metrics() {
    let ok = |r| {
        Ok(Proposal {
            replicas: r,
            current_milli: 0,
        })
    };
    assert_eq!(combine(3, &[ok(2), ok(7), ok(4)]), Ok(7));
    assert_eq!(combine(3, &[ok(5), Err("no data".into())]), Ok(5));
    let e = combine(3, &[ok(2), Err("no data".into())]).unwrap_err();
    assert!(e.contains("no data"), "{e}");
    assert!(combine(3, &[Err("a".into())]).is_err());
}

/// Demonstrates `behavior` defaults: scale-up at most max(+4 pods, +100 %) per 15 s, and the
/// 300 s scale-down window.
#[test]
fn behavior_rate_limits_and_windows() {
    let l = Limits {
        min: 1,
        max: 100,
        behavior: Some(Behavior::default()),
    };
    let mut c = Controller::default();
    let d = c.reconcile(0, &l, 2, Ok(50)).unwrap();
    assert_eq!(d.desired, 6, "max(2+4, 2×2)");
    assert_eq!(d.reason, Reason::ScaleUpLimit);
    // 10 s later the period still counts the +4 already made: start 2 → limit 6 again.
    let d = c.reconcile(10_000, &l, 6, Ok(50)).unwrap();
    assert_eq!(d.desired, 6);
    // After the period: 6 → max(10, 12).
    let d = c.reconcile(20_000, &l, 6, Ok(50)).unwrap();
    assert_eq!(d.desired, 12);
    // Scale-down waits for the 300 s window of higher recommendations.
    let d = c.reconcile(30_000, &l, 12, Ok(3)).unwrap();
    assert_eq!(d.desired, 12);
    let d = c.reconcile(340_000, &l, 12, Ok(3)).unwrap();
    assert_eq!(d.desired, 3);
}
