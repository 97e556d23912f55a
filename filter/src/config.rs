//! The JSON plugin configuration: Istio's stats plugin fields plus our own limits.

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use crate::expr::Expr;
use crate::labels;

/// Which side of the connection this proxy reports for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The `reporter` field: ours (`source`, `destination`, `waypoint`) or Istio's enum names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ReporterSetting {
    #[serde(rename = "source")]
    Source,
    #[serde(rename = "destination")]
    Destination,
    #[serde(rename = "waypoint", alias = "SERVER_GATEWAY")]
    Waypoint,
    /// Follow `xds.listener_direction`, as Istio does.
    #[serde(rename = "UNSPECIFIED")]
    Unspecified,
}

/// The metric kinds a definition can create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum DefinitionType {
    #[default]
    #[serde(rename = "COUNTER")]
    Counter,
    #[serde(rename = "GAUGE")]
    Gauge,
    #[serde(rename = "HISTOGRAM")]
    Histogram,
}

/// One `metrics[]` entry: changes to a metric's labels.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    /// `requests_total`, `request_duration_milliseconds`, `request_bytes`, `response_bytes`
    /// (with or without `istio_`), a definition's name, or empty for all standard metrics.
    #[serde(default)]
    pub name: String,
    /// Label name → expression; overrides a standard label or appends a new one. Kept in
    /// sorted key order, the order Istio applies them in.
    #[serde(default, deserialize_with = "sorted_pairs")]
    pub dimensions: Vec<(String, String)>,
    /// Standard labels to leave out.
    #[serde(default)]
    pub tags_to_remove: Vec<String>,
    /// Do not emit this metric at all.
    #[serde(default)]
    pub drop: bool,
    /// Istio's reserved `match` (not implemented there either); accepted and ignored.
    #[serde(default, rename = "match")]
    pub match_: Option<String>,
}

/// One `definitions[]` entry: a custom metric `istio_<name>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub name: String,
    /// Integer expression: a literal or one attribute.
    pub value: String,
    #[serde(default, rename = "type")]
    pub kind: DefinitionType,
}

/// The plugin configuration, a superset of Istio's stats plugin configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Reporter; when absent it follows `xds.listener_direction`.
    #[serde(default)]
    pub reporter: Option<ReporterSetting>,
    /// Never use the Host header for `destination_service` (Istio sets it on inbound/gateways).
    #[serde(default, deserialize_with = "bool_or_string")]
    pub disable_host_header_fallback: bool,
    #[serde(default)]
    pub metrics: Vec<MetricConfig>,
    #[serde(default)]
    pub definitions: Vec<Definition>,
    /// Ours: distinct label sets per VM before new ones go to the overflow series.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
    /// Ours: speak Istio's HTTP metadata exchange (turn off when Istio's own exchange filter
    /// runs in front of this one).
    #[serde(default = "yes", deserialize_with = "bool_or_string")]
    pub metadata_exchange: bool,
    /// Decoded peers kept per VM (Istio's reserved `max_peer_cache_size`).
    #[serde(default = "default_peer_cache")]
    pub max_peer_cache_size: usize,
    /// Istio's `field_separator`; only the default is supported.
    #[serde(default)]
    pub field_separator: Option<String>,
    /// Istio's `value_separator`; only the default is supported.
    #[serde(default)]
    pub value_separator: Option<String>,
    // Istio fields that are deprecated or only for TCP: accepted, ignored.
    #[allow(dead_code)]
    #[serde(default)]
    debug: Option<IgnoredAny>,
    #[allow(dead_code)]
    #[serde(default)]
    stat_prefix: Option<IgnoredAny>,
    #[allow(dead_code)]
    #[serde(default)]
    tcp_reporting_duration: Option<IgnoredAny>,
    #[allow(dead_code)]
    #[serde(default)]
    rotation_interval: Option<IgnoredAny>,
    #[allow(dead_code)]
    #[serde(default)]
    graceful_deletion_interval: Option<IgnoredAny>,
}

fn default_max_series() -> usize {
    5000
}
fn default_peer_cache() -> usize {
    500
}
fn yes() -> bool {
    true
}

/// Istio's WASM-era configs wrote booleans as strings (`"true"`). (A visitor rather than an
/// untagged enum: serde's untagged machinery costs several KB of module size.)
fn bool_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("true or false")
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<bool, E> {
            match v {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(E::custom(format_args!("expected true or false, got `{v}`"))),
            }
        }
    }
    d.deserialize_any(V)
}

/// A JSON object of strings as pairs sorted by key (a `BTreeMap` would do, at the price of its
/// code in the module).
fn sorted_pairs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of label names to expressions")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut pairs: Vec<(String, String)> = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, String>()? {
                pairs.retain(|(key, _)| *key != k);
                pairs.push((k, v));
            }
            crate::peer::wire::sort_by_key(&mut pairs);
            Ok(pairs)
        }
    }
    d.deserialize_map(V)
}

impl Default for PluginConfig {
    fn default() -> Self {
        Self {
            reporter: None,
            disable_host_header_fallback: false,
            metrics: Vec::new(),
            definitions: Vec::new(),
            max_series: default_max_series(),
            metadata_exchange: true,
            max_peer_cache_size: default_peer_cache(),
            field_separator: None,
            value_separator: None,
            debug: None,
            stat_prefix: None,
            tcp_reporting_duration: None,
            rotation_interval: None,
            graceful_deletion_interval: None,
        }
    }
}

/// A configuration that cannot be used, naming the problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not JSON, or a field of the wrong type or name (serde_json names it and the position).
    #[error("invalid plugin configuration: {0}")]
    Json(#[from] serde_json::Error),
    /// A field whose value cannot be used.
    #[error("invalid plugin configuration: {field}: {reason}")]
    Field { field: String, reason: String },
}

fn field_err(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The standard metrics as configuration names them.
pub const STANDARD_METRICS: [&str; 4] = [
    "requests_total",
    "request_duration_milliseconds",
    "request_bytes",
    "response_bytes",
];

/// `requests_total` for both `requests_total` and `istio_requests_total`.
pub fn short_name(name: &str) -> &str {
    name.strip_prefix("istio_").unwrap_or(name)
}

fn valid_tag_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl PluginConfig {
    /// Parses and checks the plugin configuration; an empty configuration means all defaults.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let config: Self = serde_json::from_slice(bytes)?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if let Some(s) = self.field_separator.as_deref().filter(|s| *s != ";.;") {
            return Err(field_err(
                "field_separator",
                format!("`{s}` is not supported; the stats_tags regexes need \";.;\""),
            ));
        }
        if let Some(s) = self.value_separator.as_deref().filter(|s| *s != "=.=") {
            return Err(field_err(
                "value_separator",
                format!("`{s}` is not supported; the stats_tags regexes need \"=.=\""),
            ));
        }
        if self.max_series == 0 {
            return Err(field_err("max_series", "must be at least 1"));
        }
        let mut custom_names: Vec<&str> = Vec::new();
        for (i, d) in self.definitions.iter().enumerate() {
            let field = format!("definitions[{i}]");
            let name = short_name(&d.name);
            if !valid_tag_name(name) {
                return Err(field_err(
                    format!("{field}.name"),
                    format!("`{}` must match [a-z_][a-z0-9_]*", d.name),
                ));
            }
            if STANDARD_METRICS.contains(&name) || custom_names.contains(&name) {
                return Err(field_err(
                    format!("{field}.name"),
                    format!("`{name}` is already defined"),
                ));
            }
            custom_names.push(name);
            let value = Expr::parse(&d.value)
                .map_err(|e| field_err(format!("{field}.value"), e.to_string()))?;
            if !value.is_int() {
                return Err(field_err(
                    format!("{field}.value"),
                    "must be an integer literal or one attribute",
                ));
            }
        }
        let mut tag_names: Vec<&str> = labels::NAMES.to_vec();
        for (i, m) in self.metrics.iter().enumerate() {
            let field = format!("metrics[{i}]");
            let name = short_name(&m.name);
            if !name.is_empty()
                && !STANDARD_METRICS.contains(&name)
                && !custom_names.contains(&name)
            {
                return Err(field_err(
                    format!("{field}.name"),
                    format!(
                        "`{}` is neither a standard metric ({}) nor a definition",
                        m.name,
                        STANDARD_METRICS.join(", ")
                    ),
                ));
            }
            for t in &m.tags_to_remove {
                if labels::position(t).is_none() {
                    return Err(field_err(
                        format!("{field}.tags_to_remove"),
                        format!("`{t}` is not a standard label"),
                    ));
                }
            }
            for (k, v) in &m.dimensions {
                let f = format!("{field}.dimensions.{k}");
                if !valid_tag_name(k) {
                    return Err(field_err(f, "label names must match [a-z_][a-z0-9_]*"));
                }
                Expr::parse(v).map_err(|e| field_err(&f, format!("`{v}`: {e}")))?;
                if !tag_names.contains(&k.as_str()) {
                    tag_names.push(k);
                }
            }
        }
        // The stats_tags regexes are not anchored: a label name that ends another one would
        // match inside the other's chunk (`app` in `source_app=.=x;.;`).
        for a in &tag_names {
            if let Some(b) = tag_names.iter().find(|b| *b != a && b.ends_with(a)) {
                return Err(field_err(
                    "metrics.dimensions",
                    format!("label `{a}` is a suffix of label `{b}`; its stats tag regex would match inside the other"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates defaults and Istio's spellings of known fields.
    #[test]
    fn parses_defaults_and_istio_spellings() {
        let c = PluginConfig::parse(b"").unwrap();
        assert!(c.reporter.is_none() && !c.disable_host_header_fallback && c.metadata_exchange);
        assert_eq!((c.max_series, c.max_peer_cache_size), (5000, 500));
        let c = PluginConfig::parse(
            br#"{"reporter":"SERVER_GATEWAY","disable_host_header_fallback":"true","debug":"false","stat_prefix":"istio"}"#,
        )
        .unwrap();
        assert_eq!(c.reporter, Some(ReporterSetting::Waypoint));
        assert!(c.disable_host_header_fallback);
        let c = PluginConfig::parse(br#"{"reporter":"source"}"#).unwrap();
        assert_eq!(c.reporter, Some(ReporterSetting::Source));
    }

    /// Demonstrates that text that is not JSON is refused with the parser's position.
    #[test]
    fn rejects_invalid_json() {
        let err = PluginConfig::parse(b"{not json").unwrap_err().to_string();
        assert!(err.contains("line 1 column 2"), "{err}");
    }

    /// Demonstrates that each kind of bad field is refused with a message naming the field.
    #[test]
    fn errors_name_the_field() {
        let cases: [(&str, &str); 12] = [
            (r#"{"reporter":"client"}"#, "unknown variant `client`"),
            (r#"{"max_series":0}"#, "max_series: must be at least 1"),
            (r#"{"max_series":-1}"#, "invalid value: integer `-1`"),
            (r#"{"nope":1}"#, "unknown field `nope`"),
            (
                r#"{"disable_host_header_fallback":"yes"}"#,
                "expected true or false",
            ),
            (
                r#"{"metrics":[{"name":"requests","drop":true}]}"#,
                "metrics[0].name",
            ),
            (
                r#"{"metrics":[{"tags_to_remove":["foo"]}]}"#,
                "metrics[0].tags_to_remove: `foo`",
            ),
            (
                r#"{"metrics":[{},{"dimensions":{"x":"a +"}}]}"#,
                "metrics[1].dimensions.x",
            ),
            (
                r#"{"metrics":[{"dimensions":{"Bad-Name":"'a'"}}]}"#,
                "metrics[0].dimensions.Bad-Name",
            ),
            (
                r#"{"metrics":[{"dimensions":{"app":"'a'"}}]}"#,
                "label `app` is a suffix of label `source_app`",
            ),
            (
                r#"{"definitions":[{"name":"c","value":"'a' + 'b'"}]}"#,
                "definitions[0].value",
            ),
            (r#"{"field_separator":";;"}"#, "field_separator"),
        ];
        for (json, want) in cases {
            let err = PluginConfig::parse(json.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("invalid plugin configuration: "), "{err}");
            assert!(err.contains(want), "{json}: {err}");
        }
    }

    /// Demonstrates a full Istio-style customisation is accepted.
    #[test]
    fn accepts_customisation() {
        let c = PluginConfig::parse(
            br#"{"metrics":[{"name":"istio_requests_total","dimensions":{"source_workload":"'_' + xds.node.metadata['WORKLOAD_NAME']","route_name":"xds.route_name"},"tags_to_remove":["response_flags"]},{"name":"request_duration_milliseconds","drop":true},{"name":"custom","dimensions":{"source_principal":"'malicious'"}}],"definitions":[{"name":"custom","value":"1","type":"COUNTER"}]}"#,
        )
        .unwrap();
        assert_eq!(c.metrics.len(), 3);
        assert_eq!(c.definitions[0].kind, DefinitionType::Counter);
    }
}
