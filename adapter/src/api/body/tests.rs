//! [`buffer`] on bodies made in memory: whole, over the limit in chunks, and too slow.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use futures_util::stream;
use futures_util::StreamExt as _;
use http_body_util::BodyExt as _;

use super::buffer;

fn post(path: &str, body: Body) -> Request {
    Request::post(path).body(body).unwrap()
}

async fn json(resp: axum::response::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// A body that sends `first` and then never ends.
fn stalled(first: &'static [u8]) -> Body {
    let chunks = stream::iter([Ok::<_, std::io::Error>(first.to_vec())]).chain(stream::pending());
    Body::from_stream(chunks)
}

/// Demonstrates that a body of up to the limit, in chunks without a declared length, is handed
/// on byte for byte, and that one byte more is refused with 413 (a Prometheus error on
/// `/api/v1/*`, a Kubernetes `Status` elsewhere).
#[tokio::test]
async fn chunked_bodies_up_to_the_limit_pass_and_beyond_get_413() {
    let chunks = |n: usize| {
        Body::from_stream(stream::iter(
            (0..n).map(|i| Ok::<_, std::io::Error>(vec![b'a' + (i % 26) as u8; 10])),
        ))
    };
    let req = buffer(
        post("/api/v1/query", chunks(10)),
        100,
        Duration::from_secs(5),
    )
    .await
    .unwrap_or_else(|_| panic!("100 bytes refused at a limit of 100"));
    let bytes = req.into_body().collect().await.unwrap().to_bytes();
    let want: Vec<u8> = (0..10u8).flat_map(|i| [b'a' + i; 10]).collect();
    assert_eq!(bytes.as_ref(), want.as_slice());

    let refused = buffer(
        post("/api/v1/query", chunks(11)),
        100,
        Duration::from_secs(5),
    )
    .await
    .expect_err("110 bytes accepted at a limit of 100");
    let (status, v) = json(refused).await;
    assert_eq!(status, 413);
    assert_eq!(v["errorType"], "bad_data");
    assert_eq!(
        v["error"],
        "request body is larger than 100 bytes, the most the adapter reads"
    );

    let refused = buffer(post("/apis/x", chunks(11)), 100, Duration::from_secs(5))
        .await
        .expect_err("110 bytes accepted at a limit of 100");
    let (status, v) = json(refused).await;
    assert_eq!(status, 413);
    assert_eq!(v["reason"], "RequestEntityTooLarge");
    assert_eq!(v["code"], 413);
}

/// Demonstrates that a body that stops arriving is refused with 408 at the read timeout, not
/// waited for.
#[tokio::test]
async fn a_stalled_body_gets_408_at_the_timeout() {
    let started = Instant::now();
    let refused = buffer(
        post("/api/v1/query", stalled(b"query=up")),
        100,
        Duration::from_millis(300),
    )
    .await
    .expect_err("a stalled body was accepted");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    let (status, v) = json(refused).await;
    assert_eq!(status, 408);
    assert_eq!(v["error"], "request body not received within 300ms");
    let refused = buffer(
        post("/apis/x", stalled(b"x")),
        100,
        Duration::from_millis(50),
    )
    .await
    .err()
    .unwrap();
    let (status, v) = json(refused).await;
    assert_eq!((status, v["reason"].as_str()), (408, Some("Timeout")));
}

/// Demonstrates that a request without a body passes untouched.
#[tokio::test]
async fn no_body_passes() {
    let req = Request::get("/healthz").body(Body::empty()).unwrap();
    let req = buffer(req, 0, Duration::from_millis(1))
        .await
        .unwrap_or_else(|_| panic!());
    assert_eq!(req.uri().path(), "/healthz");
}
