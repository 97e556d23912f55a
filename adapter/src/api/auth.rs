//! Client certificate authentication for requests proxied by the kube-apiserver aggregator
//! (`--requestheader-client-ca-file`, `--requestheader-allowed-names`). The TLS layer verifies
//! the chain; this layer checks the name and refuses requests without a certificate.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::{ApiError, AppState};

/// Who may call.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// Only clients with a certificate from the client CA are served.
    pub require_client_cert: bool,
    /// Common names allowed (empty: any name the CA signed), like kube-apiserver's flag.
    pub allowed_names: Vec<String>,
}

/// The peer certificate's identity, attached by the server to each request of a connection
/// whose client certificate the TLS layer verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub common_name: String,
}

/// Paths kubelet probes without a certificate.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/livez" | "/readyz")
}

/// Refuses requests without an allowed client certificate (probes excepted).
pub async fn require_client(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let auth = &state.auth;
    if !auth.require_client_cert || is_probe(req.uri().path()) {
        return next.run(req).await;
    }
    let refusal = match req.extensions().get::<ClientIdentity>() {
        None => ApiError::unauthorized(
            "a client certificate signed by the request-header CA is required",
        ),
        Some(id)
            if !auth.allowed_names.is_empty() && !auth.allowed_names.contains(&id.common_name) =>
        {
            tracing::warn!(cn = %id.common_name, "client certificate name not allowed");
            ApiError::forbidden(format!(
                "client certificate name {:?} is not in --requestheader-allowed-names",
                id.common_name
            ))
        }
        Some(_) => return next.run(req).await,
    };
    // The body is not read for a client that may not call; it is held until the refusal is
    // sent, so an HTTP/2 client gets the refusal rather than a reset stream.
    super::body::holding(refusal.into_response(), req.into_body()).await
}
