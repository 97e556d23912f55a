//! The result policy: which query results become a served value, and which become an error
//! the HPA sees. Never a silent 0.

use crate::hpa::OnEmpty;
use crate::querier::Value;

/// Why a query result is not served.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// An empty vector (and no `on-empty: zero`).
    #[error(
        "query returned no series (write `... or vector(0)` or set on-empty: zero if none means 0)"
    )]
    Empty,
    /// Several series: the HPA would sum them, which is rarely what the query meant.
    #[error("query returned {count} series, first {first}; aggregate to one (sum, max, ...)")]
    Several { count: usize, first: String },
    /// NaN, e.g. 0/0 when there is no traffic.
    #[error("query returned NaN")]
    NaN,
    /// ±Inf, e.g. x/0.
    #[error("query returned {0}")]
    Infinite(f64),
    /// A range vector or string.
    #[error("query returned a {0}, not a scalar or instant vector")]
    WrongType(&'static str),
    /// Finite but without a Quantity form.
    #[error("{0}")]
    Quantity(#[from] crate::quantity::Error),
}

/// The value to serve for `value` under `on_empty`, as a number and its Quantity text.
pub fn apply(value: &Value, on_empty: OnEmpty) -> Result<(f64, String), PolicyError> {
    let v = match value {
        Value::Scalar { v, .. } => *v,
        Value::Vector(samples) => match samples.as_slice() {
            [] => match on_empty {
                OnEmpty::Zero => 0.0,
                OnEmpty::Error => return Err(PolicyError::Empty),
            },
            [one] => one.v,
            [first, ..] => {
                let labels: Vec<String> = first
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v:?}"))
                    .collect();
                return Err(PolicyError::Several {
                    count: samples.len(),
                    first: format!("{{{}}}", labels.join(", ")),
                });
            }
        },
        Value::Matrix(_) => return Err(PolicyError::WrongType("range vector")),
        Value::String(_) => return Err(PolicyError::WrongType("string")),
    };
    if v.is_nan() {
        return Err(PolicyError::NaN);
    }
    if v.is_infinite() {
        return Err(PolicyError::Infinite(v));
    }
    let q = crate::quantity::format(v)?;
    Ok((v, q))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::querier::Sample;

    fn vector(values: &[f64]) -> Value {
        Value::Vector(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| Sample {
                    labels: [("pod".to_owned(), format!("p{i}"))].into(),
                    t_ms: 0,
                    v: *v,
                })
                .collect(),
        )
    }

    /// Demonstrates the outcome of every kind of result, stated in the README's table.
    #[test]
    fn every_result_kind_has_a_defined_outcome() {
        let e = OnEmpty::Error;
        assert_eq!(apply(&vector(&[10.056]), e), Ok((10.056, "10056m".into())));
        assert_eq!(
            apply(&Value::Scalar { t_ms: 0, v: 1500.0 }, e),
            Ok((1500.0, "1500".into()))
        );
        assert_eq!(apply(&vector(&[]), e), Err(PolicyError::Empty));
        assert_eq!(apply(&vector(&[]), OnEmpty::Zero), Ok((0.0, "0".into())));
        assert_eq!(
            apply(&vector(&[f64::NAN]), OnEmpty::Zero),
            Err(PolicyError::NaN)
        );
        assert_eq!(
            apply(
                &Value::Scalar {
                    t_ms: 0,
                    v: f64::INFINITY
                },
                e
            ),
            Err(PolicyError::Infinite(f64::INFINITY))
        );
        let several = apply(&vector(&[1.0, 2.0]), e).unwrap_err().to_string();
        assert_eq!(
            several,
            "query returned 2 series, first {pod=\"p0\"}; aggregate to one (sum, max, ...)"
        );
        assert_eq!(
            apply(&Value::Matrix(3), e),
            Err(PolicyError::WrongType("range vector"))
        );
        assert!(matches!(
            apply(&vector(&[1e300]), e),
            Err(PolicyError::Quantity(_))
        ));
    }
}
