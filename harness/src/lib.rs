//! Real processes for the end-to-end tests (`tests/`) and the demo (`demo/`), after istio/proxy's
//! `test/envoye2e/driver`: children that cannot outlive their parent (`setpriv --pdeathsig
//! KILL`), the project's binaries refused when stale, Envoy started from generated sidecar
//! bootstraps (inbound, outbound, client with EDS) and waited on until `/ready`, and
//! `/stats/prometheus` scraped with retries.
//!
//! ```no_run
//! use mixerless_harness::{bootstrap::Bootstrap, envoy::Envoy, http};
//!
//! let envoy = Envoy::start(&Bootstrap::inbound("{}").render()).unwrap();
//! http::get(&envoy.listener_url("/")).unwrap();
//! ```

pub mod bootstrap;
pub mod envoy;
pub mod http;
pub mod paths;
pub mod process;
pub mod prometheus;
pub mod stats;
