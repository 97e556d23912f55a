//! Istio's stat-name encoding: `name=.=value;.;` per label, then the metric name, so that
//! Envoy's `stats_tags` regexes cut each chunk out and leave `wasmcustom.<metric>`.

use std::fmt::Write as _;

/// Between a label name and its value.
pub const VALUE_SEPARATOR: &str = "=.=";
/// After each value.
pub const FIELD_SEPARATOR: &str = ";.;";
/// Longest label value kept; longer values are cut (at a character boundary).
pub const MAX_VALUE_LEN: usize = 256;

/// Appends `value` to `out` so that it cannot break the encoding: `;` and `=` (the separators'
/// ends, so neither `=.=`, `;.;` nor a value ending in `;.` can appear) and control characters
/// become `_`, and the value is cut at [`MAX_VALUE_LEN`] bytes.
pub fn push_sanitized(out: &mut String, value: &str) {
    let mut len = 0;
    for c in value.chars() {
        len += c.len_utf8();
        if len > MAX_VALUE_LEN {
            break;
        }
        out.push(if c == ';' || c == '=' || c.is_control() {
            '_'
        } else {
            c
        });
    }
}

/// [`push_sanitized`] into a new string.
pub fn sanitized(value: &str) -> String {
    let mut s = String::with_capacity(value.len().min(MAX_VALUE_LEN));
    push_sanitized(&mut s, value);
    s
}

/// Appends an integer label value.
pub fn push_int(out: &mut String, value: i64) {
    let _ = write!(out, "{value}");
}

/// The full stat name for `metric` with already-sanitized `(name, value)` labels.
pub fn stat_name<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>, metric: &str) -> String {
    let mut name = String::with_capacity(1024);
    for (k, v) in labels {
        name.push_str(k);
        name.push_str(VALUE_SEPARATOR);
        name.push_str(v);
        name.push_str(FIELD_SEPARATOR);
    }
    name.push_str(metric);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates the exact encoding Istio's stats_tags expect.
    #[test]
    fn encodes_like_istio() {
        let name = stat_name(
            [
                ("reporter", "destination"),
                ("response_code", "200"),
                ("grpc_response_status", ""),
            ]
            .into_iter(),
            "istio_requests_total",
        );
        assert_eq!(
            name,
            "reporter=.=destination;.;response_code=.=200;.;grpc_response_status=.=;.;istio_requests_total"
        );
    }

    /// Demonstrates that hostile values cannot form separators and stay bounded.
    #[test]
    fn sanitizes() {
        let cases: [(&str, &str); 6] = [
            ("productpage-v1", "productpage-v1"),
            ("a=.=b;.;c", "a_._b_._c"),
            ("x;.", "x_."),
            ("line\nbreak\t\u{7f}", "line_break__"),
            (
                "spiffe://cluster.local/ns/default/sa/client",
                "spiffe://cluster.local/ns/default/sa/client",
            ),
            ("héllo:8080", "héllo:8080"),
        ];
        for (input, want) in cases {
            let mut s = String::new();
            push_sanitized(&mut s, input);
            assert_eq!(s, want);
        }
        let mut s = String::new();
        push_sanitized(&mut s, &"é".repeat(200));
        assert_eq!(s.len(), MAX_VALUE_LEN);
        assert!(!s.contains(FIELD_SEPARATOR) && !s.contains(VALUE_SEPARATOR));
    }
}
