//! TLS for the API: a certificate from files or self-signed at start, and optional client
//! certificate verification against the request-header CA (rustls with ring).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// Why the TLS configuration cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A PEM file is missing or unreadable.
    #[error("{what} {path}: {message}")]
    File {
        what: &'static str,
        path: String,
        message: String,
    },
    /// Certificate generation or rustls refused the configuration.
    #[error("tls: {0}")]
    Config(String),
}

fn file_err(what: &'static str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::File {
        what,
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// A serving certificate chain and its key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The PEM of the leaf, for clients that want to trust a self-signed certificate.
    pub cert_pem: String,
}

/// Reads `--tls-cert-file` and `--tls-private-key-file`.
pub fn load_identity(cert: &Path, key: &Path) -> Result<Identity, Error> {
    let cert_pem = std::fs::read_to_string(cert).map_err(|e| file_err("certificate", cert, e))?;
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err("certificate", cert, e))?;
    if chain.is_empty() {
        return Err(file_err("certificate", cert, "no CERTIFICATE block"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err("private key", key, e))?;
    Ok(Identity {
        chain,
        key,
        cert_pem,
    })
}

/// A self-signed certificate for `names` (DNS names or IP addresses), as kube-metrics-adapter
/// and custom-metrics-apiserver make at start; the APIService then uses `insecureSkipTLSVerify`.
pub fn self_signed(names: &[String]) -> Result<Identity, Error> {
    let ck = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| Error::Config(e.to_string()))?;
    let cert_pem = ck.cert.pem();
    Ok(Identity {
        chain: vec![ck.cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into()),
        cert_pem,
    })
}

/// The server configuration; with `client_ca`, client certificates are verified against it
/// (requests without one are refused by the API layer, probes excepted).
pub fn server_config(
    identity: Identity,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in
                CertificateDer::pem_file_iter(path).map_err(|e| file_err("client CA", path, e))?
            {
                roots
                    .add(cert.map_err(|e| file_err("client CA", path, e))?)
                    .map_err(|e| file_err("client CA", path, e))?;
            }
            if roots.is_empty() {
                return Err(file_err("client CA", path, "no CERTIFICATE block"));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| Error::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(identity.chain, identity.key)
        .map_err(|e| Error::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The subject common name of a DER certificate.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}
