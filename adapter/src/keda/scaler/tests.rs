//! The RPCs over a fake [`Source`] (this layer alone; tests/tests/adapter/keda.rs drives the real one
//! from Python against real Envoy).

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::StreamExt as _;
use tokio::sync::watch;

use super::*;
use crate::querier::BoxFuture;

/// Answers whatever the test last set, and counts `keep` calls.
struct Fake {
    reading: Mutex<Result<Reading, SourceError>>,
    kept: Mutex<Vec<String>>,
    landed: watch::Sender<u64>,
    evaluations: std::sync::atomic::AtomicUsize,
}

impl Fake {
    fn new(shape: Shape) -> Arc<Self> {
        Arc::new(Self {
            reading: Mutex::new(Ok(Reading {
                shape,
                warming: None,
            })),
            kept: Mutex::new(Vec::new()),
            landed: watch::channel(0).0,
            evaluations: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    fn set(&self, r: Result<Reading, SourceError>) {
        *self.reading.lock().unwrap() = r;
    }

    fn set_shape(&self, shape: Shape) {
        self.set(Ok(Reading {
            shape,
            warming: None,
        }));
    }

    fn land(&self) {
        self.landed.send_modify(|n| *n += 1);
    }
}

impl Source for Fake {
    fn evaluate<'a>(
        &'a self,
        _trigger: &'a Trigger,
        _time_ms: i64,
    ) -> BoxFuture<'a, Result<Reading, SourceError>> {
        self.evaluations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let r = self.reading.lock().unwrap().clone();
        Box::pin(async move { r })
    }

    fn keep(&self, trigger: &Trigger) {
        self.kept
            .lock()
            .unwrap()
            .push(trigger.query.text().to_owned());
    }

    fn landed(&self) -> watch::Receiver<u64> {
        self.landed.subscribe()
    }
}

const Q: &str = "sum(rate(istio_requests_total[15s]))";

fn so(extra: &[(&str, &str)]) -> ScaledObjectRef {
    let mut scaler_metadata: HashMap<String, String> = [
        ("query", Q),
        ("threshold", "4"),
        ("activationThreshold", "0.5"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in extra {
        scaler_metadata.insert((*k).to_owned(), (*v).to_owned());
    }
    ScaledObjectRef {
        name: "podinfo".into(),
        namespace: "test".into(),
        scaler_metadata,
    }
}

fn scaler(fake: &Arc<Fake>) -> Scaler {
    Scaler::new(fake.clone(), Duration::from_secs(3600))
}

async fn metrics(s: &Scaler, r: ScaledObjectRef) -> Result<f64, Status> {
    let name = s
        .get_metric_spec(Request::new(r.clone()))
        .await?
        .into_inner()
        .metric_specs[0]
        .metric_name
        .clone();
    let v = s
        .get_metrics(Request::new(GetMetricsRequest {
            scaled_object_ref: Some(r),
            metric_name: name,
        }))
        .await?
        .into_inner();
    assert_eq!(v.metric_values.len(), 1);
    Ok(v.metric_values[0].metric_value_float)
}

async fn active(s: &Scaler, r: ScaledObjectRef) -> Result<bool, Status> {
    Ok(s.is_active(Request::new(r)).await?.into_inner().result)
}

/// Demonstrates the values KEDA reads: the float fields, an empty result as 0 and inactive,
/// activation strictly above `activationThreshold`, NaN as 0 unless `ignoreNullValues` is
/// false, and the spec's target from `threshold`.
#[tokio::test]
async fn values_as_keda_reads_them() {
    let fake = Fake::new(Shape::One(2.25));
    let s = scaler(&fake);
    let spec = s
        .get_metric_spec(Request::new(so(&[])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(spec.metric_specs[0].target_size_float, 4.0);
    assert!(spec.metric_specs[0].metric_name.starts_with("mixerless-"));
    assert_eq!(metrics(&s, so(&[])).await.unwrap(), 2.25);
    assert!(active(&s, so(&[])).await.unwrap());
    fake.set_shape(Shape::One(0.5));
    assert!(!active(&s, so(&[])).await.unwrap(), "0.5 is not above 0.5");
    fake.set_shape(Shape::Empty);
    assert_eq!(metrics(&s, so(&[])).await.unwrap(), 0.0);
    assert!(!active(&s, so(&[])).await.unwrap());
    fake.set_shape(Shape::One(f64::NAN));
    assert_eq!(metrics(&s, so(&[])).await.unwrap(), 0.0);
    let e = metrics(&s, so(&[("ignoreNullValues", "false")]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert!(e.message().contains("returned NaN"), "{}", e.message());
    assert!(fake.kept.lock().unwrap().iter().all(|q| q == Q));
}

/// Demonstrates each error status and that its message names the problem.
#[tokio::test]
async fn errors_are_statuses() {
    let fake = Fake::new(Shape::Several(3));
    let s = scaler(&fake);
    let e = active(&s, so(&[])).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert!(e.message().contains("returned 3 series"), "{}", e.message());
    fake.set_shape(Shape::Unusable("a range vector"));
    let e = metrics(&s, so(&[])).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let e = active(&s, so(&[("query", "rate(x[1m]")]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(
        e.message()
            .starts_with("ScaledObject test/podinfo: trigger metadata \"query\""),
        "{}",
        e.message()
    );
    fake.set_shape(Shape::One(1.0));
    let e = s
        .get_metrics(Request::new(GetMetricsRequest {
            scaled_object_ref: Some(so(&[])),
            metric_name: "s0-other".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert!(e.message().contains("\"s0-other\""), "{}", e.message());
    fake.set(Err(SourceError::Remote(
        "prometheus http://p: connection refused".into(),
    )));
    assert_eq!(
        active(&s, so(&[])).await.unwrap_err().code(),
        tonic::Code::Unavailable
    );
    fake.set(Err(SourceError::Evaluate {
        query: Q.into(),
        message: "query timed out".into(),
    }));
    assert_eq!(
        active(&s, so(&[])).await.unwrap_err().code(),
        tonic::Code::Internal
    );
    let e = s
        .stream_metric_spec(Request::new(so(&[])))
        .await
        .err()
        .unwrap();
    assert_eq!(e.code(), tonic::Code::Unimplemented);
}

/// Demonstrates that a value computed from a short history is withheld from `GetMetrics`
/// (the HPA would scale on a third of the rate) while `IsActive` answers from it.
#[tokio::test]
async fn warming_withholds_metrics_not_activation() {
    let fake = Fake::new(Shape::One(3.0));
    fake.set(Ok(Reading {
        shape: Shape::One(3.0),
        warming: Some(
            "warming up: the query reads 15s of history and the store holds 4s of it".into(),
        ),
    }));
    let s = scaler(&fake);
    let e = metrics(&s, so(&[])).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable);
    assert!(e.message().contains("holds 4s"), "{}", e.message());
    assert!(active(&s, so(&[])).await.unwrap());
}

/// The stream's next message, within 5 s.
async fn next(stream: &mut ActiveStream) -> Result<IsActiveResponse, Status> {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("a message within 5 s")
        .expect("the stream goes on")
}

/// Demonstrates `StreamIsActive`: the state at once, nothing while it holds, the new state
/// after the scrape that changes it, and an error at the start as the stream's status.
#[tokio::test]
async fn stream_sends_state_then_changes() {
    let fake = Fake::new(Shape::Empty);
    let s = scaler(&fake);
    let mut stream = s
        .stream_is_active(Request::new(so(&[])))
        .await
        .unwrap()
        .into_inner();
    assert!(!next(&mut stream).await.unwrap().result);
    fake.land();
    // An unchanged state sends nothing.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), stream.next())
            .await
            .is_err()
    );
    fake.set_shape(Shape::One(1.0));
    fake.land();
    assert!(next(&mut stream).await.unwrap().result);
    fake.set_shape(Shape::Empty);
    fake.land();
    assert!(!next(&mut stream).await.unwrap().result);
    fake.set_shape(Shape::Several(2));
    let e = s
        .stream_is_active(Request::new(so(&[])))
        .await
        .err()
        .unwrap();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
}

/// Demonstrates that scrapes landing close together (one per target) are read by one
/// evaluation per [`MIN_GAP`], not one each.
#[tokio::test]
async fn stream_coalesces_scrapes() {
    let fake = Fake::new(Shape::Empty);
    let s = scaler(&fake);
    let mut stream = s
        .stream_is_active(Request::new(so(&[])))
        .await
        .unwrap()
        .into_inner();
    assert!(!next(&mut stream).await.unwrap().result);
    let before = fake.evaluations.load(std::sync::atomic::Ordering::Relaxed);
    let started = std::time::Instant::now();
    for _ in 0..50 {
        fake.land();
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    fake.set_shape(Shape::One(1.0));
    fake.land();
    assert!(next(&mut stream).await.unwrap().result);
    let n = fake.evaluations.load(std::sync::atomic::Ordering::Relaxed) - before;
    // One per MIN_GAP of the time the scrapes took (about 200 ms, longer on a loaded machine),
    // plus the first and the last.
    let most = (started.elapsed().as_millis() / MIN_GAP.as_millis()) as usize + 2;
    assert!(
        (1..=most).contains(&n),
        "{n} evaluations for 51 scrapes, at most {most}"
    );
}
