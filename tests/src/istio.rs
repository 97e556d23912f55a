//! Sidecar pairs as istio-proxy runs them, for the exchange tests: Istio's metadata exchange
//! (simulated by the test-only module `tests/istio-exchange`) first in the chain, then,
//! optionally, the mixerless filter. The client is `productpage-v1`, the server `ratings-v1`
//! (istio/proxy's test node metadata, as in `filter_e2e`); the server forwards to an app.

use serde_json::json;

use crate::bootstrap::{Bootstrap, Route};
use crate::paths;

/// The `ISTIO_VERSION` in the simulator's own exchange headers (the node metadata has none).
pub const SIM_VERSION: &str = "1.23-sim";
pub const SERVER_ID: &str = "sidecar~127.0.0.2~ratings-v1-7dbf9c.default~default.svc.cluster.local";
pub const CLIENT_ID: &str =
    "sidecar~127.0.0.1~productpage-v1-6b7f6d.default~default.svc.cluster.local";

/// Which filters a sidecar runs, in chain order.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a> {
    /// The simulated Istio exchange in front, with this plugin configuration.
    pub sim: Option<&'a str>,
    /// The mixerless filter, with this plugin configuration.
    pub filter: Option<&'a str>,
}

impl Chain<'_> {
    /// The simulator alone, storing FlatNode peers.
    pub const SIM: Chain<'static> = Chain {
        sim: Some("{}"),
        filter: None,
    };

    fn apply(&self, b: &mut Bootstrap) -> anyhow::Result<()> {
        b.front = match self.sim {
            Some(config) => Some((paths::istio_exchange_wasm()?, config.to_owned())),
            None => None,
        };
        b.wasm = match self.filter {
            Some(_) => Some(paths::filter_wasm()?),
            None => None,
        };
        b.plugin_config = self.filter.unwrap_or_default().to_owned();
        Ok(())
    }
}

/// The server sidecar of pod `ratings-v1` (INBOUND), forwarding every path to `app_port`.
pub fn server(chain: Chain<'_>, app_port: u16) -> anyhow::Result<Bootstrap> {
    let mut b = Bootstrap::inbound("");
    b.node_id = SERVER_ID.into();
    b.metadata = json!({
        "NAME": "ratings-v1-7dbf9c",
        "NAMESPACE": "default",
        "WORKLOAD_NAME": "ratings-v1",
        "CLUSTER_ID": "server-cluster",
        "LABELS": {
            "app": "ratings",
            "version": "v1",
            "service.istio.io/canonical-name": "ratings",
            "service.istio.io/canonical-revision": "version-1",
            "pod-template-hash": "7dbf9c"
        }
    });
    b.routes = vec![Route::Cluster {
        prefix: "/".into(),
        cluster: "app".into(),
    }];
    b.clusters = vec![("app".into(), app_port)];
    chain.apply(&mut b)?;
    Ok(b)
}

/// The client sidecar of pod `productpage-v1` (OUTBOUND) calling `upstream_port` as service
/// `server.default.svc.cluster.local`.
pub fn client(chain: Chain<'_>, upstream_port: u16) -> anyhow::Result<Bootstrap> {
    let mut b = Bootstrap::outbound("", upstream_port);
    b.node_id = CLIENT_ID.into();
    chain.apply(&mut b)?;
    Ok(b)
}
