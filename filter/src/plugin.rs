//! The per-VM plugin: configured once, then called at the end of every stream.

use std::collections::HashMap;

use crate::config::{ConfigError, PluginConfig, Reporter};
use crate::host::{Host, MetricKind};

/// A configured plugin instance (one per Envoy worker VM).
#[derive(Debug)]
pub struct Plugin {
    reporter: Reporter,
    /// Metric ids by encoded stat name, so a label tuple is defined once.
    ids: HashMap<String, u32>,
}

impl Plugin {
    /// Parses the plugin configuration and reads what is fixed for the VM's lifetime.
    pub fn configure(host: &dyn Host, config: &[u8]) -> Result<Self, ConfigError> {
        let config = PluginConfig::parse(config)?;
        let reporter = config
            .reporter
            .unwrap_or_else(|| reporter_from_direction(host));
        Ok(Self {
            reporter,
            ids: HashMap::new(),
        })
    }

    /// Records one finished request.
    pub fn on_log(&mut self, host: &dyn Host) {
        let name = format!(
            "reporter=.={};.;istio_requests_total",
            self.reporter.as_str()
        );
        let id = match self.ids.get(&name) {
            Some(id) => *id,
            None => match host.define_metric(MetricKind::Counter, &name) {
                Ok(id) => *self.ids.entry(name).or_insert(id),
                Err(e) => {
                    log::warn!("{e}");
                    return;
                }
            },
        };
        if let Err(e) = host.increment_metric(id, 1) {
            log::warn!("{e}");
        }
    }
}

/// Envoy's `xds.listener_direction`: 1 is INBOUND (destination), 2 is OUTBOUND (source).
fn reporter_from_direction(host: &dyn Host) -> Reporter {
    match host.property(&["xds", "listener_direction"]) {
        Ok(Some(bytes)) if bytes.first() == Some(&2) => Reporter::Source,
        _ => Reporter::Destination,
    }
}
