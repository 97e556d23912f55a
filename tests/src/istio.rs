//! Sidecar pairs as istio-proxy runs them, for the exchange tests: Istio's metadata exchange
//! (simulated by the test-only module `tests/istio-exchange`) first in the chain, then,
//! optionally, the mixerless filter. The client is `productpage-v1`, the server `ratings-v1`
//! (istio/proxy's test node metadata, as in `filter::e2e`); the server forwards to an app.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use mixerless_harness::bootstrap::{Bootstrap, Route};
use mixerless_harness::envoy::Envoy;
use mixerless_harness::{paths, stats};

/// One series' labels, name → value.
pub type LabelSet = BTreeMap<String, String>;

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
    b.metadata = ratings_metadata();
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

/// The node metadata of pod `ratings-v1-7dbf9c` (istio/proxy's test server).
pub fn ratings_metadata() -> Value {
    json!({
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
    })
}

/// Istio's case A labels for productpage-v1 → ratings-v1 (as istio/proxy's `stats_test.go`
/// expects them), with `changes` applied.
pub fn labels(reporter: &str, changes: &[(&str, &str)]) -> LabelSet {
    let base = [
        ("reporter", reporter),
        ("source_workload", "productpage-v1"),
        ("source_canonical_service", "productpage-v1"),
        ("source_canonical_revision", "version-1"),
        ("source_workload_namespace", "default"),
        ("source_principal", "unknown"),
        ("source_app", "productpage"),
        ("source_version", "v1"),
        ("source_cluster", "client-cluster"),
        ("destination_workload", "ratings-v1"),
        ("destination_workload_namespace", "default"),
        ("destination_principal", "unknown"),
        ("destination_app", "ratings"),
        ("destination_version", "v1"),
        ("destination_service", "server.default.svc.cluster.local"),
        ("destination_canonical_service", "ratings"),
        ("destination_canonical_revision", "version-1"),
        ("destination_service_name", "server"),
        ("destination_service_namespace", "default"),
        ("destination_cluster", "server-cluster"),
        ("request_protocol", "http"),
        ("response_code", "200"),
        ("grpc_response_status", ""),
        ("response_flags", "-"),
        ("connection_security_policy", "unknown"),
    ];
    let mut set: LabelSet = base
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    for (k, v) in changes {
        assert!(set.contains_key(*k), "{k} is not a standard label");
        set.insert((*k).to_owned(), (*v).to_owned());
    }
    set
}

/// All series of `name` with `reporter`, as label set → value.
pub fn series(samples: &[stats::Sample], name: &str, reporter: &str) -> BTreeMap<LabelSet, f64> {
    stats::find(samples, name, &[("reporter", reporter)])
        .into_iter()
        .map(|s| (s.labels.clone(), s.value))
        .collect()
}

/// Waits until `istio_requests_total` with `reporter` is exactly `want`, and the three
/// histograms' `_count`s too (same label sets, counts equal to the requests); panics with the
/// difference and the tail of Envoy's log otherwise.
pub fn expect_exactly(envoy: &Envoy, reporter: &str, want: &BTreeMap<LabelSet, f64>) {
    let result = envoy.eventually(Duration::from_secs(15), |samples| {
        for name in [
            "istio_requests_total",
            "istio_request_duration_milliseconds_count",
            "istio_request_bytes_count",
            "istio_response_bytes_count",
        ] {
            let got = series(samples, name, reporter);
            if &got != want {
                return Err(format!(
                    "{name}{{reporter={reporter}}}:\n got {got:#?}\nwant {want:#?}"
                ));
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        let log = envoy.log();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        panic!("{e}\nenvoy log tail:\n{}", tail.join("\n"));
    }
}
