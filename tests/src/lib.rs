//! A driver for end-to-end tests with real Envoy, after istio/proxy's `test/envoye2e/driver`:
//! generate a bootstrap, start Envoy with the built filter, send requests, scrape
//! `/stats/prometheus` with retries, and always stop Envoy when the test ends.
//!
//! ```no_run
//! use mixerless_e2e::{bootstrap::Bootstrap, envoy::Envoy, http};
//!
//! let envoy = Envoy::start(&Bootstrap::inbound("{}").render()).unwrap();
//! http::get(&envoy.listener_url("/")).unwrap();
//! ```

pub mod app;
pub mod bootstrap;
pub mod certs;
pub mod envoy;
pub mod hpa;
pub mod http;
pub mod istio;
pub mod kube_api;
pub mod paths;
pub mod process;
pub mod stats;
