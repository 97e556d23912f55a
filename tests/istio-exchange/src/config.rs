//! The simulator's plugin configuration: `{}` or `{"peer_as": "flatnode" | "truncated" | "none"}`.

use serde_json::Value;

/// How a received peer is stored in filter state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerAs {
    /// FlatNode bytes, as Istio 1.18–1.23 store `downstream_peer` / `upstream_peer`.
    FlatNode,
    /// The first half of the FlatNode only: a filter-state object of the right key and the
    /// wrong shape (hostile input for the filter behind).
    Truncated,
    /// Not at all: the headers are still handled, so a filter behind sees neither.
    None,
}

#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) peer_as: PeerAs,
}

impl Config {
    /// Parses the configuration; an empty one is the default.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        let mut config = Self {
            peer_as: PeerAs::FlatNode,
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(config);
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| format!("configuration: {e}"))?;
        let Value::Object(fields) = value else {
            return Err("configuration: not a JSON object".into());
        };
        for (key, v) in fields {
            match (key.as_str(), v.as_str()) {
                ("peer_as", Some("flatnode")) => config.peer_as = PeerAs::FlatNode,
                ("peer_as", Some("truncated")) => config.peer_as = PeerAs::Truncated,
                ("peer_as", Some("none")) => config.peer_as = PeerAs::None,
                ("peer_as", _) => {
                    return Err(format!(
                    "configuration: peer_as is {v}, want \"flatnode\", \"truncated\" or \"none\""
                ))
                }
                _ => return Err(format!("configuration: unknown field {key:?}")),
            }
        }
        Ok(config)
    }
}
