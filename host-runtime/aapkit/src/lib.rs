//! aapkit: the gateway behind the `aapkit` binary, assembled from the host crates.
//!
//! The pieces live in their own crates (`aapkit-kms`, `aapkit-store`, `aapkit-pki`,
//! `proxy-wasm-host`); this crate holds what a deployment runs: the command line, the HTTPS server
//! and its request path, operations, the load generator, and the assembly ([`runtime`]).
//! `ARCHITECTURE.md` shows how they fit together.

/// The control-plane command line of the `aapkit` binary.
pub mod cli;
/// The load generator (`aapkit loadgen`).
pub mod loadgen;
/// Operations: audit log, expiry notices, QPS quotas, metrics, the admin listener.
pub mod ops;
/// The assembly: store, key ring, enforcer and operations wired into a running gateway.
pub mod runtime;
/// The HTTPS server and the request path.
pub mod server;
