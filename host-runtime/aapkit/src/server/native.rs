//! The enforcer that calls policy-core natively (no wasm): the same decisions as the filter,
//! used for `aapkit serve --enforcer native` and to measure the filter's overhead.

use std::sync::Arc;

use policy_core::{authorize, compile_bundle, CompiledBundle, ErrorCode, HttpRequestView, PeerAddr};

use super::enforcer::{Caller, ConfigureError, EnforceOutcome, EnforceRequest, Enforcer, PreparedPolicy};
use aapkit_kms::native_rsa::NativeVerifier;

#[derive(Default)]
pub struct NativeEnforcer {}

impl NativeEnforcer {
    pub fn new() -> Self {
        Self::default()
    }
}

/// The deny response for a request the gateway cannot decide: fail closed.
pub(crate) fn internal_failure(message: &str, request_id: &str) -> EnforceOutcome {
    let code = ErrorCode::InternalFailure;
    EnforceOutcome::Deny {
        status: code.http_status(),
        headers: vec![("content-type".into(), "application/x-protobuf".into())],
        body: policy_core::wire::encode_error_code(code, message, request_id),
        authenticated: None,
        detail: String::new(),
    }
}

impl Enforcer for NativeEnforcer {
    fn prepare(&self, bundle_json: &str) -> Result<PreparedPolicy, ConfigureError> {
        compile(bundle_json).map(PreparedPolicy::Native)
    }

    fn check_with(&self, policy: &PreparedPolicy, req: &EnforceRequest<'_>) -> EnforceOutcome {
        match policy {
            PreparedPolicy::Native(bundle) => decide(bundle, req),
            PreparedPolicy::Wasm(_) => internal_failure("The policy was prepared by another enforcer.", req.request_id),
        }
    }

    fn kind(&self) -> &'static str {
        "native"
    }
}

fn compile(bundle_json: &str) -> Result<Arc<CompiledBundle>, ConfigureError> {
    compile_bundle(bundle_json).map(Arc::new).map_err(ConfigureError::Rejected)
}

fn decide(bundle: &CompiledBundle, req: &EnforceRequest<'_>) -> EnforceOutcome {
    let headers: Vec<(&str, &str)> = req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let xff = forwarded_for(req.headers);
    let view = HttpRequestView { method: "POST", headers: &headers, body: req.body };
    let peer = PeerAddr { ip: req.peer.ip(), forwarded_for: xff.as_deref() };
    let decision = authorize(bundle, &view, peer, req.now, &NativeVerifier);
    if decision.allowed() {
        EnforceOutcome::Allow(Caller {
            client_key_id: decision.client_key().unwrap_or_default().to_string(),
            aap: decision.aap().unwrap_or_default().to_string(),
            policy: decision.policy().unwrap_or_default().to_string(),
            resource: super::enforcer::resource_label(decision.api(), decision.resource()),
            qps_group: decision.qps_group(),
            authorized: super::enforcer::authorized(
                decision.api(),
                decision.resource(),
                decision.key_version(),
                decision.secret_key(),
                bundle.generation(),
            ),
        })
    } else {
        match decision.error_body(req.request_id) {
            Some(body) => EnforceOutcome::Deny {
                status: decision.http_status(),
                headers: vec![("content-type".into(), "application/x-protobuf".into())],
                body,
                authenticated: decision
                    .client_key()
                    .map(|id| super::enforcer::AuthenticatedCaller { client_key_id: id.to_owned() }),
                detail: deny_detail(&decision),
            },
            None => internal_failure("The request was denied without a reason.", req.request_id),
        }
    }
}

/// The operator's message when it says more than the caller's.
fn deny_detail(decision: &policy_core::Decision<'_>) -> String {
    let full = decision.message();
    if full == decision.wire_message() {
        String::new()
    } else {
        full
    }
}

/// All `x-forwarded-for` values joined by `,` (a request may carry the header more than once).
pub(crate) fn forwarded_for(headers: &[(String, String)]) -> Option<String> {
    let mut parts = headers.iter().filter(|(k, _)| k == "x-forwarded-for").map(|(_, v)| v.as_str()).peekable();
    parts.peek()?;
    Some(parts.collect::<Vec<_>>().join(","))
}
