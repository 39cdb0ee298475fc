//! The server's [`Enforcer`] over the proxy-wasm host running aapkit's filter: the `wasm`
//! enforcer. Everything aapkit-specific about the filter lives here, not in `proxy-wasm-host`:
//! the `x-aapkit-*` headers it adds (stripped from clients' requests), the server's request id
//! given as `x-request-id`, the properties a deny carries, the KMS `InternalFailure` answer when
//! the host fails, and the typed bundle errors of a rejected bundle.

use policy_core::gateway::deny_properties;
use policy_core::gateway::upstream_headers as up;
use proxy_wasm_host::{
    FilterHost, FilterHostConfig, FilterHostError, FilterHostStats, FilterOutcome, FilterRequest, LogLevel,
    PluginConfig, PreparedConfig, QuickRun,
};

use crate::server::enforcer::{AuthenticatedCaller, ConfigureError, EnforceDoor, PreparedPolicy};
use crate::server::{Caller, EnforceOutcome, EnforceRequest, Enforcer};

/// The host settings aapkit's filter runs with: the `x-aapkit-*` headers only the filter may set
/// are dropped from incoming requests, and `verify_signature` is offered when `offload` is true
/// (otherwise the filter verifies in Wasm). The rest are the host's defaults.
pub fn host_config(offload: bool) -> FilterHostConfig {
    FilterHostConfig {
        foreign_functions: crate::server::foreign::functions(offload),
        strip_header_prefixes: vec![up::PREFIX.to_owned()],
        ..FilterHostConfig::default()
    }
}

/// The `wasm` enforcer: aapkit's filter in a [`FilterHost`].
pub struct FilterEnforcer {
    host: FilterHost,
    /// The module refused the compact form once: it gets the JSON from then on.
    compact_refused: std::sync::atomic::AtomicBool,
}

impl FilterEnforcer {
    /// Loads the filter module with `config` (start from [`host_config`]); the `x-aapkit-*`
    /// prefix is stripped from requests whatever `config` says.
    pub fn new(wasm: &[u8], mut config: FilterHostConfig) -> Result<FilterEnforcer, FilterHostError> {
        if !config.strip_header_prefixes.iter().any(|p| p.eq_ignore_ascii_case(up::PREFIX)) {
            config.strip_header_prefixes.push(up::PREFIX.to_owned());
        }
        Ok(FilterEnforcer { host: FilterHost::new(wasm, config)?, compact_refused: Default::default() })
    }

    /// The host, for its counters and test hooks.
    pub fn host(&self) -> &FilterHost {
        &self.host
    }
}

impl Enforcer for FilterEnforcer {
    fn prepare(&self, bundle_json: &str) -> Result<PreparedPolicy, ConfigureError> {
        prepare(&self.host, bundle_json).map(PreparedPolicy::Wasm)
    }

    /// The filter gets the compact form: each VM loads the tables policy-core compiled here,
    /// without parsing JSON or certificates. A filter module that refuses it (one built before the
    /// compact form, or with another layout version) gets the JSON, as before, and a warning once.
    fn needs_whole_documents(&self) -> bool {
        self.compact_refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn prepare_compiled(
        &self,
        mut compiled: policy_core::CompiledBundle,
    ) -> Result<(PreparedPolicy, std::sync::Arc<policy_core::CompiledBundle>), ConfigureError> {
        let mut prepared = None;
        if !self.compact_refused.load(std::sync::atomic::Ordering::Relaxed) {
            match self.host.prepare_config(compact_config(&compiled)) {
                Ok(config) => prepared = Some(config),
                Err(rejected @ proxy_wasm_host::ConfigureError::Rejected { .. }) => {
                    self.compact_refused.store(true, std::sync::atomic::Ordering::Relaxed);
                    eprintln!(
                        "aapkit: warning: {}; the filter gets the JSON bundle from now on",
                        compact_refusal(&rejected)
                    );
                }
                Err(fault) => return Err(ConfigureError::Host(fault.to_string())),
            }
        }
        let config = match prepared {
            Some(config) => config,
            None => {
                let json = compiled.bundle().map(policy_core::Bundle::to_json).ok_or_else(|| {
                    ConfigureError::Host(
                        "the filter refuses the compact form and this bundle was compiled without its whole document; \
                         the next reload reads the whole configuration"
                            .into(),
                    )
                })?;
                prepare(&self.host, &json)?
            }
        };
        compiled.drop_source();
        Ok((PreparedPolicy::Wasm(config), std::sync::Arc::new(compiled)))
    }

    fn check_with(&self, policy: &PreparedPolicy, req: &EnforceRequest<'_>) -> EnforceOutcome {
        match policy {
            PreparedPolicy::Wasm(config) => check(&self.host, config, req),
            PreparedPolicy::Native(_) => deny(internal_failure(req.request_id)),
        }
    }

    fn check_quick(&self, policy: &PreparedPolicy, req: &EnforceRequest<'_>) -> Option<EnforceOutcome> {
        let PreparedPolicy::Wasm(config) = policy else { return None };
        match as_filter_request(req, |r| self.host.run_quick(config, r)) {
            QuickRun::Done(outcome) => Some(enforce_outcome(fail_closed(outcome, req.request_id), req)),
            QuickRun::Declined => None,
        }
    }

    fn kind(&self) -> &'static str {
        "wasm"
    }

    fn filter_stats(&self) -> Option<FilterHostStats> {
        Some(self.host.stats())
    }
}

/// Has the filter check `bundle_json`. A bundle it rejects is compiled again by policy-core
/// natively for the typed errors: the filter runs the same `compile_bundle` and only logs each
/// error as a line, so re-deriving them gives the same errors, with their structure, instead of
/// parsing log text. Should policy-core accept what the filter refused (a filter built from
/// another policy-core, or a refusal that is not about the bundle), the filter's error lines are
/// reported as a host error.
pub fn prepare(host: &FilterHost, bundle_json: &str) -> Result<PreparedConfig, ConfigureError> {
    match host.prepare(bundle_json.as_bytes()) {
        Ok(prepared) => Ok(prepared),
        Err(rejected @ proxy_wasm_host::ConfigureError::Rejected { .. }) => {
            match policy_core::compile_bundle(bundle_json) {
                Err(errors) => Err(ConfigureError::Rejected(errors)),
                Ok(_) => {
                    let lines = rejected.messages(LogLevel::Warn);
                    let said = if lines.is_empty() { "nothing".to_owned() } else { lines.join("; ") };
                    Err(ConfigureError::Host(format!(
                        "the filter refused a bundle policy-core accepts; it said: {said}"
                    )))
                }
            }
        }
        Err(fault) => Err(ConfigureError::Host(fault.to_string())),
    }
}

/// The compact form of `compiled` as the filter's configuration, in its two parts
/// ([`policy_core::CompiledBundle::to_compact_parts`]): configurations compiled over one key
/// catalogue share that part, so the host holds one copy of it, and nothing is copied for it on an
/// access change.
pub fn compact_config(compiled: &policy_core::CompiledBundle) -> PluginConfig {
    let (head, catalogue) = compiled.to_compact_parts();
    PluginConfig::from_parts([std::sync::Arc::from(head), catalogue])
}

/// Has the filter load a compact form ([`policy_core::CompiledBundle::to_compact`]). It was
/// written from a bundle policy-core accepted, so a refusal is the host's or the filter's fault
/// (a filter from another version of policy-core, say), reported with what the filter said.
pub fn prepare_compact(host: &FilterHost, compact: impl Into<PluginConfig>) -> Result<PreparedConfig, ConfigureError> {
    match host.prepare_config(compact.into()) {
        Ok(prepared) => Ok(prepared),
        Err(rejected @ proxy_wasm_host::ConfigureError::Rejected { .. }) => {
            Err(ConfigureError::Host(compact_refusal(&rejected)))
        }
        Err(fault) => Err(ConfigureError::Host(fault.to_string())),
    }
}

fn compact_refusal(rejected: &proxy_wasm_host::ConfigureError) -> String {
    let lines = rejected.messages(LogLevel::Warn);
    let said = if lines.is_empty() { "nothing".to_owned() } else { lines.join("; ") };
    format!("the filter refused the compact form of the bundle; it said: {said}")
}

/// A request through the filter the way the gateway runs it: the server's request id as
/// `x-request-id` (replacing any the client sent, so the filter's responses carry the server's
/// id), and a host failure answered as aapkit answers any: [`internal_failure`].
pub fn run(host: &FilterHost, config: &PreparedConfig, req: &EnforceRequest<'_>) -> FilterOutcome {
    fail_closed(as_filter_request(req, |r| host.run_request_with(config, r)), req.request_id)
}

/// Calls `f` with `req` as the filter sees it.
fn as_filter_request<T>(req: &EnforceRequest<'_>, f: impl FnOnce(&FilterRequest<'_>) -> T) -> T {
    let source = req.peer.to_string();
    let now_nanos = u64::try_from(req.now).ok().and_then(|s| s.checked_mul(1_000_000_000));
    let set_headers = [("x-request-id", req.request_id)];
    f(&FilterRequest {
        headers: req.headers,
        body: req.body,
        source_address: &source,
        now_nanos,
        set_headers: &set_headers,
        ..FilterRequest::default()
    })
}

/// [`FilterOutcome::Failed`] becomes aapkit's answer to any failure on the request path:
/// `InternalFailure` 500 with `request_id`. Other outcomes are returned as they are.
pub fn fail_closed(outcome: FilterOutcome, request_id: &str) -> FilterOutcome {
    match outcome {
        FilterOutcome::Failed(_) => internal_failure(request_id),
        decided => decided,
    }
}

/// The response for any failure on the request path: `InternalFailure` 500.
pub fn internal_failure(request_id: &str) -> FilterOutcome {
    FilterOutcome::LocalResponse {
        status: 500,
        headers: vec![("content-type".into(), "application/x-protobuf".into())],
        body: policy_core::wire::encode_error(500, "InternalFailure", "Internal Failure.", request_id),
        properties: Vec::new(),
    }
}

fn check(host: &FilterHost, config: &PreparedConfig, req: &EnforceRequest<'_>) -> EnforceOutcome {
    enforce_outcome(run(host, config, req), req)
}

/// The decision in a filter's outcome (failures already answered by [`fail_closed`]).
fn enforce_outcome(outcome: FilterOutcome, req: &EnforceRequest<'_>) -> EnforceOutcome {
    match outcome {
        FilterOutcome::Continue { added_headers, .. } => {
            let mut caller = Caller::default();
            let (mut resource, mut key_version, mut secret_key) = (String::new(), String::new(), String::new());
            let mut generation = None;
            for (name, value) in added_headers {
                match name.as_str() {
                    up::CLIENT_KEY => caller.client_key_id = value,
                    up::AAP => caller.aap = value,
                    up::POLICY => caller.policy = value,
                    up::RESOURCE => resource = value,
                    up::QPS_GROUP => caller.qps_group = policy_core::QpsGroup::from_name(&value),
                    up::KEY_VERSION => key_version = value,
                    up::SECRET_KEY => secret_key = value,
                    up::GENERATION if value.is_empty() => {}
                    up::GENERATION => match value.parse::<u64>() {
                        Ok(g) => generation = Some(g),
                        // The filter always writes a number: anything else is not its allow.
                        Err(_) => return deny(internal_failure(req.request_id)),
                    },
                    _ => {}
                }
            }
            if caller.client_key_id.is_empty() {
                // An allow that names no caller is not one.
                return deny(internal_failure(req.request_id));
            }
            let api = match req.door {
                EnforceDoor::InstanceApi => req
                    .headers
                    .iter()
                    .find(|(k, _)| k == "x-kms-apiname")
                    .and_then(|(_, v)| policy_core::Api::from_name(v)),
                // The filter allows nothing else on the shared gateway.
                EnforceDoor::SharedGateway => Some(policy_core::Api::GetSecretValue),
            };
            let resource = (!resource.is_empty()).then_some(resource.as_str());
            caller.resource = crate::server::enforcer::resource_label(api, resource);
            caller.authorized = crate::server::enforcer::authorized(
                api,
                resource,
                Some(key_version.as_str()),
                Some(secret_key.as_str()),
                generation,
            );
            EnforceOutcome::Allow(caller)
        }
        local => deny(local),
    }
}

fn deny(outcome: FilterOutcome) -> EnforceOutcome {
    match outcome {
        FilterOutcome::LocalResponse { status, headers, body, properties } => {
            let property = |name: &str| properties.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            let authenticated = property(deny_properties::CLIENT_KEY)
                .filter(|id| !id.is_empty())
                .map(|client_key_id| AuthenticatedCaller { client_key_id });
            let detail = property(deny_properties::DETAIL).unwrap_or_default();
            // Only a detail that says more than the wire message is kept.
            let detail = match policy_core::wire::decode_error(&body) {
                Ok(e) if e.error_message == detail => String::new(),
                _ => detail,
            };
            EnforceOutcome::Deny { status, headers, body, authenticated, detail }
        }
        // `run` has turned failures into responses; an allow is not a deny.
        FilterOutcome::Continue { .. } | FilterOutcome::Failed(_) => EnforceOutcome::Deny {
            status: 500,
            headers: Vec::new(),
            body: Vec::new(),
            authenticated: None,
            detail: String::new(),
        },
    }
}
