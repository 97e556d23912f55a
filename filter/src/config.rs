//! The JSON plugin configuration: Istio's stats plugin fields plus our own limits.

pub mod json;

use self::json::{Json, JsonError};
use crate::expr::{decimal, Expr};
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

/// The `reporter` field: ours (`source`, `destination`, `waypoint`) or Istio's enum names
/// (`SERVER_GATEWAY` is `waypoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReporterSetting {
    Source,
    Destination,
    Waypoint,
    /// Follow `xds.listener_direction`, as Istio does.
    Unspecified,
}

/// The `metadata_exchange` field: who speaks Istio's HTTP metadata exchange headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Exchange {
    /// Find out per request whether Istio's own exchange runs in front (the outbound request
    /// already carries the exchange headers; a filter-state peer is present) and then leave
    /// every exchange header to it; alone, speak the exchange.
    #[default]
    Auto,
    /// Always speak the exchange: set, read and strip the headers (`true`).
    On,
    /// Never touch an exchange header (`false`); peers still come from filter state and
    /// endpoint metadata.
    Off,
}

impl Exchange {
    /// The configuration value.
    pub fn as_str(self) -> &'static str {
        match self {
            Exchange::Auto => "auto",
            Exchange::On => "on",
            Exchange::Off => "off",
        }
    }
}

/// The `type` field: which kind of Envoy filter this plugin instance is, as the WasmPlugin's
/// `type` says. The SDK fixes a root context's stream kind, so the module cannot find out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilterType {
    /// `envoy.filters.http.wasm`: request metrics.
    #[default]
    Http,
    /// `envoy.filters.network.wasm` (before `tcp_proxy`): TCP metrics.
    Network,
}

/// The metric kinds a definition can create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DefinitionType {
    #[default]
    Counter,
    Gauge,
    Histogram,
}

/// One `metrics[]` entry: changes to a metric's labels.
#[derive(Debug, Clone, Default)]
pub struct MetricConfig {
    /// `requests_total`, `request_duration_milliseconds`, `request_bytes`, `response_bytes`
    /// (with or without `istio_`), a definition's name, or empty for all standard metrics.
    pub name: String,
    /// Label name → expression; overrides a standard label or appends a new one. Sorted by
    /// key, the order Istio applies them in.
    pub dimensions: Vec<(String, String)>,
    /// Standard labels to leave out.
    pub tags_to_remove: Vec<String>,
    /// Do not emit this metric at all.
    pub drop: bool,
}

/// One `definitions[]` entry: a custom metric `istio_<name>`.
#[derive(Debug, Clone)]
pub struct Definition {
    pub name: String,
    /// Integer expression: a literal or one attribute.
    pub value: String,
    pub kind: DefinitionType,
}

/// The plugin configuration, a superset of Istio's stats plugin configuration.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// Reporter; when absent it follows `xds.listener_direction`.
    pub reporter: Option<ReporterSetting>,
    /// Never use the Host header for `destination_service` (Istio sets it on inbound/gateways).
    pub disable_host_header_fallback: bool,
    pub metrics: Vec<MetricConfig>,
    pub definitions: Vec<Definition>,
    /// Ours: distinct label sets per VM before new ones go to the overflow series.
    pub max_series: usize,
    /// Ours: who speaks Istio's HTTP metadata exchange (`auto`, `on`, `off`; `true` is `on`,
    /// `false` is `off`).
    pub metadata_exchange: Exchange,
    /// Decoded peers kept per VM (Istio's reserved `max_peer_cache_size`).
    pub max_peer_cache_size: usize,
    /// Istio's `field_separator`; only the default is supported.
    pub field_separator: Option<String>,
    /// Istio's `value_separator`; only the default is supported.
    pub value_separator: Option<String>,
    /// Ours: `HTTP` (default) or `NETWORK`; must match the filter Envoy runs the plugin as.
    pub filter_type: FilterType,
    /// How often the bytes of open TCP connections are reported, in milliseconds (Istio's
    /// `tcp_reporting_duration`, default 5 s; 0 reports at close only).
    pub tcp_reporting_ms: u64,
}

impl Default for PluginConfig {
    fn default() -> Self {
        Self {
            reporter: None,
            disable_host_header_fallback: false,
            metrics: Vec::new(),
            definitions: Vec::new(),
            max_series: 5000,
            metadata_exchange: Exchange::Auto,
            max_peer_cache_size: 500,
            field_separator: None,
            value_separator: None,
            filter_type: FilterType::Http,
            tcp_reporting_ms: 5000,
        }
    }
}

/// Istio fields that are deprecated: accepted and ignored.
const IGNORED_FIELDS: [&str; 4] = [
    "debug",
    "stat_prefix",
    "rotation_interval",
    "graceful_deletion_interval",
];

/// A protobuf JSON duration (`"5s"`, `"0.5s"`, `"15s"`) in milliseconds.
fn duration_ms(field: &str, v: &Json) -> Result<u64, ConfigError> {
    let text = string(field, v)?;
    let bad = || {
        field_err(
            field,
            format!("expected a duration in seconds such as \"5s\" or \"0.5s\", got `{text}`"),
        )
    };
    let number = text.strip_suffix('s').ok_or_else(bad)?;
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let secs = decimal(whole).ok_or_else(bad)?;
    // Milliseconds: the first three fraction digits, padded.
    let frac = frac.get(..3).unwrap_or(frac);
    let ms = match frac {
        "" => 0,
        f => decimal(f).ok_or_else(bad)? * [100, 10, 1].get(f.len() - 1).copied().unwrap_or(1),
    };
    secs.checked_mul(1000)
        .and_then(|s| s.checked_add(ms))
        .ok_or_else(bad)
}

fn expected(field: &str, what: &str, got: &Json) -> ConfigError {
    field_err(field, format!("expected {what}, got {}", got.kind()))
}

fn string(field: &str, v: &Json) -> Result<String, ConfigError> {
    match v {
        Json::Str(s) => Ok(s.clone()),
        other => Err(expected(field, "a string", other)),
    }
}

/// A boolean; Istio's WASM-era configs also wrote `"true"` / `"false"`.
fn boolean(field: &str, v: &Json) -> Result<bool, ConfigError> {
    match v {
        Json::Bool(b) => Ok(*b),
        Json::Str(s) if s == "true" => Ok(true),
        Json::Str(s) if s == "false" => Ok(false),
        other => Err(expected(field, "true or false", other)),
    }
}

/// A count: a whole number from 0 to `i64::MAX`; past what `usize` holds (on wasm32, 2^32 - 1)
/// it saturates, which no cap reaches in memory anyway.
fn count(field: &str, v: &Json) -> Result<usize, ConfigError> {
    match v {
        Json::Int(Some(n)) if *n >= 0 => Ok(usize::try_from(*n).unwrap_or(usize::MAX)),
        Json::Int(Some(n)) => Err(field_err(
            field,
            format!("expected a whole number from 0 to {}, got {n}", i64::MAX),
        )),
        Json::Int(None) => Err(field_err(
            field,
            format!(
                "expected a whole number from 0 to {}, got a number with a fraction, an \
                 exponent or more digits than that",
                i64::MAX
            ),
        )),
        other => Err(expected(field, "a whole number", other)),
    }
}

fn array<'a>(field: &str, v: &'a Json) -> Result<&'a [Json], ConfigError> {
    match v {
        Json::Arr(items) => Ok(items),
        other => Err(expected(field, "an array", other)),
    }
}

fn object<'a>(field: &str, v: &'a Json) -> Result<&'a [(String, Json)], ConfigError> {
    match v {
        Json::Obj(members) => Ok(members),
        other => Err(expected(field, "an object", other)),
    }
}

fn unknown(field: &str, key: &str, known: &[&str]) -> ConfigError {
    field_err(
        field,
        format!(
            "unknown field `{key}`, expected one of {}",
            known.join(", ")
        ),
    )
}

fn metric_config(field: &str, v: &Json) -> Result<MetricConfig, ConfigError> {
    const KNOWN: [&str; 5] = ["name", "dimensions", "tags_to_remove", "drop", "match"];
    let mut m = MetricConfig::default();
    for (k, v) in object(field, v)? {
        let f = format!("{field}.{k}");
        match (k.as_str(), v) {
            (_, Json::Null) | ("match", _) => {}
            ("name", v) => m.name = string(&f, v)?,
            ("drop", v) => m.drop = boolean(&f, v)?,
            ("tags_to_remove", v) => {
                for (i, t) in array(&f, v)?.iter().enumerate() {
                    m.tags_to_remove.push(string(&format!("{f}[{i}]"), t)?);
                }
            }
            ("dimensions", v) => {
                for (name, expr) in object(&f, v)? {
                    let expr = string(&format!("{f}.{name}"), expr)?;
                    m.dimensions.retain(|(n, _)| n != name);
                    m.dimensions.push((name.clone(), expr));
                }
                crate::peer::wire::sort_by_key(&mut m.dimensions);
            }
            (other, _) => return Err(unknown(field, other, &KNOWN)),
        }
    }
    Ok(m)
}

fn definition(field: &str, v: &Json) -> Result<Definition, ConfigError> {
    const KNOWN: [&str; 3] = ["name", "value", "type"];
    let (mut name, mut value, mut kind) = (None, None, DefinitionType::Counter);
    for (k, v) in object(field, v)? {
        let f = format!("{field}.{k}");
        match (k.as_str(), v) {
            (_, Json::Null) => {}
            ("name", v) => name = Some(string(&f, v)?),
            ("value", v) => value = Some(string(&f, v)?),
            ("type", v) => {
                kind = match string(&f, v)?.as_str() {
                    "COUNTER" => DefinitionType::Counter,
                    "GAUGE" => DefinitionType::Gauge,
                    "HISTOGRAM" => DefinitionType::Histogram,
                    t => {
                        return Err(field_err(
                            f,
                            format!(
                                "unknown variant `{t}`, expected one of COUNTER, GAUGE, HISTOGRAM"
                            ),
                        ))
                    }
                }
            }
            (other, _) => return Err(unknown(field, other, &KNOWN)),
        }
    }
    Ok(Definition {
        name: name.ok_or_else(|| field_err(format!("{field}.name"), "missing field"))?,
        value: value.ok_or_else(|| field_err(format!("{field}.value"), "missing field"))?,
        kind,
    })
}

impl PluginConfig {
    fn from_json(root: &Json) -> Result<Self, ConfigError> {
        const KNOWN: [&str; 11] = [
            "type",
            "tcp_reporting_duration",
            "reporter",
            "disable_host_header_fallback",
            "metrics",
            "definitions",
            "max_series",
            "metadata_exchange",
            "max_peer_cache_size",
            "field_separator",
            "value_separator",
        ];
        let mut c = Self::default();
        let members = match root {
            Json::Obj(m) => m,
            other => return Err(expected("configuration", "a JSON object", other)),
        };
        for (k, v) in members {
            let f = k.as_str();
            match (f, v) {
                (_, Json::Null) => {}
                ("reporter", v) => {
                    c.reporter = Some(match string(f, v)?.as_str() {
                        "source" => ReporterSetting::Source,
                        "destination" => ReporterSetting::Destination,
                        "waypoint" | "SERVER_GATEWAY" => ReporterSetting::Waypoint,
                        "UNSPECIFIED" => ReporterSetting::Unspecified,
                        r => {
                            return Err(field_err(
                                f,
                                format!("unknown variant `{r}`, expected one of source, destination, waypoint, SERVER_GATEWAY, UNSPECIFIED"),
                            ))
                        }
                    })
                }
                ("disable_host_header_fallback", v) => {
                    c.disable_host_header_fallback = boolean(f, v)?
                }
                ("metadata_exchange", v) => {
                    c.metadata_exchange = match v {
                        Json::Str(s) if s == "auto" => Exchange::Auto,
                        Json::Str(s) if s == "on" => Exchange::On,
                        Json::Str(s) if s == "off" => Exchange::Off,
                        _ => match boolean(f, v) {
                            Ok(true) => Exchange::On,
                            Ok(false) => Exchange::Off,
                            Err(_) => {
                                return Err(expected(f, "auto, on, off, true or false", v))
                            }
                        },
                    }
                }
                ("type", v) => {
                    c.filter_type = match string(f, v)?.as_str() {
                        "HTTP" => FilterType::Http,
                        "NETWORK" => FilterType::Network,
                        t => {
                            return Err(field_err(
                                f,
                                format!("unknown variant `{t}`, expected one of HTTP, NETWORK"),
                            ))
                        }
                    }
                }
                ("tcp_reporting_duration", v) => c.tcp_reporting_ms = duration_ms(f, v)?,
                ("max_series", v) => c.max_series = count(f, v)?,
                ("max_peer_cache_size", v) => c.max_peer_cache_size = count(f, v)?,
                ("field_separator", v) => c.field_separator = Some(string(f, v)?),
                ("value_separator", v) => c.value_separator = Some(string(f, v)?),
                ("metrics", v) => {
                    for (i, m) in array(f, v)?.iter().enumerate() {
                        c.metrics.push(metric_config(&format!("metrics[{i}]"), m)?);
                    }
                }
                ("definitions", v) => {
                    for (i, d) in array(f, v)?.iter().enumerate() {
                        c.definitions.push(definition(&format!("definitions[{i}]"), d)?);
                    }
                }
                (other, _) if IGNORED_FIELDS.contains(&other) => {}
                (other, _) => return Err(unknown("configuration", other, &KNOWN)),
            }
        }
        Ok(c)
    }
}

/// A configuration that cannot be used, naming the problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not JSON (the message gives the line and column).
    #[error("invalid plugin configuration: {0}")]
    Json(#[from] JsonError),
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
pub const STANDARD_METRICS: [&str; 10] = [
    "requests_total",
    "request_duration_milliseconds",
    "request_bytes",
    "response_bytes",
    "request_messages_total",
    "response_messages_total",
    "tcp_connections_opened_total",
    "tcp_connections_closed_total",
    "tcp_sent_bytes_total",
    "tcp_received_bytes_total",
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
        let config = Self::from_json(&json::parse(bytes)?)?;
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
        let mut tag_names: Vec<&str> = labels::all().collect();
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
        assert!(c.reporter.is_none() && !c.disable_host_header_fallback);
        assert_eq!(c.metadata_exchange, Exchange::Auto);
        assert_eq!((c.max_series, c.max_peer_cache_size), (5000, 500));
        let c = PluginConfig::parse(
            br#"{"reporter":"SERVER_GATEWAY","disable_host_header_fallback":"true","debug":"false","stat_prefix":"istio"}"#,
        )
        .unwrap();
        assert_eq!(c.reporter, Some(ReporterSetting::Waypoint));
        assert!(c.disable_host_header_fallback);
        let c = PluginConfig::parse(br#"{"reporter":"source"}"#).unwrap();
        assert_eq!(c.reporter, Some(ReporterSetting::Source));
        assert_eq!(
            (c.filter_type, c.tcp_reporting_ms),
            (FilterType::Http, 5000)
        );
    }

    /// Demonstrates the network variant and Istio's `tcp_reporting_duration` spellings.
    #[test]
    fn parses_network_type_and_reporting_duration() {
        let cases: [(&str, u64); 5] = [
            ("15s", 15_000),
            ("1s", 1000),
            ("0.5s", 500),
            ("2.25s", 2250),
            ("0s", 0),
        ];
        for (text, ms) in cases {
            let json = format!(r#"{{"type":"NETWORK","tcp_reporting_duration":"{text}"}}"#);
            let c = PluginConfig::parse(json.as_bytes()).unwrap();
            assert_eq!(
                (c.filter_type, c.tcp_reporting_ms),
                (FilterType::Network, ms)
            );
        }
        for (json, want) in [
            (
                r#"{"type":"TCP"}"#,
                "type: unknown variant `TCP`, expected one of HTTP, NETWORK",
            ),
            (
                r#"{"tcp_reporting_duration":"5"}"#,
                "tcp_reporting_duration: expected a duration",
            ),
            (r#"{"tcp_reporting_duration":"-1s"}"#, "got `-1s`"),
            (
                r#"{"tcp_reporting_duration":5}"#,
                "tcp_reporting_duration: expected a string",
            ),
        ] {
            let err = PluginConfig::parse(json.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{json}: {err}");
        }
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
        let cases: [(&str, &str); 19] = [
            (
                r#"{"metrics":[{"nmae":"x"}]}"#,
                "metrics[0]: unknown field `nmae`",
            ),
            (
                r#"{"definitions":[{"name":"c","value":"1","type":"SUMMARY"}]}"#,
                "definitions[0].type: unknown variant `SUMMARY`",
            ),
            (
                r#"{"metrics":{}}"#,
                "metrics: expected an array, got an object",
            ),
            ("[1]", "configuration: expected a JSON object, got an array"),
            (
                r#"{"reporter":"client"}"#,
                "reporter: unknown variant `client`",
            ),
            (r#"{"max_series":0}"#, "max_series: must be at least 1"),
            (
                r#"{"max_series":-1}"#,
                "max_series: expected a whole number from 0 to 9223372036854775807, got -1",
            ),
            (
                r#"{"max_series":99999999999999999999}"#,
                "max_series: expected a whole number from 0 to 9223372036854775807, got a number with a fraction, an exponent or more digits than that",
            ),
            (
                r#"{"max_peer_cache_size":1.5}"#,
                "max_peer_cache_size: expected a whole number from 0 to 9223372036854775807, got a number with a fraction",
            ),
            (
                r#"{"max_series":"10"}"#,
                "max_series: expected a whole number, got a string",
            ),
            (r#"{"nope":1}"#, "configuration: unknown field `nope`"),
            (
                r#"{"disable_host_header_fallback":"yes"}"#,
                "disable_host_header_fallback: expected true or false, got a string",
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
