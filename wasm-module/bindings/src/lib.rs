//! `aapkit-wasm`: policy-core for browsers and Node through wasm-bindgen.
//!
//! A façade only: every decision, check and message comes from policy-core. This crate converts
//! between JavaScript values and policy-core's types and emits TypeScript types for the JSON
//! shapes (see `types.rs`). The `#[wasm_bindgen]` exports live in the modules below.

mod bundle;
mod catalogue;
mod convert;
mod signed;
mod types;

pub use bundle::{compile_bundle, validate_bundle, PolicyHandle};
pub use catalogue::api_catalogue;
pub use signed::{inspect_signed_request, string_to_sign_js, verify_signed_request};
