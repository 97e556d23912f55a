//! Scale to zero happens to a service that has been idle under a running adapter, whose store
//! already holds the window the HPA query reads. The demo starts the adapter with the load, so
//! at `--min-replicas 0` it first waits out the adapter's warm-up (`/readyz` ready: no query
//! withheld for a short history); otherwise activation would wait for it, not for a scrape.

use std::time::{Duration, Instant};

/// Waits until the adapter at `base` says ready, at most `limit`; false when it did not.
pub(super) async fn wait_ready(base: &str, limit: Duration) -> bool {
    // The adapter's self-signed certificate, on loopback (as the demo's HPA client does).
    let Ok(client) = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(5))
        .build()
    else {
        return false;
    };
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let ready = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}
