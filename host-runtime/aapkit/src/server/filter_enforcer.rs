//! The server's [`Enforcer`] over the filter host: the `wasm` enforcer.

use crate::server::enforcer::{AuthenticatedCaller, PreparedPolicy};
use crate::server::{Caller, EnforceOutcome, EnforceRequest, Enforcer};

use proxy_wasm_host::{FilterHost, FilterOutcome, FilterRequest, PreparedBundle};

use policy_core::gateway::deny_properties;
use policy_core::gateway::upstream_headers as up;

impl Enforcer for FilterHost {
    fn configure(&self, bundle_json: &str) -> Result<(), Vec<String>> {
        FilterHost::configure(self, bundle_json)
    }

    fn prepare(&self, bundle_json: &str) -> Result<PreparedPolicy, Vec<String>> {
        FilterHost::prepare(self, bundle_json).map(PreparedPolicy::Wasm)
    }

    fn check(&self, req: &EnforceRequest<'_>) -> EnforceOutcome {
        check(self, None, req)
    }

    fn check_with(&self, policy: &PreparedPolicy, req: &EnforceRequest<'_>) -> EnforceOutcome {
        match policy {
            PreparedPolicy::Wasm(bundle) => check(self, Some(bundle), req),
            PreparedPolicy::Native(_) => deny(proxy_wasm_host::internal_failure(req.request_id)),
        }
    }

    fn kind(&self) -> &'static str {
        "wasm"
    }

    fn filter_stats(&self) -> Option<proxy_wasm_host::FilterHostStats> {
        Some(self.stats())
    }
}

fn check(host: &FilterHost, bundle: Option<&PreparedBundle>, req: &EnforceRequest<'_>) -> EnforceOutcome {
    let source = req.peer.to_string();
    let now_nanos = u64::try_from(req.now).ok().and_then(|s| s.checked_mul(1_000_000_000));
    let filter_request =
        FilterRequest { headers: req.headers, body: req.body, source_address: &source, now_nanos, trailers: &[] };
    // The server's request id is the one in every response: the filter reads x-request-id.
    match host.run_for_gateway(bundle, &filter_request, req.request_id) {
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
                        Err(_) => return deny(proxy_wasm_host::internal_failure(req.request_id)),
                    },
                    _ => {}
                }
            }
            if caller.client_key_id.is_empty() {
                // An allow that names no caller is not one.
                return deny(proxy_wasm_host::internal_failure(req.request_id));
            }
            let api = req
                .headers
                .iter()
                .find(|(k, _)| k == "x-kms-apiname")
                .and_then(|(_, v)| policy_core::Api::from_name(v));
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
        FilterOutcome::Continue { .. } => EnforceOutcome::Deny {
            status: 500,
            headers: Vec::new(),
            body: Vec::new(),
            authenticated: None,
            detail: String::new(),
        },
    }
}
