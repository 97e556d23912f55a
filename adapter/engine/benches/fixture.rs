//! Generated Envoy `/stats/prometheus` text, shared by the benches.
// Each bench uses part of this module.
#![allow(dead_code)]

use std::fmt::Write as _;

/// Istio's standard labels with plausible values for workload `i`.
pub(crate) fn istio_labels(i: usize) -> String {
    format!(
        "reporter=\"destination\",source_workload=\"client-{}\",source_canonical_service=\"client\",source_canonical_revision=\"v1\",\
source_workload_namespace=\"load\",source_principal=\"spiffe://cluster.local/ns/load/sa/client\",source_app=\"client\",source_version=\"v1\",\
source_cluster=\"Kubernetes\",destination_workload=\"podinfo\",destination_workload_namespace=\"test\",\
destination_principal=\"spiffe://cluster.local/ns/test/sa/podinfo\",destination_app=\"podinfo\",destination_version=\"v1\",\
destination_service=\"podinfo.test.svc.cluster.local\",destination_canonical_service=\"podinfo\",destination_canonical_revision=\"v1\",\
destination_service_name=\"podinfo\",destination_service_namespace=\"test\",destination_cluster=\"Kubernetes\",request_protocol=\"http\",\
response_code=\"{}\",grpc_response_status=\"\",response_flags=\"-\",connection_security_policy=\"mutual_tls\"",
        i / 8,
        [200, 201, 204, 301, 404, 429, 500, 503][i % 8]
    )
}

pub(crate) const BOUNDS: [&str; 20] = [
    "0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000",
    "30000", "60000", "300000", "600000", "1800000", "3600000", "+Inf",
];

/// About `bytes` of Envoy-style exposition: Istio counters and histograms plus Envoy's own stats.
pub(crate) fn envoy_exposition(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 4096);
    let mut i = 0;
    while out.len() < bytes {
        let l = istio_labels(i);
        let _ = writeln!(
            out,
            "# TYPE istio_requests_total counter\nistio_requests_total{{{l}}} {}",
            1000 + i * 7
        );
        let _ = writeln!(out, "# TYPE istio_request_duration_milliseconds histogram");
        for (k, b) in BOUNDS.iter().enumerate() {
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_bucket{{{l},le=\"{b}\"}} {}",
                i + k * 3
            );
        }
        let _ = writeln!(out, "istio_request_duration_milliseconds_sum{{{l}}} 12345.600000000000363797880709171295166015625");
        let _ = writeln!(
            out,
            "istio_request_duration_milliseconds_count{{{l}}} {}",
            i + 60
        );
        let _ = writeln!(out, "# TYPE envoy_cluster_upstream_cx_total counter\nenvoy_cluster_upstream_cx_total{{envoy_cluster_name=\"outbound|9898||podinfo-{i}.test.svc.cluster.local\"}} {i}");
        i += 1;
    }
    out
}
