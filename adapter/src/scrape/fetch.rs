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
    /// The response's Content-Type does not say how to parse it (and no fallback is set).
    #[error("{0}")]
    ContentType(#[from] super::protocol::ContentTypeError),
    /// The store refused the body: it does not parse, or it passes a limit.
    #[error("parse: {0}")]
    Ingest(#[from] crate::store::IngestError),
    /// The ingest task ended without an answer (it panicked).
    #[error("parse: ingest task: {0}")]
    Task(String),
}

impl FetchError {
    /// The `reason` label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::Connect(_) => "connect",
            Self::Status(_) => "http_status",
            Self::TooLarge(_) => "too_large",
            Self::ContentType(_) => "content_type",
            Self::Ingest(e) => e.reason(),
            Self::Task(_) => "parse",
        }
    }
}

/// A response body and its `Content-Type`, if any.
pub struct Fetched {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
}

/// GETs `url` asking for `accept`; the whole exchange (headers and body) must finish within
/// `timeout`.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    accept: &str,
    timeout: Duration,
    limit: usize,
) -> Result<Fetched, FetchError> {
    let work = async {
        let mut resp = client
            .get(url)
            .header("Accept", accept)
            .send()
            .await
            .map_err(|e| FetchError::Connect(chain(&e)))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status(resp.status().as_u16()));
        }
        if resp.content_length().is_some_and(|n| n as usize > limit) {
            return Err(FetchError::TooLarge(limit));
        }
        // A Content-Type that is not text cannot name a parser: kept lossily for the error.
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
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
        Ok(Fetched { body, content_type })
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
