//! The real server on a port-0 socket: TLS, client certificates, HTTP/1.1 and HTTP/2.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

use super::serve;
use crate::api::{app, AppState, Auth};
use crate::provider::{Provider, ProviderConfig};
use crate::querier::{BoxFuture, Error, Querier, Value};
use crate::telemetry::Telemetry;

struct Nothing;

impl Querier for Nothing {
    fn instant<'a>(&'a self, _: &'a str, _: i64) -> BoxFuture<'a, Result<Value, Error>> {
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

    let identity = crate::tls::self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
    let tls = crate::tls::server_config(identity, Some(&ca_file)).unwrap();
    let telemetry = Arc::new(Telemetry::new());
    let provider = Arc::new(Provider::new(
        ProviderConfig::default(),
        Arc::new(Nothing),
        None,
        telemetry.clone(),
    ));
    let state = AppState {
        provider,
        telemetry,
        prom: None,
        targets: None,
        auth: Auth {
            require_client_cert: true,
            allowed_names: vec!["front-proxy-client".into()],
        },
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(serve(listener, tls, app(state)));
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
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
