//! Query results and their Prometheus HTTP API JSON form.

use serde_json::{json, Map, Value as Json};

use crate::labels::Labels;

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Labels, `__name__` included when the expression keeps it.
    pub labels: Labels,
    /// Evaluation time in milliseconds.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// One series of a range result.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Labels.
    pub labels: Labels,
    /// `(t_ms, v)` points, oldest first.
    pub points: Vec<(i64, f64)>,
}

/// A query result.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A number at time `t` (ms).
    Scalar {
        /// Evaluation time in milliseconds.
        t: i64,
        /// Value.
        v: f64,
    },
    /// An instant vector.
    Vector(Vec<Sample>),
    /// A range vector, or the result of a range query.
    Matrix(Vec<Series>),
    /// A string literal at time `t` (ms).
    String {
        /// Evaluation time in milliseconds.
        t: i64,
        /// Value.
        v: String,
    },
}

impl Value {
    /// The `data` object of Prometheus' `/api/v1/query` (and `query_range`) response.
    pub fn to_api_json(&self) -> Json {
        let (kind, result) = match self {
            Value::Scalar { t, v } => ("scalar", point(*t, &format_value(*v))),
            Value::String { t, v } => ("string", point(*t, v)),
            Value::Vector(samples) => (
                "vector",
                Json::Array(
                    samples.iter().map(|s| json!({"metric": metric(&s.labels), "value": point(s.t, &format_value(s.v))})).collect(),
                ),
            ),
            Value::Matrix(series) => (
                "matrix",
                Json::Array(
                    series
                        .iter()
                        .map(|s| {
                            let values: Vec<Json> = s.points.iter().map(|(t, v)| point(*t, &format_value(*v))).collect();
                            json!({"metric": metric(&s.labels), "values": values})
                        })
                        .collect(),
                ),
            ),
        };
        json!({"resultType": kind, "result": result})
    }
}

fn metric(l: &Labels) -> Json {
    Json::Object(
        l.iter()
            .map(|(k, v)| (k.to_string(), Json::String(v.to_string())))
            .collect::<Map<_, _>>(),
    )
}

fn point(t: i64, v: &str) -> Json {
    // Prometheus writes whole seconds as an integer and otherwise seconds with milliseconds.
    let secs = if t % 1000 == 0 {
        Json::from(t / 1000)
    } else {
        serde_json::Number::from_f64(t as f64 / 1000.0).map_or(Json::Null, Json::Number)
    };
    json!([secs, v])
}

/// A float as Prometheus' API prints it (`strconv.FormatFloat(v, 'f', -1, 64)`, `NaN`, `+Inf`, `-Inf`).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}
