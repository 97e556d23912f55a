//! HPA manifests and their kube-metrics-adapter annotations: any text is either read or
//! rejected, every External metric resolves to a parsed query or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mixerless_hpa::{external_queries, manifest::parse_all};

fuzz_target!(|data: &[u8]| {
    mixerless_fuzz::allow_caught_panics();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(hpas) = parse_all(text) else { return };
    for hpa in &hpas {
        let (queries, _errors) = external_queries(hpa);
        let external = hpa
            .spec
            .metrics
            .iter()
            .filter(|m| m.kind == "External" && m.external.is_some())
            .count();
        assert!(
            queries.len() <= external,
            "{} queries from {external} External metrics",
            queries.len()
        );
        for q in &queries {
            assert!(
                promql_ok(&q.query),
                "accepted query {:?} does not parse",
                q.query
            );
        }
        let _ = hpa.key();
        let _ = hpa.limits();
        let _ = hpa.reference();
        for m in &hpa.spec.metrics {
            let _ = m.external_metric();
        }
    }
});

fn promql_ok(q: &str) -> bool {
    promql_parser::parser::parse(q).is_ok()
}
