//! The enforcer that calls policy-core natively (no wasm): the same decisions as the filter,
//! used for `aapkit serve --enforcer native` and to measure the filter's overhead.

use std::sync::Arc;

use policy_core::{authorize, compile_bundle, CompiledBundle, ErrorCode, HttpRequestView, PeerAddr};

use super::enforcer::{Caller, ConfigureError, EnforceDoor, EnforceOutcome, EnforceRequest, Enforcer, PreparedPolicy};
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

    fn prepare_compiled(
        &self,
        mut compiled: CompiledBundle,
    ) -> Result<(PreparedPolicy, Arc<CompiledBundle>), ConfigureError> {
        compiled.drop_source();
        let compiled = Arc::new(compiled);
        Ok((PreparedPolicy::Native(Arc::clone(&compiled)), compiled))
    }

    fn check_with(&self, policy: &PreparedPolicy, req: &EnforceRequest<'_>) -> EnforceOutcome {
        match policy {
            PreparedPolicy::Native(bundle) => match req.door {
                EnforceDoor::InstanceApi => decide(bundle, req),
                EnforceDoor::SharedGateway => decide_shared_gateway(bundle, req),
            },
            PreparedPolicy::Wasm(_) => internal_failure("The policy was prepared by another enforcer.", req.request_id),
        }
    }

    fn check_quick(&self, policy: &PreparedPolicy, req: &EnforceRequest<'_>) -> Option<EnforceOutcome> {
        // A decision and at most one RSA verification: microseconds for a body of bounded size.
        Some(self.check_with(policy, req))
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

/// A client-key RPC request on the KMS endpoint, decided by policy-core as the filter decides it:
/// the parameters of the `:path` query and a form body, `authorize_shared_gateway`, and Alibaba's
/// JSON error body for a deny.
fn decide_shared_gateway(bundle: &CompiledBundle, req: &EnforceRequest<'_>) -> EnforceOutcome {
    use policy_core::openapi::{authorize_shared_gateway, openapi_error_json, OpenApiCode, RpcRequestView};
    let header = |name: &str| req.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let host_id = header(":authority").or_else(|| header("host")).unwrap_or_default();
    let json_deny = |status: u16, body: String, authenticated, detail| EnforceOutcome::Deny {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into_bytes(),
        authenticated,
        detail,
    };
    let Some(params) = rpc_params(header(":path").unwrap_or("/"), header("content-type"), req.body) else {
        let code = OpenApiCode::InvalidParameter;
        let body = openapi_error_json(code, "The request parameters cannot be read.", req.request_id, host_id);
        return json_deny(code.http_status(), body, None, String::new());
    };
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let view = RpcRequestView { method: header(":method").unwrap_or("POST"), params: &pairs };
    let xff = forwarded_for(req.headers);
    let peer = PeerAddr { ip: req.peer.ip(), forwarded_for: xff.as_deref() };
    let shared = authorize_shared_gateway(bundle, &view, peer, req.now, &NativeVerifier);
    let decision = shared.decision();
    if shared.allowed() {
        let api = Some(policy_core::Api::GetSecretValue);
        return EnforceOutcome::Allow(Caller {
            client_key_id: decision.client_key().unwrap_or_default().to_string(),
            aap: decision.aap().unwrap_or_default().to_string(),
            policy: decision.policy().unwrap_or_default().to_string(),
            resource: super::enforcer::resource_label(api, decision.resource()),
            qps_group: decision.qps_group(),
            authorized: super::enforcer::authorized(
                api,
                decision.resource(),
                None,
                decision.secret_key(),
                bundle.generation(),
            ),
        });
    }
    let body = shared.error_json(req.request_id, host_id).unwrap_or_default();
    let authenticated =
        decision.client_key().map(|id| super::enforcer::AuthenticatedCaller { client_key_id: id.to_owned() });
    let full = shared.message();
    let detail = if full == shared.wire_message() { String::new() } else { full };
    json_deny(shared.http_status(), body, authenticated, detail)
}

/// The decoded parameters of an RPC request: the query of `path`, then a form body.
fn rpc_params(path: &str, content_type: Option<&str>, body: &[u8]) -> Option<Vec<(String, String)>> {
    let query = path.split_once('?').map_or("", |(_, q)| q);
    let form = content_type.is_some_and(policy_core::openapi::is_form_content_type).then_some(body);
    policy_core::openapi::decode_rpc_parameters(query, form).ok()
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
