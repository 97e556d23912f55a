//! Whether a peer's metadata agrees with the identity in its verified certificate.
//!
//! The exchange headers are whatever the client chose to send; with mTLS, Envoy has verified the
//! client's certificate, whose URI SAN (`spiffe://<trust-domain>/ns/<ns>/sa/<sa>`, issued by
//! istiod to one service account of one namespace) is the only thing a client cannot forge.
//! Istio's stats filter labels with the claim regardless; we refuse a claim the certificate
//! contradicts.

use super::Peer;

/// An Istio workload identity: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spiffe<'a> {
    pub trust_domain: &'a str,
    pub namespace: &'a str,
    pub service_account: &'a str,
}

impl<'a> Spiffe<'a> {
    /// Parses the exact Istio form; anything else (other paths, empty parts) is `None`.
    pub fn parse(uri: &'a str) -> Option<Self> {
        let (trust_domain, path) = uri.strip_prefix("spiffe://")?.split_once('/')?;
        let (namespace, service_account) = path.strip_prefix("ns/")?.split_once("/sa/")?;
        let bad = |s: &str| s.is_empty() || s.contains('/');
        if bad(trust_domain) || bad(namespace) || bad(service_account) {
            return None;
        }
        Some(Self {
            trust_domain,
            namespace,
            service_account,
        })
    }
}

/// Why a peer's metadata is not trusted for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// The peer's certificate has no URI SAN in Istio's SPIFFE form, so it vouches for nothing.
    #[error("the certificate is not an Istio SPIFFE identity")]
    NotSpiffe,
    /// `NAMESPACE` is not the certificate's namespace (or is missing).
    #[error("the namespace differs")]
    Namespace,
    /// `SERVICE_ACCOUNT` is not the certificate's service account.
    #[error("the service account differs")]
    ServiceAccount,
    /// `IDENTITY` names another namespace or service account than the certificate.
    #[error("the identity differs")]
    Identity,
}

/// Checks `peer`'s claims against `san`, the URI SAN of the certificate Envoy verified on this
/// request's connection. The namespace must be claimed and equal; a claimed service account or
/// identity must name the same service account (an identity's trust domain is not compared, so
/// trust-domain aliases keep working).
pub fn check(peer: &Peer, san: &str) -> Result<(), Mismatch> {
    let cert = Spiffe::parse(san).ok_or(Mismatch::NotSpiffe)?;
    if peer.namespace != cert.namespace {
        return Err(Mismatch::Namespace);
    }
    if !peer.service_account.is_empty() && peer.service_account != cert.service_account {
        return Err(Mismatch::ServiceAccount);
    }
    if !peer.identity.is_empty() && peer.identity != san {
        match Spiffe::parse(&peer.identity) {
            Some(id)
                if id.namespace == cert.namespace && id.service_account == cert.service_account => {
            }
            _ => return Err(Mismatch::Identity),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "spiffe://cluster.local/ns/prod/sa/checkout";

    fn claim(namespace: &str, service_account: &str, identity: &str) -> Peer {
        Peer {
            workload: "checkout-v1".into(),
            namespace: namespace.into(),
            service_account: service_account.into(),
            identity: identity.into(),
            ..Peer::default()
        }
    }

    /// Demonstrates that only Istio's exact SPIFFE form parses.
    #[test]
    fn parses_istio_spiffe_only() {
        assert_eq!(
            Spiffe::parse(CERT),
            Some(Spiffe {
                trust_domain: "cluster.local",
                namespace: "prod",
                service_account: "checkout"
            })
        );
        for bad in [
            "",
            "spiffe://cluster.local/ns/prod",
            "spiffe://cluster.local/ns//sa/x",
            "spiffe://cluster.local/ns/prod/sa/",
            "spiffe://cluster.local/ns/prod/sa/x/extra",
            "spiffe:///ns/prod/sa/x",
            "spiffe://td/sa/x/ns/prod",
            "https://cluster.local/ns/prod/sa/x",
            "urn:example:ns/prod/sa/x",
        ] {
            assert_eq!(Spiffe::parse(bad), None, "{bad}");
        }
    }

    /// Demonstrates the verdict for each kind of claim against one certificate.
    #[test]
    fn claims_against_the_certificate() {
        let cases: [(&str, Peer, &str, Result<(), Mismatch>); 10] = [
            ("namespace matches", claim("prod", "", ""), CERT, Ok(())),
            (
                "namespace and service account match",
                claim("prod", "checkout", ""),
                CERT,
                Ok(()),
            ),
            (
                "identity in another trust domain, same ns/sa",
                claim("prod", "", "spiffe://td.example/ns/prod/sa/checkout"),
                CERT,
                Ok(()),
            ),
            (
                "other namespace",
                claim("attacker", "checkout", ""),
                CERT,
                Err(Mismatch::Namespace),
            ),
            (
                "no namespace claimed",
                claim("", "", ""),
                CERT,
                Err(Mismatch::Namespace),
            ),
            (
                "other service account",
                claim("prod", "payments", ""),
                CERT,
                Err(Mismatch::ServiceAccount),
            ),
            (
                "identity with another service account",
                claim("prod", "", "spiffe://cluster.local/ns/prod/sa/payments"),
                CERT,
                Err(Mismatch::Identity),
            ),
            (
                "identity not SPIFFE",
                claim("prod", "", "checkout"),
                CERT,
                Err(Mismatch::Identity),
            ),
            (
                "certificate not SPIFFE",
                claim("prod", "checkout", ""),
                "urn:example:prod:checkout",
                Err(Mismatch::NotSpiffe),
            ),
            (
                "certificate without a URI SAN",
                claim("prod", "", ""),
                "",
                Err(Mismatch::NotSpiffe),
            ),
        ];
        for (name, peer, san, want) in cases {
            assert_eq!(check(&peer, san), want, "{name}");
        }
    }
}
