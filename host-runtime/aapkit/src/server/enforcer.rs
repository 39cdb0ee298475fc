//! Where the access decision is made for each Instance API request.
//!
//! Two implementations of one trait: the proxy-wasm filter in wasmtime (the default: the same module
//! an Envoy deployment loads) and policy-core called natively (for comparison and benchmarks).
//! Both receive the same bundle and must reach the same decisions.

use std::net::SocketAddr;
use std::sync::Arc;

pub use aapkit_kms::{Authorized, AuthorizedResource};

/// Which door a request came through: what the enforcer reads it as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EnforceDoor {
    /// The Instance API (protobuf body, `x-kms-*` headers).
    #[default]
    InstanceApi,
    /// A client-key RPC request on the KMS endpoint (the shared gateway): the headers carry
    /// `:method` and `:path` (with the query), a form body more parameters. An allow is always
    /// GetSecretValue.
    SharedGateway,
}

/// One request as the enforcer sees it. Header names are lower case.
pub struct EnforceRequest<'a> {
    pub door: EnforceDoor,
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
    /// `key/<KeyId>` or `secret/<SecretName>` as decided (aliases and blobs resolved), empty when
    /// the enforcer does not say (the gateway then reads it from the body itself).
    pub resource: String,
    /// The QPS quota group, when the enforcer knows it.
    pub qps_group: Option<policy_core::QpsGroup>,
    /// Exactly what was allowed, for the handler to execute (it never resolves a reference again).
    pub authorized: Authorized,
}

/// What an allow authorizes, from the decision's parts: the resolved key (and the version the
/// request named) or the secret and its encryption key. A part the API needs that is missing
/// leaves the resource `None`, which serves no keyed call (fail closed).
pub fn authorized(
    api: Option<policy_core::Api>,
    resource: Option<&str>,
    key_version: Option<&str>,
    secret_key: Option<&str>,
    generation: Option<u64>,
) -> Authorized {
    let present = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
    let resource = match (api.map(policy_core::Api::resource_kind), present(resource)) {
        (Some(policy_core::ResourceKind::Key), Some(key_id)) => {
            AuthorizedResource::Key { key_id, version_id: present(key_version) }
        }
        (Some(policy_core::ResourceKind::Secret), Some(name)) => match present(secret_key) {
            Some(key_id) => AuthorizedResource::Secret { name, key_id },
            None => AuthorizedResource::None,
        },
        _ => AuthorizedResource::None,
    };
    Authorized { generation, resource }
}

/// A bundle an enforcer has validated and compiled, ready to decide under, not yet in force:
/// the server publishes it together with the key ring of the same generation.
#[derive(Clone)]
pub enum PreparedPolicy {
    Native(Arc<policy_core::CompiledBundle>),
    Wasm(proxy_wasm_host::PreparedConfig),
}

/// The audit form of a resource: `key/<id>`, `secret/<name>`, empty for none.
pub fn resource_label(api: Option<policy_core::Api>, resource: Option<&str>) -> String {
    match (api.map(policy_core::Api::resource_kind), resource) {
        (Some(policy_core::ResourceKind::Key), Some(r)) => format!("key/{r}"),
        (Some(policy_core::ResourceKind::Secret), Some(r)) => format!("secret/{r}"),
        _ => String::new(),
    }
}

/// The client key of a denied request whose signature verified.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthenticatedCaller {
    pub client_key_id: String,
}

#[derive(Debug)]
pub enum EnforceOutcome {
    Allow(Caller),
    /// A complete response to send instead of calling the handler (status, headers, body).
    Deny {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        /// `Some` only when the request's signature verified: only then may the audit log name
        /// the key (anyone can send a key id).
        authenticated: Option<AuthenticatedCaller>,
        /// The operator's account of the deny (for a policy deny, the per-policy trace the
        /// caller is not told); empty when the wire message says it all.
        detail: String,
    },
}

/// Why an enforcer did not accept a bundle (whatever was in force stays in force).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigureError {
    /// The bundle is invalid: every mistake, each naming its JSON path.
    #[error("{0}")]
    Rejected(policy_core::BundleErrors),
    /// The enforcer could not judge the bundle (the filter VM failed, or the filter refused a
    /// bundle policy-core accepts).
    #[error("the enforcer could not check the bundle: {0}")]
    Host(String),
}

impl ConfigureError {
    /// One line per mistake.
    pub fn messages(&self) -> Vec<String> {
        match self {
            ConfigureError::Rejected(errors) => errors.errors().iter().map(ToString::to_string).collect(),
            ConfigureError::Host(message) => vec![message.clone()],
        }
    }
}

/// Something that turns a bundle into decisions.
pub trait Enforcer: Send + Sync {
    /// Validates and compiles a bundle without putting it in force anywhere: the server publishes
    /// it with the key ring of the same generation ([`crate::server::snapshot`]).
    fn prepare(&self, bundle_json: &str) -> Result<PreparedPolicy, ConfigureError>;
    /// Prepares a bundle policy-core has already validated and compiled (with its document): the
    /// gateway compiles each configuration once, natively, and every enforcer (for the filter,
    /// every VM) loads that instead of compiling the document again. Returns the policy and the
    /// compiled bundle without its document, for the decisions the host makes itself.
    fn prepare_compiled(
        &self,
        compiled: policy_core::CompiledBundle,
    ) -> Result<(PreparedPolicy, Arc<policy_core::CompiledBundle>), ConfigureError>;
    /// Decides under `policy` (prepared by this enforcer; another's fails closed). May block
    /// (a filter call runs to its deadline): the server calls it on the work pool.
    fn check_with(&self, policy: &PreparedPolicy, req: &EnforceRequest<'_>) -> EnforceOutcome;
    /// [`Enforcer::check_with`] when deciding is known to be quick (microseconds, nothing to wait
    /// for, no configuration to load), so that the server may decide on an async worker without
    /// a hand-off to the work pool. `None` when it is not: then nothing happened, and the server
    /// calls [`Enforcer::check_with`] on the pool. The request's size is the server's to bound.
    fn check_quick(&self, _policy: &PreparedPolicy, _req: &EnforceRequest<'_>) -> Option<EnforceOutcome> {
        None
    }
    /// Whether [`Enforcer::prepare_compiled`] needs bundles compiled from a whole document (a
    /// filter that refuses the compact form gets the JSON): then a reload reads the whole
    /// configuration, never compiling over a previous key catalogue.
    fn needs_whole_documents(&self) -> bool {
        false
    }
    /// A short name for logs and metrics (`wasm` or `native`).
    fn kind(&self) -> &'static str;
    /// Counters of the filter host (traps, VM restarts), for the metrics; `None` when not wasm.
    fn filter_stats(&self) -> Option<proxy_wasm_host::FilterHostStats> {
        None
    }
}
