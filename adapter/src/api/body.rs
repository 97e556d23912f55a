//! Request bodies, read whole before any handler runs: at most [`BODY_LIMIT`] bytes, within
//! [`BODY_READ_TIMEOUT`]. Past either the client gets a clear 413 or 408, over HTTP/2 too: once
//! the answer has been sent, the unread rest of the body (up to [`BODY_DRAIN_LIMIT`]) is read
//! and discarded, so the client finishes sending and then reads the answer. Dropping it
//! instead ends the HTTP/2 stream with RST_STREAM(NO_ERROR), which RFC 9113 §8.1 allows but
//! clients such as curl report as a reset stream and drop the answer.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

use super::ApiError;

/// Largest request body, in bytes (axum's default; a `/api/v1` form is a query and a few
/// parameters). Prometheus, through Go's form parser, takes 10 MB.
pub const BODY_LIMIT: usize = 2 << 20;
/// A request body must arrive within this once its head has: a client sending it a byte at a
/// time must not hold a request (and its connection) open; 2 MiB in 30 s is 70 KB/s.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of a refused request's body is read and discarded after the answer, at most (the
/// same [`BODY_READ_TIMEOUT`] applies). A larger body gets the answer and then a reset
/// (HTTP/2) or a closed connection (HTTP/1.1).
pub const BODY_DRAIN_LIMIT: u64 = 8 * BODY_LIMIT as u64;

/// Middleware: the request with its body read whole ([`BODY_LIMIT`], [`BODY_READ_TIMEOUT`]).
pub async fn read_whole(req: Request, next: Next) -> Response {
    match buffer(req, BODY_LIMIT, BODY_READ_TIMEOUT).await {
        Ok(req) => next.run(req).await,
        Err(refused) => refused,
    }
}

/// `req` with its body read into memory, or the answer that refuses it.
pub(crate) async fn buffer(
    req: Request,
    limit: usize,
    timeout: Duration,
) -> Result<Request, Response> {
    if req.body().is_end_stream() {
        return Ok(req);
    }
    let (parts, mut body) = req.into_parts();
    let prom = parts.uri.path().starts_with("/api/v1/");
    let too_large = || {
        ApiError::too_large(format!(
            "request body is larger than {limit} bytes, the most the adapter reads"
        ))
    };
    // A declared length past the limit is refused before reading any of it.
    if body.size_hint().lower() > limit as u64 {
        return Err(refuse(too_large(), prom, body).await);
    }
    let mut buf = Vec::new();
    let read = tokio::time::timeout(timeout, async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                if buf.len() + data.len() > limit {
                    return Ok(false);
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok::<_, axum::Error>(true)
    })
    .await;
    match read {
        Ok(Ok(true)) => Ok(Request::from_parts(parts, Body::from(buf))),
        Ok(Ok(false)) => Err(refuse(too_large(), prom, body).await),
        Ok(Err(e)) => Err(refuse(
            ApiError::bad_request(format!("read the request body: {e}")),
            prom,
            body,
        )
        .await),
        Err(_) => Err(refuse(
            ApiError::request_timeout(format!(
                "request body not received within {}",
                humantime::format_duration(timeout)
            )),
            prom,
            body,
        )
        .await),
    }
}

/// The refusal, as a Prometheus error on `/api/v1/*` and a Kubernetes `Status` elsewhere,
/// holding `unread` until it has been sent.
async fn refuse(e: ApiError, prom: bool, unread: Body) -> Response {
    let resp = if prom {
        let json =
            serde_json::json!({"status": "error", "errorType": "bad_data", "error": e.message});
        (e.code, Json(json)).into_response()
    } else {
        e.into_response()
    };
    holding(resp, unread).await
}

/// `resp` (a short answer made in memory), then the request's `unread` body drained.
pub(crate) async fn holding(resp: Response, unread: Body) -> Response {
    if unread.is_end_stream() {
        return resp;
    }
    let (parts, json) = resp.into_parts();
    // An answer made in memory: collecting it cannot fail.
    let json = json
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Response::from_parts(
        parts,
        Body::new(Answer {
            json: Some(json),
            unread: Some(unread),
        }),
    )
}

/// A one-frame answer that drains the request's unread body once it is dropped: after its last
/// frame has been taken, by when hyper has sent it (HTTP/2: with END_STREAM).
struct Answer {
    json: Option<Bytes>,
    unread: Option<Body>,
}

impl Drop for Answer {
    fn drop(&mut self) {
        let (Some(unread), Ok(rt)) = (self.unread.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        rt.spawn(drain(unread));
    }
}

/// Reads and discards `body`, up to [`BODY_DRAIN_LIMIT`] and [`BODY_READ_TIMEOUT`].
async fn drain(mut body: Body) {
    if body.size_hint().lower() > BODY_DRAIN_LIMIT {
        return;
    }
    let _ = tokio::time::timeout(BODY_READ_TIMEOUT, async {
        let mut read = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            read += frame.data_ref().map_or(0, |d| d.len() as u64);
            if read > BODY_DRAIN_LIMIT {
                return;
            }
        }
    })
    .await;
}

impl HttpBody for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.json.take().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.json.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.json.as_ref().map_or(0, |b| b.len() as u64))
    }
}

#[cfg(test)]
#[path = "body/tests.rs"]
mod tests;
