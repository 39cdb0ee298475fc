//! The server's [`Enforcer`] over the filter host: the `wasm` enforcer.

use crate::server::{Caller, EnforceOutcome, EnforceRequest, Enforcer};

use super::{FilterHost, FilterOutcome, FilterRequest};

use policy_core::gateway::upstream_headers as up;

impl Enforcer for FilterHost {
    fn configure(&self, bundle_json: &str) -> Result<(), Vec<String>> {
        FilterHost::configure(self, bundle_json)
    }

    fn check(&self, req: &EnforceRequest<'_>) -> EnforceOutcome {
        // The server's request id is the one in every response: the filter reads x-request-id.
        let mut headers: Vec<(String, String)> =
            req.headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("x-request-id")).cloned().collect();
        headers.push(("x-request-id".into(), req.request_id.to_string()));
        let source = req.peer.to_string();
        let now_nanos = u64::try_from(req.now).ok().and_then(|s| s.checked_mul(1_000_000_000));
        let outcome = self.run_request(&FilterRequest {
            headers: &headers,
            body: req.body,
            source_address: &source,
            now_nanos,
            trailers: &[],
        });
        match outcome {
            FilterOutcome::Continue { added_headers, .. } => {
                let get = |name: &str| {
                    added_headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
                };
                let api = req
                    .headers
                    .iter()
                    .find(|(k, _)| k == "x-kms-apiname")
                    .and_then(|(_, v)| policy_core::Api::from_name(v));
                let resource = get(up::RESOURCE);
                let caller = Caller {
                    client_key_id: get(up::CLIENT_KEY),
                    aap: get(up::AAP),
                    policy: get(up::POLICY),
                    resource: crate::server::enforcer::resource_label(
                        api,
                        (!resource.is_empty()).then_some(resource.as_str()),
                    ),
                    qps_group: policy_core::QpsGroup::from_name(&get(up::QPS_GROUP)),
                };
                if caller.client_key_id.is_empty() {
                    // An allow that names no caller is not one.
                    return deny(super::internal_failure(req.request_id));
                }
                EnforceOutcome::Allow(caller)
            }
            local => deny(local),
        }
    }

    fn kind(&self) -> &'static str {
        "wasm"
    }

    fn filter_stats(&self) -> Option<super::FilterHostStats> {
        Some(self.stats())
    }
}

fn deny(outcome: FilterOutcome) -> EnforceOutcome {
    match outcome {
        FilterOutcome::LocalResponse { status, headers, body } => EnforceOutcome::Deny { status, headers, body },
        FilterOutcome::Continue { .. } => EnforceOutcome::Deny { status: 500, headers: Vec::new(), body: Vec::new() },
    }
}
