//! The JSON plugin configuration.

use serde::Deserialize;

/// Which side of the connection this proxy reports for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reporter {
    Source,
    Destination,
    Waypoint,
}

impl Reporter {
    /// The `reporter` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reporter::Source => "source",
            Reporter::Destination => "destination",
            Reporter::Waypoint => "waypoint",
        }
    }
}

/// The plugin configuration, a superset of Istio's stats plugin configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Reporter; when absent it follows `xds.listener_direction`.
    #[serde(default)]
    pub reporter: Option<Reporter>,
}

/// A configuration that cannot be used, naming the problem.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid plugin configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

impl PluginConfig {
    /// Parses the plugin configuration; an empty configuration means all defaults.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        serde_json::from_slice(bytes).map_err(|e| ConfigError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates that an empty configuration is all defaults and a known field is read.
    #[test]
    fn parses_defaults_and_reporter() {
        assert!(PluginConfig::parse(b"").unwrap().reporter.is_none());
        let c = PluginConfig::parse(br#"{"reporter":"source"}"#).unwrap();
        assert_eq!(c.reporter, Some(Reporter::Source));
    }

    /// Demonstrates that text that is not JSON is refused with the parser's position.
    #[test]
    fn rejects_invalid_json() {
        let err = PluginConfig::parse(b"{not json").unwrap_err().to_string();
        assert!(err.contains("line 1 column 2"), "{err}");
    }
}
