//! KEDA's external scaler (`serve --keda-grpc`): KEDA calls the adapter over gRPC
//! (`externalscaler.ExternalScaler`, the contract in `adapter/proto/externalscaler.proto`) for
//! an `external` or `external-push` trigger whose metadata carries a PromQL `query`.
//!
//! - [`trigger`]: the trigger's metadata, checked once per call, and its stable metric name.
//! - [`scaler`]: the four RPCs. `StreamIsActive` re-evaluates as each scrape lands (and at the
//!   trigger's `interval` when none does), so activation follows the first scrape that sees a
//!   request instead of KEDA's 30 s `IsActive` poll.
//! - [`source`]: the one seam to the rest of the adapter: evaluate a query now, keep the
//!   families a trigger reads, and hear that a scrape landed.
//!
//! Which series the store keeps: everything `--keep-metrics` matches (`istio_.*` by default),
//! so a trigger over Istio's metrics reads history from the adapter's first scrape. A trigger
//! reading anything else makes the store keep those families from KEDA's first call on (and
//! for `--retention` after its last call); its value warms up from the next scrape like a new
//! HPA query's (`GetMetrics` answers `Unavailable` "warming up" under `--partial-data refuse`;
//! `IsActive` answers from what is there, since activation wants the first request seen).

pub mod scaler;
pub mod source;
pub mod trigger;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

pub use scaler::Scaler;
pub use source::{Source, SourceError};
pub use trigger::Trigger;

/// The code generated from `proto/externalscaler.proto` by `build.rs`.
#[allow(unreachable_pub, missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("externalscaler");
}

/// Where and how to serve the scaler (from `serve`'s `--keda-*` flags).
#[derive(Debug, Clone, Default)]
pub struct Endpoint {
    /// `--keda-grpc`: `None` serves nothing.
    pub addr: Option<SocketAddr>,
    /// `--keda-tls-cert-file`: PEM certificate (chain); with the key, TLS.
    pub tls_cert_file: Option<PathBuf>,
    /// `--keda-tls-private-key-file`.
    pub tls_private_key_file: Option<PathBuf>,
    /// `--keda-client-ca-file`: only clients with a certificate signed by it.
    pub client_ca_file: Option<PathBuf>,
}

impl Endpoint {
    /// The TLS configuration the flags ask for (`None`: plain HTTP/2).
    fn tls(&self) -> anyhow::Result<Option<tonic::transport::ServerTlsConfig>> {
        let (Some(cert), Some(key)) = (&self.tls_cert_file, &self.tls_private_key_file) else {
            return Ok(None);
        };
        let read = |p: &PathBuf, what: &str| {
            std::fs::read(p).with_context(|| format!("{what} {}", p.display()))
        };
        let mut tls = tonic::transport::ServerTlsConfig::new().identity(
            tonic::transport::Identity::from_pem(
                read(cert, "--keda-tls-cert-file")?,
                read(key, "--keda-tls-private-key-file")?,
            ),
        );
        if let Some(ca) = &self.client_ca_file {
            tls = tls.client_ca_root(tonic::transport::Certificate::from_pem(read(
                ca,
                "--keda-client-ca-file",
            )?));
        }
        Ok(Some(tls))
    }
}

/// Binds `--keda-grpc` and serves `scaler` on it until the process ends; `None` without the flag.
pub async fn serve(
    args: &Endpoint,
    scaler: Scaler,
) -> anyhow::Result<Option<impl std::future::Future<Output = ()>>> {
    let Some(addr) = args.addr else {
        return Ok(None);
    };
    let tls = args.tls()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--keda-grpc {addr}"))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        tls = tls.is_some(),
        client_ca = args.client_ca_file.is_some(),
        "serving KEDA's externalscaler.ExternalScaler"
    );
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls).context("--keda-grpc TLS")?;
    }
    let router = server.add_service(proto::external_scaler_server::ExternalScalerServer::new(
        scaler,
    ));
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    Ok(Some(async move {
        if let Err(e) = router.serve_with_incoming(incoming).await {
            tracing::error!("--keda-grpc stopped: {e}");
        }
    }))
}
