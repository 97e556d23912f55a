//! Kubernetes label selectors (`labelSelector=` of the external metrics API), as
//! `k8s.io/apimachinery/pkg/labels.Parse` reads them: `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
//! `k notin (a)`, `k`, `!k`, joined by commas. Written by hand: the only crate with this
//! parser is kube-rs' client, too large to pull in for one function.

use std::collections::BTreeMap;

/// A selector that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid labelSelector {input:?}: {reason}")]
pub struct Error {
    pub input: String,
    pub reason: String,
}

/// One requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed selector: all requirements must hold; empty selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector(pub Vec<Requirement>);

impl Selector {
    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            // Like apimachinery: a missing label satisfies `!=` and `notin`.
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

fn valid_key(k: &str) -> bool {
    let name = k.rsplit_once('/').map_or(k, |(prefix, name)| {
        // apimachinery: the prefix is a DNS-1123 subdomain (fuzz/regressions/selector).
        let dns = prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && prefix.starts_with(|c: char| c.is_ascii_alphanumeric())
            && prefix.ends_with(|c: char| c.is_ascii_alphanumeric());
        if prefix.is_empty() || prefix.len() > 253 || !dns {
            ""
        } else {
            name
        }
    });
    valid_value(name) && !name.is_empty()
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && v.chars().next().is_none_or(|c| c.is_ascii_alphanumeric())
        && v.chars().last().is_none_or(|c| c.is_ascii_alphanumeric())
}

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return None;
        }
    }
    if depth != 0 {
        return None;
    }
    parts.push(&s[start..]);
    Some(parts)
}

/// Parses a selector string; an empty string selects everything.
pub fn parse(input: &str) -> Result<Selector, Error> {
    let err = |reason: String| Error {
        input: input.to_owned(),
        reason,
    };
    if input.trim().is_empty() {
        return Ok(Selector::default());
    }
    let parts = split_top(input).ok_or_else(|| err("unbalanced parentheses".into()))?;
    let mut reqs = Vec::new();
    for part in parts {
        let p = part.trim();
        if p.is_empty() {
            return Err(err("empty requirement".into()));
        }
        let check_key = |k: &str| -> Result<String, Error> {
            if valid_key(k) {
                Ok(k.to_owned())
            } else {
                Err(err(format!("invalid label key {k:?}")))
            }
        };
        let check_value = |v: &str| -> Result<String, Error> {
            if valid_value(v) {
                Ok(v.to_owned())
            } else {
                Err(err(format!("invalid label value {v:?}")))
            }
        };
        let req = if let Some(k) = p.strip_prefix('!') {
            Requirement::DoesNotExist(check_key(k.trim())?)
        } else if let Some((k, v)) = p.split_once("!=") {
            Requirement::NotIn(check_key(k.trim())?, vec![check_value(v.trim())?])
        } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
            Requirement::In(check_key(k.trim())?, vec![check_value(v.trim())?])
        } else if let Some(open) = p.find('(') {
            let head = p[..open].trim();
            let body = p[open + 1..]
                .strip_suffix(')')
                .ok_or_else(|| err(format!("expected ')' at the end of {p:?}")))?;
            let (k, op) = head
                .rsplit_once(char::is_whitespace)
                .ok_or_else(|| err(format!("expected `key in (...)` in {p:?}")))?;
            let values = body
                .split(',')
                .map(|v| check_value(v.trim()))
                .collect::<Result<Vec<_>, _>>()?;
            match op {
                "in" => Requirement::In(check_key(k.trim())?, values),
                "notin" => Requirement::NotIn(check_key(k.trim())?, values),
                other => return Err(err(format!("unknown operator {other:?}"))),
            }
        } else if p.contains(char::is_whitespace) || p.contains(['<', '>']) {
            return Err(err(format!("cannot parse requirement {p:?}")));
        } else {
            Requirement::Exists(check_key(p)?)
        };
        reqs.push(req);
    }
    Ok(Selector(reqs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Demonstrates every form the HPA renders, and how each matches.
    #[test]
    fn parses_and_matches_each_form() {
        let l = labels(&[("type", "prometheus"), ("query-name", "rps")]);
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("type=prometheus", true),
            ("type==prometheus", true),
            ("type = prometheus", true),
            ("type!=prometheus", false),
            ("type=other", false),
            ("type in (a,prometheus)", true),
            ("type notin (a, prometheus)", false),
            ("query-name", true),
            ("!query-name", false),
            ("!missing", true),
            ("missing!=x", true),
            ("type=prometheus,query-name=rps", true),
            ("type=prometheus,query-name=p95", false),
            ("example.com/team=x", false),
        ];
        for (s, want) in cases {
            let sel = parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!(sel.matches(&l), *want, "{s:?}");
        }
    }

    /// Demonstrates that malformed selectors are errors that quote the input.
    #[test]
    fn rejects_malformed_selectors() {
        for s in [
            "type in (a",
            "=x",
            "type=a b",
            "a,,b",
            "type in a",
            "x>1",
            "type=$",
        ] {
            let e = parse(s).expect_err(s);
            assert!(e.to_string().contains(&format!("{s:?}")), "{e}");
        }
    }
}
