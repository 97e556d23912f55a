//! Reading `/stats/prometheus` in tests: samples with their labels, and lookups by label set.
//! (Only what assertions need; the adapter has the full exposition parser.)

use std::collections::BTreeMap;

/// One exposition line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }

    /// True when every `(name, value)` pair is among the sample's labels.
    pub fn has(&self, pairs: &[(&str, &str)]) -> bool {
        pairs.iter().all(|(k, v)| self.label(k) == Some(*v))
    }
}

/// Samples named `name` whose labels include `pairs`.
pub fn find<'a>(samples: &'a [Sample], name: &str, pairs: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name && s.has(pairs))
        .collect()
}

/// Sum of the values of [`find`].
pub fn sum(samples: &[Sample], name: &str, pairs: &[(&str, &str)]) -> f64 {
    find(samples, name, pairs).iter().map(|s| s.value).sum()
}

/// Parses Prometheus text exposition (0.0.4) as Envoy writes it.
pub fn parse(text: &str) -> anyhow::Result<Vec<Sample>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(
            parse_line(line)
                .ok_or_else(|| anyhow::anyhow!("line {}: cannot parse {line:?}", n + 1))?,
        );
    }
    Ok(out)
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line.get(..name_end)?.to_owned();
    let mut rest = line.get(name_end..)?;
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices();
        loop {
            let (start, c) = chars.next()?;
            if c == '}' {
                rest = body.get(start + 1..)?;
                break;
            }
            if c == ',' {
                continue;
            }
            let eq = body.get(start..)?.find('=')? + start;
            let key = body.get(start..eq)?.to_owned();
            while chars.next()?.0 < eq + 1 {}
            let mut value = String::new();
            loop {
                match chars.next()?.1 {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    other => value.push(other),
                }
            }
            labels.insert(key, value);
        }
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates that labels with escapes, empty label sets and +Inf parse.
    #[test]
    fn parses_envoy_lines() {
        let s = parse("# TYPE a counter\na{} 5\nb{x=\"1\",y=\"q\\\"\\\\z\"} 2.5\nc_bucket{le=\"+Inf\"} +Inf\n").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].value, 5.0);
        assert_eq!(s[1].label("y"), Some("q\"\\z"));
        assert_eq!(s[1].label("x"), Some("1"));
        assert_eq!(s[2].label("le"), Some("+Inf"));
        assert!(s[2].value.is_infinite());
    }
}
