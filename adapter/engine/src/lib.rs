//! The adapter's engine: exposition parser, series store and PromQL evaluator with
//! Prometheus 3 semantics.
//!
//! ```
//! use mixerless_engine::{promql::{Engine, EngineOptions, Value}, store::{Store, StoreConfig}};
//!
//! let mut store = Store::new(StoreConfig::default());
//! let target = [("job".to_string(), "app".to_string())];
//! store.ingest(&target, 0, b"# TYPE req_total counter\nreq_total{code=\"200\"} 10\n").unwrap();
//! store.ingest(&target, 60_000, b"# TYPE req_total counter\nreq_total{code=\"200\"} 70\n").unwrap();
//! let engine = Engine::new(EngineOptions::default());
//! let v = engine.instant(&store, "sum(rate(req_total[2m]))", 60_000).unwrap();
//! let Value::Vector(s) = v else { panic!() };
//! // 60 requests in 60 s; extrapolated to the window start, clamped where the counter was 0.
//! assert!((s[0].v - 70.0 / 120.0).abs() < 1e-12);
//! ```

pub mod exposition;
pub mod labels;
pub mod promql;
pub mod promqltest;
pub mod store;

pub use labels::Labels;
