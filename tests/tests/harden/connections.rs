//! Slow, silent and surplus clients against the real `mixerless-adapter serve` process with
//! short connection bounds: hundreds of connections that never finish the TLS handshake, stop
//! in the middle of a request head or say nothing after the handshake, with a request-header CA
//! configured (TLS accepts clients without a certificate so probes reach /healthz). They are
//! closed at their timeouts while probes and the external metrics API keep answering; beyond
//! `--max-connections` a client waits until slots free. One target on 127.0.0.1 is served by
//! this test.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mixerless_e2e::certs;
use mixerless_harness::paths;
use mixerless_harness::process::{binary, Proc};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use serde_json::Value;

const HPAS: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
  namespace: test
  annotations:
    metric-config.external.prometheus-query.prometheus/pods: sum(hc_pods)
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
  metrics:
  - {type: External, external: {metric: {name: prometheus-query, selector: {matchLabels: {query-name: pods}}}, target: {type: Value, value: "10"}}}
"#;

/// A target serving `hc_pods 7` to every scrape.
fn target() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = "# TYPE hc_pods gauge\nhc_pods 7\n";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(port)
}

/// The adapter on a free loopback port, scraping [`target`] every second, with `extra` flags;
/// its self-signed certificate is written to `<dir>/serving.pem`.
fn adapter(dir: &Path, extra: &[&str]) -> anyhow::Result<(Proc, u16)> {
    let hpa_dir = dir.join("hpa");
    std::fs::create_dir_all(&hpa_dir)?;
    std::fs::write(hpa_dir.join("hpas.yaml"), HPAS)?;
    let port = paths::free_port();
    let mut args: Vec<String> = [
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--hpa-dir",
        &hpa_dir.display().to_string(),
        "--target",
        &format!("http://127.0.0.1:{}/metrics", target()?),
        "--scrape-interval",
        "1s",
        "--query-interval",
        "1s",
        "--partial-data",
        "serve",
        "--write-self-signed-cert",
        &dir.join("serving.pem").display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    let adapter = Proc::spawn("adapter", dir, &binary("mixerless-adapter")?, &args)?;
    Ok((adapter, port))
}

/// A TLS client configuration trusting the adapter's self-signed certificate, offering
/// HTTP/1.1, without a client certificate.
fn tls_config(dir: &Path) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(dir.join("serving.pem"))?)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A completed handshake.
fn handshake(port: u16, config: &Arc<ClientConfig>) -> anyhow::Result<Tls> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    let conn = ClientConnection::new(config.clone(), ServerName::try_from("localhost")?)?;
    let mut s = StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

/// Whether the server has closed the connection, waiting for it up to `wait`.
fn closed(
    sock: &TcpStream,
    read: &mut dyn FnMut(&mut [u8]) -> std::io::Result<usize>,
    wait: Duration,
) -> bool {
    let _ = sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))));
    let mut buf = [0u8; 1024];
    loop {
        match read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// A slow client: a socket the server should close.
enum Slow {
    /// Connected, never started the handshake.
    Tcp(TcpStream),
    /// Handshake done, then part of a request head or nothing.
    Tls(Box<Tls>),
}

impl Slow {
    fn closed(&mut self, wait: Duration) -> bool {
        match self {
            Slow::Tcp(s) => {
                let c = s.try_clone().expect("clone a socket");
                closed(&c, &mut |b| s.read(b), wait)
            }
            Slow::Tls(s) => {
                let c = s.sock.try_clone().expect("clone a socket");
                closed(&c, &mut |b| s.read(b), wait)
            }
        }
    }
}

fn https_client(identity: Option<reqwest::Identity>) -> anyhow::Result<reqwest::blocking::Client> {
    let mut b = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        // A connection per request, closed by the client: none left for the server to time out.
        .pool_max_idle_per_host(0);
    if let Some(id) = identity {
        b = b.identity(id);
    }
    Ok(b.build()?)
}

/// The `pods` external metric: status and value.
fn pods(client: &reqwest::blocking::Client, base: &str) -> anyhow::Result<(u16, Option<String>)> {
    let r = client
        .get(format!(
            "{base}/apis/external.metrics.k8s.io/v1beta1/namespaces/test/prometheus-query?labelSelector=query-name%3Dpods"
        ))
        .send()?;
    let code = r.status().as_u16();
    let v: Value = r.json()?;
    Ok((code, v["items"][0]["value"].as_str().map(str::to_owned)))
}

/// One sample of the adapter's own `/metrics`.
fn own_metric(client: &reqwest::blocking::Client, base: &str, series: &str) -> anyhow::Result<f64> {
    let text = client.get(format!("{base}/metrics")).send()?.text()?;
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .with_context(|| format!("no {series} in\n{text}"))
}

/// Demonstrates the reproduction and its variants: with a request-header CA configured, 100
/// connections that never start the TLS handshake, 100 that stop in the middle of a request
/// head and 50 that say nothing after the handshake (no client certificate) are all closed
/// at their timeouts (4 s each) and counted by reason; while they sit there /healthz and the
/// external metric answer, with the right value.
#[test]
fn slow_and_silent_clients_are_closed_while_the_api_answers() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    certs::ca(dir.path(), "/CN=front-proxy-ca")?;
    certs::issue(
        dir.path(),
        "front-proxy",
        "/CN=front-proxy-client",
        "extendedKeyUsage=clientAuth\n",
    )?;
    let pem = [
        std::fs::read(dir.path().join("front-proxy.pem"))?,
        std::fs::read(dir.path().join("front-proxy.key"))?,
    ]
    .concat();
    let timeout = Duration::from_secs(4);
    let (mut adapter, port) = adapter(
        dir.path(),
        &[
            "--requestheader-client-ca-file",
            &dir.path().join("ca.pem").display().to_string(),
            "--tls-handshake-timeout",
            "4s",
            "--header-read-timeout",
            "4s",
            "--idle-timeout",
            "30s",
            "--max-connections",
            "400",
        ],
    )?;
    let base = format!("https://127.0.0.1:{port}");
    let front = https_client(Some(reqwest::Identity::from_pem(&pem)?))?;
    let probe = https_client(None)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while pods(&front, &base).ok() != Some((200, Some("7".into()))) {
        adapter.ensure_running()?;
        if Instant::now() > deadline {
            bail!(
                "the external metric was not served within 30 s:\n{}",
                adapter.log()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    let config = tls_config(dir.path())?;
    let opened = Instant::now();
    let mut slow = Vec::new();
    for i in 0..250 {
        slow.push(match i % 5 {
            0 | 1 => Slow::Tcp(TcpStream::connect(("127.0.0.1", port))?),
            2 | 3 => {
                let mut s = handshake(port, &config)?;
                s.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-slow: ")?;
                s.flush()?;
                Slow::Tls(Box::new(s))
            }
            _ => Slow::Tls(Box::new(handshake(port, &config)?)),
        });
    }
    let open = own_metric(&front, &base, "mixerless_adapter_http_connections ")?;
    let early = opened.elapsed();
    // Each slow connection is at most `early` old: all of them are open now.
    assert!(
        early < timeout,
        "opening took {early:?}; the test needs it shorter than {timeout:?}"
    );
    assert!(
        open >= 251.0,
        "{open} connections open (250 slow + this one)"
    );
    for _ in 0..5 {
        let r = probe.get(format!("{base}/healthz")).send()?;
        assert_eq!(r.status(), 200);
        assert_eq!(pods(&front, &base)?, (200, Some("7".into())));
    }
    // A request without a certificate is still refused (the CA is enforced above TLS).
    assert_eq!(pods(&probe, &base)?.0, 401);

    let until = opened + timeout + Duration::from_secs(15);
    for (i, s) in slow.iter_mut().enumerate() {
        let wait = until.saturating_duration_since(Instant::now());
        assert!(
            s.closed(wait),
            "slow client {i} still open 15 s after its timeout"
        );
    }
    let reason =
        |r: &str| format!("mixerless_adapter_http_connections_closed_total{{reason=\"{r}\"}} ");
    assert_eq!(
        own_metric(&front, &base, &reason("tls_handshake_timeout"))?,
        100.0
    );
    assert_eq!(
        own_metric(&front, &base, &reason("header_read_timeout"))?,
        150.0
    );
    assert_eq!(
        own_metric(&front, &base, "mixerless_adapter_http_connections ")?,
        1.0
    );
    assert_eq!(pods(&front, &base)?, (200, Some("7".into())));
    adapter.ensure_running()?;
    let log = adapter.log();
    assert!(!log.contains("connection limit reached"), "{log}");
    assert!(!log.contains("without client authentication"), "{log}");
    Ok(())
}

/// Demonstrates `--max-connections`: with its 20 slots held by silent clients, a client is not
/// served (its request times out unanswered); once the silent ones are closed at the
/// header-read timeout a waiting client is served. The limit is logged once, not per wait,
/// and counted.
#[test]
fn connections_beyond_the_limit_wait_for_a_slot() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut adapter, port) = adapter(
        dir.path(),
        &["--header-read-timeout", "3s", "--max-connections", "20"],
    )?;
    let base = format!("https://127.0.0.1:{port}");
    let client = https_client(None)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/healthz")).send().is_err() {
        adapter.ensure_running()?;
        if Instant::now() > deadline {
            bail!("not serving within 30 s:\n{}", adapter.log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let config = tls_config(dir.path())?;
    let mut silent = (0..20)
        .map(|_| handshake(port, &config).map(|s| Slow::Tls(Box::new(s))))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let impatient = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_millis(800))
        .build()?;
    let refused = impatient.get(format!("{base}/healthz")).send();
    assert!(
        refused.is_err(),
        "a connection beyond the limit was served: {refused:?}"
    );
    for s in &mut silent {
        assert!(
            !s.closed(Duration::from_millis(1)),
            "a silent client was closed early"
        );
    }
    let waited = Instant::now();
    let r = client.get(format!("{base}/healthz")).send()?;
    assert_eq!(r.status(), 200);
    for s in &mut silent {
        assert!(
            s.closed(Duration::from_secs(10)),
            "a silent client outlived its timeout"
        );
    }
    assert!(waited.elapsed() < Duration::from_secs(10));
    let waits = own_metric(
        &client,
        &base,
        "mixerless_adapter_http_connection_limit_waits_total ",
    )?;
    assert!(waits >= 1.0, "{waits}");
    adapter.ensure_running()?;
    let log = adapter.log();
    assert_eq!(
        log.matches("connection limit reached (--max-connections)")
            .count(),
        1,
        "{log}"
    );
    Ok(())
}
