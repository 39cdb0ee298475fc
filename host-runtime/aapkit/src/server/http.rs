//! The request path: HTTP request → enforcer (filter) → Instance API handler → protobuf response.
//!
//! Every failure on this path becomes a protobuf `Error` with the KMS code and HTTP status the SDKs
//! expect; nothing here panics on client input.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use policy_core::{Api, ErrorCode, QpsGroup, ResourceRef};

use super::enforcer::{resource_label, Caller, EnforceDoor, EnforceOutcome, EnforceRequest, Enforcer};
use super::limits::RequestLimits;
use super::pool::{PoolError, WorkClass};
use super::quota::QuotaGate;
use super::snapshot::{Snapshot, Snapshots};

/// The Instance API's body limit (`docs/protocol.md#body-limit`). Larger bodies get 413 `RequestEntityTooLarge` with a
/// protobuf `Error` (Alibaba sends none; the SDKs then report an empty code).
pub use policy_core::gateway::MAX_BODY_BYTES;

pub use super::body::{REQUEST_TIMEOUT_CODE, TOO_LARGE_CODE};

/// Bodies up to this size may be decided on the async worker ([`WorkClass::Quick`]): the
/// enforcer's work grows with the body (its SHA-256, the protobuf scan), and 16 KiB holds every
/// ordinary call (a 6 KiB plaintext, the KMS maximum, with room to spare).
pub const QUICK_BODY_BYTES: usize = 16 * 1024;

/// Headers the filter adds for the upstream; never accepted from the network.
pub use policy_core::gateway::upstream_headers::PREFIX as FILTER_HEADER_PREFIX;

/// A failed Instance API call, already mapped to the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub status: u16,
    pub code: String,
    pub message: String,
}

/// A served Instance API call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiOutput {
    /// The protobuf response.
    pub body: Vec<u8>,
    /// The key version the call used, sent as `x-kms-migrationkeyversionid` (as Alibaba's
    /// instance gateway does; the transfer SDK builds classic ciphertexts from it).
    pub key_version_id: Option<String>,
}

/// The response header naming the key version a crypto call used.
pub const KEY_VERSION_HEADER: &str = "x-kms-migrationkeyversionid";

/// The native Instance API behind the enforcer.
pub trait ApiHandler: Send + Sync {
    /// Runs an allowed call: exactly what `caller.authorized` names, on `snapshot`'s key ring
    /// (the snapshot the decision was made under).
    fn handle(
        &self,
        api_name: &str,
        body: &[u8],
        request_id: &str,
        caller: &Caller,
        snapshot: &Snapshot,
    ) -> Result<ApiOutput, ApiFailure>;
    /// Where an allowed call is served: [`WorkClass::Quick`] on the async worker that decided it,
    /// else on the work pool in that class.
    fn work_class(&self, api_name: &str, caller: &Caller, snapshot: &Snapshot) -> WorkClass;
    /// The key id and KeySpec a key reference (id, alias or key-version id) names, for the audit
    /// resource and the QPS group when the enforcer does not report them.
    fn resolve_key(&self, _snapshot: &Snapshot, _reference: &ResourceRef<'_>) -> Option<(String, String)> {
        None
    }
}

/// What happened to one request, for the audit log and the metrics.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub request_id: String,
    pub time_unix: i64,
    pub api: String,
    /// The client key, only once its signature verified (empty otherwise: anyone can send an id).
    pub client_key_id: String,
    pub aap: String,
    pub policy: String,
    /// `key/<KeyId>`, `secret/<SecretName>` or empty (see [`resource_label`]).
    pub resource: String,
    /// The QPS group of the call, when the API is known.
    pub qps_group: Option<QpsGroup>,
    pub source: SocketAddr,
    pub allowed: bool,
    pub status: u16,
    pub error_code: String,
    pub latency_us: u64,
    /// For a deny, the operator's account the caller was not given (the per-policy trace).
    pub detail: String,
}

impl RequestRecord {
    /// The record of a request that has not got anywhere yet.
    pub fn new(request_id: String, time_unix: i64, api: String, source: SocketAddr) -> RequestRecord {
        RequestRecord {
            request_id,
            time_unix,
            api,
            client_key_id: String::new(),
            aap: String::new(),
            policy: String::new(),
            resource: String::new(),
            qps_group: None,
            source,
            allowed: false,
            status: 0,
            error_code: String::new(),
            latency_us: 0,
            detail: String::new(),
        }
    }
}

/// Receives a record of every request (audit, metrics). Must not block.
pub trait RequestObserver: Send + Sync {
    fn record(&self, record: RequestRecord);
}

/// Observer that drops everything.
pub struct NoObserver;
impl RequestObserver for NoObserver {
    fn record(&self, _record: RequestRecord) {}
}

pub struct Gateway {
    pub enforcer: Arc<dyn Enforcer>,
    pub api: Arc<dyn ApiHandler>,
    /// The key ring and policy bundle in force, loaded once per request.
    pub snapshots: Arc<Snapshots>,
    pub observer: Arc<dyn RequestObserver>,
    /// Seconds since the epoch; injected so tests can move time.
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// The instance QPS quota, checked after the enforcer allowed and before the handler runs.
    pub quota: Option<Arc<QuotaGate>>,
    /// The pre-authentication limit per source address, checked before the enforcer.
    pub preauth: Option<Arc<super::preauth::PreAuthLimiter>>,
    /// Body deadline and budget, and the pool the enforcer and the handler run on.
    pub limits: Arc<RequestLimits>,
}

type Body = Full<Bytes>;

pub fn error_response(status: u16, code: &str, message: &str, request_id: &str) -> Response<Body> {
    let body = policy_core::wire::encode_error(i32::from(status), code, message, request_id);
    protobuf_response(status, body, request_id)
}

fn protobuf_response(status: u16, body: Vec<u8>, request_id: &str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/x-protobuf"));
    if let Ok(v) = hyper::header::HeaderValue::from_str(request_id) {
        h.insert("x-kms-requestid", v);
    }
    resp
}

/// The response, and the connection closed after it (its request body was not, or not all, read).
fn closing(mut resp: Response<Body>) -> Response<Body> {
    resp.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
    resp
}

impl Gateway {
    pub async fn serve(
        self: Arc<Self>,
        peer: SocketAddr,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, Infallible> {
        let started = Instant::now();
        let request_id = new_request_id();
        let now = (self.clock)();
        let mut record = RequestRecord::new(request_id.clone(), now, header_api(req.headers()), peer);
        let resp = match self.preauth_refusal(peer, &request_id, &mut record) {
            Some(refused) => refused,
            None => self.serve_inner(peer, req, now, &request_id, &mut record).await,
        };
        self.preauth_charge(peer, &record);
        record.status = resp.status().as_u16();
        record.latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.observer.record(record);
        Ok(resp)
    }

    async fn serve_inner(
        self: &Arc<Self>,
        peer: SocketAddr,
        req: Request<Incoming>,
        now: i64,
        request_id: &str,
        record: &mut RequestRecord,
    ) -> Response<Body> {
        if req.method() != hyper::Method::POST || req.uri().path() != "/" {
            record.error_code = "InvalidParameter".into();
            return error_response(
                404,
                "InvalidParameter",
                "The KMS Instance API accepts only POST / (see the KMS Instance SDKs).",
                request_id,
            );
        }
        let (parts, body) = req.into_parts();
        let (headers, announced) = match super::body::collect_headers(&parts.headers, Some(FILTER_HEADER_PREFIX)) {
            Ok(collected) => collected,
            Err(name) => {
                record.error_code = "InvalidParameter".into();
                return error_response(
                    400,
                    "InvalidParameter",
                    &format!("The header `{name}` is not printable ASCII."),
                    request_id,
                );
            }
        };
        let (body, _budget) = match self.read_body(body, announced, request_id, record).await {
            Ok(read) => read,
            Err(resp) => return resp,
        };

        // One snapshot for the whole request: the decision and the action use the same configuration.
        let snapshot = self.snapshots.load();
        // Work known to take microseconds runs here, on the async worker: a hand-off to the pool
        // and back is a thread wake-up each way, which costs more than the work (issue 16). That
        // is a decision on a small body by an enforcer that says it is quick (native, or a filter
        // VM already holding this configuration, under a short budget), then a call on an AES key
        // or a secret. Whatever may take longer runs on the pool (issue 10 §3).
        if body.len() <= QUICK_BODY_BYTES {
            let req = EnforceRequest {
                door: EnforceDoor::InstanceApi,
                headers: &headers,
                body: &body,
                peer,
                now,
                request_id,
            };
            if let Some(outcome) = self.enforcer.check_quick(&snapshot.policy, &req) {
                return match self.after_decision(outcome, &headers, &body, &snapshot, record) {
                    Step::Done(resp) => resp,
                    Step::Handle { caller, snapshot, class: WorkClass::Quick } => {
                        self.handle_here(api_name(&headers), &body, &caller, &snapshot, record)
                    }
                    Step::Handle { caller, snapshot, class } => {
                        self.handle_on_pool(class, body, caller, snapshot, request_id, record).await
                    }
                };
            }
        }
        // On the pool: the decision and, unless the call is key-pair generation, the handler, in
        // one job (one hand-off each way); key-pair generation in a second job of the heavy class.
        let gateway = Arc::clone(self);
        let mut job_record = std::mem::replace(record, RequestRecord::new(String::new(), now, String::new(), peer));
        let job_body = body.clone();
        let checked = self
            .limits
            .pool
            .run(WorkClass::Light, move || {
                let step = gateway.decide_and_run(&headers, &job_body, peer, now, &snapshot, &mut job_record);
                (step, job_record)
            })
            .await;
        let (step, done_record) = match checked {
            Ok(done) => done,
            Err(e) => {
                *record = RequestRecord::new(request_id.to_owned(), now, header_api(&parts.headers), peer);
                return pool_refused(e, request_id, record);
            }
        };
        *record = done_record;
        match step {
            Step::Done(resp) => resp,
            Step::Handle { caller, snapshot, class } => {
                self.handle_on_pool(class, body, caller, snapshot, request_id, record).await
            }
        }
    }

    /// Serves an allowed call in a job on the work pool of `class`.
    async fn handle_on_pool(
        &self,
        class: WorkClass,
        body: Bytes,
        caller: Caller,
        snapshot: Arc<Snapshot>,
        request_id: &str,
        record: &mut RequestRecord,
    ) -> Response<Body> {
        let api = self.api.clone();
        let (job_api, job_id) = (record.api.clone(), request_id.to_owned());
        let handled =
            self.limits.pool.run(class, move || api.handle(&job_api, &body, &job_id, &caller, &snapshot)).await;
        match handled {
            Ok(result) => handled_response(result, request_id, record),
            Err(e) => {
                record.allowed = false;
                pool_refused(e, request_id, record)
            }
        }
    }

    /// Serves an allowed call on this thread.
    fn handle_here(
        &self,
        api_name: &str,
        body: &[u8],
        caller: &Caller,
        snapshot: &Snapshot,
        record: &mut RequestRecord,
    ) -> Response<Body> {
        let request_id = record.request_id.clone();
        let api = &self.api;
        let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            api.handle(api_name, body, &request_id, caller, snapshot)
        }));
        match handled {
            Ok(result) => handled_response(result, &request_id, record),
            // As when a job of its own fails: `InternalFailure`, and not served.
            Err(_) => {
                record.allowed = false;
                pool_refused(PoolError::Failed, &request_id, record)
            }
        }
    }

    /// The job on the work pool: the enforcer's decision, the quota and, unless the call is
    /// key-pair generation, the handler.
    fn decide_and_run(
        &self,
        headers: &[(String, String)],
        body: &Bytes,
        peer: SocketAddr,
        now: i64,
        snapshot: &Arc<Snapshot>,
        record: &mut RequestRecord,
    ) -> Step {
        let request_id = record.request_id.clone();
        let req = EnforceRequest { door: EnforceDoor::InstanceApi, headers, body, peer, now, request_id: &request_id };
        let outcome = self.enforcer.check_with(&snapshot.policy, &req);
        match self.after_decision(outcome, headers, body, snapshot, record) {
            Step::Handle { caller, snapshot, class } if class != WorkClass::Heavy => {
                Step::Done(self.handle_here(api_name(headers), body, &caller, &snapshot, record))
            }
            step => step,
        }
    }

    /// What follows a decision: a deny answered, the record filled in, the quota taken, and for an
    /// allow the caller and where its call is to be served.
    fn after_decision(
        &self,
        outcome: EnforceOutcome,
        headers: &[(String, String)],
        body: &[u8],
        snapshot: &Arc<Snapshot>,
        record: &mut RequestRecord,
    ) -> Step {
        let request_id = record.request_id.clone();
        let api_name = api_name(headers);
        let caller = match outcome {
            EnforceOutcome::Allow(caller) => caller,
            EnforceOutcome::Deny { status, headers: deny_headers, body: deny_body, authenticated, detail } => {
                // Only an authenticated deny gets an audit row, so only it is worth resolving.
                if let Some(who) = authenticated {
                    record.client_key_id = who.client_key_id;
                    (record.resource, record.qps_group) = self.resource_of(snapshot, api_name, body);
                }
                record.detail = detail;
                record.error_code =
                    policy_core::wire::decode_error(&deny_body).map(|e| e.error_code).unwrap_or_default();
                let mut resp = Response::new(Full::new(Bytes::from(deny_body)));
                *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
                for (k, v) in deny_headers {
                    if let (Ok(k), Ok(v)) =
                        (hyper::header::HeaderName::from_bytes(k.as_bytes()), hyper::header::HeaderValue::from_str(&v))
                    {
                        resp.headers_mut().insert(k, v);
                    }
                }
                return Step::Done(resp);
            }
        };
        record.allowed = true;
        record.aap.clone_from(&caller.aap);
        record.policy.clone_from(&caller.policy);
        if !caller.client_key_id.is_empty() {
            record.client_key_id.clone_from(&caller.client_key_id);
        }
        if caller.resource.is_empty() || caller.qps_group.is_none() {
            (record.resource, record.qps_group) = self.resource_of(snapshot, api_name, body);
        }
        if !caller.resource.is_empty() {
            record.resource.clone_from(&caller.resource);
        }
        if caller.qps_group.is_some() {
            record.qps_group = caller.qps_group;
        }
        if let (Some(quota), Some(group)) = (&self.quota, record.qps_group) {
            if !quota.try_acquire(group) {
                // Refused before the handler: for the audit log this call was not served.
                record.allowed = false;
                let code = ErrorCode::RejectedThrottling;
                record.error_code = code.as_str().to_owned();
                return Step::Done(error_response(
                    code.http_status(),
                    code.as_str(),
                    code.default_message(),
                    &request_id,
                ));
            }
        }
        let class = self.api.work_class(api_name, &caller, snapshot);
        Step::Handle { caller, snapshot: Arc::clone(snapshot), class }
    }
}

/// The `x-kms-apiname` header of collected headers (empty without one).
fn api_name(headers: &[(String, String)]) -> &str {
    headers.iter().find(|(k, _)| k == "x-kms-apiname").map(|(_, v)| v.as_str()).unwrap_or_default()
}

/// Where a request stands after its decision.
enum Step {
    /// Answered: refused, throttled or handled.
    Done(Response<Body>),
    /// Allowed; the handler is still to run, where `class` says.
    Handle { caller: Caller, snapshot: Arc<Snapshot>, class: WorkClass },
}

/// The response to a handled call (the record takes the error code of a failure).
fn handled_response(
    result: Result<ApiOutput, ApiFailure>,
    request_id: &str,
    record: &mut RequestRecord,
) -> Response<Body> {
    match result {
        Ok(out) => {
            let mut resp = protobuf_response(200, out.body, request_id);
            if let Some(v) = out.key_version_id.and_then(|v| hyper::header::HeaderValue::from_str(&v).ok()) {
                resp.headers_mut().insert(KEY_VERSION_HEADER, v);
            }
            resp
        }
        Err(f) => {
            record.error_code.clone_from(&f.code);
            error_response(f.status, &f.code, &f.message, request_id)
        }
    }
}

impl Gateway {
    /// `Rejected.Throttling` 429 for an address over its pre-authentication limit, before the
    /// body is read or the enforcer runs.
    fn preauth_refusal(
        &self,
        peer: SocketAddr,
        request_id: &str,
        record: &mut RequestRecord,
    ) -> Option<Response<Body>> {
        let limiter = self.preauth.as_ref()?;
        if limiter.admit(peer.ip()) {
            return None;
        }
        let code = ErrorCode::RejectedThrottling;
        record.error_code = code.as_str().to_owned();
        Some(error_response(code.http_status(), code.as_str(), code.default_message(), request_id))
    }

    /// A request that ended without a verified signature takes from its address's budget.
    fn preauth_charge(&self, peer: SocketAddr, record: &RequestRecord) {
        if let Some(limiter) = &self.preauth {
            if !record.allowed && record.client_key_id.is_empty() {
                limiter.charge(peer.ip());
            }
        }
    }

    /// The resource and QPS group of a request read from its body, for enforcers that do not
    /// report them (the wasm filter) and for denied requests. Keys are resolved through the
    /// key ring when it knows them; otherwise the reference is kept as sent.
    fn resource_of(&self, snapshot: &Snapshot, api_name: &str, body: &[u8]) -> (String, Option<QpsGroup>) {
        let Some(api) = Api::from_name(api_name) else {
            return (String::new(), None);
        };
        let reference = match policy_core::extract_resource(api, body) {
            Ok(Some(r)) => r,
            _ => return (String::new(), Some(api.qps_group(None))),
        };
        match reference {
            ResourceRef::SecretName(name) => (format!("secret/{name}"), Some(api.qps_group(None))),
            ResourceRef::KeyId(given) | ResourceRef::KeyVersionId(given) => match self
                .api
                .resolve_key(snapshot, &reference)
            {
                Some((key_id, spec)) => (resource_label(Some(api), Some(&key_id)), Some(api.qps_group(Some(&spec)))),
                None if matches!(reference, ResourceRef::KeyId(_)) => {
                    (resource_label(Some(api), Some(given)), Some(api.qps_group(None)))
                }
                None => (format!("key-version/{given}"), Some(api.qps_group(None))),
            },
        }
    }
}

/// The answer when the work pool cannot take the request.
fn pool_refused(e: PoolError, request_id: &str, record: &mut RequestRecord) -> Response<Body> {
    let code = match e {
        PoolError::Full => ErrorCode::RejectedThrottling,
        PoolError::Failed => ErrorCode::InternalFailure,
    };
    record.error_code = code.as_str().to_owned();
    error_response(code.http_status(), code.as_str(), &e.to_string(), request_id)
}

impl Gateway {
    /// Reads the request body under the body deadline and the buffered-bytes budget (issue 10 §2);
    /// each refusal becomes its protobuf error.
    async fn read_body(
        &self,
        body: Incoming,
        announced: Option<u64>,
        request_id: &str,
        record: &mut RequestRecord,
    ) -> Result<(Bytes, super::limits::BodyReservation), Response<Body>> {
        super::body::read_limited(&self.limits, body, announced, MAX_BODY_BYTES).await.map_err(|refusal| {
            let (status, code) = refusal.status_and_code();
            record.error_code = code.into();
            closing(error_response(status, code, &refusal.message(), request_id))
        })
    }
}

/// A random (version 4) UUID naming a request, from aws-lc's generator, which keeps its state per
/// thread: `Uuid::new_v4` asks the kernel for the bytes (a `getrandom` system call per request).
pub fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        return uuid::Uuid::new_v4().to_string();
    }
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Builder::from_random_bytes(bytes).into_uuid().hyphenated().encode_lower(&mut text).to_owned()
}

/// The `x-kms-apiname` header, empty when absent or not text.
fn header_api(headers: &hyper::HeaderMap) -> String {
    headers.get("x-kms-apiname").and_then(|v| v.to_str().ok()).map(str::to_string).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn request_ids_are_random_version_4_uuids() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(20) {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version(), Some(uuid::Version::Random), "{id}");
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{id}");
            assert_eq!(id, &parsed.hyphenated().to_string(), "lower case, hyphenated");
        }
    }
}
