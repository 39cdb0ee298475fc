//! Where the access decision is made for each Instance API request.
//!
//! Two implementations of one trait: the proxy-wasm filter in wasmtime (the default: the same module
//! an Envoy deployment loads) and policy-core called natively (for comparison and benchmarks).
//! Both receive the same bundle and must reach the same decisions.

use std::net::SocketAddr;

/// One request as the enforcer sees it. Header names are lower case.
pub struct EnforceRequest<'a> {
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    pub peer: SocketAddr,
    /// Seconds since the Unix epoch, read by the server (the enforcer never reads a clock itself).
    pub now: i64,
    pub request_id: &'a str,
}

/// The allowed caller, as the enforcer identified it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    pub client_key_id: String,
    pub aap: String,
    pub policy: String,
}

#[derive(Debug)]
pub enum EnforceOutcome {
    Allow(Caller),
    /// A complete response to send instead of calling the handler (status, headers, body).
    Deny {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
}

/// Something that turns a bundle into decisions.
pub trait Enforcer: Send + Sync {
    /// Replaces the policy bundle. On error the previous bundle stays in force and every message
    /// names the JSON path at fault.
    fn configure(&self, bundle_json: &str) -> Result<(), Vec<String>>;
    fn check(&self, req: &EnforceRequest<'_>) -> EnforceOutcome;
    /// A short name for logs and metrics (`wasm` or `native`).
    fn kind(&self) -> &'static str;
}
