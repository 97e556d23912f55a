//! Plugin configuration: any bytes either configure the plugin or are refused with an error,
//! and a configured plugin records a request without panicking and within its series cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mixerless_filter::config::PluginConfig;
use mixerless_filter::fake::FakeHost;
use mixerless_filter::{Headers, Plugin, Stream};

fuzz_target!(|data: &[u8]| {
    let Ok(config) = PluginConfig::parse(data) else {
        return;
    };
    let mut host = FakeHost::with_node(
        "sidecar~10.0.0.1~podinfo-1.test~test.svc.cluster.local",
        &[
            ("WORKLOAD_NAME", "podinfo"),
            ("NAMESPACE", "test"),
            ("CLUSTER_ID", "Kubernetes"),
        ],
        &[("app", "podinfo"), ("version", "v1")],
    );
    host.set_int("response.code", 200);
    host.set_int("request.duration", 3_000_000);
    host.set_str("request.host", "podinfo.test:9898");
    host.set_str("request.url_path", "/api/info");
    let Ok(mut plugin) = Plugin::configure(&host, data) else {
        return;
    };
    for i in 0..3 {
        host.put_header(Headers::Request, ":authority", &format!("host-{i}.test"));
        let mut stream = Stream::default();
        plugin.on_request_headers(&host, &mut stream);
        plugin.on_response_headers(&host, &mut stream);
        plugin.on_log(&host, &mut stream);
    }
    // Each standard metric may hold up to max_series label sets, plus its overflow series.
    assert!(
        plugin.series() <= config.max_series.max(1).saturating_mul(4).saturating_add(4),
        "{} series, cap {}",
        plugin.series(),
        config.max_series
    );
});
