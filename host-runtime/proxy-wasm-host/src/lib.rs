//! A [proxy-wasm](https://github.com/proxy-wasm/spec) (ABI 0.2.1) host on wasmtime, for running
//! HTTP filters written for Envoy — in Rust, Go, C++ or AssemblyScript with the proxy-wasm SDKs —
//! inside a Rust program, on the request path.
//!
//! The host knows nothing of what the filter decides. It runs the request side of an HTTP stream
//! through the filter (headers, body in chunks, trailers) and reports the [`FilterOutcome`]: the
//! request continues with the filter's header changes, the filter answered it locally, or it
//! [failed](FilterFailure) and the embedder must fail closed. What the embedder offers the guest
//! comes through [`FilterHostConfig`]: foreign functions by name (`proxy_call_foreign_function`),
//! the log sink, the clock and the random source.
//!
//! One [`wasmtime::Engine`] with the pooling allocator, the module compiled once, and a pool of VMs
//! (a `Store` plus an instance with its root context): a request checks a VM out, runs through it,
//! and gives it back. Each request has a budget ([`GuestLimit`]: a wall-clock deadline by epoch
//! interruption, or fuel) and each VM a memory ceiling. A VM that traps (deadline passed, out of
//! memory, a panic in the filter) is dropped and a fresh VM replaces it on demand, so the host keeps
//! serving.
//!
//! The plugin configuration (the bytes `proxy_on_configure` reads) is versioned:
//! [`FilterHost::prepare`] has the filter check it in a fresh VM and returns a [`PreparedConfig`];
//! [`FilterHost::configure`] also puts it in force. Every pooled VM applies a new configuration
//! before its next request; requests already inside a VM finish with the one they started with.
//! A configuration the filter refuses is a [`ConfigureError::Rejected`] carrying what it logged.
//!
//! ```no_run
//! use std::sync::Arc;
//! use proxy_wasm_host::{FilterHost, FilterHostConfig, FilterOutcome, FilterRequest, ForeignFunctions, LogLevel};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let wasm = std::fs::read("filter.wasm")?;
//! let config = FilterHostConfig {
//!     foreign_functions: ForeignFunctions::default()
//!         .with("echo", Arc::new(|args: &[u8]| Ok(args.to_vec()))),
//!     log_sink: Some(Arc::new(|level: LogLevel, line: &str| eprintln!("{level:?} {line}"))),
//!     ..FilterHostConfig::default()
//! };
//! let host = FilterHost::new(&wasm, config)?;
//! host.configure(br#"{"deny": "/admin"}"#)?;
//!
//! let headers = vec![(":path".to_string(), "/admin".to_string())];
//! match host.run_request(&FilterRequest { headers: &headers, ..FilterRequest::default() }) {
//!     FilterOutcome::Continue { added_headers, .. } => println!("pass, adding {added_headers:?}"),
//!     FilterOutcome::LocalResponse { status, .. } => println!("answered {status}"),
//!     FilterOutcome::Failed(why) => println!("fail closed: {why}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The modules: `abi` (constants, map format), `imports` (the `env` host functions), `wasi` (the
//! WASI subset), `vm` (one VM and the callback order), `host` (the pool and configuration
//! versions), `config` (what the embedder sets).

mod abi;
mod config;
mod host;
mod imports;
mod plugin_config;
mod state;
mod vm;
mod wasi;

pub use abi::LogLevel;
pub use config::{
    BadArgument, Clock, FilterHostConfig, ForeignFunction, ForeignFunctions, GuestLimit, HostFault, Hostcall, LogSink,
    RandomSource,
};
pub use host::{
    ConfigureError, FilterFailure, FilterHost, FilterHostError, FilterHostStats, FilterOutcome, FilterRequest,
    PreparedConfig, QuickRun, QUICK_PAUSE,
};
pub use plugin_config::PluginConfig;
