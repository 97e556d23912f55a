//! The shipped manifests in `istio/`, one module per theme: the objects themselves (`objects`:
//! kustomize builds, schema validation, cross-references), the adapter run with the Deployment's
//! own args (`adapter`), the Envoy configuration against real Envoy and Prometheus (`envoy`), the
//! generated mesh configuration (`generated`), the example HPAs (`hpa`) and the scrape jobs'
//! relabelling (`scrape`).
//!
//! Run one theme with `cargo nextest run -p mixerless-e2e --test manifests -E 'test(/^hpa::/)'`.

mod adapter;
mod common;
mod envoy;
mod fast;
mod generated;
mod hpa;
mod keda;
mod objects;
mod scrape;
