//! The host against trivial filters written in WAT (`filters.rs`): configuration accepted and
//! rejected, local responses, header changes, properties, foreign functions, the injected clock,
//! randomness and log sink, and faults — deadlines, fuel, memory, traps — after which the host
//! replaces the VM and keeps serving. aapkit's own filter is tested through this host in
//! `host-runtime/aapkit/tests/all/wasm_host_*.rs` and `tests/tests/fixture_parity.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod filters;

mod configure;
mod faults;
mod foreign;
mod requests;
