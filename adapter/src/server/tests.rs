//! The real server on a port-0 socket: TLS, client certificates, HTTP/1.1 and HTTP/2, and the
//! bounds on slow, silent and surplus connections, driven by raw TLS clients.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::{exposure_warning, serve, Limits};
use crate::api::{app, AppState, Auth};
use crate::provider::{Provider, ProviderConfig};
use crate::querier::{BoxFuture, Error, Querier, Value};
use crate::telemetry::Telemetry;

struct Nothing;

impl Querier for Nothing {
    fn instant<'a>(
        &'a self,
        _: &'a mixerless_engine::promql::Query,
        _: i64,
    ) -> BoxFuture<'a, Result<Value, Error>> {
        Box::pin(async { Ok(Value::Vector(vec![])) })
    }
    fn describe(&self) -> String {
        "nothing".into()
    }
}

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    Ca {
        cert: p.self_signed(&key).unwrap(),
        key,
    }
}

/// A client certificate and key (PEM, one string) with common name `cn`, signed by `ca`.
fn client_pem(ca: &Ca, cn: &str) -> String {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    format!("{}{}", cert.pem(), key.serialize_pem())
}

/// A server on 127.0.0.1:0 with the `Nothing` querier, requiring a client certificate from
/// `client_ca` (with one of `allowed` names, any when empty) when given; stopped when dropped.
struct Server {
    base: String,
    addr: std::net::SocketAddr,
    telemetry: Arc<Telemetry>,
    /// The serving certificate, for raw clients to trust.
    cert_pem: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// `http_connections_closed_total{reason}`.
    fn closed(&self, reason: &str) -> u64 {
        self.telemetry
            .http_connections_closed
            .get_or_create(&crate::telemetry::ConnectionLabels {
                reason: reason.into(),
            })
            .get()
    }
}

async fn start(limits: Limits, client_ca: Option<&std::path::Path>, allowed: &[&str]) -> Server {
    let identity = crate::tls::self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_pem = identity.cert_pem.clone();
    let tls = crate::tls::server_config(identity, client_ca).unwrap();
    let telemetry = Arc::new(Telemetry::new());
    let provider = Arc::new(Provider::new(
        ProviderConfig::default(),
        Arc::new(Nothing),
        None,
        telemetry.clone(),
    ));
    let state = AppState {
        provider,
        telemetry: telemetry.clone(),
        prom: None,
        targets: None,
        auth: Auth {
            require_client_cert: client_ca.is_some(),
            allowed_names: allowed.iter().map(|n| n.to_string()).collect(),
        },
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(serve(listener, tls, app(state), limits, telemetry.clone()));
    Server {
        base: format!("https://{addr}"),
        addr,
        telemetry,
        cert_pem,
        task,
    }
}

fn client(identity: Option<&str>, http2: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder().danger_accept_invalid_certs(true);
    if let Some(pem) = identity {
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    // Both negotiated by ALPN, as kubectl and the aggregator do.
    b = if http2 {
        b.http2_prior_knowledge()
    } else {
        b.http1_only()
    };
    b.build().unwrap()
}

/// Demonstrates the HTTPS server end to end on a real socket: a self-signed serving
/// certificate; with a request-header CA, requests without a client certificate get 401,
/// a certificate of another name 403, one from an unknown CA fails the handshake, and the
/// allowed name is served (over HTTP/1.1 and HTTP/2); probes need no certificate.
#[tokio::test]
async fn https_with_client_certificates() {
    let dir = std::env::temp_dir().join(format!("mixerless-tls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let front = ca("front-proxy-ca");
    let ca_file = dir.join("front-proxy-ca.pem");
    std::fs::write(&ca_file, front.cert.pem()).unwrap();

    let server = start(Limits::default(), Some(&ca_file), &["front-proxy-client"]).await;
    let base = server.base.clone();
    let discovery = format!("{base}/apis/external.metrics.k8s.io/v1beta1");

    let anonymous = client(None, false);
    let r = anonymous.get(&discovery).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["reason"], "Unauthorized");
    assert_eq!(
        anonymous
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let other = client(Some(&client_pem(&front, "someone")), false);
    assert_eq!(other.get(&discovery).send().await.unwrap().status(), 403);

    let stranger = client(
        Some(&client_pem(&ca("other-ca"), "front-proxy-client")),
        false,
    );
    assert!(
        stranger.get(&discovery).send().await.is_err(),
        "a certificate from an unknown CA must fail the handshake"
    );

    let pem = client_pem(&front, "front-proxy-client");
    for http2 in [false, true] {
        let r = client(Some(&pem), http2)
            .get(&discovery)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "http2={http2}");
        assert_eq!(
            r.version(),
            if http2 {
                reqwest::Version::HTTP_2
            } else {
                reqwest::Version::HTTP_11
            }
        );
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["kind"], "APIResourceList");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A TLS connector trusting `server`'s certificate, offering `alpn`, without a client
/// certificate.
fn connector(server: &Server, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(server.cert_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// A completed TLS handshake offering `alpn`.
async fn tls(server: &Server, alpn: &[&[u8]]) -> Tls {
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector(server, alpn).connect(name, tcp).await.unwrap()
}

/// How long after `since` the server closed `stream` (EOF, reset or TLS close), reading and
/// discarding whatever it sends before; panics when it is still open `max` after `since`.
async fn closed_after(
    stream: &mut (impl AsyncRead + Unpin),
    since: Instant,
    max: Duration,
) -> Duration {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((since + max).into(), stream.read(&mut buf)).await {
            Err(_) => panic!("still open {max:?} after the start"),
            Ok(Ok(0) | Err(_)) => return since.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

/// Whether `stream` is still open: nothing but a wait on a read for `wait`.
async fn still_open(stream: &mut (impl AsyncRead + Unpin), wait: Duration) -> bool {
    let mut buf = [0u8; 1];
    tokio::time::timeout(wait, stream.read(&mut buf))
        .await
        .is_err()
}

/// The HTTP/2 client preface and an empty SETTINGS frame: an HTTP/2 connection that then opens
/// no stream.
const H2_PREFACE_AND_SETTINGS: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

type Case<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = (&'static str, Duration, Duration)> + 'a>>;

/// Demonstrates that no client holds a connection past its bound, with a client CA configured
/// (so TLS accepts clients without a certificate): a TCP client that never starts or never
/// finishes its handshake is closed at the handshake timeout; one that completes the handshake
/// and then sends nothing (HTTP/1.1, HTTP/2 or no ALPN), only the HTTP/2 preface, or a request
/// head a header at a time, or that goes quiet after a response on HTTP/1.1, is closed at the
/// header-read timeout; an HTTP/2 connection quiet after its request is closed at the idle
/// timeout. Each closure is counted under its reason.
#[tokio::test]
async fn slow_and_silent_clients_are_closed_after_their_timeouts() {
    let dir = std::env::temp_dir().join(format!("mixerless-slow-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca("front-proxy-ca").cert.pem()).unwrap();
    let handshake = Duration::from_millis(500);
    let header = Duration::from_millis(800);
    let idle = Duration::from_millis(1500);
    let limits = Limits {
        tls_handshake_timeout: handshake,
        header_read_timeout: header,
        idle_timeout: idle,
        max_connections: 64,
    };
    let server = start(limits, Some(&ca_file), &[]).await;
    let max = Duration::from_secs(6);
    let s = &server;
    let cases: Vec<Case<'_>> = vec![
        Box::pin(async move {
            let mut tcp = TcpStream::connect(s.addr).await.unwrap();
            let at = Instant::now();
            (
                "no handshake",
                handshake,
                closed_after(&mut tcp, at, max).await,
            )
        }),
        Box::pin(async move {
            let mut tcp = TcpStream::connect(s.addr).await.unwrap();
            // A TLS record header announcing 512 bytes of ClientHello, and 3 of them.
            tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01])
                .await
                .unwrap();
            let at = Instant::now();
            (
                "half a ClientHello",
                handshake,
                closed_after(&mut tcp, at, max).await,
            )
        }),
        Box::pin(async move {
            let mut c = tls(s, &[b"http/1.1"]).await;
            let at = Instant::now();
            (
                "silent, http/1.1",
                header,
                closed_after(&mut c, at, max).await,
            )
        }),
        Box::pin(async move {
            let mut c = tls(s, &[]).await;
            let at = Instant::now();
            (
                "silent, no ALPN",
                header,
                closed_after(&mut c, at, max).await,
            )
        }),
        Box::pin(async move {
            let mut c = tls(s, &[b"h2"]).await;
            let at = Instant::now();
            ("silent, h2", header, closed_after(&mut c, at, max).await)
        }),
        Box::pin(async move {
            let mut c = tls(s, &[b"h2"]).await;
            let at = Instant::now();
            c.write_all(H2_PREFACE_AND_SETTINGS).await.unwrap();
            (
                "h2 preface, no stream",
                header,
                closed_after(&mut c, at, max).await,
            )
        }),
        Box::pin(async move {
            let c = tls(s, &[b"http/1.1"]).await;
            let at = Instant::now();
            let (mut r, mut w) = tokio::io::split(c);
            let trickle = tokio::spawn(async move {
                w.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n")
                    .await?;
                for i in 0.. {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    w.write_all(format!("x-slow-{i}: 1\r\n").as_bytes()).await?;
                }
                Ok::<_, std::io::Error>(())
            });
            let elapsed = closed_after(&mut r, at, max).await;
            trickle.abort();
            ("trickled headers", header, elapsed)
        }),
        Box::pin(async move {
            let mut c = tls(s, &[b"http/1.1"]).await;
            c.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
                .await
                .unwrap();
            let at = Instant::now();
            (
                "http/1.1 idle after a response",
                header,
                closed_after(&mut c, at, max).await,
            )
        }),
    ];
    let anonymous_h2 = client(None, true);
    let r = anonymous_h2
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), r.version()),
        (200, reqwest::Version::HTTP_2)
    );
    let idle_since = Instant::now();
    for (name, bound, elapsed) in futures_util::future::join_all(cases).await {
        assert!(
            elapsed + Duration::from_millis(50) >= bound
                && elapsed < bound + Duration::from_secs(4),
            "{name}: closed after {elapsed:?}, bound {bound:?}"
        );
    }
    // The HTTP/2 client's connection, quiet since its answer, is closed at the idle timeout.
    while server.closed("idle_timeout") == 0 {
        assert!(
            idle_since.elapsed() < idle + max,
            "h2 connection not closed when idle"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(idle_since.elapsed() + Duration::from_millis(50) >= idle);
    assert_eq!(server.closed("tls_handshake_timeout"), 2);
    assert_eq!(server.closed("header_read_timeout"), 6);
    assert_eq!(server.closed("idle_timeout"), 1);
    assert_eq!(server.closed("tls_handshake_error"), 0);
    let metrics = server.telemetry.encode();
    assert!(
        metrics.contains(
            "mixerless_adapter_http_connections_closed_total{reason=\"header_read_timeout\"} 6"
        ),
        "{metrics}"
    );
    assert_eq!(server.telemetry.http_connections.get(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Demonstrates the connection limit: with 3 slots held by silent clients, a 4th client is not
/// served (its handshake does not even start: the server stops accepting) while a probe still
/// answers nothing; once the silent ones are dropped at the header-read timeout it is served
/// and gets its answer. The wait is counted and the open connections are reported.
#[tokio::test]
async fn connections_beyond_the_limit_wait_until_slots_free() {
    let header = Duration::from_millis(1200);
    let limits = Limits {
        tls_handshake_timeout: Duration::from_secs(5),
        header_read_timeout: header,
        idle_timeout: Duration::from_secs(30),
        max_connections: 3,
    };
    let server = start(limits, None, &[]).await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push((tls(&server, &[b"http/1.1"]).await, Instant::now()));
    }
    assert_eq!(server.telemetry.http_connections.get(), 3);
    let url = format!("{}/apis/external.metrics.k8s.io/v1beta1", server.base);
    let waiting = tokio::spawn(async move {
        let r = client(None, false).get(url).send().await.unwrap();
        (r.status(), r.json::<serde_json::Value>().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a connection beyond the limit was served"
    );
    for (c, _) in &mut silent {
        assert!(still_open(c, Duration::from_millis(10)).await);
    }
    assert!(server.telemetry.http_connection_limit_waits.get() >= 1);
    for (c, at) in &mut silent {
        closed_after(c, *at, Duration::from_secs(6)).await;
    }
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting client was not served once slots freed")
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["kind"], "APIResourceList");
    assert_eq!(server.closed("header_read_timeout"), 3);
}

/// Demonstrates that a body over the limit gets 413 with a message over HTTP/1.1 and HTTP/2
/// alike, whether its length is declared or streamed: a Prometheus error on `/api/v1/*`, a
/// Kubernetes `Status` elsewhere, and a 401 (not a reset stream) for a client without the
/// required certificate. A body of exactly the limit reaches the handler.
#[tokio::test]
async fn over_limit_bodies_get_413_over_http1_and_http2() {
    let limit = crate::api::BODY_LIMIT;
    let server = start(Limits::default(), None, &[]).await;
    let too_big = || format!("query={}", "1+".repeat(limit));
    let message = format!("request body is larger than {limit} bytes, the most the adapter reads");
    for http2 in [false, true] {
        let version = if http2 {
            reqwest::Version::HTTP_2
        } else {
            reqwest::Version::HTTP_11
        };
        let c = client(None, http2);
        for streamed in [false, true] {
            let body = if streamed {
                let chunks = too_big()
                    .into_bytes()
                    .chunks(64 << 10)
                    .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                    .collect::<Vec<_>>();
                reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
            } else {
                too_big().into()
            };
            let r = c
                .post(format!("{}/api/v1/query", server.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("http2={http2} streamed={streamed}: {e:?}"));
            assert_eq!(
                (r.status().as_u16(), r.version()),
                (413, version),
                "http2={http2} streamed={streamed}"
            );
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(v["status"], "error");
            assert_eq!(v["errorType"], "bad_data");
            assert_eq!(v["error"], message.as_str());
        }
        let r = c
            .post(format!(
                "{}/apis/external.metrics.k8s.io/v1beta1",
                server.base
            ))
            .body(too_big())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "http2={http2}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            (v["kind"].as_str(), v["reason"].as_str()),
            (Some("Status"), Some("RequestEntityTooLarge"))
        );
        assert_eq!(v["message"], message.as_str());
        // Exactly the limit is read and handed on: this server has no store.
        let r = c
            .post(format!("{}/api/v1/query", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("query={}", "1".repeat(limit - 6)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "http2={http2}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["errorType"], "unavailable");
    }

    let dir = std::env::temp_dir().join(format!("mixerless-body-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca("front-proxy-ca").cert.pem()).unwrap();
    let guarded = start(Limits::default(), Some(&ca_file), &[]).await;
    for http2 in [false, true] {
        let r = client(None, http2)
            .post(format!("{}/api/v1/query", guarded.base))
            .body(too_big())
            .send()
            .await
            .unwrap_or_else(|e| panic!("http2={http2}: {e:?}"));
        assert_eq!(r.status(), 401, "http2={http2}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["reason"], "Unauthorized");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Demonstrates when `serve` warns that anyone may call: a non-loopback address without a
/// client CA, and only then.
#[test]
fn exposure_warning_names_the_fixes() {
    let cases = [
        ("0.0.0.0:6443", false, true),
        ("[::]:6443", false, true),
        ("10.1.2.3:443", false, true),
        ("0.0.0.0:6443", true, false),
        ("127.0.0.1:6443", false, false),
        ("[::1]:6443", false, false),
    ];
    for (listen, ca, warns) in cases {
        let w = exposure_warning(listen.parse().unwrap(), ca);
        assert_eq!(w.is_some(), warns, "{listen} ca={ca}");
        if let Some(w) = w {
            assert!(w.contains("--requestheader-client-ca-file"), "{w}");
            assert!(w.contains("--listen 127.0.0.1:"), "{w}");
            assert!(w.contains(listen), "{w}");
        }
    }
}

/// How a raw HTTP/2 POST of `len` bytes to `/api/v1/query` went: the answer's status and body,
/// and whether the whole body could be sent (an error names the reset that stopped it).
async fn h2_post(
    server: &Server,
    len: usize,
    declared: bool,
) -> (u16, String, Result<(), h2::Error>) {
    let io = tls(server, &[b"h2"]).await;
    let (send, conn) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let mut send = send.ready().await.unwrap();
    let mut req = axum::http::Request::post(format!("{}/api/v1/query", server.base));
    if declared {
        req = req.header("content-length", len);
    }
    let (answer, mut upload) = send.send_request(req.body(()).unwrap(), false).unwrap();
    let sender = async move {
        let mut left = len;
        while left > 0 {
            upload.reserve_capacity(left.min(64 << 10));
            let n = match std::future::poll_fn(|cx| upload.poll_capacity(cx)).await {
                Some(n) => n?.min(left),
                None => {
                    return Err(std::future::poll_fn(|cx| upload.poll_reset(cx))
                        .await
                        .map_or_else(|e| e, h2::Error::from))
                }
            };
            upload.send_data(vec![b'1'; n].into(), false)?;
            left -= n;
        }
        upload.send_data(Vec::new().into(), true)
    };
    let receiver = async move {
        let resp = answer.await.unwrap();
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut text = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            text.extend_from_slice(&chunk);
        }
        (status, String::from_utf8(text).unwrap())
    };
    let (sent, (status, text)) = tokio::join!(sender, receiver);
    (status, text, sent)
}

/// Demonstrates that an HTTP/2 client sending a body over the limit, with or without a declared
/// length, gets its 413 and can finish sending (the rest is read and discarded, no
/// RST_STREAM that clients such as curl report instead of the answer); past the drain limit it
/// gets the 413 and then a RST_STREAM(NO_ERROR) that stops it sending.
#[tokio::test]
async fn http2_over_limit_body_is_answered_and_drained() {
    let server = start(Limits::default(), None, &[]).await;
    let over = crate::api::BODY_LIMIT + (1 << 20);
    for declared in [true, false] {
        let (status, text, sent) = h2_post(&server, over, declared).await;
        assert_eq!(status, 413, "declared={declared}: {text}");
        assert!(
            text.contains("request body is larger than 2097152 bytes"),
            "{text}"
        );
        assert!(sent.is_ok(), "declared={declared}: {sent:?}");
    }
    let endless = crate::api::BODY_DRAIN_LIMIT as usize + (4 << 20);
    let (status, _, sent) = h2_post(&server, endless, false).await;
    assert_eq!(status, 413);
    let e = sent.expect_err("a body past the drain limit is reset");
    assert_eq!(e.reason(), Some(h2::Reason::NO_ERROR), "{e:?}");
}

/// Demonstrates the HTTP/2 settings a client is given: at most
/// [`super::HTTP2_MAX_CONCURRENT_STREAMS`] streams at once.
#[tokio::test]
async fn http2_clients_are_limited_to_100_streams() {
    let server = start(Limits::default(), None, &[]).await;
    let io = tls(&server, &[b"h2"]).await;
    let (send, conn) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let mut send = send.ready().await.unwrap();
    let req = axum::http::Request::get(format!("{}/healthz", server.base))
        .body(())
        .unwrap();
    let (answer, _) = send.send_request(req, true).unwrap();
    assert_eq!(answer.await.unwrap().status(), 200);
    assert_eq!(send.current_max_send_streams(), 100);
    assert_eq!(super::HTTP2_MAX_CONCURRENT_STREAMS, 100);
}
