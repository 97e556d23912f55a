//! `mixerless-adapter explain`: what kube-controller-manager would do with an HPA right now.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args as ClapArgs;

use crate::hpa::external::{ExternalMetric, MetricError};
use crate::hpa::manifest::Hpa;
use crate::hpa::replicas::{combine, metric_replicas, Controller, Pods, Proposal, Tolerance};
use crate::hpa::table;
use crate::provider::policy;
use crate::quantity;
use crate::querier::remote::{Remote, RemoteConfig};
use crate::querier::Querier;

/// Print what kube-controller-manager would do now with each HPA in a file.
///
/// One `kubectl get hpa`-style line per HPA, with the replica count kube-controller-manager
/// would choose on its next sync (tolerance 0.1, Value vs AverageValue, min/max, several
/// metrics, scale-up limit; from an empty history, so the 5-minute scale-down stabilisation
/// window is not applied).
///
/// Values come from a running adapter (`--adapter`, the same API the HPA reads) or from
/// `--prometheus-url` (the HPA's queries evaluated there and formatted as the adapter would).
/// When a metric's value cannot be read, the line is still printed, a note below it says
/// where and why (the URL and the cause), and the exit status is 1.
#[derive(Debug, Clone, ClapArgs)]
pub struct Args {
    /// File of HorizontalPodAutoscaler manifests (multi-document YAML or JSON).
    #[arg(long, value_name = "FILE")]
    pub hpa: PathBuf,
    /// Current replicas of the scale target (default: minReplicas).
    #[arg(long)]
    pub replicas: Option<i32>,
    /// Base URL of a running adapter.
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://127.0.0.1:6443",
        conflicts_with = "prometheus_url"
    )]
    pub adapter: String,
    /// Evaluate the queries on this Prometheus-compatible API instead of asking an adapter.
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,
    /// PEM CA to verify the adapter's certificate (default: not verified, as the aggregator
    /// with insecureSkipTLSVerify).
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key (one file) for an adapter that requires one.
    #[arg(long, value_name = "PATH")]
    pub client_cert: Option<PathBuf>,
}

/// Prints the table and notes; exits with status 1 when a metric's value could not be read.
pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    let text = std::fs::read_to_string(&args.hpa)
        .with_context(|| format!("read {}", args.hpa.display()))?;
    let hpas = crate::hpa::manifest::parse_all(&text)
        .with_context(|| format!("parse {}", args.hpa.display()))?;
    anyhow::ensure!(
        !hpas.is_empty(),
        "{} holds no HorizontalPodAutoscaler",
        args.hpa.display()
    );
    let source = Source::new(&args)?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let mut unread = 0;
    for hpa in &hpas {
        let (row, mut n, failed) = rt.block_on(explain_one(hpa, args.replicas, &source));
        rows.push(row);
        notes.append(&mut n);
        unread += failed;
    }
    print!("{}", table::render(&HEADER, &rows));
    for n in notes {
        println!("{n}");
    }
    if unread > 0 {
        eprintln!("{unread} metric value(s) could not be read; see the notes above");
        std::process::exit(1);
    }
    Ok(())
}

/// `kubectl get hpa -A`'s columns, with AGE replaced by the replicas the controller would choose.
const HEADER: [&str; 8] = [
    "NAMESPACE",
    "NAME",
    "REFERENCE",
    "TARGETS",
    "MINPODS",
    "MAXPODS",
    "REPLICAS",
    "DESIRED",
];

/// `e` and its sources, `: `-separated (reqwest's own message is only "error sending
/// request"; the cause, e.g. "Connection refused", is in its sources).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

enum Source {
    Adapter {
        base: String,
        client: reqwest::Client,
    },
    Prometheus(Remote),
}

impl Source {
    fn new(args: &Args) -> anyhow::Result<Self> {
        if let Some(url) = &args.prometheus_url {
            return Ok(Self::Prometheus(Remote::new(RemoteConfig {
                url: url.clone(),
                timeout: Duration::from_secs(10),
                ..RemoteConfig::default()
            })?));
        }
        let mut b = reqwest::Client::builder().timeout(Duration::from_secs(10));
        match &args.ca_file {
            Some(ca) => {
                for c in reqwest::Certificate::from_pem_bundle(&std::fs::read(ca)?)? {
                    b = b.add_root_certificate(c);
                }
            }
            None => b = b.danger_accept_invalid_certs(true),
        }
        if let Some(p) = &args.client_cert {
            b = b.identity(reqwest::Identity::from_pem(&std::fs::read(p)?)?);
        }
        Ok(Self::Adapter {
            base: args.adapter.trim_end_matches('/').to_owned(),
            client: b.build()?,
        })
    }

    /// The summed milli value the HPA would read for one External metric.
    async fn usage(&self, hpa: &Hpa, m: &ExternalMetric) -> Result<i64, String> {
        match self {
            Self::Prometheus(remote) => {
                let (queries, errors) = crate::hpa::external_queries(hpa);
                let q = queries
                    .iter()
                    .find(|q| q.metric == m.name && q.match_labels == m.match_labels)
                    .ok_or_else(|| {
                        errors
                            .first()
                            .map_or("no query for this metric".into(), ToString::to_string)
                    })?;
                // A metric that names its own Prometheus is evaluated there, never elsewhere.
                let own;
                let remote = match (&q.prometheus_server, &q.prometheus_server_alias) {
                    (Some(url), _) => {
                        own = Remote::new(RemoteConfig {
                            url: url.clone(),
                            timeout: Duration::from_secs(10),
                            ..RemoteConfig::default()
                        })
                        .map_err(|e| e.to_string())?;
                        &own
                    }
                    (None, Some(alias)) => {
                        return Err(format!(
                            "names prometheus-server-alias {alias:?}, which only `serve \
                             --prometheus-server-alias` resolves: ask that adapter with --adapter"
                        ))
                    }
                    (None, None) => remote,
                };
                // The annotation was parsed already; a query the limits refuse fails here.
                let query = mixerless_engine::promql::Query::parse(&q.query)
                    .map_err(|e| crate::querier::Error::Query(e).to_string())?;
                let v = remote
                    .instant(&query, crate::clock::now_ms())
                    .await
                    .map_err(|e| e.to_string())?;
                let (value, _) = policy::apply(&v, q.on_empty).map_err(|e| e.to_string())?;
                quantity::to_milli(value).map_err(|e| e.to_string())
            }
            Self::Adapter { base, client } => {
                let mut url = format!(
                    "{base}/apis/external.metrics.k8s.io/v1beta1/namespaces/{}/{}",
                    hpa.namespace(),
                    m.name
                );
                let selector = m.label_selector();
                if !selector.is_empty() {
                    url.push_str("?labelSelector=");
                    url.push_str(
                        &form_urlencoded::byte_serialize(selector.as_bytes()).collect::<String>(),
                    );
                }
                let resp = client
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| format!("GET {url}: {}", chain(&e.without_url())))?;
                let status = resp.status();
                let body: serde_json::Value = resp.json().await.map_err(|e| {
                    format!(
                        "GET {url}: {status} with a body that is not JSON: {}",
                        chain(&e.without_url())
                    )
                })?;
                if body["kind"] == "Status" {
                    return Err(format!(
                        "GET {url}: {status}: {}",
                        body["message"].as_str().unwrap_or("error")
                    ));
                }
                let items = body["items"].as_array().ok_or("no items")?;
                if items.is_empty() {
                    return Err("no metrics returned from external metrics API".into());
                }
                let milli: Option<Vec<i64>> = items
                    .iter()
                    .map(|i| i["value"].as_str().and_then(quantity::parse_milli))
                    .collect();
                Ok(crate::hpa::replicas::sum_usage(
                    &milli.ok_or("unparsable value")?,
                ))
            }
        }
    }
}

/// The HPA's table row, its notes, and how many of its metrics could not be evaluated.
async fn explain_one(
    hpa: &Hpa,
    replicas: Option<i32>,
    source: &Source,
) -> (Vec<String>, Vec<String>, usize) {
    let limits = hpa.limits();
    let current = replicas.unwrap_or(limits.min.max(1));
    let mut targets = Vec::new();
    let mut proposals: Vec<Result<Proposal, String>> = Vec::new();
    let mut notes = Vec::new();
    for spec in &hpa.spec.metrics {
        let m = match spec.external_metric() {
            Ok(m) => m,
            Err(MetricError::NotExternal(kind)) => {
                notes.push(format!(
                    "{}: {kind} metric not evaluated (only External)",
                    hpa.key()
                ));
                continue;
            }
            Err(e) => {
                notes.push(format!("{}: {e}", hpa.key()));
                proposals.push(Err(e.to_string()));
                continue;
            }
        };
        match source.usage(hpa, &m).await {
            Ok(usage) => {
                let p = metric_replicas(m.target, usage, Pods::all(current), Tolerance::default());
                targets.push(table::target_cell(m.target, Some(p.current_milli)));
                proposals.push(Ok(p));
            }
            Err(e) => {
                targets.push(table::target_cell(m.target, None));
                notes.push(format!("{} {}: {e}", hpa.key(), m.name));
                proposals.push(Err(e));
            }
        }
    }
    let failed = proposals.iter().filter(|p| p.is_err()).count();
    let decision = Controller::new(0).reconcile(0, &limits, current, combine(current, &proposals));
    let desired = match decision {
        Ok(d) => format!("{} ({:?})", d.desired, d.reason),
        Err(e) => {
            notes.push(format!("{}: no scaling: {e}", hpa.key()));
            format!("{current} (unchanged)")
        }
    };
    (
        vec![
            hpa.namespace().to_owned(),
            hpa.metadata.name.clone(),
            hpa.reference(),
            if targets.is_empty() {
                "<none>".into()
            } else {
                targets.join(", ")
            },
            limits.min.to_string(),
            limits.max.to_string(),
            current.to_string(),
            desired,
        ],
        notes,
        failed,
    )
}
