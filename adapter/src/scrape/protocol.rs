//! Content negotiation as Prometheus 3 does it: the `Accept` header lists the scrape
//! protocols in order of preference (`scrape_protocols`), and the body is parsed by the
//! response's `Content-Type` media type (its `version` is not looked at). A blank, unparsable
//! or unknown type fails the scrape unless a fallback protocol is set
//! (`fallback_scrape_protocol`), as Prometheus 3 does (`textparse.New`).

use std::fmt;
use std::str::FromStr;

use mixerless_engine::exposition::Format;

/// A text format a target may be asked for (Prometheus' `ScrapeProtocol` names).
/// `PrometheusProto` is not offered: the store has no protobuf parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    OpenMetricsText1_0_0,
    OpenMetricsText0_0_1,
    PrometheusText1_0_0,
    PrometheusText0_0_4,
}

/// Prometheus 3's default order.
pub const DEFAULT_PROTOCOLS: [Protocol; 4] = [
    Protocol::OpenMetricsText1_0_0,
    Protocol::OpenMetricsText0_0_1,
    Protocol::PrometheusText1_0_0,
    Protocol::PrometheusText0_0_4,
];

/// Prometheus' protocol count (protobuf included): its highest `q` is `0.<count + 1>`.
const PROMETHEUS_PROTOCOLS: usize = 5;

impl Protocol {
    const ALL: [(Protocol, &'static str); 4] = [
        (Protocol::OpenMetricsText1_0_0, "OpenMetricsText1.0.0"),
        (Protocol::OpenMetricsText0_0_1, "OpenMetricsText0.0.1"),
        (Protocol::PrometheusText1_0_0, "PrometheusText1.0.0"),
        (Protocol::PrometheusText0_0_4, "PrometheusText0.0.4"),
    ];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("", |(_, n)| n)
    }

    /// The media range asked for; the 1.0.0 formats say that UTF-8 names are welcome, as
    /// Prometheus 3 does (`escaping=allow-utf-8`).
    fn media_range(self) -> &'static str {
        match self {
            Protocol::OpenMetricsText1_0_0 => {
                "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8"
            }
            Protocol::OpenMetricsText0_0_1 => "application/openmetrics-text;version=0.0.1",
            Protocol::PrometheusText1_0_0 => "text/plain;version=1.0.0;escaping=allow-utf-8",
            Protocol::PrometheusText0_0_4 => "text/plain;version=0.0.4",
        }
    }

    /// The parser a body of this protocol needs.
    pub fn format(self) -> Format {
        match self {
            Protocol::OpenMetricsText1_0_0 | Protocol::OpenMetricsText0_0_1 => Format::OpenMetrics,
            Protocol::PrometheusText1_0_0 | Protocol::PrometheusText0_0_4 => Format::Text004,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let names: Vec<&str> = Self::ALL.iter().map(|(_, n)| *n).collect();
        if let Some((p, _)) = Self::ALL.iter().find(|(_, n)| *n == s.trim()) {
            return Ok(*p);
        }
        if s.trim() == "PrometheusProto" {
            return Err(format!(
                "PrometheusProto is not supported (no protobuf parser); use one of {}",
                names.join(", ")
            ));
        }
        Err(format!(
            "unknown scrape protocol {s:?}, supported: {}",
            names.join(", ")
        ))
    }
}

/// A comma-separated list of protocols, each once.
pub fn parse_list(s: &str) -> Result<Vec<Protocol>, String> {
    let out = s
        .split(',')
        .filter(|n| !n.trim().is_empty())
        .map(str::parse)
        .collect::<Result<Vec<Protocol>, String>>()?;
    check_list(&out)?;
    Ok(out)
}

/// A protocol list names at least one protocol, each once (`--scrape-protocols`, file_sd).
pub fn check_list(list: &[Protocol]) -> Result<(), String> {
    if list.is_empty() {
        return Err("no scrape protocol given".into());
    }
    match list
        .iter()
        .enumerate()
        .find(|(i, p)| list[..*i].contains(p))
    {
        Some((_, p)) => Err(format!("scrape protocol {p} listed twice")),
        None => Ok(()),
    }
}

/// The `Accept` header for `protocols`, weighted as Prometheus weighs them, then `*/*`.
pub fn accept_header(protocols: &[Protocol]) -> String {
    let mut weight = PROMETHEUS_PROTOCOLS + 1;
    let mut parts = Vec::with_capacity(protocols.len() + 1);
    for p in protocols {
        parts.push(format!("{};q=0.{weight}", p.media_range()));
        weight = weight.saturating_sub(1);
    }
    parts.push(format!("*/*;q=0.{weight}"));
    parts.join(",")
}

/// Why a response's type does not say how to parse it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ContentTypeError {
    /// No `Content-Type`, and no fallback.
    #[error("blank Content-Type and no fallback scrape protocol for the target (--fallback-scrape-protocol or file_sd __fallback_scrape_protocol__)")]
    Blank,
    /// A type that is not a media type, and no fallback.
    #[error("cannot parse Content-Type {0:?} and no fallback scrape protocol for the target")]
    Unparsable(String),
    /// A media type that is neither text nor OpenMetrics, and no fallback.
    #[error("unsupported Content-Type {0:?} and no fallback scrape protocol for the target")]
    Unsupported(String),
    /// Protobuf: understood by Prometheus, never asked for here, not parsed.
    #[error("Content-Type {0:?} is protobuf, which is not parsed (it is never asked for)")]
    Protobuf(String),
}

/// The parser for a response with this `Content-Type`; with a fallback, a blank, unparsable
/// or unknown type is read as the fallback protocol.
pub fn format_of(
    content_type: Option<&str>,
    fallback: Option<Protocol>,
) -> Result<Format, ContentTypeError> {
    let ct = content_type.map(str::trim).unwrap_or_default();
    let or_fallback = |e: ContentTypeError| fallback.map(Protocol::format).ok_or(e);
    if ct.is_empty() {
        return or_fallback(ContentTypeError::Blank);
    }
    let Some(media) = media_type(ct) else {
        return or_fallback(ContentTypeError::Unparsable(ct.to_owned()));
    };
    match media.as_str() {
        "application/openmetrics-text" => Ok(Format::OpenMetrics),
        "text/plain" => Ok(Format::Text004),
        "application/vnd.google.protobuf" => Err(ContentTypeError::Protobuf(ct.to_owned())),
        _ => or_fallback(ContentTypeError::Unsupported(ct.to_owned())),
    }
}

/// The lower-cased `type/subtype` of a Content-Type, or `None` when it is not one (Go's
/// `mime.ParseMediaType` refusals that matter here: no slash, empty or non-token parts, a
/// parameter without `=`).
fn media_type(ct: &str) -> Option<String> {
    let mut parts = ct.split(';');
    let media = parts.next()?.trim().to_ascii_lowercase();
    let (ty, sub) = media.split_once('/')?;
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
    };
    if !token(ty) || !token(sub) {
        return None;
    }
    for param in parts {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let (k, _) = param.split_once('=')?;
        if !token(k.trim()) {
            return None;
        }
    }
    Some(media)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates Prometheus 3's default Accept header, byte for byte.
    #[test]
    fn default_accept_header() {
        assert_eq!(
            accept_header(&DEFAULT_PROTOCOLS),
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
             application/openmetrics-text;version=0.0.1;q=0.5,\
             text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
             text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        );
        assert_eq!(
            accept_header(&[Protocol::PrometheusText0_0_4]),
            "text/plain;version=0.0.4;q=0.6,*/*;q=0.5"
        );
    }

    /// Demonstrates parsing by media type (parameters ignored) and the fallback rules.
    #[test]
    fn content_types() {
        use Format::{OpenMetrics, Text004};
        let text = Some(Protocol::PrometheusText0_0_4);
        /// A response's Content-Type, the fallback, and the parser or the error's words.
        type Case = (
            Option<&'static str>,
            Option<Protocol>,
            Result<Format, &'static str>,
        );
        let cases: [Case; 11] = [
            (
                Some("text/plain; version=0.0.4; charset=utf-8"),
                None,
                Ok(Text004),
            ),
            (Some("TEXT/PLAIN"), None, Ok(Text004)),
            (
                Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
                None,
                Ok(OpenMetrics),
            ),
            (
                Some("application/openmetrics-text;version=0.0.1"),
                text,
                Ok(OpenMetrics),
            ),
            (None, None, Err("blank Content-Type")),
            (Some(""), text, Ok(Text004)),
            (
                Some("application/json"),
                None,
                Err("unsupported Content-Type \"application/json\""),
            ),
            (
                Some("text/html; charset=utf-8"),
                Some(Protocol::OpenMetricsText1_0_0),
                Ok(OpenMetrics),
            ),
            (
                Some("text"),
                None,
                Err("cannot parse Content-Type \"text\""),
            ),
            (Some("text/plain; version"), text, Ok(Text004)),
            (
                Some("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily"),
                text,
                Err("protobuf"),
            ),
        ];
        for (ct, fallback, want) in cases {
            let got = format_of(ct, fallback).map_err(|e| e.to_string());
            match (&want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(w, g, "{ct:?}"),
                (Err(w), Err(g)) => assert!(g.contains(w), "{ct:?}: {g}"),
                _ => panic!("{ct:?} {fallback:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    /// Demonstrates protocol lists: names as Prometheus spells them, each once, protobuf refused.
    #[test]
    fn protocol_lists() {
        assert_eq!(
            parse_list("PrometheusText0.0.4, OpenMetricsText1.0.0").unwrap(),
            vec![
                Protocol::PrometheusText0_0_4,
                Protocol::OpenMetricsText1_0_0
            ]
        );
        assert!(parse_list("PrometheusText0.0.4,PrometheusText0.0.4")
            .unwrap_err()
            .contains("twice"));
        assert!(parse_list("PrometheusProto")
            .unwrap_err()
            .contains("not supported"));
        assert!(parse_list("text").unwrap_err().contains("supported: "));
        assert!(parse_list("").is_err());
    }
}
