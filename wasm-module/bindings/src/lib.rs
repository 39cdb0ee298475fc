//! `aapkit-wasm`: policy-core for browsers and Node through wasm-bindgen.
//!
//! A façade only: every decision, check and message comes from policy-core. This crate converts
//! between JavaScript values and policy-core's types. The TypeScript types of the JSON shapes are
//! derived from the Rust types with `tsify` (policy-core's behind its `tsify` feature), so the
//! `.d.ts` cannot drift from what is serialized. The `#[wasm_bindgen]` exports live in the
//! modules below.
//!
//! `#![forbid(unsafe_code)]`: the `unsafe` glue wasm-bindgen and tsify generate comes from their
//! macros (their spans), which the lint does not count against this crate; any `unsafe` written
//! here is refused.
#![forbid(unsafe_code)]

mod bundle;
mod catalogue;
mod convert;
mod impact;
mod rpc;
mod signed;

pub use bundle::{compile_bundle, validate_bundle, PolicyHandle};
pub use catalogue::api_catalogue;
pub use impact::{diff_bundles_js, format_impact};
pub use rpc::{inspect_rpc_request, verify_rpc_request};
pub use signed::{inspect_signed_request, string_to_sign_js, verify_signed_request};
