//! A Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics) as a
//! [`Querier`]: `POST /api/v1/query`, optional bearer token file and CA file.

use std::path::PathBuf;
use std::time::Duration;

mod decode;

use decode::from_api_json;

use super::{BoxFuture, Error, Querier, Value};
use mixerless_engine::promql::Query;

/// How to reach a remote Prometheus.
#[derive(Debug, Clone, Default)]
pub struct RemoteConfig {
    /// Base URL, e.g. `http://prometheus.monitoring:9090` (a path prefix is kept).
    pub url: String,
    /// A file holding a bearer token, re-read on every query so that rotated tokens work.
    pub bearer_token_file: Option<PathBuf>,
    /// PEM CA bundle to trust for HTTPS, in addition to the web PKI roots.
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

/// The remote querier.
#[derive(Debug, Clone)]
pub struct Remote {
    config: RemoteConfig,
    client: reqwest::Client,
}

impl Remote {
    /// Builds the HTTP client; fails if the CA file cannot be read.
    pub fn new(config: RemoteConfig) -> Result<Self, Error> {
        let err = |message: String| Error::Remote {
            url: config.url.clone(),
            message,
        };
        let mut builder = reqwest::Client::builder()
            .timeout(if config.timeout.is_zero() {
                Duration::from_secs(10)
            } else {
                config.timeout
            })
            .user_agent(concat!("mixerless-adapter/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &config.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| err(format!("read CA file {}: {e}", ca.display())))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| err(format!("CA file {}: {e}", ca.display())))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| err(e.to_string()))?;
        Ok(Self { config, client })
    }

    async fn query(&self, query: &str, time_ms: i64) -> Result<Value, Error> {
        let url = format!("{}/api/v1/query", self.config.url.trim_end_matches('/'));
        let err = |message: String| Error::Remote {
            url: self.config.url.clone(),
            message,
        };
        let time = format!("{:.3}", time_ms as f64 / 1000.0);
        let mut req = self
            .client
            .post(&url)
            .form(&[("query", query), ("time", &time)]);
        if let Some(file) = &self.config.bearer_token_file {
            let token = std::fs::read_to_string(file)
                .map_err(|e| err(format!("read bearer token file {}: {e}", file.display())))?;
            req = req.bearer_auth(token.trim());
        }
        let resp = req.send().await.map_err(|e| err(without_url(&e)))?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.map_err(|e| {
            err(format!(
                "HTTP {status}, body is not JSON: {}",
                without_url(&e)
            ))
        })?;
        if body.get("status").and_then(|s| s.as_str()) != Some("success") {
            let kind = body
                .get("errorType")
                .and_then(|s| s.as_str())
                .unwrap_or("error");
            let msg = body
                .get("error")
                .and_then(|s| s.as_str())
                .unwrap_or("no message");
            return Err(if status.is_client_error() {
                Error::Refused {
                    kind: kind.to_owned(),
                    message: msg.to_owned(),
                }
            } else {
                err(format!("HTTP {status}: {kind}: {msg}"))
            });
        }
        from_api_json(body.get("data").unwrap_or(&serde_json::Value::Null))
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

impl Querier for Remote {
    fn instant<'a>(
        &'a self,
        query: &'a Query,
        time_ms: i64,
    ) -> BoxFuture<'a, Result<Value, Error>> {
        Box::pin(self.query(query.text(), time_ms))
    }

    fn describe(&self) -> String {
        format!("prometheus {}", self.config.url)
    }
}
