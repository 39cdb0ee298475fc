//! aapkit host runtime: the gateway behind the `aapkit` binary.
//!
//! Modules are split by concern; `docs/ARCHITECTURE.md` shows how they fit together.

/// The control-plane command line of the `aapkit` binary.
pub mod cli;
/// The native crypto backend and the Instance API operations.
pub mod kms;
/// The load generator (`aapkit loadgen`).
pub mod loadgen;
/// The native RSA verifier shared by the server and the wasm host.
pub mod native_rsa;
/// Operations: audit log, expiry notices, QPS quotas, metrics, the admin listener.
pub mod ops;
/// Client-key PKCS#12 files, the private CA and server certificates.
pub mod pki;
/// Protobuf messages of the KMS Instance API (prost).
pub mod proto;
/// The HTTPS server and the request path.
pub mod server;
/// The embedded store: SQLite, sealed key material.
pub mod store;
/// The wasmtime proxy-wasm host that runs the filter module.
pub mod wasm_host;
