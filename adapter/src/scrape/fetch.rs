//! One scrape's HTTP request, with a timeout and a body size cap.

use std::time::Duration;

/// Why a scrape failed; the variant name is the `reason` label of the error counter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    /// No answer (or no complete body) within the timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Connection refused, reset, DNS...
    #[error("connect: {0}")]
    Connect(String),
    /// A status other than 200.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The body passed the cap.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// The body does not parse as exposition text.
    #[error("parse: {0}")]
    Parse(String),
}

impl FetchError {
    /// The `reason` label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::Connect(_) => "connect",
            Self::Status(_) => "http_status",
            Self::TooLarge(_) => "too_large",
            Self::Parse(_) => "parse",
        }
    }
}

/// GETs `url`; the whole exchange (headers and body) must finish within `timeout`.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    let work = async {
        let mut resp = client
            .get(url)
            .header("Accept", "text/plain;version=0.0.4;q=0.9,*/*;q=0.1")
            .send()
            .await
            .map_err(|e| FetchError::Connect(chain(&e)))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status(resp.status().as_u16()));
        }
        if resp.content_length().is_some_and(|n| n as usize > limit) {
            return Err(FetchError::TooLarge(limit));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| FetchError::Connect(chain(&e)))?
        {
            if body.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Err(FetchError::Timeout(timeout)))
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
