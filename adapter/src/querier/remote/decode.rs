//! Reads the `data` object of a remote Prometheus' `/api/v1/query` answer into a [`Value`]:
//! the only place an evaluation's result is JSON on its way in.

use crate::querier::{Error, Sample, Value};

fn number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "+Inf" | "Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            s => s.parse().ok(),
        },
        serde_json::Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn point(v: &serde_json::Value) -> Option<(i64, f64)> {
    let arr = v.as_array()?;
    let t = arr.first()?.as_f64()?;
    let v = number(arr.get(1)?)?;
    Some(((t * 1000.0).round() as i64, v))
}

/// Reads the `data` object of a Prometheus `/api/v1/query` answer.
pub(super) fn from_api_json(data: &serde_json::Value) -> Result<Value, Error> {
    let bad = |what: &str| Error::Decode(format!("{what} in {}", truncate(&data.to_string())));
    let result = data.get("result").ok_or_else(|| bad("no result"))?;
    match data.get("resultType").and_then(|t| t.as_str()) {
        Some("scalar") => {
            let (t_ms, v) = point(result).ok_or_else(|| bad("bad scalar"))?;
            Ok(Value::Scalar { t_ms, v })
        }
        Some("vector") => {
            let items = result.as_array().ok_or_else(|| bad("bad vector"))?;
            let mut samples = Vec::with_capacity(items.len());
            for item in items {
                let labels = item
                    .get("metric")
                    .and_then(|m| m.as_object())
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                let (t_ms, v) = item
                    .get("value")
                    .and_then(point)
                    .ok_or_else(|| bad("bad sample"))?;
                samples.push(Sample { labels, t_ms, v });
            }
            Ok(Value::Vector(samples))
        }
        Some("matrix") => Ok(Value::Matrix(result.as_array().map_or(0, Vec::len))),
        Some("string") => Ok(Value::String(
            result
                .as_array()
                .and_then(|a| a.get(1))
                .and_then(|s| s.as_str())
                .unwrap_or_default()
                .to_owned(),
        )),
        _ => Err(bad("unknown resultType")),
    }
}

fn truncate(s: &str) -> String {
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Demonstrates reading each result type of the Prometheus API, special floats included.
    #[test]
    fn reads_each_result_type() {
        let v =
            from_api_json(&json!({"resultType":"scalar","result":[1700000000.5,"2.5"]})).unwrap();
        assert_eq!(
            v,
            Value::Scalar {
                t_ms: 1_700_000_000_500,
                v: 2.5
            }
        );
        let v = from_api_json(&json!({"resultType":"vector","result":[
            {"metric":{"job":"a"},"value":[1.0,"NaN"]},{"metric":{},"value":[1.0,"+Inf"]}]}))
        .unwrap();
        let Value::Vector(s) = v else {
            panic!("not a vector")
        };
        assert_eq!(s.len(), 2);
        assert!(s[0].v.is_nan());
        assert_eq!(s[0].labels.get("job").map(String::as_str), Some("a"));
        assert_eq!(s[1].v, f64::INFINITY);
        let v = from_api_json(&json!({"resultType":"matrix","result":[{"metric":{},"values":[]}]}))
            .unwrap();
        assert_eq!(v, Value::Matrix(1));
        assert!(from_api_json(&json!({"resultType":"vector"})).is_err());
    }
}
