//! The adapter started with the Deployment's own args (only `--kube` swapped for `--hpa-dir
//! istio/`, and the mounted files for local ones): a serving certificate from
//! `istio/certs/make-serving-cert.sh` verifies for the Service name the APIService calls, the
//! probes answer without a client certificate, and the API answers only the front proxy
//! (`--requestheader-client-ca-file`, `--requestheader-allowed-names`) — what the aggregator
//! does through the APIService's caBundle.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::common::{istio, kustomize};
use mixerless_harness::paths;

const HOST: &str = "mixerless-adapter.kube-system.svc";

struct Adapter(Child);

impl Drop for Adapter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sh(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A client certificate with common name `cn`, signed by the CA in `ca_dir`.
fn client_cert(ca_dir: &Path, cn: &str) -> reqwest::Identity {
    let key = ca_dir.join(format!("{cn}.key"));
    let csr = ca_dir.join(format!("{cn}.csr"));
    let crt = ca_dir.join(format!("{cn}.crt"));
    let ext = ca_dir.join("client.cnf");
    std::fs::write(&ext, "extendedKeyUsage=clientAuth\n").unwrap();
    sh(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args(["-subj", &format!("/CN={cn}"), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&csr));
    sh(Command::new("openssl")
        .args(["x509", "-req", "-days", "1", "-in"])
        .arg(&csr)
        .arg("-CA")
        .arg(ca_dir.join("ca.crt"))
        .arg("-CAkey")
        .arg(ca_dir.join("ca.key"))
        .args(["-CAcreateserial", "-extfile"])
        .arg(&ext)
        .arg("-out")
        .arg(&crt));
    let mut pem = std::fs::read(&crt).unwrap();
    pem.extend(std::fs::read(&key).unwrap());
    reqwest::Identity::from_pem(&pem).unwrap()
}

fn make_ca(dir: &Path) {
    sh(Command::new(istio().join("certs/make-serving-cert.sh"))
        .arg("--out")
        .arg(dir));
}

/// Demonstrates that the Deployment's args make a working server with the script's
/// certificate: verified for the Service name, probes open, API only for the front proxy.
#[test]
fn deployment_args_serve_tls_for_the_apiservice() {
    let objs = kustomize(&istio());
    let dep = objs.iter().find(|o| o["kind"] == "Deployment").unwrap();
    let args: Vec<String> = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let serving = dir.path().join("serving");
    let front = dir.path().join("front");
    make_ca(&serving);
    make_ca(&front);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Without --kube here, its --kube-* settings would be refused (they need --kube).
    let local: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with("--kube-"))
        .map(|a| {
            let (flag, _) = a.split_once('=').unwrap_or((a, ""));
            match flag {
                "--kube" => format!("--hpa-dir={}", istio().display()),
                "--listen" => format!("--listen=127.0.0.1:{port}"),
                "--tls-cert-file" => format!("{flag}={}", serving.join("tls.crt").display()),
                "--tls-private-key-file" => format!("{flag}={}", serving.join("tls.key").display()),
                "--requestheader-client-ca-file" => {
                    format!("{flag}={}", front.join("ca.crt").display())
                }
                _ => a.clone(),
            }
        })
        .collect();
    let bin = paths::root().join("target/debug/mixerless-adapter");
    assert!(bin.exists(), "run `cargo build -p mixerless-adapter`");
    let _adapter = Adapter(
        mixerless_harness::process::guarded(&bin)
            .args(&local)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let ca =
        reqwest::Certificate::from_pem(&std::fs::read(serving.join("ca.crt")).unwrap()).unwrap();
    let client = |identity: Option<reqwest::Identity>| {
        let mut b = reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca.clone())
            .resolve(HOST, addr)
            .timeout(Duration::from_secs(5));
        if let Some(id) = identity {
            b = b.identity(id);
        }
        b.build().unwrap()
    };
    let url = |path: &str| format!("https://{HOST}:{port}{path}");

    let anonymous = client(None);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match anonymous.get(url("/healthz")).send() {
            Ok(r) if r.status() == 200 => break,
            other => assert!(Instant::now() < deadline, "no /healthz: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let discovery = "/apis/external.metrics.k8s.io/v1beta1";
    assert_eq!(anonymous.get(url(discovery)).send().unwrap().status(), 401);

    let front_proxy = client(Some(client_cert(&front, "front-proxy-client")));
    let resp = front_proxy
        .get(url(discovery))
        .header(
            "X-Remote-User",
            "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
        )
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(body["groupVersion"], "external.metrics.k8s.io/v1beta1");
    assert!(body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "prometheus-query"));

    let intruder = client(Some(client_cert(&front, "intruder")));
    let status = intruder.get(url(discovery)).send().map(|r| r.status());
    assert!(
        !matches!(status, Ok(s) if s == 200),
        "a name outside --requestheader-allowed-names is refused: {status:?}"
    );

    // A client that trusts another CA refuses the server: caBundle must be the right one.
    let other_dir = dir.path().join("other");
    make_ca(&other_dir);
    let other = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(other_dir.join("ca.crt")).unwrap())
                .unwrap(),
        )
        .resolve(HOST, addr)
        .build()
        .unwrap();
    assert!(other.get(url("/healthz")).send().is_err());
}
