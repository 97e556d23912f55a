//! Every request counted: what the loadtester sidecar counted for podinfo (`reporter="source"`,
//! read through the adapter's `/api/v1`), beside what `hey` sent. With scale to zero the
//! requests sent while podinfo has no replica end as 503 with response flag `UH` in that
//! sidecar; they are counted like the others, which is what activation reads.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The Service the loadtester calls, as its sidecar labels `destination_service`.
pub(crate) const SERVICE: &str = "podinfo.test.svc.cluster.local";

/// Requests of one response code and flags, as the loadtester sidecar counted them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Count {
    pub(crate) code: String,
    pub(crate) flags: String,
    pub(crate) requests: u64,
}

/// What `counts.json` holds: `hey`'s view and the callers' sidecar's.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Counts {
    /// Requests per HTTP status as `hey` saw them ("error": no answer).
    pub(crate) hey: BTreeMap<String, u64>,
    /// `istio_requests_total{reporter="source",destination_service=SERVICE}` by code and flags.
    pub(crate) sidecar: Vec<Count>,
}

#[derive(Deserialize)]
struct Answer {
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    result: Vec<Sample>,
}

#[derive(Deserialize)]
struct Sample {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// The loadtester sidecar's counts for podinfo now, by response code and flags.
pub(crate) async fn sidecar(base: &str) -> Result<Vec<Count>, String> {
    let query = format!(
        "sum by (response_code, response_flags) (istio_requests_total{{reporter=\"source\",destination_service=\"{SERVICE}\"}})"
    );
    // The adapter's self-signed certificate, on loopback (as the demo's HPA client does).
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", query.as_str())])
        .send()
        .await
        .map_err(|e| format!("{base}/api/v1/query: {e}"))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(format!("{base}/api/v1/query: {status}: {body}"));
    }
    let answer: Answer =
        serde_json::from_str(&body).map_err(|e| format!("{base}/api/v1/query: {e}: {body}"))?;
    let mut counts: Vec<Count> = answer
        .data
        .result
        .into_iter()
        .map(|s| Count {
            code: s.metric.get("response_code").cloned().unwrap_or_default(),
            flags: s.metric.get("response_flags").cloned().unwrap_or_default(),
            // A counter's value: a whole number of requests.
            requests: s.value.1.parse::<f64>().map_or(0, |v| v as u64),
        })
        .collect();
    counts.sort_by(|a, b| (&a.code, &a.flags).cmp(&(&b.code, &b.flags)));
    Ok(counts)
}
