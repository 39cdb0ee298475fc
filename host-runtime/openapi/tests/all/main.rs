//! The OpenAPI service end to end on a real store: requests signed as the SDKs sign them
//! (both schemes, with policy-core's signer functions, which policy-core checks against vectors
//! from the SDKs), every refusal with its code and status, and nothing half-written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

mod actions;
mod auth;
mod hostile;
