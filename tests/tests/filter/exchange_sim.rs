//! The simulated Istio exchange (`tests/istio-exchange`) alone in real Envoy sidecars behaves as
//! Istio 1.18–1.23's exchange filter: inbound it strips the peer's headers into filter state
//! (`downstream_peer`: FlatNode, `downstream_peer_id`) and answers with its own only when asked;
//! outbound it replaces the request's headers with its own and strips the upstream's answer into
//! `upstream_peer` / `upstream_peer_id`. The filter's tests with Istio in front
//! (`filter::istio`) rely on this.

use std::path::Path;
use std::time::{Duration, Instant};

use mixerless_e2e::app::RecordingApp;
use mixerless_e2e::istio::{self, Chain, CLIENT_ID, SERVER_ID, SIM_VERSION};
use mixerless_filter::peer::wire::{Struct, Value};
use mixerless_filter::peer::{base64, ID_HEADER, METADATA_HEADER};
use mixerless_harness::envoy::Envoy;
use mixerless_harness::http;

/// An access log line per request with what the simulator stored in filter state: the peer
/// ids as text, the FlatNode peers as `BytesValue` JSON (base64), `-` where nothing was stored.
const STATE_LOG: &str = "%FILTER_STATE(wasm.downstream_peer_id:PLAIN)% \
    %FILTER_STATE(wasm.downstream_peer:TYPED)% %FILTER_STATE(wasm.upstream_peer_id:PLAIN)% \
    %FILTER_STATE(wasm.upstream_peer:TYPED)%\n";

/// The filter state of one request: (downstream id, downstream FlatNode, upstream id, upstream
/// FlatNode), `None` where not stored.
type State = [Option<Vec<u8>>; 4];

/// The access log's lines, once there are `count` (the file is flushed every 100 ms).
fn states(path: &Path, count: usize) -> Vec<State> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= count || Instant::now() > deadline {
            return text.lines().map(state).collect();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn state(line: &str) -> State {
    let parts: Vec<&str> = line.split(' ').collect();
    assert_eq!(parts.len(), 4, "{line}");
    let text = |s: &str| (s != "-").then(|| s.as_bytes().to_vec());
    let typed = |s: &str| {
        (s != "-").then(|| {
            let v: serde_json::Value = serde_json::from_str(s).unwrap();
            assert_eq!(v["@type"], "type.googleapis.com/google.protobuf.BytesValue");
            base64::decode(v["value"].as_str().unwrap()).unwrap()
        })
    };
    [
        text(parts[0]),
        typed(parts[1]),
        text(parts[2]),
        typed(parts[3]),
    ]
}

/// Reads FlatNode's string fields and `[KeyVal]` labels, written here from the FlatBuffers
/// format (root offset, vtable of u16 field offsets, u32-length strings and vectors), so it
/// shares nothing with the module's encoder (the `flatbuffers` crate) nor the filter's decoder.
struct Flat<'a>(&'a [u8]);

impl Flat<'_> {
    fn u32(&self, at: usize) -> usize {
        u32::from_le_bytes(self.0[at..at + 4].try_into().unwrap()) as usize
    }

    fn u16(&self, at: usize) -> usize {
        usize::from(u16::from_le_bytes(self.0[at..at + 2].try_into().unwrap()))
    }

    /// Where field number `index` of the table at `table` is, if set.
    fn field(&self, table: usize, index: usize) -> Option<usize> {
        let soffset = i32::from_le_bytes(self.0[table..table + 4].try_into().unwrap());
        let vtable = (table as i64 - i64::from(soffset)) as usize;
        let slot = 4 + 2 * index;
        if slot >= self.u16(vtable) {
            return None;
        }
        let offset = self.u16(vtable + slot);
        (offset != 0).then_some(table + offset)
    }

    fn string(&self, table: usize, index: usize) -> Option<&str> {
        let at = self.field(table, index)?;
        let s = at + self.u32(at);
        Some(std::str::from_utf8(&self.0[s + 4..s + 4 + self.u32(s)]).unwrap())
    }

    /// The tables of a vector-of-tables field.
    fn tables(&self, table: usize, index: usize) -> Vec<usize> {
        let Some(at) = self.field(table, index) else {
            return Vec::new();
        };
        let v = at + self.u32(at);
        (0..self.u32(v))
            .map(|i| v + 4 + 4 * i)
            .map(|e| e + self.u32(e))
            .collect()
    }
}

/// FlatNode's `name`, `namespace`, `workload_name`, `istio_version`, `cluster_id`, and its
/// labels in stored order.
type Node = ([Option<String>; 5], Vec<(String, String)>);

fn flat_node(bytes: &[u8]) -> Node {
    let f = Flat(bytes);
    let root = f.u32(0);
    // Field numbers in node_info.fbs: name 0, namespace 1, labels 2, workload_name 4,
    // istio_version 6, cluster_id 9; KeyVal key 0, value 1.
    let s = |i| f.string(root, i).map(str::to_owned);
    let labels = f
        .tables(root, 2)
        .into_iter()
        .map(|kv| {
            let get = |i| f.string(kv, i).unwrap_or_default().to_owned();
            (get(0), get(1))
        })
        .collect();
    ([s(0), s(1), s(4), s(6), s(9)], labels)
}

fn some(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Decodes an `x-envoy-peer-metadata` value.
fn decode(header: &str) -> Struct {
    let bytes = base64::decode(header).unwrap_or_else(|| panic!("not base64: {header}"));
    Struct::decode(&bytes).unwrap()
}

const CURL_ID: &str = "sidecar~127.0.0.9~curl.default~default.svc.cluster.local";

/// A caller's own exchange headers, as the test itself sends them (no `ISTIO_VERSION`).
fn client_headers() -> [(&'static str, String); 2] {
    let s = |v: &str| Value::String(v.to_owned());
    let labels = Struct(vec![("version".into(), s("v2")), ("app".into(), s("curl"))]);
    let metadata = Struct(vec![
        ("NAMESPACE".into(), s("default")),
        ("WORKLOAD_NAME".into(), s("curl")),
        ("CLUSTER_ID".into(), s("Kubernetes")),
        ("LABELS".into(), Value::Struct(labels)),
    ]);
    [
        (METADATA_HEADER, base64::encode(&metadata.encode())),
        (ID_HEADER, CURL_ID.into()),
    ]
}

/// Demonstrates the inbound half: a request with exchange headers reaches the app without them,
/// leaves the peer in filter state as a FlatNode (labels sorted by key) and its id, and its
/// response carries exactly one copy of each of the server sidecar's headers (its node metadata
/// plus `ISTIO_VERSION: 1.23-sim`); a request without them stores nothing and gets none.
#[test]
fn inbound_strips_and_answers_only_when_asked() -> anyhow::Result<()> {
    let app = RecordingApp::start()?;
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("access.log");
    let mut bootstrap = istio::server(Chain::SIM, app.port())?;
    bootstrap.access_log = Some((log.clone(), STATE_LOG.into()));
    let server = Envoy::start(&bootstrap.render())?;
    let headers = client_headers();
    let asked: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();

    let resp = http::request("GET", &server.listener_url("/ok"), &asked, "")?;
    assert_eq!(resp.status, 200);
    let metadata = resp.all(METADATA_HEADER);
    assert_eq!(metadata.len(), 1, "{:?}", resp.headers);
    assert_eq!(resp.all(ID_HEADER), [SERVER_ID]);
    let sent = decode(metadata[0]);
    assert_eq!(sent.str("ISTIO_VERSION"), Some(SIM_VERSION));
    assert_eq!(sent.str("WORKLOAD_NAME"), Some("ratings-v1"));
    assert_eq!(sent.str("CLUSTER_ID"), Some("server-cluster"));
    let labels = sent.child("LABELS").unwrap();
    assert_eq!(labels.str("pod-template-hash"), Some("7dbf9c"));
    assert_eq!(
        labels.str("service.istio.io/canonical-revision"),
        Some("version-1")
    );

    let resp = http::request("GET", &server.listener_url("/unavailable"), &[], "")?;
    assert_eq!(resp.status, 503);
    assert_eq!(resp.all(METADATA_HEADER), Vec::<&str>::new());
    assert_eq!(resp.all(ID_HEADER), Vec::<&str>::new());

    let seen = app.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["/ok", "/unavailable"]);
    assert!(seen.iter().all(|s| s.exchange.is_empty()), "{seen:#?}");

    let states = states(&log, 2);
    assert_eq!(states.len(), 2);
    let [id, peer, up_id, up_peer] = &states[0];
    assert_eq!(id.as_deref(), Some(CURL_ID.as_bytes()));
    assert_eq!(
        flat_node(peer.as_deref().unwrap()),
        (
            [
                None,
                some("default"),
                some("curl"),
                None,
                some("Kubernetes")
            ],
            pairs(&[("app", "curl"), ("version", "v2")])
        )
    );
    assert_eq!((up_id, up_peer), (&None, &None));
    assert_eq!(states[1], [None, None, None, None]);
    assert!(
        !server.log().contains("istio-exchange sim"),
        "{}",
        server.log()
    );
    Ok(())
}

/// Demonstrates the outbound half: the client sidecar replaces whatever exchange headers the
/// caller sent with exactly one copy of its own, and takes the server sidecar's answer into
/// `upstream_peer` and strips it, so neither the caller nor (behind the server sidecar) the app
/// sees any; the server sidecar holds the client as `downstream_peer`.
#[test]
fn outbound_replaces_and_strips() -> anyhow::Result<()> {
    let app = RecordingApp::start()?;
    let direct = Envoy::start(&istio::client(Chain::SIM, app.port())?.render())?;
    let headers = client_headers();
    let forged: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    for with in [&forged[..], &[]] {
        let resp = http::request("GET", &direct.listener_url("/ok"), with, "")?;
        assert_eq!(resp.status, 200);
    }
    let seen = app.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        let metadata = s.values(METADATA_HEADER);
        assert_eq!(metadata.len(), 1, "{s:?}");
        assert_eq!(s.values(ID_HEADER), [CLIENT_ID]);
        let sent = decode(metadata[0]);
        assert_eq!(sent.str("ISTIO_VERSION"), Some(SIM_VERSION));
        assert_eq!(sent.str("WORKLOAD_NAME"), Some("productpage-v1"));
        assert_eq!(
            sent.child("LABELS").and_then(|l| l.str("app")),
            Some("productpage")
        );
    }

    let dir = tempfile::tempdir()?;
    let (client_log, server_log) = (dir.path().join("client.log"), dir.path().join("server.log"));
    let behind = RecordingApp::start()?;
    let mut server = istio::server(Chain::SIM, behind.port())?;
    server.access_log = Some((server_log.clone(), STATE_LOG.into()));
    let server = Envoy::start(&server.render())?;
    let mut client = istio::client(Chain::SIM, server.listener_port())?;
    client.access_log = Some((client_log.clone(), STATE_LOG.into()));
    let client = Envoy::start(&client.render())?;
    for path in ["/ok", "/unavailable"] {
        let resp = http::request("GET", &client.listener_url(path), &[], "")?;
        assert_eq!(resp.status, if path == "/ok" { 200 } else { 503 });
        assert_eq!(resp.all(METADATA_HEADER), Vec::<&str>::new(), "{path}");
        assert_eq!(resp.all(ID_HEADER), Vec::<&str>::new(), "{path}");
    }
    let seen = behind.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.exchange.is_empty()), "{seen:#?}");

    let ratings = (
        [
            some("ratings-v1-7dbf9c"),
            some("default"),
            some("ratings-v1"),
            some(SIM_VERSION),
            some("server-cluster"),
        ],
        pairs(&[
            ("app", "ratings"),
            ("pod-template-hash", "7dbf9c"),
            ("service.istio.io/canonical-name", "ratings"),
            ("service.istio.io/canonical-revision", "version-1"),
            ("version", "v1"),
        ]),
    );
    let productpage = (
        [
            some("productpage-v1-6b7f6d"),
            some("default"),
            some("productpage-v1"),
            some(SIM_VERSION),
            some("client-cluster"),
        ],
        pairs(&[
            ("app", "productpage"),
            ("service.istio.io/canonical-name", "productpage-v1"),
            ("service.istio.io/canonical-revision", "version-1"),
            ("version", "v1"),
        ]),
    );
    let (client_states, server_states) = (states(&client_log, 2), states(&server_log, 2));
    assert_eq!((client_states.len(), server_states.len()), (2, 2));
    for [id, peer, up_id, up_peer] in client_states {
        assert_eq!((id, peer), (None, None));
        assert_eq!(up_id.as_deref(), Some(SERVER_ID.as_bytes()));
        assert_eq!(flat_node(&up_peer.unwrap()), ratings);
    }
    for [id, peer, up_id, up_peer] in server_states {
        assert_eq!(id.as_deref(), Some(CLIENT_ID.as_bytes()));
        assert_eq!(flat_node(&peer.unwrap()), productpage);
        assert_eq!((up_id, up_peer), (None, None));
    }
    for envoy in [&client, &server] {
        assert!(
            !envoy.log().contains("istio-exchange sim"),
            "{}",
            envoy.log()
        );
    }
    Ok(())
}
