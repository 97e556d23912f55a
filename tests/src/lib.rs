//! What only the end-to-end tests need beside the process harness (`mixerless-harness`): a
//! recording app behind a sidecar, test certificates, HPA manifests, and Istio sidecar pairs with
//! their expected label sets.

pub mod app;
pub mod certs;
pub mod grpc;
pub mod hpa;
pub mod istio;
pub mod kube_api;
pub mod tcp;
