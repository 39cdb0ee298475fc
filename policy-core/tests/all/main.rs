//! Integration tests of policy-core: data-driven vectors (bundles, requests, RSA), property tests against naive models, the SDK vector.
//!
//! One test binary (modules, as wasmtime does) instead of one per file: linking dominates on two cores.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::type_complexity)]

mod bundle_errors;
mod decide_model;
mod decisions;
mod fixture;
mod impact;
mod impact_fixtures;
mod openapi_properties;
mod openapi_vectors;
mod request_verifier;
mod rsa_differential;
mod rsa_key_parsing;
mod rsa_sdk_vector;
mod rsa_wycheproof;
mod shared_gateway;
mod signed_headers_model;
