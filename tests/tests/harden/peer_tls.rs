//! Forged peer metadata against real Envoy with mutual TLS and a test mesh CA issuing Istio-style
//! SPIFFE URI SANs. Inbound: a server sidecar (the built filter) whose listener requires client
//! certificates; a client whose certificate contradicts the `x-envoy-peer-metadata` it sends is
//! not believed, one whose certificate agrees is, and on a plaintext listener the same forged
//! header is trusted, as Istio trusts it. Outbound: a client sidecar refuses an upstream's
//! metadata answer that the upstream's server certificate contradicts.

use std::path::Path;
use std::time::Duration;

use mixerless_e2e::certs;
use mixerless_filter::metrics::REJECTED_METRIC;
use mixerless_filter::peer::wire::{Struct, Value};
use mixerless_harness::bootstrap::{Bootstrap, Route};
use mixerless_harness::envoy::Envoy;
use mixerless_harness::{paths, stats};
use serde_json::json;

const ATTACKER: &str = "spiffe://cluster.local/ns/attacker/sa/evil";
const CHECKOUT: &str = "spiffe://cluster.local/ns/prod/sa/checkout";
const SERVER: &str = "spiffe://cluster.local/ns/test/sa/podinfo";
const PRODUCTPAGE: &str = "spiffe://cluster.local/ns/default/sa/productpage";

/// The test mesh: a CA, the server's certificate (SAN `SERVER`, IP 127.0.0.1) and one client
/// certificate per SPIFFE identity.
fn mesh(dir: &Path) -> anyhow::Result<()> {
    certs::ca(dir, "/O=cluster.local/CN=test mesh CA")?;
    certs::issue(
        dir,
        "server",
        "/O=cluster.local",
        &format!("subjectAltName=URI:{SERVER},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
    )?;
    // Workload certificates serve and connect, as istiod's do.
    for (name, uri) in [
        ("attacker", ATTACKER),
        ("checkout", CHECKOUT),
        ("productpage", PRODUCTPAGE),
    ] {
        certs::issue(
            dir,
            name,
            "/O=cluster.local",
            &format!(
                "subjectAltName=URI:{uri},IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"
            ),
        )?;
    }
    Ok(())
}

/// Envoy's TLS transport socket with `name`'s certificate, trusting the test CA; downstream
/// ones require a client certificate (Istio's STRICT mTLS).
fn tls(dir: &Path, name: &str, downstream: bool) -> serde_json::Value {
    let file = |f: String| json!({"filename": dir.join(f)});
    let common = json!({
        "tls_certificates": [{
            "certificate_chain": file(format!("{name}.pem")),
            "private_key": file(format!("{name}.key")),
        }],
        "validation_context": {"trusted_ca": file("ca.pem".into())},
    });
    let config = if downstream {
        json!({
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "require_client_certificate": true,
            "common_tls_context": common,
        })
    } else {
        json!({
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "common_tls_context": common,
        })
    };
    json!({"name": "envoy.transport_sockets.tls", "typed_config": config})
}

/// `bootstrap` parsed, with its listener list handed to `edit`.
fn with_listeners(
    bootstrap: &Bootstrap,
    edit: impl FnOnce(&mut Vec<serde_json::Value>),
) -> anyhow::Result<String> {
    let mut b: serde_json::Value = serde_json::from_str(&bootstrap.render())?;
    let listeners = b
        .pointer_mut("/static_resources/listeners")
        .and_then(|l| l.as_array_mut())
        .ok_or_else(|| anyhow::anyhow!("bootstrap has no listeners"))?;
    edit(listeners);
    Ok(b.to_string())
}

/// The server sidecar with two listeners: the first requires a client certificate from the
/// test CA, the second (on `plain_port`) is plaintext. Both run the filter.
fn bootstrap(dir: &Path, plain_port: u16) -> anyhow::Result<String> {
    with_listeners(&Bootstrap::inbound("{}"), |listeners| {
        let mut plain = listeners[0].clone();
        plain["name"] = json!("plain");
        plain["address"]["socket_address"]["port_value"] = json!(plain_port);
        listeners[0]["filter_chains"][0]["transport_socket"] = tls(dir, "server", true);
        listeners.push(plain);
    })
}

/// What the attacker sends: Istio's node-metadata shape claiming workload `checkout-v2` of
/// namespace `prod`.
fn forged_header() -> String {
    let s = |v: &str| Value::String(v.to_owned());
    let labels = Struct(vec![
        ("app".into(), s("checkout")),
        ("service.istio.io/canonical-name".into(), s("checkout")),
        ("service.istio.io/canonical-revision".into(), s("v2")),
        ("version".into(), s("v2")),
    ]);
    let st = Struct(vec![
        ("CLUSTER_ID".into(), s("prod-cluster")),
        ("LABELS".into(), Value::Struct(labels)),
        ("NAMESPACE".into(), s("prod")),
        ("WORKLOAD_NAME".into(), s("checkout-v2")),
    ]);
    mixerless_filter::peer::base64::encode(&st.encode())
}

/// A client presenting `name`'s certificate (or none), trusting the test CA.
fn client(dir: &Path, name: Option<&str>) -> anyhow::Result<reqwest::blocking::Client> {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.pem"))?)?;
    let mut builder = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(10));
    if let Some(name) = name {
        let mut pem = std::fs::read(dir.join(format!("{name}.pem")))?;
        pem.extend(std::fs::read(dir.join(format!("{name}.key")))?);
        builder = builder.identity(reqwest::Identity::from_pem(&pem)?);
    }
    Ok(builder.build()?)
}

/// Sends the forged header; returns the status.
fn send(client: &reqwest::blocking::Client, url: &str, header: &str) -> anyhow::Result<u16> {
    let resp = client
        .get(url)
        .header("x-envoy-peer-metadata", header)
        .header(
            "x-envoy-peer-metadata-id",
            "sidecar~10.0.0.9~checkout-v2-x.prod~prod.svc",
        )
        .send()?;
    Ok(resp.status().as_u16())
}

/// Demonstrates the check end to end: with verified client certificates, the same forged
/// metadata (claiming `prod`/`checkout-v2`) is refused for the attacker's certificate
/// (`ns/attacker/sa/evil`: peer labels `unknown`, namespace and principal from the certificate,
/// each such request counted in `mixerless_peer_metadata_rejected_total` and logged once) and
/// accepted for a certificate that agrees (`ns/prod/sa/checkout`), request by request on the
/// same cached peer; on the plaintext listener it is trusted, as in Istio.
#[test]
fn forged_peer_metadata_is_checked_against_the_client_certificate() -> anyhow::Result<()> {
    const FORGED: usize = 5;
    const AGREEING: usize = 4;
    const PLAIN: usize = 3;
    let dir = tempfile::Builder::new()
        .prefix("mixerless-peer-tls-")
        .tempdir()?;
    mesh(dir.path())?;
    let plain_port = paths::free_port();
    let envoy = Envoy::start(&bootstrap(dir.path(), plain_port)?)?;
    let tls_url = format!("https://127.0.0.1:{}/", envoy.listener_port());
    let plain_url = format!("http://127.0.0.1:{plain_port}/");
    let header = forged_header();

    // Without a client certificate the TLS listener refuses the connection.
    let anonymous = client(dir.path(), None)?;
    assert!(
        send(&anonymous, &tls_url, &header).is_err(),
        "a client without a certificate was let in"
    );

    let attacker = client(dir.path(), Some("attacker"))?;
    let checkout = client(dir.path(), Some("checkout"))?;
    let plain = client(dir.path(), None)?;
    // Interleaved, so the agreeing client's requests hit the peer the attacker's header cached.
    for i in 0..FORGED.max(AGREEING).max(PLAIN) {
        if i < FORGED {
            assert_eq!(send(&attacker, &tls_url, &header)?, 200);
        }
        if i < AGREEING {
            assert_eq!(send(&checkout, &tls_url, &header)?, 200);
        }
        if i < PLAIN {
            assert_eq!(send(&plain, &plain_url, &header)?, 200);
        }
    }

    let refused: &[(&str, &str)] = &[
        ("reporter", "destination"),
        ("source_workload", "unknown"),
        ("source_canonical_service", "unknown"),
        ("source_canonical_revision", "latest"),
        ("source_workload_namespace", "attacker"),
        ("source_principal", ATTACKER),
        ("source_app", "unknown"),
        ("source_version", "unknown"),
        ("source_cluster", "unknown"),
        ("destination_principal", SERVER),
        ("destination_workload", "podinfo"),
        ("connection_security_policy", "mutual_tls"),
    ];
    let claimed = |ns: &'static str, principal: &'static str, policy: &'static str| {
        vec![
            ("reporter", "destination"),
            ("source_workload", "checkout-v2"),
            ("source_canonical_service", "checkout"),
            ("source_canonical_revision", "v2"),
            ("source_workload_namespace", ns),
            ("source_principal", principal),
            ("source_app", "checkout"),
            ("source_version", "v2"),
            ("source_cluster", "prod-cluster"),
            ("connection_security_policy", policy),
        ]
    };
    let agreeing = claimed("prod", CHECKOUT, "mutual_tls");
    let plaintext = claimed("prod", "unknown", "none");
    let total = (FORGED + AGREEING + PLAIN) as f64;
    envoy.eventually(Duration::from_secs(15), |samples| {
        let all = stats::find(samples, "istio_requests_total", &[]);
        let counted: f64 = all.iter().map(|s| s.value).sum();
        let got = [
            stats::sum(samples, "istio_requests_total", refused),
            stats::sum(samples, "istio_requests_total", &agreeing),
            stats::sum(samples, "istio_requests_total", &plaintext),
            stats::sum(samples, REJECTED_METRIC, &[]),
            counted,
        ];
        let want = [
            FORGED as f64,
            AGREEING as f64,
            PLAIN as f64,
            FORGED as f64,
            total,
        ];
        if got != want || all.len() != 3 {
            return Err(format!(
                "[refused, agreeing, plaintext, {REJECTED_METRIC}, all] = {got:?}, want {want:?}; series: {all:#?}"
            ));
        }
        Ok(())
    })?;

    // One log line for the one distinct (claim, certificate) pair, not one per request.
    let rejections = |log: &str| {
        log.lines()
            .filter(|l| l.contains("not trusting x-envoy-peer-metadata"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    std::thread::sleep(Duration::from_millis(300));
    let lines = rejections(&envoy.stop());
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("namespace `prod`")
            && lines[0].contains("the namespace differs")
            && lines[0].contains(ATTACKER),
        "{}",
        lines[0]
    );
    Ok(())
}

/// Demonstrates the check on a client sidecar (OUTBOUND, the built filter) calling two mTLS
/// upstreams that both answer with metadata claiming `prod`/`checkout-v2`: the answer from the
/// upstream whose certificate is `ns/attacker/sa/evil` is refused (counted), and the client
/// labels that destination from istiod's endpoint metadata and the certificate; the answer
/// from the upstream whose certificate is `ns/prod/sa/checkout` labels its destination.
#[test]
fn forged_upstream_answer_is_checked_against_the_server_certificate() -> anyhow::Result<()> {
    const EACH: usize = 3;
    let dir = tempfile::Builder::new()
        .prefix("mixerless-peer-tls-")
        .tempdir()?;
    let dir = dir.path();
    mesh(dir)?;
    // Two upstreams in one Envoy without the filter, each listener with its own certificate,
    // both answering with the forged metadata.
    let mut upstream = Bootstrap::inbound("{}");
    upstream.wasm = None;
    upstream.routes = vec![Route::DirectWithHeaders {
        prefix: "/".into(),
        status: 200,
        body: "ok\n".into(),
        headers: vec![("x-envoy-peer-metadata".into(), forged_header())],
    }];
    let honest_port = paths::free_port();
    let upstreams = Envoy::start(&with_listeners(&upstream, |listeners| {
        let mut honest = listeners[0].clone();
        honest["name"] = json!("honest");
        honest["address"]["socket_address"]["port_value"] = json!(honest_port);
        honest["filter_chains"][0]["transport_socket"] = tls(dir, "checkout", true);
        listeners[0]["filter_chains"][0]["transport_socket"] = tls(dir, "attacker", true);
        listeners.push(honest);
    })?)?;

    let mut b = Bootstrap::outbound("{}", upstreams.listener_port());
    b.routes = vec![
        Route::Cluster {
            prefix: "/evil".into(),
            cluster: "evil".into(),
        },
        Route::Cluster {
            prefix: "/honest".into(),
            cluster: "honest".into(),
        },
    ];
    b.clusters = vec![
        ("evil".into(), upstreams.listener_port()),
        ("honest".into(), honest_port),
    ];
    b.cluster_metadata.clear();
    b.endpoint_metadata = vec![(
        "evil".into(),
        json!({"filter_metadata": {"istio": {"workload": "evil-v1;attacker;evil;v1;attack-cluster"}}}),
    )];
    let mut b: serde_json::Value = serde_json::from_str(&b.render())?;
    for cluster in b["static_resources"]["clusters"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        cluster["transport_socket"] = tls(dir, "productpage", false);
    }
    let client = Envoy::start(&b.to_string())?;
    for _ in 0..EACH {
        for path in ["/evil", "/honest"] {
            let resp = mixerless_harness::http::get(&client.listener_url(path))?;
            assert_eq!(resp.status, 200, "{path}: {}", resp.body);
            assert_eq!(resp.header("x-envoy-peer-metadata"), None, "{path}");
        }
    }

    let refused: &[(&str, &str)] = &[
        ("reporter", "source"),
        ("source_workload", "productpage-v1"),
        ("source_principal", PRODUCTPAGE),
        ("destination_workload", "evil-v1"),
        ("destination_workload_namespace", "attacker"),
        ("destination_principal", ATTACKER),
        ("destination_app", "unknown"),
        ("destination_version", "unknown"),
        ("destination_canonical_service", "evil"),
        ("destination_canonical_revision", "v1"),
        ("destination_cluster", "attack-cluster"),
    ];
    let agreeing: &[(&str, &str)] = &[
        ("reporter", "source"),
        ("source_principal", PRODUCTPAGE),
        ("destination_workload", "checkout-v2"),
        ("destination_workload_namespace", "prod"),
        ("destination_principal", CHECKOUT),
        ("destination_app", "checkout"),
        ("destination_version", "v2"),
        ("destination_canonical_service", "checkout"),
        ("destination_canonical_revision", "v2"),
        ("destination_cluster", "prod-cluster"),
    ];
    client.eventually(Duration::from_secs(15), |samples| {
        let all = stats::find(samples, "istio_requests_total", &[]);
        let got = [
            stats::sum(samples, "istio_requests_total", refused),
            stats::sum(samples, "istio_requests_total", agreeing),
            stats::sum(samples, REJECTED_METRIC, &[]),
            all.iter().map(|s| s.value).sum(),
        ];
        let want = [EACH as f64, EACH as f64, EACH as f64, 2.0 * EACH as f64];
        if got != want {
            return Err(format!(
                "[refused, agreeing, {REJECTED_METRIC}, all] = {got:?}, want {want:?}; series: {all:#?}"
            ));
        }
        Ok(())
    })?;
    Ok(())
}
