//! `istio_build{component="proxy",tag=...} 1`, set once per VM as Istio's stats filter does.

use crate::encode::{sanitized, stat_name};
use crate::host::{Host, MetricKind};
use crate::labels::BUILD_NAMES;
use crate::node::Node;

/// The gauge's name.
pub(crate) const METRIC: &str = "istio_build";

/// The `tag` when the node metadata has no `ISTIO_VERSION` (plain Envoy): Istio writes
/// `unknown`; ours names the filter that reports.
pub(crate) const OURS: &str = concat!("mixerless-", env!("CARGO_PKG_VERSION"));

/// Sets the gauge (a failure is logged; the filter works without it).
pub(super) fn record(host: &dyn Host, node: &Node) {
    let tag = if node.istio_version.is_empty() {
        OURS.to_owned()
    } else {
        sanitized(&node.istio_version)
    };
    let [component, tag_name] = BUILD_NAMES;
    let name = stat_name(
        [(component, "proxy"), (tag_name, tag.as_str())].into_iter(),
        METRIC,
    );
    let result = host
        .define_metric(MetricKind::Gauge, &name)
        .and_then(|id| host.record_metric(id, 1));
    if let Err(e) = result {
        log::warn!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use crate::fake::FakeHost;
    use crate::Plugin;

    /// Demonstrates the gauge's name for an Istio proxy and for plain Envoy, set to 1 once.
    #[test]
    fn build_gauge() {
        let mut host = FakeHost::with_node("a", &[("ISTIO_VERSION", "1.5-dev")], &[]);
        host.set_str("xds.node.id", "a");
        Plugin::configure(&host, b"{}").unwrap();
        let name = "component=.=proxy;.;tag=.=1.5-dev;.;istio_build";
        assert_eq!(host.values(name), Some(vec![1]));
        let plain = FakeHost::with_node("b", &[], &[]);
        Plugin::configure(&plain, b"{}").unwrap();
        let name = format!("component=.=proxy;.;tag=.={};.;istio_build", super::OURS);
        assert_eq!(plain.values(&name), Some(vec![1]));
    }
}
