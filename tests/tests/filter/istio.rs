//! The filter inside a real Istio sidecar: Istio's own metadata exchange (1.18–1.23, simulated
//! by `tests/istio-exchange`) runs first in the chain, the filter behind it with
//! `metadata_exchange: "auto"`. Istio then owns the exchange headers: the filter takes the peer
//! from filter state (`downstream_peer` / `upstream_peer`), never adds or strips a header, and
//! still reports Istio's exact 25-label series on both sides. Mixed pairs (Istio on one side
//! only) must report the same labels with no header lost or doubled.

use std::collections::BTreeMap;

use mixerless_e2e::app::RecordingApp;
use mixerless_e2e::istio::{
    self, expect_exactly, labels, Chain, LabelSet, CLIENT_ID, SERVER_ID, SIM_VERSION,
};
use mixerless_filter::peer::wire::Struct;
use mixerless_filter::peer::{base64, ID_HEADER, METADATA_HEADER};
use mixerless_harness::envoy::Envoy;
use mixerless_harness::http;

const CLIENT_FILTER: &str = r#"{"metadata_exchange": "auto"}"#;
const SERVER_FILTER: &str =
    r#"{"metadata_exchange": "auto", "disable_host_header_fallback": true}"#;

/// Istio in front of ours.
const CLIENT_ISTIO: Chain<'static> = Chain {
    sim: Some("{}"),
    filter: Some(CLIENT_FILTER),
};
const SERVER_ISTIO: Chain<'static> = Chain {
    sim: Some("{}"),
    filter: Some(SERVER_FILTER),
};
/// Ours alone, as in a sidecar without Istio's exchange.
const CLIENT_ALONE: Chain<'static> = Chain {
    sim: None,
    filter: Some(CLIENT_FILTER),
};
const SERVER_ALONE: Chain<'static> = Chain {
    sim: None,
    filter: Some(SERVER_FILTER),
};

/// What the client sidecar reports for `ok` 200s and `failed` 503s.
fn source(ok: f64, failed: f64) -> BTreeMap<LabelSet, f64> {
    [
        (labels("source", &[]), ok),
        (labels("source", &[("response_code", "503")]), failed),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0.0)
    .collect()
}

/// What the server sidecar reports for the same requests (no Host fallback, plain text).
fn destination(ok: f64, failed: f64) -> BTreeMap<LabelSet, f64> {
    let d = |code: &str| {
        labels(
            "destination",
            &[
                ("destination_service", "ratings"),
                ("destination_service_name", "ratings"),
                ("connection_security_policy", "none"),
                ("response_code", code),
            ],
        )
    };
    // A response code never answered has no series at all.
    [(d("200"), ok), (d("503"), failed)]
        .into_iter()
        .filter(|(_, n)| *n > 0.0)
        .collect()
}

/// Sends `ok` requests to `/ok` and `failed` to `/unavailable` through `client`; each answer
/// has the app's status and no exchange header.
fn send(client: &Envoy, ok: usize, failed: usize) -> anyhow::Result<()> {
    let plan = [("/ok", ok, 200), ("/unavailable", failed, 503)];
    for (path, times, status) in plan {
        for _ in 0..times {
            let resp = http::request("GET", &client.listener_url(path), &[], "")?;
            assert_eq!(resp.status, status, "{path}");
            assert_eq!(resp.all(METADATA_HEADER), Vec::<&str>::new(), "{path}");
            assert_eq!(resp.all(ID_HEADER), Vec::<&str>::new(), "{path}");
        }
    }
    Ok(())
}

/// The app got `count` requests and no exchange header in any of them.
fn app_saw_no_exchange(app: &RecordingApp, count: usize) {
    let seen = app.seen();
    assert_eq!(seen.len(), count, "{seen:#?}");
    assert!(seen.iter().all(|s| s.exchange.is_empty()), "{seen:#?}");
}

fn decode(header: &str) -> Struct {
    let bytes = base64::decode(header).unwrap_or_else(|| panic!("not base64: {header}"));
    Struct::decode(&bytes).unwrap()
}

/// A client sidecar → server sidecar → app, with these chains; returns the sidecars after
/// `ok` + `failed` requests, having checked the app saw no exchange header.
fn pair(
    client: Chain<'_>,
    server: Chain<'_>,
    ok: usize,
    failed: usize,
) -> anyhow::Result<(Envoy, Envoy)> {
    let app = RecordingApp::start()?;
    let server = Envoy::start(&istio::server(server, app.port())?.render())?;
    let client = Envoy::start(&istio::client(client, server.listener_port())?.render())?;
    send(&client, ok, failed)?;
    app_saw_no_exchange(&app, ok + failed);
    Ok((client, server))
}

/// Demonstrates the filter behind Istio's exchange on both sides: exact 25-label sets with
/// every peer label known, from the FlatNode peers in filter state (Istio strips the headers
/// before the server's filter sees them and after the client's filter saw them), counts exact;
/// neither the app nor the caller sees an exchange header.
#[test]
fn istio_in_front_on_both_sides() -> anyhow::Result<()> {
    let (client, server) = pair(CLIENT_ISTIO, SERVER_ISTIO, 7, 3)?;
    expect_exactly(&client, "source", &source(7.0, 3.0));
    expect_exactly(&server, "destination", &destination(7.0, 3.0));
    Ok(())
}

/// Demonstrates that behind Istio the filter adds no exchange header of its own: through the
/// client sidecar exactly one copy of each header leaves, Istio's (`ISTIO_VERSION: 1.23-sim`),
/// and a caller speaking to the server sidecar directly gets exactly one copy of each back,
/// Istio's again, not a second from the filter.
#[test]
fn one_copy_of_each_header_behind_istio() -> anyhow::Result<()> {
    let app = RecordingApp::start()?;
    let client = Envoy::start(&istio::client(CLIENT_ISTIO, app.port())?.render())?;
    let resp = http::request("GET", &client.listener_url("/ok"), &[], "")?;
    assert_eq!(resp.status, 200);
    let seen = app.seen();
    assert_eq!(seen.len(), 1);
    let metadata = seen[0].values(METADATA_HEADER);
    assert_eq!(metadata.len(), 1, "{seen:#?}");
    assert_eq!(decode(metadata[0]).str("ISTIO_VERSION"), Some(SIM_VERSION));
    assert_eq!(seen[0].values(ID_HEADER), [CLIENT_ID]);

    let behind = RecordingApp::start()?;
    let server = Envoy::start(&istio::server(SERVER_ISTIO, behind.port())?.render())?;
    let asked = [(METADATA_HEADER, metadata[0]), (ID_HEADER, CLIENT_ID)];
    let resp = http::request("GET", &server.listener_url("/ok"), &asked, "")?;
    assert_eq!(resp.status, 200);
    let answer = resp.all(METADATA_HEADER);
    assert_eq!(answer.len(), 1, "{:?}", resp.headers);
    let answer = decode(answer[0]);
    assert_eq!(answer.str("ISTIO_VERSION"), Some(SIM_VERSION));
    assert_eq!(answer.str("WORKLOAD_NAME"), Some("ratings-v1"));
    assert_eq!(resp.all(ID_HEADER), [SERVER_ID]);
    app_saw_no_exchange(&behind, 1);
    // The server's filter read the peer from filter state: productpage-v1, fully known.
    expect_exactly(&server, "destination", &destination(1.0, 0.0));
    Ok(())
}

/// Demonstrates a client with Istio in front calling a server with the filter alone: the
/// filter on the server reads Istio's headers (unknown keys ignored), strips them and answers;
/// the client's filter leaves the exchange to Istio, whose `upstream_peer` names the server.
#[test]
fn istio_client_filter_alone_server() -> anyhow::Result<()> {
    let (client, server) = pair(CLIENT_ISTIO, SERVER_ALONE, 4, 2)?;
    expect_exactly(&client, "source", &source(4.0, 2.0));
    expect_exactly(&server, "destination", &destination(4.0, 2.0));
    Ok(())
}

/// Demonstrates a client with the filter alone calling a server with Istio in front: the
/// client's filter sends its headers and strips Istio's answer; on the server Istio takes the
/// headers and the filter reads the peer from filter state.
#[test]
fn filter_alone_client_istio_server() -> anyhow::Result<()> {
    let (client, server) = pair(CLIENT_ALONE, SERVER_ISTIO, 4, 2)?;
    expect_exactly(&client, "source", &source(4.0, 2.0));
    expect_exactly(&server, "destination", &destination(4.0, 2.0));
    Ok(())
}

/// Demonstrates what the filter alone sends, so the mixed pairs above carry one copy of each
/// header: a client sidecar with the filter alone sends exactly one copy of its own (no
/// `ISTIO_VERSION`), and a server sidecar with the filter alone answers a caller with one copy.
#[test]
fn one_copy_of_each_header_filter_alone() -> anyhow::Result<()> {
    let app = RecordingApp::start()?;
    let client = Envoy::start(&istio::client(CLIENT_ALONE, app.port())?.render())?;
    assert_eq!(http::get(&client.listener_url("/ok"))?.status, 200);
    let seen = app.seen();
    assert_eq!(seen.len(), 1);
    let metadata = seen[0].values(METADATA_HEADER);
    assert_eq!(metadata.len(), 1, "{seen:#?}");
    let sent = decode(metadata[0]);
    assert_eq!(sent.str("ISTIO_VERSION"), None);
    assert_eq!(sent.str("WORKLOAD_NAME"), Some("productpage-v1"));
    assert_eq!(seen[0].values(ID_HEADER), [CLIENT_ID]);

    let behind = RecordingApp::start()?;
    let server = Envoy::start(&istio::server(SERVER_ALONE, behind.port())?.render())?;
    let asked = [(METADATA_HEADER, metadata[0]), (ID_HEADER, CLIENT_ID)];
    let resp = http::request("GET", &server.listener_url("/ok"), &asked, "")?;
    assert_eq!(resp.status, 200);
    let answer = resp.all(METADATA_HEADER);
    assert_eq!(answer.len(), 1, "{:?}", resp.headers);
    assert_eq!(decode(answer[0]).str("WORKLOAD_NAME"), Some("ratings-v1"));
    assert_eq!(resp.all(ID_HEADER), [SERVER_ID]);
    app_saw_no_exchange(&behind, 1);
    Ok(())
}

/// Demonstrates hostile filter state behind Istio's exchange (the simulator stores half a
/// FlatNode on both sides): every request passes with the app's status, the peer's labels are
/// `unknown` on both reporters (no header or endpoint fallback), and each sidecar logs the first
/// 20 bad objects and then says it stops.
#[test]
fn truncated_filter_state_peer_is_unknown() -> anyhow::Result<()> {
    let truncated = r#"{"peer_as": "truncated"}"#;
    let client = Chain {
        sim: Some(truncated),
        filter: Some(CLIENT_FILTER),
    };
    let server = Chain {
        sim: Some(truncated),
        filter: Some(SERVER_FILTER),
    };
    let (client, server) = pair(client, server, 20, 5)?;
    let unknown_destination = [
        ("destination_workload", "unknown"),
        ("destination_workload_namespace", "unknown"),
        ("destination_app", "unknown"),
        ("destination_version", "unknown"),
        ("destination_canonical_service", "unknown"),
        ("destination_canonical_revision", "latest"),
        ("destination_cluster", "unknown"),
    ];
    let unknown_source = [
        ("source_workload", "unknown"),
        ("source_canonical_service", "unknown"),
        ("source_canonical_revision", "latest"),
        ("source_workload_namespace", "unknown"),
        ("source_app", "unknown"),
        ("source_version", "unknown"),
        ("source_cluster", "unknown"),
    ];
    let with =
        |want: BTreeMap<LabelSet, f64>, changes: &[(&str, &str)]| -> BTreeMap<LabelSet, f64> {
            want.into_iter()
                .map(|(mut set, n)| {
                    for (k, v) in changes {
                        set.insert((*k).to_owned(), (*v).to_owned());
                    }
                    (set, n)
                })
                .collect()
        };
    expect_exactly(
        &client,
        "source",
        &with(source(20.0, 5.0), &unknown_destination),
    );
    expect_exactly(
        &server,
        "destination",
        &with(destination(20.0, 5.0), &unknown_source),
    );
    for envoy in [&client, &server] {
        let ignored = envoy.log_lines("ignoring filter-state", 20);
        assert_eq!(ignored.len(), 20, "{ignored:#?}");
        assert_eq!(
            envoy
                .log_lines("further malformed filter-state peers are not logged", 1)
                .len(),
            1
        );
    }
    Ok(())
}

/// Demonstrates the client's fallback when Istio keeps no `upstream_peer` (the simulator with
/// `peer_as: none`): the filter names the server from the response header it saw before Istio
/// stripped it. On the server, Istio strips the headers and leaves no peer: the source is unknown.
#[test]
fn no_peer_in_filter_state() -> anyhow::Result<()> {
    let none = r#"{"peer_as": "none"}"#;
    let client = Chain {
        sim: Some(none),
        filter: Some(CLIENT_FILTER),
    };
    let server = Chain {
        sim: Some(none),
        filter: Some(SERVER_FILTER),
    };
    let (client, server) = pair(client, server, 2, 1)?;
    expect_exactly(&client, "source", &source(2.0, 1.0));
    let unknown_source = [
        ("source_workload", "unknown"),
        ("source_canonical_service", "unknown"),
        ("source_canonical_revision", "latest"),
        ("source_workload_namespace", "unknown"),
        ("source_app", "unknown"),
        ("source_version", "unknown"),
        ("source_cluster", "unknown"),
    ];
    let want: BTreeMap<LabelSet, f64> = destination(2.0, 1.0)
        .into_iter()
        .map(|(mut set, n)| {
            for (k, v) in unknown_source {
                set.insert(k.to_owned(), v.to_owned());
            }
            (set, n)
        })
        .collect();
    expect_exactly(&server, "destination", &want);
    Ok(())
}
