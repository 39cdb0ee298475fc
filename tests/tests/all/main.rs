//! Cross-crate tests: decision fixtures in every enforcer, and the official Python SDK against `aapkit serve`.
//!
//! One test binary (modules, as wasmtime does) instead of one per file: linking dominates on two cores.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::type_complexity)]

mod fixture_parity;
mod sdk_e2e;
