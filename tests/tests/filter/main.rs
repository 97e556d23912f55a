//! The filter in real Envoy, one module per theme: the foundation (the module loads and counts),
//! a client and a server sidecar reporting Istio's labels (`e2e`), the test-only Istio exchange
//! alone (`exchange_sim`) and the filter behind it (`istio`), the network filter's TCP metrics
//! (`tcp`) and gRPC message counters (`grpc`).
//!
//! One test binary for all of them: each would otherwise link tokio, hyper and the engine again.
//! Run one theme with `cargo nextest run -p mixerless-e2e --test filter -E 'test(/^istio::/)'`.

mod e2e;
mod exchange_sim;
mod foundation;
mod grpc;
mod istio;
mod tcp;
