//! The peer workload: who is on the other side of a request, from Istio's metadata exchange
//! headers or from upstream endpoint metadata.

pub mod base64;
mod cache;
pub mod flat;
pub mod pairs;
pub mod state;
pub mod trust;
pub mod wire;

use self::wire::{Struct, Value, WireError};
use crate::encode::{sanitized, MAX_VALUE_LEN};

pub use self::cache::PeerCache;

/// Header carrying the peer's metadata: base64 of a serialized `google.protobuf.Struct`.
pub const METADATA_HEADER: &str = "x-envoy-peer-metadata";
/// Header carrying the peer's Envoy node id.
pub const ID_HEADER: &str = "x-envoy-peer-metadata-id";
/// Longest exchange header accepted (Istio's own are a few hundred bytes).
pub const MAX_HEADER_LEN: usize = 8192;
/// Longest value accepted in a field the labels use.
pub const MAX_FIELD_LEN: usize = 512;

const CANONICAL_NAME: &str = "service.istio.io/canonical-name";
const CANONICAL_REVISION: &str = "service.istio.io/canonical-revision";

/// Why a peer header could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// Longer than [`MAX_HEADER_LEN`].
    #[error("peer metadata header is {0} bytes, more than {MAX_HEADER_LEN}")]
    TooLong(usize),
    /// Not base64.
    #[error("peer metadata header is not base64")]
    Base64,
    /// Not a protobuf Struct.
    #[error("peer metadata is not a protobuf Struct: {0}")]
    Wire(#[from] WireError),
    /// A field longer than [`MAX_FIELD_LEN`].
    #[error("peer metadata field {0} is longer than {MAX_FIELD_LEN} bytes")]
    Oversized(&'static str),
    /// A field whose value is not UTF-8 text.
    #[error("peer metadata field {0} is not utf-8 text")]
    NotText(String),
    /// A filter-state FlatNode (Istio 1.18–1.23) that could not be read.
    #[error("filter-state peer is not a FlatNode: {0}")]
    Flat(#[from] flat::FlatError),
    /// A filter-state peer map (Istio 1.25+) that could not be read.
    #[error("filter-state peer is not a map: {0}")]
    Pairs(#[from] pairs::PairsError),
}

/// The workload facts labels use; an empty string means unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub workload: String,
    pub namespace: String,
    pub cluster: String,
    pub identity: String,
    /// Claimed service account (`SERVICE_ACCOUNT`, sent with a full node metadata); only
    /// checked against the peer certificate, never a label.
    pub service_account: String,
    pub app: String,
    pub version: String,
    pub canonical_service: String,
    pub canonical_revision: String,
    /// Workload kind as Istio's peer object names it (`deployment`, `pod`, `job`, `cronjob`);
    /// only read by `filter_state.*_peer.type` expressions.
    pub kind: String,
    /// The workload's labels, at most [`MAX_LABELS`]; only read by `.labels['k']` expressions.
    pub labels: Vec<(String, String)>,
}

/// Labels kept per peer for `.labels['k']` expressions.
pub const MAX_LABELS: usize = 32;

/// Istio's workload type from an `OWNER` reference (`kubernetes://apis/apps/v1/namespaces/ns/deployments/name`).
pub fn kind_of_owner(owner: &str) -> &'static str {
    let kinds = [
        ("/deployments/", "deployment"),
        ("/cronjobs/", "cronjob"),
        ("/jobs/", "job"),
        ("/pods/", "pod"),
    ];
    kinds
        .iter()
        .find(|(part, _)| owner.contains(part))
        .map_or("", |(_, k)| k)
}

impl Peer {
    /// The fields of Istio's peer object (1.24+), as [`Peer::field`] names them.
    pub const FIELDS: [&'static str; 10] = [
        "workload",
        "namespace",
        "cluster",
        "service",
        "revision",
        "app",
        "version",
        "name",
        "type",
        "identity",
    ];

    /// A field by the name Istio's peer object gives it (`workload`, `namespace`, `cluster`,
    /// `service`, `revision`, `app`, `version`, `name`, `type`, `identity`).
    pub fn field(&self, name: &str) -> Option<&str> {
        Some(match name {
            "workload" => &self.workload,
            "namespace" => &self.namespace,
            "cluster" => &self.cluster,
            "service" => &self.canonical_service,
            "revision" => &self.canonical_revision,
            "app" => &self.app,
            "version" => &self.version,
            "name" => &self.name,
            "type" => &self.kind,
            "identity" => &self.identity,
            _ => return None,
        })
    }

    /// [`Peer::field`] to write, for the decoders of Istio's peer object.
    pub fn field_mut(&mut self, name: &str) -> Option<&mut String> {
        Some(match name {
            "workload" => &mut self.workload,
            "namespace" => &mut self.namespace,
            "cluster" => &mut self.cluster,
            "service" => &mut self.canonical_service,
            "revision" => &mut self.canonical_revision,
            "app" => &mut self.app,
            "version" => &mut self.version,
            "name" => &mut self.name,
            "type" => &mut self.kind,
            "identity" => &mut self.identity,
            _ => return None,
        })
    }

    /// A label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Makes every field safe to put into a stat name (done once per decoded peer, so the
    /// per-request label work is plain copies).
    pub fn sanitize(&mut self) {
        for f in [
            &mut self.name,
            &mut self.workload,
            &mut self.namespace,
            &mut self.cluster,
            &mut self.identity,
            &mut self.service_account,
            &mut self.app,
            &mut self.version,
            &mut self.canonical_service,
            &mut self.canonical_revision,
            &mut self.kind,
        ]
        .into_iter()
        .chain(self.labels.iter_mut().map(|(_, v)| v))
        {
            if f.chars().any(|c| c == ';' || c == '=' || c.is_control()) || f.len() > MAX_VALUE_LEN
            {
                *f = sanitized(f);
            }
        }
    }

    /// Decodes an `x-envoy-peer-metadata` header value.
    pub fn from_header(value: &str) -> Result<Self, PeerError> {
        if value.len() > MAX_HEADER_LEN {
            return Err(PeerError::TooLong(value.len()));
        }
        let bytes = base64::decode(value.trim()).ok_or(PeerError::Base64)?;
        let mut peer = Self::from_struct(&Struct::decode(&bytes)?)?;
        peer.sanitize();
        Ok(peer)
    }

    /// Reads both Struct shapes: Istio's node-metadata shape (`WORKLOAD_NAME`, `NAMESPACE`,
    /// `LABELS`, ... as the native exchange and the WASM-era plugin send) and the peer-object
    /// shape (`workload`, `namespace`, `service`, `revision`, ...). Unknown keys are ignored.
    pub fn from_struct(s: &Struct) -> Result<Self, PeerError> {
        let field = |key: &'static str, from: Option<&str>| -> Result<String, PeerError> {
            let v = from.unwrap_or_default();
            if v.len() > MAX_FIELD_LEN {
                return Err(PeerError::Oversized(key));
            }
            Ok(v.to_owned())
        };
        let labels = s.child("LABELS");
        let label = |k: &str| labels.and_then(|l| l.str(k));
        let upper =
            s.get("WORKLOAD_NAME").is_some() || s.get("NAMESPACE").is_some() || labels.is_some();
        let kept = |from: Option<&Struct>| -> Vec<(String, String)> {
            from.map(|l| {
                l.0.iter()
                    .filter_map(|(k, v)| match v {
                        Value::String(v)
                            if k.len() <= MAX_FIELD_LEN && v.len() <= MAX_FIELD_LEN =>
                        {
                            Some((k.clone(), v.clone()))
                        }
                        _ => None,
                    })
                    .take(MAX_LABELS)
                    .collect()
            })
            .unwrap_or_default()
        };
        if upper {
            Ok(Self {
                name: field("NAME", s.str("NAME"))?,
                workload: field("WORKLOAD_NAME", s.str("WORKLOAD_NAME"))?,
                namespace: field("NAMESPACE", s.str("NAMESPACE"))?,
                cluster: field("CLUSTER_ID", s.str("CLUSTER_ID"))?,
                identity: field("IDENTITY", s.str("IDENTITY"))?,
                service_account: field("SERVICE_ACCOUNT", s.str("SERVICE_ACCOUNT"))?,
                // Istio prefers the recommended Kubernetes labels over app/version for a peer.
                app: field(
                    "LABELS.app",
                    label("app.kubernetes.io/name").or(label("app")),
                )?,
                version: field(
                    "LABELS.version",
                    label("app.kubernetes.io/version").or(label("version")),
                )?,
                canonical_service: field("LABELS.canonical-name", label(CANONICAL_NAME))?,
                canonical_revision: field("LABELS.canonical-revision", label(CANONICAL_REVISION))?,
                kind: kind_of_owner(s.str("OWNER").unwrap_or_default()).to_owned(),
                labels: kept(labels),
            })
        } else {
            Ok(Self {
                name: field("name", s.str("name"))?,
                workload: field("workload", s.str("workload"))?,
                namespace: field("namespace", s.str("namespace"))?,
                cluster: field("cluster", s.str("cluster"))?,
                identity: field("identity", s.str("identity"))?,
                service_account: String::new(),
                app: field("app", s.str("app"))?,
                version: field("version", s.str("version"))?,
                canonical_service: field("service", s.str("service"))?,
                canonical_revision: field("revision", s.str("revision"))?,
                kind: field("type", s.str("type"))?,
                labels: kept(s.child("labels")),
            })
        }
    }

    /// Reads upstream endpoint metadata `istio.workload` =
    /// `workload;namespace;canonical_service;canonical_revision;cluster` (four parts accepted, as
    /// the WASM-era plugin did). It carries no app or version.
    pub fn from_endpoint(value: &str) -> Option<Self> {
        let mut parts = value.split(';');
        let mut next = || parts.next().map(str::to_owned);
        let workload = next()?;
        let namespace = next()?;
        let canonical_service = next()?;
        let canonical_revision = next()?;
        let cluster = next().unwrap_or_default();
        if value.len() > MAX_FIELD_LEN * 4 {
            return None;
        }
        let mut peer = Self {
            workload,
            namespace,
            canonical_service,
            canonical_revision,
            cluster,
            ..Self::default()
        };
        peer.sanitize();
        Some(peer)
    }

    /// The Struct this proxy sends about itself, in the shape Istio's native exchange sends
    /// (`NAME`, `NAMESPACE`, `WORKLOAD_NAME`, `CLUSTER_ID`, `IDENTITY`, `OWNER`, `LABELS`...);
    /// `extra` holds further top-level string fields (`OWNER`, `REGION`, ...) and `labels` the
    /// label map entries to send. Empty values are left out.
    pub fn to_struct(&self, extra: &[(&str, &str)], labels: &[(&str, &str)]) -> Struct {
        let mut fields = Vec::new();
        let mut put = |k: &str, v: &str| {
            if !v.is_empty() {
                fields.push((k.to_owned(), Value::String(v.to_owned())));
            }
        };
        put("NAME", &self.name);
        put("NAMESPACE", &self.namespace);
        put("WORKLOAD_NAME", &self.workload);
        put("CLUSTER_ID", &self.cluster);
        put("IDENTITY", &self.identity);
        put("SERVICE_ACCOUNT", &self.service_account);
        for (k, v) in extra {
            put(k, v);
        }
        let labels: Vec<(String, Value)> = labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        if !labels.is_empty() {
            fields.push(("LABELS".to_owned(), Value::Struct(Struct(labels))));
        }
        Struct(fields)
    }

    /// The namespace in a SPIFFE identity (`spiffe://td/ns/<ns>/sa/<sa>`), if any.
    pub fn namespace_of(principal: &str) -> Option<&str> {
        let rest = principal.split_once("/ns/")?.1;
        let ns = rest.split('/').next()?;
        (!ns.is_empty()).then_some(ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(pairs: &[(&str, Value)]) -> Struct {
        Struct(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }
    fn sv(s: &str) -> Value {
        Value::String(s.into())
    }

    /// Demonstrates that what we send is read back as the same peer (codec round trip through
    /// base64 and protobuf).
    #[test]
    fn header_round_trip() {
        let me = Peer {
            name: "ratings-v1-abc".into(),
            workload: "ratings-v1".into(),
            namespace: "default".into(),
            cluster: "server-cluster".into(),
            identity: String::new(),
            service_account: String::new(),
            app: "ratings".into(),
            version: "v1".into(),
            canonical_service: "ratings".into(),
            canonical_revision: "version-1".into(),
            kind: "deployment".into(),
            labels: vec![
                ("app".into(), "ratings".into()),
                (CANONICAL_NAME.into(), "ratings".into()),
                (CANONICAL_REVISION.into(), "version-1".into()),
                ("version".into(), "v1".into()),
            ],
        };
        let s = me.to_struct(
            &[(
                "OWNER",
                "kubernetes://apis/apps/v1/namespaces/default/deployments/ratings-v1",
            )],
            &[
                (CANONICAL_NAME, "ratings"),
                (CANONICAL_REVISION, "version-1"),
                ("app", "ratings"),
                ("version", "v1"),
            ],
        );
        let header = base64::encode(&s.encode());
        assert_eq!(Peer::from_header(&header).unwrap(), me);
        assert_eq!(Peer::from_header(header.trim_end_matches('=')).unwrap(), me);
    }

    /// Demonstrates both Struct shapes and the label precedence a WASM-era sender needs.
    #[test]
    fn reads_both_shapes() {
        let wasm_era = st(&[
            ("WORKLOAD_NAME", sv("productpage-v1")),
            ("NAMESPACE", sv("default")),
            ("MESH_ID", sv("mesh1")),
            ("ISTIO_VERSION", sv("1.5-dev")),
            ("APP_CONTAINERS", Value::List(vec![sv("app")])),
            (
                "LABELS",
                Value::Struct(st(&[
                    ("app", sv("productpage")),
                    ("app.kubernetes.io/name", sv("pp")),
                    ("version", sv("v1")),
                    ("pod-template-hash", sv("84975bc778")),
                ])),
            ),
        ]);
        let p = Peer::from_struct(&wasm_era).unwrap();
        assert_eq!(
            (p.workload.as_str(), p.app.as_str(), p.version.as_str()),
            ("productpage-v1", "pp", "v1")
        );
        assert_eq!(p.canonical_service, "");
        let object = st(&[
            ("workload", sv("ratings-v1")),
            ("namespace", sv("default")),
            ("service", sv("ratings")),
            ("revision", sv("version-1")),
            ("cluster", sv("c1")),
            ("type", sv("deployment")),
        ]);
        let p = Peer::from_struct(&object).unwrap();
        assert_eq!(
            (
                p.workload.as_str(),
                p.canonical_service.as_str(),
                p.canonical_revision.as_str()
            ),
            ("ratings-v1", "ratings", "version-1")
        );
    }

    /// Demonstrates that malformed headers are errors that name the problem.
    #[test]
    fn rejects_malformed_headers() {
        let long = "A".repeat(MAX_HEADER_LEN + 4);
        let huge = st(&[("WORKLOAD_NAME", sv(&"w".repeat(MAX_FIELD_LEN + 1)))]);
        let truncated = {
            let mut b = st(&[("NAMESPACE", sv("default"))]).encode();
            b.truncate(b.len() - 3);
            base64::encode(&b)
        };
        let cases: [(&str, PeerError); 4] = [
            ("!!not base64!!", PeerError::Base64),
            (&long, PeerError::TooLong(MAX_HEADER_LEN + 4)),
            (&truncated, PeerError::Wire(WireError::Truncated(2))),
            (
                &base64::encode(&huge.encode()),
                PeerError::Oversized("WORKLOAD_NAME"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(Peer::from_header(input).unwrap_err(), want);
        }
    }

    /// Demonstrates the endpoint-metadata fallback and SPIFFE namespaces.
    #[test]
    fn endpoint_metadata_and_spiffe() {
        let p = Peer::from_endpoint("ratings-v1;default;ratings;version-1;server-cluster").unwrap();
        assert_eq!(p.cluster, "server-cluster");
        assert_eq!(p.canonical_revision, "version-1");
        assert_eq!(p.app, "");
        assert_eq!(Peer::from_endpoint("a;b;c;d").unwrap().cluster, "");
        assert_eq!(Peer::from_endpoint("a;b;c"), None);
        assert_eq!(
            Peer::namespace_of("spiffe://cluster.local/ns/default/sa/client"),
            Some("default")
        );
        assert_eq!(Peer::namespace_of("spiffe://cluster.local/sa/x"), None);
    }

    /// Demonstrates interoperability on the wire: a header written by an independent protobuf
    /// writer in the shape Istio's native exchange sends decodes to the right peer, and our
    /// encoder produces exactly the same bytes for the same Struct (deterministic order).
    #[test]
    fn matches_an_independent_encoder() {
        const ISTIO_STYLE: &str = "Ch4KCkNMVVNURVJfSUQSEBoOc2VydmVyLWNsdXN0ZXIKkwEKBkxBQkVMUxKIASqFAQoQCgNhcHASCRoHcmF0aW5ncwosCh9zZXJ2aWNlLmlzdGlvLmlvL2Nhbm9uaWNhbC1uYW1lEgkaB3JhdGluZ3MKMgojc2VydmljZS5pc3Rpby5pby9jYW5vbmljYWwtcmV2aXNpb24SCxoJdmVyc2lvbi0xCg8KB3ZlcnNpb24SBBoCdjEKGwoETkFNRRITGhFyYXRpbmdzLXYxLTdkYmY5YwoWCglOQU1FU1BBQ0USCRoHZGVmYXVsdApOCgVPV05FUhJFGkNrdWJlcm5ldGVzOi8vYXBpcy9hcHBzL3YxL25hbWVzcGFjZXMvZGVmYXVsdC9kZXBsb3ltZW50cy9yYXRpbmdzLXYxCh0KDVdPUktMT0FEX05BTUUSDBoKcmF0aW5ncy12MQ==";
        let peer = Peer::from_header(ISTIO_STYLE).unwrap();
        let want = Peer {
            name: "ratings-v1-7dbf9c".into(),
            workload: "ratings-v1".into(),
            namespace: "default".into(),
            cluster: "server-cluster".into(),
            identity: String::new(),
            service_account: String::new(),
            app: "ratings".into(),
            version: "v1".into(),
            canonical_service: "ratings".into(),
            canonical_revision: "version-1".into(),
            kind: "deployment".into(),
            labels: vec![
                ("app".into(), "ratings".into()),
                (CANONICAL_NAME.into(), "ratings".into()),
                (CANONICAL_REVISION.into(), "version-1".into()),
                ("version".into(), "v1".into()),
            ],
        };
        assert_eq!(peer, want);
        let ours = want.to_struct(
            &[(
                "OWNER",
                "kubernetes://apis/apps/v1/namespaces/default/deployments/ratings-v1",
            )],
            &[
                ("version", "v1"),
                ("app", "ratings"),
                (CANONICAL_REVISION, "version-1"),
                (CANONICAL_NAME, "ratings"),
            ],
        );
        assert_eq!(base64::encode(&ours.encode()), ISTIO_STYLE);
    }
}
