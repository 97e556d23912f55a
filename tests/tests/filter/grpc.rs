//! gRPC message counters in real Envoy: a Python gRPC client streams known numbers of messages
//! through a client sidecar and a server sidecar (each with Envoy's `grpc_stats` filter emitting
//! filter state, as Istio runs it) to a Python gRPC echo; both sides report
//! `istio_request_messages_total` / `istio_response_messages_total` with Istio's 20 labels and
//! the exact counts.

use std::collections::BTreeMap;
use std::time::Duration;

use mixerless_e2e::grpc;
use mixerless_e2e::istio::{self, Chain, LabelSet};
use mixerless_harness::envoy::Envoy;
use mixerless_harness::{paths, stats};

/// Istio's labels of the message counters: `reporter` and the 19 peer labels of case A.
fn message_labels(reporter: &str, changes: &[(&str, &str)]) -> LabelSet {
    let mut set = istio::labels(reporter, changes);
    for gone in [
        "request_protocol",
        "response_code",
        "grpc_response_status",
        "response_flags",
        "connection_security_policy",
    ] {
        set.remove(gone);
    }
    set
}

fn counters(samples: &[stats::Sample], reporter: &str) -> BTreeMap<(String, LabelSet), f64> {
    let mut out = BTreeMap::new();
    for name in [
        "istio_request_messages_total",
        "istio_response_messages_total",
    ] {
        for s in stats::find(samples, name, &[("reporter", reporter)]) {
            out.insert((name.to_owned(), s.labels.clone()), s.value);
        }
    }
    out
}

/// Demonstrates the counts of two streams (5 and 3 request messages; each answered message by
/// message plus one final reply: 10 responses) on both sidecars, with Istio's labels, and one
/// `istio_requests_total` per stream with `request_protocol="grpc"` and status 0.
#[test]
fn grpc_streams_count_messages_on_both_sides() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let app_port = paths::free_port();
    let _app = grpc::serve(dir.path(), app_port)?;
    let filter = |config| Chain {
        sim: None,
        filter: Some(config),
    };
    let server = Envoy::start(&grpc::render(&istio::server(
        filter(r#"{"disable_host_header_fallback": true}"#),
        app_port,
    )?)?)?;
    let client = Envoy::start(&grpc::render(&istio::client(
        filter("{}"),
        server.listener_port(),
    )?)?)?;
    assert_eq!(grpc::call(client.listener_port(), 5)?, 6);
    assert_eq!(grpc::call(client.listener_port(), 3)?, 4);

    let server_side = message_labels(
        "destination",
        &[
            ("destination_service", "ratings"),
            ("destination_service_name", "ratings"),
        ],
    );
    for (envoy, reporter, labels) in [
        (&client, "source", message_labels("source", &[])),
        (&server, "destination", server_side),
    ] {
        let want: BTreeMap<(String, LabelSet), f64> = [
            (
                ("istio_request_messages_total".to_owned(), labels.clone()),
                8.0,
            ),
            (("istio_response_messages_total".to_owned(), labels), 10.0),
        ]
        .into_iter()
        .collect();
        let result = envoy.eventually(Duration::from_secs(15), |samples| {
            let got = counters(samples, reporter);
            let requests = stats::find(
                samples,
                "istio_requests_total",
                &[
                    ("reporter", reporter),
                    ("request_protocol", "grpc"),
                    ("grpc_response_status", "0"),
                    ("response_code", "200"),
                ],
            );
            let total: f64 = requests.iter().map(|s| s.value).sum();
            if got == want && requests.len() == 1 && total == 2.0 {
                Ok(())
            } else {
                Err(format!(
                    "{reporter}: requests {total} in {} series;\n got {got:#?}\nwant {want:#?}",
                    requests.len()
                ))
            }
        });
        if let Err(e) = result {
            panic!("{e}\nenvoy log:\n{}", envoy.log());
        }
    }
    Ok(())
}
