//! The foundation: real Envoy loads `dist/mixerless-filter.wasm` in V8 and counts requests,
//! and refuses a plugin configuration that is not JSON.

use std::time::Duration;

use mixerless_harness::{bootstrap::Bootstrap, envoy::Envoy, http, stats};

/// Demonstrates that the built module runs in Envoy's V8 and counts every request once.
#[test]
fn envoy_counts_25_requests() -> anyhow::Result<()> {
    let envoy = Envoy::start(&Bootstrap::inbound(r#"{"reporter": "destination"}"#).render())?;
    for _ in 0..25 {
        let resp = http::get(&envoy.listener_url("/"))?;
        assert_eq!(resp.status, 200);
    }
    let total = envoy.eventually(Duration::from_secs(10), |samples| {
        let n = stats::sum(
            samples,
            "istio_requests_total",
            &[("reporter", "destination")],
        );
        if n == 25.0 {
            Ok(n)
        } else {
            Err(format!("istio_requests_total = {n}, want 25"))
        }
    })?;
    assert_eq!(total, 25.0);
    Ok(())
}

/// Demonstrates that a plugin configuration that is not valid JSON stops Envoy from starting,
/// and that Envoy's log says why (the JSON parser's position).
#[test]
fn envoy_refuses_invalid_json_config() -> anyhow::Result<()> {
    let err = Envoy::start(&Bootstrap::inbound("{reporter: destination").render())
        .expect_err("Envoy must not start with a plugin configuration that is not JSON");
    let text = format!("{err:#}");
    assert!(
        text.contains("invalid plugin configuration"),
        "log does not say why:\n{text}"
    );
    assert!(
        text.contains("line 1 column 2"),
        "log does not name the position:\n{text}"
    );
    Ok(())
}

/// Demonstrates that Envoy does not outlive a test that panics: the handle's Drop kills it
/// while the panic unwinds.
#[test]
fn envoy_dies_with_a_failing_test() -> anyhow::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let failing = std::thread::spawn(move || {
        let envoy = Envoy::start(&Bootstrap::inbound("{}").render()).unwrap();
        tx.send(envoy.pid()).unwrap();
        panic!("a failing test");
    });
    assert!(
        failing.join().is_err(),
        "the test thread should have panicked"
    );
    let pid = rx.recv()?;
    assert!(pid > 0);
    // Drop waited for the child, so its /proc entry is gone (or a zombie of no one).
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    assert!(
        status.is_empty() || status.contains("State:\tZ"),
        "envoy {pid} still running after the test panicked:\n{status}"
    );
    Ok(())
}
