//! `mixerless-adapter serve` in embedded mode, run by the demo: it scrapes every sidecar listed
//! in the `--file-sd` file, evaluates the HPAs' annotation queries and serves
//! `external.metrics.k8s.io/v1beta1`. The demo's controller reads replicas' inputs only from
//! these answers, as kube-controller-manager would through the aggregator.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mixerless_adapter::quantity;
use serde::Deserialize;

use crate::procs::{Proc, ProcError};

/// Failures running or asking the adapter.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The adapter could not be started.
    #[error(transparent)]
    Proc(#[from] ProcError),
    /// The adapter stopped before it was ready (bad flags, unreadable HPA).
    #[error(
        "the adapter exited with {status} before it was ready; last log lines ({log}):\n{tail}"
    )]
    Exited {
        status: std::process::ExitStatus,
        log: String,
        tail: String,
    },
    /// The adapter did not become ready in time.
    #[error("the adapter did not answer /readyz within {secs}s; log: {log}")]
    NotReady { secs: u64, log: String },
    /// The HTTPS client could not be built.
    #[error("cannot build an HTTPS client: {0}")]
    Client(reqwest::Error),
}

/// The running adapter and an HTTPS client for it.
#[derive(Debug)]
pub struct Adapter {
    pub proc: Proc,
    pub base: String,
    client: reqwest::Client,
}

/// How the demo starts `serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub bin: PathBuf,
    pub port: u16,
    pub file_sd: PathBuf,
    pub hpa_dir: PathBuf,
    pub scrape_interval: Duration,
    /// Query this Prometheus instead of scraping (`--prometheus-url`).
    pub prometheus_url: Option<String>,
    /// Also serve KEDA's external scaler on this loopback port (`--keda-grpc`).
    pub keda_port: Option<u16>,
    pub log: PathBuf,
}

impl ServeConfig {
    /// The command line, as the demo prints it.
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{}", self.port),
            "--hpa-dir".into(),
            self.hpa_dir.display().to_string(),
        ];
        match &self.prometheus_url {
            None => args.extend([
                "--file-sd".into(),
                self.file_sd.display().to_string(),
                "--scrape-interval".into(),
                format!("{}ms", self.scrape_interval.as_millis()),
            ]),
            Some(url) => args.extend([
                "--prometheus-url".into(),
                url.clone(),
                "--query-interval".into(),
                format!("{}ms", self.scrape_interval.as_millis()),
            ]),
        }
        if let Some(port) = self.keda_port {
            args.extend(["--keda-grpc".into(), format!("127.0.0.1:{port}")]);
        }
        args
    }
}

impl Adapter {
    /// Starts `serve` and waits until `/readyz` answers 200, or says it is warming up: the
    /// demo shows the warm-up (a 1m rate is withheld for the first minute), so it goes on.
    pub async fn start(cfg: &ServeConfig) -> Result<Self, AdapterError> {
        let proc = Proc::spawn("mixerless-adapter", &cfg.bin, &cfg.args(), cfg.log.clone())?;
        // The adapter serves a self-signed certificate on loopback, as in a cluster where the
        // APIService says insecureSkipTLSVerify.
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(AdapterError::Client)?;
        let mut adapter = Self {
            proc,
            base: format!("https://127.0.0.1:{}", cfg.port),
            client,
        };
        adapter.wait_ready(Duration::from_secs(30)).await?;
        Ok(adapter)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), AdapterError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.proc.exited() {
                return Err(AdapterError::Exited {
                    status,
                    log: self.proc.log.display().to_string(),
                    tail: self.proc.log_tail(15),
                });
            }
            let url = format!("{}/readyz", self.base);
            if let Ok(r) = self.client.get(&url).send().await {
                let ok = r.status().is_success();
                if ok || r.text().await.is_ok_and(|t| t.starts_with("warming up")) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(AdapterError::NotReady {
                    secs: timeout.as_secs(),
                    log: self.proc.log.display().to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The request the HPA controller makes for one External metric.
    pub fn metric_path(namespace: &str, metric: &str, selector: &str) -> String {
        let mut path =
            format!("/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}");
        if !selector.is_empty() {
            path.push_str("?labelSelector=");
            path.push_str(&encode(selector));
        }
        path
    }

    /// Asks for one External metric; Ok(items' values in milli, rounded up as `MilliValue()`),
    /// or the reason as the HPA controller would report it.
    pub async fn external_metric(
        &self,
        namespace: &str,
        metric: &str,
        selector: &str,
    ) -> Result<Vec<i64>, String> {
        let url = format!(
            "{}{}",
            self.base,
            Self::metric_path(namespace, metric, selector)
        );
        let resp = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("unable to fetch metrics from external metrics API: {e}"))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let message = serde_json::from_str::<Status>(&body)
                .map(|s| s.message)
                .unwrap_or(body);
            return Err(format!(
                "unable to fetch metrics from external metrics API: {status}: {message}"
            ));
        }
        let list: ValueList = serde_json::from_str(&body).map_err(|e| {
            format!("unable to fetch metrics from external metrics API: bad answer: {e}")
        })?;
        if list.items.is_empty() {
            return Err("no metrics returned from external metrics API".into());
        }
        list.items
            .iter()
            .map(|i| {
                quantity::parse_milli(&i.value)
                    .ok_or_else(|| format!("bad Quantity {:?} from the adapter", i.value))
            })
            .collect()
    }
}

#[derive(Deserialize)]
struct ValueList {
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    value: String,
}

#[derive(Deserialize)]
struct Status {
    message: String,
}

/// Percent-encodes a label selector for a query string (`=` and `,` included, as client-go does).
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Writes a kubeconfig whose cluster is the adapter, so `kubectl get --raw` works against it.
pub fn write_kubeconfig(path: &Path, base: &str) -> std::io::Result<()> {
    let text = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: mixerless-demo
  cluster:
    server: {base}
    insecure-skip-tls-verify: true
users:
- name: demo
  user: {{token: mixerless-demo}}
contexts:
- name: mixerless-demo
  context: {{cluster: mixerless-demo, user: demo, namespace: test}}
current-context: mixerless-demo
"
    );
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates that the metric path is the one the HPA controller requests.
    #[test]
    fn metric_path_encodes_the_selector() {
        assert_eq!(
            Adapter::metric_path("test", "prometheus-query", "query-name=p95-latency"),
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/test/prometheus-query?labelSelector=query-name%3Dp95-latency"
        );
        assert_eq!(
            Adapter::metric_path("test", "m", ""),
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/test/m"
        );
    }
}
