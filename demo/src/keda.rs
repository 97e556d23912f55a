//! `--keda`: the demo's controller as KEDA's operator over the adapter's external scaler
//! (`serve --keda-grpc`). KEDA owns 0 <-> 1: it scales a workload at zero to one replica as soon
//! as the scaler says active (here pushed by `StreamIsActive`, KEDA's `external-push`), and back
//! to zero once it has been inactive for `cooldownPeriod`. Between 1 and N the HPA KEDA creates
//! (minReplicas 1) reads the trigger's `GetMetrics` value against its `GetMetricSpec` target as
//! an AverageValue; the demo feeds that value into its HPA arithmetic.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mixerless_hpa::replicas::Target;
use tokio::sync::watch;
use tonic::transport::Channel;

use crate::hpa::Hpa;

/// The code generated from the adapter's `proto/externalscaler.proto` by `build.rs`.
#[allow(unreachable_pub, missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("externalscaler");
}

use proto::external_scaler_client::ExternalScalerClient;
use proto::{GetMetricsRequest, ScaledObjectRef};

/// Why the KEDA side could not start.
#[derive(Debug, thiserror::Error)]
pub enum KedaError {
    /// The scaling HPA cannot be a KEDA trigger.
    #[error("--keda: {0}")]
    Trigger(String),
    /// The adapter's gRPC endpoint did not answer.
    #[error("--keda: the adapter's external scaler at {addr}: {message}")]
    Connect { addr: String, message: String },
}

/// The ScaledObject the demo plays: one `external-push` trigger on the adapter.
pub struct Keda {
    client: ExternalScalerClient<Channel>,
    object: ScaledObjectRef,
    /// `GetMetricSpec`'s name for the trigger, sent back in `GetMetrics`.
    pub metric_name: String,
    /// `GetMetricSpec`'s target per replica (`threshold`).
    pub target: f64,
    /// `StreamIsActive`'s latest state (`None` before its first answer or while it reconnects).
    active: watch::Receiver<Option<bool>>,
    /// `cooldownPeriod`: inactive this long, the workload goes to zero.
    pub cooldown: Duration,
    /// When the trigger was last seen active.
    last_active: Option<Instant>,
}

impl Keda {
    /// The trigger from the scaling HPA's first metric (its query; its AverageValue target as
    /// `threshold`; `activationThreshold: "0"`), then `GetMetricSpec` and `StreamIsActive`.
    pub async fn start(port: u16, hpa: &Hpa, cooldown: Duration) -> Result<Self, KedaError> {
        let metric = hpa
            .metrics
            .first()
            .ok_or_else(|| KedaError::Trigger(format!("HPA {} has no metric", hpa.name())))?;
        let Target::AverageValue(milli) = metric.target else {
            return Err(KedaError::Trigger(format!(
                "HPA {} metric {}: KEDA's HPA reads a trigger as an AverageValue; this target is a Value",
                hpa.name(),
                metric.name
            )));
        };
        let (queries, _) = mixerless_hpa::annotations::external_queries(&hpa.manifest);
        let query = queries
            .into_iter()
            .find(|q| q.metric == metric.name)
            .ok_or_else(|| {
                KedaError::Trigger(format!(
                    "HPA {} metric {} has no query annotation",
                    hpa.name(),
                    metric.name
                ))
            })?
            .query;
        let threshold = milli as f64 / 1000.0;
        let object = ScaledObjectRef {
            name: "podinfo".into(),
            namespace: hpa.manifest.namespace().to_owned(),
            scaler_metadata: HashMap::from([
                ("query".to_owned(), query.trim().to_owned()),
                ("threshold".to_owned(), threshold.to_string()),
                ("activationThreshold".to_owned(), "0".to_owned()),
            ]),
        };
        let addr = format!("http://127.0.0.1:{port}");
        let connect = |message: String| KedaError::Connect {
            addr: addr.clone(),
            message,
        };
        let mut client = ExternalScalerClient::connect(addr.clone())
            .await
            .map_err(|e| connect(e.to_string()))?;
        let spec = client
            .get_metric_spec(object.clone())
            .await
            .map_err(|e| connect(e.message().to_owned()))?
            .into_inner();
        let spec = spec
            .metric_specs
            .into_iter()
            .next()
            .ok_or_else(|| connect("GetMetricSpec answered no metric".into()))?;
        let (tx, active) = watch::channel(None);
        tokio::spawn(stream_active(client.clone(), object.clone(), tx));
        Ok(Self {
            client,
            object,
            metric_name: spec.metric_name,
            target: spec.target_size_float,
            active,
            cooldown,
            last_active: None,
        })
    }

    /// `StreamIsActive`'s state now.
    pub fn active(&self) -> Option<bool> {
        *self.active.borrow()
    }

    /// KEDA's 0 <-> 1 decision with `replicas` running: 1 from 0 when active, 0 when inactive
    /// for the cooldown; `None` leaves it to the HPA.
    pub fn decide(&mut self, now: Instant, replicas: usize) -> Option<usize> {
        let active = self.active();
        if active == Some(true) {
            self.last_active = Some(now);
        }
        match (replicas, active) {
            (0, Some(true)) => Some(1),
            (0, _) => None,
            (_, Some(false)) => {
                let since = *self.last_active.get_or_insert(now);
                (now.duration_since(since) >= self.cooldown).then_some(0)
            }
            _ => None,
        }
    }

    /// `GetMetrics` for the trigger, in milli units rounded up (as the HPA reads a Quantity), or
    /// the status as KEDA's metrics adapter would pass it on.
    pub async fn metric(&self) -> Result<Vec<i64>, String> {
        let answer = self
            .client
            .clone()
            .get_metrics(GetMetricsRequest {
                scaled_object_ref: Some(self.object.clone()),
                metric_name: self.metric_name.clone(),
            })
            .await
            .map_err(|e| {
                format!(
                    "GetMetrics {}: {:?}: {}",
                    self.metric_name,
                    e.code(),
                    e.message()
                )
            })?
            .into_inner();
        Ok(answer
            .metric_values
            .iter()
            .map(|v| (v.metric_value_float * 1000.0).ceil() as i64)
            .collect())
    }
}

/// Reads `StreamIsActive` into `tx`, reconnecting after a second when the stream ends, until
/// the demo no longer listens.
async fn stream_active(
    mut client: ExternalScalerClient<Channel>,
    object: ScaledObjectRef,
    tx: watch::Sender<Option<bool>>,
) {
    while !tx.is_closed() {
        if let Ok(stream) = client.stream_is_active(object.clone()).await {
            let mut stream = stream.into_inner();
            while let Ok(Some(r)) = stream.message().await {
                if tx.send(Some(r.result)).is_err() {
                    return;
                }
            }
        }
        let _ = tx.send(None);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
