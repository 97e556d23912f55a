//! This proxy's own identity, read once from the node metadata at configure time.

use crate::host::{Host, HostError};
use crate::peer::{base64, Peer};

/// The local workload and what the exchange sends about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// The Envoy node id (sent as `x-envoy-peer-metadata-id`).
    pub id: String,
    /// Local values; `app`/`version` are the pod's `app`/`version` labels only, as Istio reads
    /// them for the local side.
    pub me: Peer,
    /// The `x-envoy-peer-metadata` value this proxy sends.
    pub exchange_header: String,
    /// `ISTIO_VERSION` (the `istio_build` tag), empty on plain Envoy.
    pub istio_version: String,
}

const LABEL_KEYS: [&str; 6] = [
    "service.istio.io/canonical-name",
    "service.istio.io/canonical-revision",
    "app",
    "version",
    "app.kubernetes.io/name",
    "app.kubernetes.io/version",
];

fn text(host: &dyn Host, path: &[&str]) -> Result<String, HostError> {
    Ok(host
        .property(path)?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default())
}

impl Node {
    /// Reads `xds.node.id` and `xds.node.metadata.*`.
    pub fn read(host: &dyn Host) -> Result<Self, HostError> {
        let meta = |key: &str| text(host, &["xds", "node", "metadata", key]);
        let label = |key: &str| text(host, &["xds", "node", "metadata", "LABELS", key]);
        let labels: Vec<(&str, String)> = LABEL_KEYS
            .iter()
            .map(|k| Ok((*k, label(k)?)))
            .collect::<Result<_, HostError>>()?;
        let get = |k: &str| {
            labels
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let me = Peer {
            name: meta("NAME")?,
            workload: meta("WORKLOAD_NAME")?,
            namespace: meta("NAMESPACE")?,
            cluster: meta("CLUSTER_ID")?,
            identity: meta("IDENTITY")?,
            service_account: meta("SERVICE_ACCOUNT")?,
            app: get("app"),
            version: get("version"),
            canonical_service: get("service.istio.io/canonical-name"),
            canonical_revision: get("service.istio.io/canonical-revision"),
            ..Peer::default()
        };
        let mut owner = meta("OWNER")?;
        if owner.is_empty() && !me.workload.is_empty() {
            owner = format!(
                "kubernetes://apis/apps/v1/namespaces/{}/deployments/{}",
                me.namespace, me.workload
            );
        }
        let extra = [
            ("OWNER", owner),
            ("REGION", meta("REGION")?),
            ("AVAILABILITY_ZONE", meta("AVAILABILITY_ZONE")?),
        ];
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let label_refs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let exchange_header = base64::encode(&me.to_struct(&extra, &label_refs).encode());
        let mut me = me;
        me.sanitize();
        Ok(Self {
            id: text(host, &["xds", "node", "id"])?,
            me,
            exchange_header,
            istio_version: meta("ISTIO_VERSION")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeHost;

    /// Demonstrates that node metadata becomes local values and an exchange header that a peer
    /// decodes to the same workload (app read with the peer's precedence).
    #[test]
    fn reads_node_metadata() {
        let host = FakeHost::with_node(
            "sidecar~10.0.0.1~ratings-v1-abc.default~default.svc.cluster.local",
            &[
                ("NAME", "ratings-v1-abc"),
                ("WORKLOAD_NAME", "ratings-v1"),
                ("NAMESPACE", "default"),
                ("CLUSTER_ID", "server-cluster"),
            ],
            &[
                ("app", "ratings"),
                ("version", "v1"),
                ("service.istio.io/canonical-name", "ratings"),
                ("service.istio.io/canonical-revision", "version-1"),
            ],
        );
        let node = Node::read(&host).unwrap();
        assert_eq!(node.me.workload, "ratings-v1");
        assert_eq!(node.me.canonical_revision, "version-1");
        assert!(node.id.starts_with("sidecar~"));
        let peer = Peer::from_header(&node.exchange_header).unwrap();
        // The peer side also reads the kind and labels, which only peer expressions use.
        assert_eq!(peer.kind, "deployment");
        assert_eq!(peer.label("app"), Some("ratings"));
        let local = Peer {
            kind: String::new(),
            labels: Vec::new(),
            ..peer
        };
        assert_eq!(local, node.me);
    }

    /// Demonstrates that a node without metadata gives empty local values, not an error.
    #[test]
    fn empty_node() {
        let node = Node::read(&FakeHost::default()).unwrap();
        assert_eq!(node.me, Peer::default());
    }
}
