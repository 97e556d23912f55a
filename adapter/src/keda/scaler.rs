//! The four RPCs of `externalscaler.ExternalScaler` over a [`Source`]. Every call carries the
//! trigger's metadata, so nothing is registered ahead: each call looks its trigger up by it
//! (parsed once, [`super::trigger::cache`]).
//!
//! Values are read as KEDA's own Prometheus scaler reads `/api/v1/query`: an empty result is 0
//! and inactive; NaN and ±Inf are 0 unless `ignoreNullValues: "false"`; active means above
//! `activationThreshold`; several series are an error (the query must aggregate).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use tonic::{Request, Response, Status};

use super::proto::external_scaler_server::ExternalScaler;
use super::proto::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec,
    MetricValue, ScaledObjectRef,
};
use super::source::{Reading, Shape, Source, SourceError};
use super::trigger::cache::Cache;
use super::Trigger;
use crate::clock::now_ms;

/// The external scaler.
#[derive(Clone)]
pub struct Scaler {
    source: Arc<dyn Source>,
    triggers: Arc<Cache>,
    /// How often `StreamIsActive` re-evaluates when no scrape lands and the trigger names no
    /// `interval` (`--query-interval`, else the scrape interval).
    default_interval: Duration,
}

impl Scaler {
    /// A scaler evaluating on `source`.
    pub fn new(source: Arc<dyn Source>, default_interval: Duration) -> Self {
        Self {
            source,
            triggers: Arc::new(Cache::new(TRIGGERS)),
            default_interval,
        }
    }

    /// The trigger of a call, its families kept from now on.
    fn trigger(&self, r: &ScaledObjectRef) -> Result<Arc<Trigger>, Status> {
        let t = self.triggers.get(&r.scaler_metadata).map_err(|e| {
            Status::invalid_argument(format!("ScaledObject {}/{}: {e}", r.namespace, r.name))
        })?;
        self.source.keep(&t);
        Ok(t)
    }

    /// The trigger's value now (0 for an empty result), or the status that says why not.
    async fn value(&self, t: &Trigger, for_metrics: bool) -> Result<f64, Status> {
        let Reading { shape, warming } =
            self.source
                .evaluate(t, now_ms())
                .await
                .map_err(|e| match e {
                    SourceError::Remote(_) => Status::unavailable(e.to_string()),
                    SourceError::Evaluate { .. } => Status::internal(e.to_string()),
                })?;
        if let (true, Some(w)) = (for_metrics, warming) {
            return Err(Status::unavailable(format!(
                "query {:?}: {w}",
                t.query.text()
            )));
        }
        match shape {
            Shape::Empty => Ok(0.0),
            Shape::One(v) if v.is_finite() => Ok(v),
            Shape::One(_) if t.ignore_null_values => Ok(0.0),
            Shape::One(v) => Err(Status::failed_precondition(format!(
                "query {:?} returned {v} (ignoreNullValues is false)",
                t.query.text()
            ))),
            Shape::Several(n) => Err(Status::failed_precondition(format!(
                "query {:?} returned {n} series; aggregate them to one (sum, max, ...)",
                t.query.text()
            ))),
            Shape::Unusable(what) => Err(Status::invalid_argument(format!(
                "query {:?} returns {what}, not a value",
                t.query.text()
            ))),
        }
    }

    async fn active(&self, t: &Trigger) -> Result<bool, Status> {
        Ok(self.value(t, false).await? > t.activation)
    }
}

/// Triggers kept parsed: far more than the ScaledObjects one adapter serves.
const TRIGGERS: usize = 4096;

/// Least time between two evaluations of one stream. Each target's scrape lands on its own, so
/// a service of 500 pods scraped every 5 s lands 100 scrapes a second; evaluating after each would
/// cost a query per scrape per stream. Scrapes landing within it are read by one evaluation, and
/// activation waits at most this long for it.
const MIN_GAP: Duration = Duration::from_millis(200);

type ActiveStream = Pin<Box<dyn Stream<Item = Result<IsActiveResponse, Status>> + Send>>;
type SpecStream = Pin<Box<dyn Stream<Item = Result<GetMetricSpecResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ExternalScaler for Scaler {
    async fn is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<IsActiveResponse>, Status> {
        let t = self.trigger(request.get_ref())?;
        let result = self.active(&t).await?;
        Ok(Response::new(IsActiveResponse { result }))
    }

    type StreamIsActiveStream = ActiveStream;

    /// The state at once, then each change, evaluated as each scrape lands (and every
    /// `interval` when none does). The first evaluation's error ends the stream with its
    /// status; later ones are logged and the stream goes on (KEDA would otherwise reconnect
    /// with a growing backoff).
    async fn stream_is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamIsActiveStream>, Status> {
        let r = request.into_inner();
        let t = self.trigger(&r)?;
        let first = self.active(&t).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let this = self.clone();
        let mut landed = self.source.landed();
        let interval = t.interval.unwrap_or(self.default_interval);
        tokio::spawn(async move {
            let mut state = first;
            if tx
                .send(Ok(IsActiveResponse { result: state }))
                .await
                .is_err()
            {
                return;
            }
            let mut last_error = None;
            let mut evaluated = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    () = tx.closed() => return,
                    changed = landed.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep(interval) => {}
                }
                tokio::time::sleep_until(evaluated + MIN_GAP).await;
                evaluated = tokio::time::Instant::now();
                this.source.keep(&t);
                match this.active(&t).await {
                    Ok(now) if now != state => {
                        state = now;
                        last_error = None;
                        if tx.send(Ok(IsActiveResponse { result: now })).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => last_error = None,
                    Err(e) => {
                        if last_error.as_deref() != Some(e.message()) {
                            tracing::warn!(so = %format!("{}/{}", r.namespace, r.name), "StreamIsActive: {}", e.message());
                            last_error = Some(e.message().to_owned());
                        }
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn get_metric_spec(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<GetMetricSpecResponse>, Status> {
        let t = self.trigger(request.get_ref())?;
        Ok(Response::new(GetMetricSpecResponse {
            metric_specs: vec![MetricSpec {
                metric_name: t.metric_name(),
                target_size: t.threshold.ceil() as i64,
                target_size_float: t.threshold,
            }],
        }))
    }

    async fn get_metrics(
        &self,
        request: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        let r = request.into_inner();
        let so = r.scaled_object_ref.unwrap_or_default();
        let t = self.trigger(&so)?;
        let name = t.metric_name();
        if r.metric_name != name {
            return Err(Status::not_found(format!(
                "metric {:?} is not this trigger's: GetMetricSpec names it {name:?}",
                r.metric_name
            )));
        }
        let v = self.value(&t, true).await?;
        Ok(Response::new(GetMetricsResponse {
            metric_values: vec![MetricValue {
                metric_name: name,
                metric_value: v.round() as i64,
                metric_value_float: v,
            }],
        }))
    }

    type StreamMetricSpecStream = SpecStream;

    /// A trigger's spec depends only on its metadata, which KEDA owns: nothing to push.
    async fn stream_metric_spec(
        &self,
        _request: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamMetricSpecStream>, Status> {
        Err(Status::unimplemented(
            "the metric spec changes only with the trigger's metadata",
        ))
    }
}

#[cfg(test)]
#[path = "scaler/tests.rs"]
mod tests;
