//! Integration tests of the `aapkit` binary and its server: the CLI, a real server over HTTPS, operations, the trust decision, and the filter in the wasmtime host.
//!
//! One test binary (modules, as wasmtime does) instead of one per file: linking dominates on two cores.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_access;
mod cli_access_key;
mod cli_bundle;
mod cli_bundle_watch;
mod cli_client_key;
mod cli_impact;
mod cli_keys;
mod cli_misc;
mod cli_ram_role;
mod cli_secrets;
mod cli_support;
mod cluster_pg;
mod kms_endpoint_data_plane;
mod ops_audit;
mod ops_bundle_eval;
mod ops_crash;
mod ops_events;
mod ops_expiry;
mod ops_metrics;
mod ops_support;
mod ops_untrusted;
mod server_limits;
mod trust_decision;
mod wasm_host_filter;
mod wasm_host_verify_signature;
