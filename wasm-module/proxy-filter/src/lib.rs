//! aapkit proxy-wasm (ABI 0.2.1) HTTP filter: AAP enforcement for client keys on both doors, the
//! KMS instance endpoint (Instance API) and the KMS endpoint (the shared gateway, RPC OpenAPI).
//!
//! Glue only; every decision is policy-core's. The plugin configuration is the policy bundle JSON,
//! compiled once per `on_configure`, or its compact form (`CompiledBundle::to_compact`, told apart
//! by its magic bytes), which a gateway compiles once for all its VMs and each VM loads without
//! parsing. Each request's headers are read, its body buffered (over
//! 3 MiB: 413, no body), then the request is classified (`Door::of`):
//! - an Instance API request (any `x-kms-*` header, or nothing else it could be) is decided by
//!   `policy_core::authorize`; a deny gets the protobuf `Error` body the Instance SDKs parse;
//! - an RPC request (parameters in the `:path` query or a form body) signed with a client key
//!   (`SHA256withRSA`, `PRIVATEKEY` or a `KAAP.` id) is decided by
//!   `policy_core::openapi::authorize_shared_gateway`; a deny gets Alibaba's JSON error body;
//! - an RPC request signed with an AccessKey is not the filter's to decide: it continues with every
//!   `x-aapkit-*` header set empty, and the host verifies the AccessKey.
//!
//! Allowed client-key requests continue with the `x-aapkit-*` headers of the decision set. Every
//! host failure fails closed with `InternalFailure` 500; hostcalls go through [`hostcalls`], which
//! never panics on a status.

use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use policy_core::openapi::{
    authorize_shared_gateway, decode_rpc_parameters, is_form_content_type, openapi_error_json, OpenApiCode,
    RpcRequestView,
};
use policy_core::{CompiledBundle, Decision, HttpRequestView, PeerAddr};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

mod hostcalls;
mod verifier;

use hostcalls::{LOG_ERROR, LOG_INFO, LOG_WARN};
use verifier::{HostVerifier, Offload};

use policy_core::gateway::upstream_headers as up;
use policy_core::gateway::MAX_BODY_BYTES;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// Which door a request is for, from its shape alone.
#[derive(Debug, PartialEq, Eq)]
enum Door<'a> {
    /// The Instance API (protobuf, `x-kms-*` headers).
    Instance,
    /// An RPC request on the KMS endpoint: the query (after `?`) and the form body, undecoded.
    Rpc { query: &'a str, form: Option<&'a [u8]> },
}

impl<'a> Door<'a> {
    /// An `x-kms-*` header means the Instance API; otherwise a query or a form body means RPC.
    /// Anything else goes to the Instance API's checks, which deny it.
    fn of(headers: &[(&'a str, &'a str)], body: &'a [u8]) -> Door<'a> {
        let header = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| *v);
        if headers.iter().any(|(k, _)| k.as_bytes().get(..6).is_some_and(|p| p.eq_ignore_ascii_case(b"x-kms-"))) {
            return Door::Instance;
        }
        let query = header(":path").and_then(|p| p.split_once('?')).map(|(_, q)| q);
        let form = header("content-type").is_some_and(is_form_content_type).then_some(body);
        match (query, form) {
            (None, None) => Door::Instance,
            (q, form) => Door::Rpc { query: q.unwrap_or(""), form },
        }
    }
}

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// Per-VM state shared by the root and its request contexts.
struct VmState {
    offload: Cell<Offload>,
    /// Request-id counter for requests without `x-request-id`.
    requests: Cell<u64>,
}

struct Root {
    /// The compiled bundle; replaced whole on reconfiguration. Request contexts hold their own
    /// `Rc`, so a request in flight finishes under the bundle it started with.
    bundle: Option<Rc<CompiledBundle>>,
    vm: Rc<VmState>,
}

impl Default for Root {
    fn default() -> Self {
        Root { bundle: None, vm: Rc::new(VmState { offload: Cell::new(Offload::Unknown), requests: Cell::new(0) }) }
    }
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, size: usize) -> bool {
        // A root context that refuses a configuration holds none and fails closed; aapkit's host
        // discards such a VM, and Envoy gives each configuration a root context of its own.
        // Requests in flight keep the bundle they started with (their own `Rc`).
        let held = self.bundle.take();
        if let Some(held) = held.as_deref() {
            match load_over(held, size) {
                Over::Loaded(bundle) => {
                    self.bundle = Some(Rc::new(*bundle));
                    hostcalls::log(LOG_INFO, "aapkit: policy bundle loaded (compact form, key catalogue kept)");
                    return true;
                }
                Over::Refused(e) => {
                    hostcalls::log(LOG_ERROR, &format!("aapkit: $: {e}"));
                    return false;
                }
                Over::NeedsWhole => {}
            }
        }
        // The bundle in force is let go before the whole form is read: at 100,000 keys it is
        // 14 MiB of a guest capped at 64 MiB, and holding it while the next one loads came within
        // a few MiB of the cap.
        drop(held);
        let bytes = match hostcalls::get_buffer(hostcalls::BUFFER_PLUGIN_CONFIGURATION, 0, size) {
            Ok(Some(b)) if !b.is_empty() => b,
            Ok(_) => {
                hostcalls::log(LOG_ERROR, "aapkit: $: no plugin configuration (expected the policy bundle JSON)");
                return false;
            }
            Err(s) => {
                hostcalls::log(LOG_ERROR, &format!("aapkit: cannot read the plugin configuration (status {s})"));
                return false;
            }
        };
        // The compact form a gateway compiled once (its magic is not UTF-8), or the JSON bundle.
        if policy_core::is_compact(&bytes) {
            return match CompiledBundle::from_compact(&bytes) {
                Ok(bundle) => {
                    drop(bytes);
                    self.bundle = Some(Rc::new(bundle));
                    hostcalls::log(LOG_INFO, "aapkit: policy bundle loaded (compact form)");
                    true
                }
                Err(e) => {
                    hostcalls::log(LOG_ERROR, &format!("aapkit: $: {e}"));
                    false
                }
            };
        }
        let Ok(json) = std::str::from_utf8(&bytes) else {
            hostcalls::log(LOG_ERROR, "aapkit: $: the plugin configuration is not UTF-8");
            return false;
        };
        match policy_core::compile_bundle(json) {
            Ok(mut bundle) => {
                // Decisions never read the document; the VM keeps the compiled tables only.
                bundle.drop_source();
                self.bundle = Some(Rc::new(bundle));
                hostcalls::log(LOG_INFO, "aapkit: policy bundle loaded");
                true
            }
            Err(errors) => {
                for e in errors.errors() {
                    hostcalls::log(LOG_ERROR, &format!("aapkit: bundle error at {e}"));
                }
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter { bundle: self.bundle.clone(), vm: Rc::clone(&self.vm), headers: None, verdict: None }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// What loading a configuration over the bundle a VM holds came to.
enum Over {
    /// A compact form whose key catalogue the VM holds: only its access section was read.
    Loaded(Box<CompiledBundle>),
    Refused(policy_core::CompactError),
    /// Anything else (JSON, another catalogue, a host that cannot read a range): read it whole.
    NeedsWhole,
}

/// Reads the compact form's header and, when the held bundle has its catalogue, the bytes up to
/// the catalogue's id only: a change to a client key or a policy at 100,000 keys copies a few
/// hundred KiB into the VM, not the 10 MiB catalogue it already has.
fn load_over(held: &CompiledBundle, size: usize) -> Over {
    let read = |len: usize| match hostcalls::get_buffer(hostcalls::BUFFER_PLUGIN_CONFIGURATION, 0, len) {
        Ok(Some(b)) if b.len() == len => Some(b),
        _ => None,
    };
    if size < policy_core::COMPACT_HEADER_LEN {
        return Over::NeedsWhole;
    }
    let Some(header) = read(policy_core::COMPACT_HEADER_LEN) else { return Over::NeedsWhole };
    let (Ok(prefix_len), Ok(whole_len)) = (policy_core::compact_prefix_len(&header), policy_core::compact_len(&header))
    else {
        return Over::NeedsWhole;
    };
    // The whole form, or the prefix a host sends to VMs it knows hold the catalogue; anything else
    // was cut or padded on the way, even where this VM would not read.
    if size != whole_len && size != prefix_len {
        return Over::Refused(policy_core::CompactError::Length);
    }
    let Some(prefix) = read(prefix_len) else { return Over::NeedsWhole };
    match CompiledBundle::from_compact_over(&prefix, Some(held)) {
        Ok(bundle) => Over::Loaded(Box::new(bundle)),
        Err(policy_core::CompactError::CatalogueMissing) => Over::NeedsWhole,
        Err(e) => Over::Refused(e),
    }
}

struct Filter {
    bundle: Option<Rc<CompiledBundle>>,
    vm: Rc<VmState>,
    headers: Option<hostcalls::HeaderMap>,
    /// Set once the request is decided: later callbacks repeat it (Continue for an allowed
    /// request, Pause for one answered locally).
    verdict: Option<Action>,
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        match hostcalls::get_request_headers() {
            Ok(h) => self.headers = Some(h),
            Err(s) => return self.fail(&format!("cannot read the request headers (status {s})")),
        }
        if let Some(verdict) = self.verdict {
            return verdict;
        }
        if end_of_stream {
            self.decide(&[])
        } else {
            // Hold the headers until the whole body is here.
            Action::Pause
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if let Some(verdict) = self.verdict {
            return verdict;
        }
        if body_size > MAX_BODY_BYTES {
            return self.too_large();
        }
        if !end_of_stream {
            return Action::Pause; // buffer
        }
        self.decide_on_buffered_body(body_size)
    }

    /// Trailers end the request: a request that has not been decided yet is decided now, so a
    /// client cannot slip past the filter by sending trailers after a paused body.
    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if let Some(verdict) = self.verdict {
            return verdict;
        }
        self.decide_on_buffered_body(MAX_BODY_BYTES + 1)
    }
}

impl Filter {
    /// Reads up to `max` buffered body bytes and decides; more than 3 MiB is a 413.
    fn decide_on_buffered_body(&mut self, max: usize) -> Action {
        match hostcalls::get_buffer(hostcalls::BUFFER_HTTP_REQUEST_BODY, 0, max) {
            Ok(body) => {
                let body = body.unwrap_or_default();
                if body.len() > MAX_BODY_BYTES {
                    return self.too_large();
                }
                self.decide(&body)
            }
            Err(s) => self.fail(&format!("cannot read the request body (status {s})")),
        }
    }

    fn too_large(&mut self) -> Action {
        self.verdict = Some(Action::Pause);
        if let Err(s) = hostcalls::send_local_response(413, &[], &[]) {
            hostcalls::log(LOG_ERROR, &format!("aapkit: cannot send 413 (status {s})"));
        }
        Action::Pause
    }

    fn decide(&mut self, body: &[u8]) -> Action {
        let verdict = self.decide_inner(body);
        self.verdict = Some(verdict);
        verdict
    }

    fn decide_inner(&mut self, body: &[u8]) -> Action {
        let Some(bundle) = self.bundle.clone() else {
            return self.fail("no policy bundle is configured");
        };
        let Some(headers) = self.headers.take() else {
            return self.fail("request headers missing");
        };
        let Some(view) = headers.pairs() else {
            return self.fail("the request headers do not decode");
        };
        let header = |name: &str| view.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| *v);
        let numbered;
        let request_id = match header("x-request-id") {
            Some(id) => id,
            None => {
                let n = self.vm.requests.get().wrapping_add(1);
                self.vm.requests.set(n);
                numbered = format!("aapkit-wasm-{n}");
                numbered.as_str()
            }
        };
        let ip = match hostcalls::get_property(b"source\0address") {
            Ok(Some(addr)) => match std::str::from_utf8(&addr).ok().and_then(parse_source_address) {
                Some(ip) => ip,
                None => return self.fail_with_id("source.address is not an IP address", request_id),
            },
            Ok(None) => return self.fail_with_id("the host has no source.address", request_id),
            Err(s) => return self.fail_with_id(&format!("cannot read source.address (status {s})"), request_id),
        };
        // Several X-Forwarded-For headers are one list.
        let xff: Vec<&str> =
            view.iter().filter(|(k, _)| k.eq_ignore_ascii_case("x-forwarded-for")).map(|(_, v)| *v).collect();
        let xff = (!xff.is_empty()).then(|| xff.join(","));
        let now = match hostcalls::current_time_nanos() {
            Ok(ns) => (ns / 1_000_000_000) as i64,
            Err(s) => return self.fail_with_id(&format!("cannot read the clock (status {s})"), request_id),
        };
        let method = header(":method").unwrap_or("POST");
        let peer = PeerAddr { ip, forwarded_for: xff.as_deref() };
        let verifier = HostVerifier { offload: &self.vm.offload };
        let (query, form) = match Door::of(&view, body) {
            Door::Instance => {
                let req = HttpRequestView { method, headers: &view, body };
                let decision = policy_core::authorize(&bundle, &req, peer, now, &verifier);
                if decision.allowed() {
                    return self.allow(&bundle, &decision, request_id);
                }
                self.record_deny(&decision, &decision.message());
                let body = decision.error_body(request_id).unwrap_or_default();
                return self.respond(decision.http_status(), PROTOBUF, &body);
            }
            Door::Rpc { query, form } => (query, form),
        };
        let host_id = header(":authority").or_else(|| header("host")).unwrap_or_default();
        // The parameters: the query, then the form body, decoded once (what both signatures cover).
        let params = match decode_rpc_parameters(query, form) {
            Ok(p) => p,
            Err(e) => {
                let message = format!("The request parameters cannot be read: {e}.");
                let body = openapi_error_json(OpenApiCode::InvalidParameter, &message, request_id, host_id);
                return self.respond(OpenApiCode::InvalidParameter.http_status(), JSON, body.as_bytes());
            }
        };
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let rpc = RpcRequestView { method, params: &pairs };
        if !rpc.is_client_key_request() {
            // An AccessKey's request: the host verifies it. Nothing decided here may reach it.
            return self.pass_undecided(request_id);
        }
        let shared = authorize_shared_gateway(&bundle, &rpc, peer, now, &verifier);
        if shared.allowed() {
            return self.allow(&bundle, shared.decision(), request_id);
        }
        self.record_deny(shared.decision(), &shared.message());
        let body = shared.error_json(request_id, host_id).unwrap_or_default();
        self.respond(shared.http_status(), JSON, body.as_bytes())
    }

    /// Continues an allowed request with the decision's `x-aapkit-*` headers.
    fn allow(&mut self, bundle: &CompiledBundle, decision: &Decision<'_>, request_id: &str) -> Action {
        // Every header is set, empty when it does not apply, so nothing a client sent under
        // these names can reach the upstream as if the filter had decided it.
        let generation = bundle.generation().map(|g| g.to_string()).unwrap_or_default();
        let set = [
            (up::AAP, decision.aap().unwrap_or_default()),
            (up::POLICY, decision.policy().unwrap_or_default()),
            (up::CLIENT_KEY, decision.client_key().unwrap_or_default()),
            (up::RESOURCE, decision.resource().unwrap_or_default()),
            (up::QPS_GROUP, decision.qps_group().map_or("", policy_core::QpsGroup::name)),
            (up::KEY_VERSION, decision.key_version().unwrap_or_default()),
            (up::SECRET_KEY, decision.secret_key().unwrap_or_default()),
            (up::GENERATION, generation.as_str()),
        ];
        for (name, value) in set {
            if let Err(s) = hostcalls::replace_request_header(name, value) {
                return self.fail_with_id(&format!("cannot set {name} (status {s})"), request_id);
            }
        }
        Action::Continue
    }

    /// Continues a request the filter does not decide (an AccessKey's), with every `x-aapkit-*`
    /// header set empty, so nothing a client sent under those names reaches the upstream.
    fn pass_undecided(&mut self, request_id: &str) -> Action {
        for name in [
            up::AAP,
            up::POLICY,
            up::CLIENT_KEY,
            up::RESOURCE,
            up::QPS_GROUP,
            up::KEY_VERSION,
            up::SECRET_KEY,
            up::GENERATION,
        ] {
            if let Err(s) = hostcalls::replace_request_header(name, "") {
                return self.fail_with_id(&format!("cannot set {name} (status {s})"), request_id);
            }
        }
        Action::Continue
    }

    /// Who the caller is (only when its signature verified) and the operator's detail, for the
    /// proxy's records; the client gets only the wire message. A host without properties still
    /// answers the client.
    fn record_deny(&self, decision: &Decision<'_>, detail: &str) {
        let records = [
            (policy_core::gateway::deny_properties::CLIENT_KEY, decision.client_key().unwrap_or_default()),
            (policy_core::gateway::deny_properties::DETAIL, detail),
        ];
        for (name, value) in &records {
            if value.is_empty() {
                continue;
            }
            if let Err(s) = hostcalls::set_property(name, value) {
                hostcalls::log(LOG_INFO, &format!("aapkit: cannot set property {name} (status {s})"));
            }
        }
    }

    /// Answers the request locally (a deny).
    fn respond(&mut self, status: u16, content_type: &str, body: &[u8]) -> Action {
        let status = u32::from(status);
        if let Err(s) = hostcalls::send_local_response(status, &[("content-type", content_type)], body) {
            // The host decides nothing was sent; a paused request without a response fails closed.
            hostcalls::log(LOG_ERROR, &format!("aapkit: cannot send the {status} response (status {s})"));
        }
        Action::Pause
    }

    fn fail(&mut self, why: &str) -> Action {
        self.fail_with_id(why, "")
    }

    /// `InternalFailure` 500: anything the filter cannot establish is a deny.
    fn fail_with_id(&mut self, why: &str, request_id: &str) -> Action {
        self.verdict = Some(Action::Pause);
        hostcalls::log(LOG_WARN, &format!("aapkit: failing closed: {why}"));
        let body = policy_core::wire::encode_error(500, "InternalFailure", "Internal Failure.", request_id);
        if let Err(s) = hostcalls::send_local_response(500, &[("content-type", PROTOBUF)], &body) {
            hostcalls::log(LOG_ERROR, &format!("aapkit: cannot send the 500 response (status {s})"));
        }
        Action::Pause
    }
}

/// `source.address` as Envoy gives it: `ip:port`, `[v6]:port`, or a bare address.
fn parse_source_address(s: &str) -> Option<IpAddr> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.parse::<IpAddr>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        assert_eq!(parse_source_address("172.21.0.11:58762"), ip("172.21.0.11"));
        assert_eq!(parse_source_address("[2001:db8::3]:8080"), ip("2001:db8::3"));
        assert_eq!(parse_source_address("2001:db8::3"), ip("2001:db8::3"));
        assert_eq!(parse_source_address("10.0.0.1"), ip("10.0.0.1"));
        assert_eq!(parse_source_address("unix:/tmp/sock"), None);
        assert_eq!(parse_source_address(""), None);
    }
}
