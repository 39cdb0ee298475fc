//! The KMS endpoint's listener: HTTP in front of three services that share it, as on Alibaba's
//! KMS endpoint and STS (`docs/openapi.md`, `docs/protocol.md#shared-gateway`, `docs/ram-roles.md`):
//!
//! - **client-key requests** (RPC v1 signed SHA256withRSA, the shared gateway): decided by the
//!   server's enforcer — the proxy-wasm filter by default — under the configuration snapshot, and
//!   the GetSecretValue it allowed is read from that snapshot's key ring;
//! - **STS** (`Version=2015-04-01`: AssumeRoleWithOIDC; `GET /v1/credentials`): [`Sts`];
//! - **everything else** (AccessKeys and RAM-role sessions, HMAC-signed): [`OpenApi`], whose
//!   GetSecretValue comes back here ([`SnapshotSecrets`]) to be decided and read on the snapshot.
//!
//! It applies the server's request limits (body deadline, budget, pre-authentication limit per
//! address), runs each call on the work pool, answers JSON in Alibaba's shapes, audits data-plane
//! calls like Instance API calls, and logs refusals with their detail (which the caller does not
//! get). Query strings are never logged: the credentials URI carries its token there.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use aapkit_openapi::params::Params;
use aapkit_openapi::{
    error_body, error_json, OpenApi, OpenApiError, OpenApiRequest, Principal, SecretReader, SecretValue,
    SecretValueQuery, GET_SECRET_VALUE,
};
use aapkit_sts::{Sts, StsRequest, CREDENTIALS_URI_PATH, STS_API_VERSION};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use policy_core::openapi::{OpenApiCode, RpcRequestView};
use prost::Message as _;

use super::body::read_limited;
use super::enforcer::{authorized, resource_label, Caller, EnforceDoor, EnforceOutcome, EnforceRequest};
use super::pool::WorkClass;
use super::snapshot::Snapshot;
use super::{Door, Gateway, RequestRecord};
use aapkit_kms::KeyRing as _;

/// The OpenAPI's body limit: management parameters and a secret value in a form body.
pub const OPENAPI_MAX_BODY_BYTES: usize = 256 << 10;

pub struct OpenApiDoor {
    pub api: Arc<OpenApi>,
    /// The instance listener's gateway: its enforcer, snapshots, Instance API handler, audit
    /// observer, clock, limits and pre-authentication limiter are this listener's too.
    pub gateway: Arc<Gateway>,
    /// STS (RAM-role credentials); `None` answers its requests as unknown actions.
    pub sts: Option<Arc<Sts>>,
}

type Body = Full<Bytes>;

fn json_response(status: u16, body: Vec<u8>, request_id: &str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json;charset=utf-8"));
    if let Ok(v) = hyper::header::HeaderValue::from_str(request_id) {
        h.insert("x-acs-request-id", v);
    }
    resp
}

/// Which service a request is for, from its path and parameters.
enum Route {
    Sts,
    /// Signed with a client key: the enforcer decides.
    ClientKey(Params),
    /// Signed with an AccessKey or a session (or not decodable: the OpenAPI says why).
    OpenApi,
}

fn route(path: &str, query: &str, headers: &[(String, String)], body: &[u8]) -> Route {
    if path == CREDENTIALS_URI_PATH {
        return Route::Sts;
    }
    let form = headers.iter().any(|(n, v)| n == "content-type" && policy_core::openapi::is_form_content_type(v));
    let Ok(params) = Params::parse(query, form.then_some(body)) else { return Route::OpenApi };
    if params.get("Version") == Some(STS_API_VERSION) {
        return Route::Sts;
    }
    let pairs: Vec<(&str, &str)> = params.pairs().collect();
    if (RpcRequestView { method: "POST", params: &pairs }).is_client_key_request() {
        return Route::ClientKey(params);
    }
    Route::OpenApi
}

/// One request's parts, owned so that it can move to the work pool.
struct Call {
    peer: SocketAddr,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Bytes,
    now: i64,
    request_id: String,
}

/// What a served request leaves behind: the response, and whether its caller authenticated (an
/// unauthenticated request takes from its address's pre-authentication budget).
struct Served {
    status: u16,
    body: Vec<u8>,
    authenticated: bool,
}

impl OpenApiDoor {
    fn refuse(&self, status: u16, code: &'static str, message: &str, request_id: &str) -> Response<Body> {
        let body = error_json(status, code, message, request_id, &self.api.instance().host_id);
        json_response(status, body, request_id)
    }

    async fn serve_inner(&self, peer: SocketAddr, req: Request<Incoming>, request_id: &str) -> (Response<Body>, bool) {
        let gw = &self.gateway;
        if let Some(limiter) = &gw.preauth {
            if !limiter.admit(peer.ip()) {
                let message = "Request was denied due to request throttling.";
                return (self.refuse(429, "Rejected.Throttling", message, request_id), true);
            }
        }
        let (parts, body) = req.into_parts();
        let (headers, announced) = match super::body::collect_headers(&parts.headers, None) {
            Ok(collected) => collected,
            Err(name) => {
                let e = OpenApiError::invalid(name, "the header value is not printable ASCII");
                let body = error_body(&e, request_id, &self.api.instance().host_id);
                return (json_response(e.status(), body, request_id), false);
            }
        };
        let (body, _budget) = match read_limited(&gw.limits, body, announced, OPENAPI_MAX_BODY_BYTES).await {
            Ok(read) => read,
            Err(refusal) => {
                let (status, code) = refusal.status_and_code();
                let mut resp = self.refuse(status, code, &refusal.message(), request_id);
                resp.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
                return (resp, false);
            }
        };
        let call = Call {
            peer,
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            headers,
            body,
            now: (gw.clock)(),
            request_id: request_id.to_owned(),
        };
        let route = route(&call.path, &call.query, &call.headers, &call.body);
        // Key-pair generation (CreateClientKey, an RSA CreateKey) takes the heavy lane.
        let class = match route {
            Route::OpenApi if aapkit_openapi::is_heavy(&call.query, &call.headers, &call.body) => WorkClass::Heavy,
            _ => WorkClass::Light,
        };
        let (api, gateway, sts) = (self.api.clone(), self.gateway.clone(), self.sts.clone());
        let handled = gw
            .limits
            .pool
            .run(class, move || match route {
                Route::Sts => serve_sts(sts.as_deref(), &api, &call),
                Route::ClientKey(params) => serve_client_key(&gateway, &api, &call, &params),
                Route::OpenApi => serve_openapi(&api, &call),
            })
            .await;
        match handled {
            Ok(served) => (json_response(served.status, served.body, request_id), served.authenticated),
            Err(e) => {
                let (status, code) = match e {
                    super::pool::PoolError::Full => (429, "Rejected.Throttling"),
                    super::pool::PoolError::Failed => (500, "InternalFailure"),
                };
                (self.refuse(status, code, &e.to_string(), request_id), false)
            }
        }
    }
}

impl Door for OpenApiDoor {
    async fn serve(self: Arc<Self>, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
        let request_id = super::http::new_request_id().to_uppercase();
        let (resp, authenticated) = self.serve_inner(peer, req, &request_id).await;
        // A request that did not authenticate takes from its address's budget (as on the
        // instance listener): guessing signatures is throttled.
        if !authenticated && resp.status().as_u16() != 429 {
            if let Some(limiter) = &self.gateway.preauth {
                limiter.charge(peer.ip());
            }
        }
        resp
    }
}

/// The management OpenAPI (and GetSecretValue for AccessKeys and sessions).
fn serve_openapi(api: &OpenApi, call: &Call) -> Served {
    let req = OpenApiRequest {
        method: &call.method,
        path: &call.path,
        query: &call.query,
        headers: &call.headers,
        body: &call.body,
        peer: call.peer.ip(),
    };
    let out = api.handle(&req, call.now, &call.request_id);
    if let Some(code) = out.error_code {
        eprintln!(
            "aapkit: openapi {} from {}: {} by {} refused: {code} ({})",
            call.request_id,
            call.peer,
            out.action.as_deref().unwrap_or("-"),
            out.access_key_id.as_deref().unwrap_or("-"),
            out.error_detail.as_deref().unwrap_or_default(),
        );
    }
    Served { status: out.status, body: out.body, authenticated: out.access_key_id.is_some() }
}

/// STS on the KMS endpoint's listener. Its log line names the action and role, never the query
/// (the credentials URI's token) nor the OIDC token.
fn serve_sts(sts: Option<&Sts>, api: &OpenApi, call: &Call) -> Served {
    let Some(sts) = sts else {
        let e = OpenApiError::UnknownAction("(STS)".into());
        return Served {
            status: e.status(),
            body: error_body(&e, &call.request_id, &api.instance().host_id),
            authenticated: false,
        };
    };
    let req = StsRequest {
        method: &call.method,
        path: &call.path,
        query: &call.query,
        headers: &call.headers,
        body: &call.body,
    };
    let out = sts.handle(&req, call.now, &call.request_id);
    match out.error_code {
        Some(code) => eprintln!(
            "aapkit: sts {} from {}: {} for role {} refused: {code} ({})",
            call.request_id,
            call.peer,
            out.action.as_deref().unwrap_or("-"),
            out.role.as_deref().unwrap_or("-"),
            out.error_detail.as_deref().unwrap_or_default(),
        ),
        None => eprintln!(
            "aapkit: sts {} from {}: {} issued {} (role {}, session {})",
            call.request_id,
            call.peer,
            out.action.as_deref().unwrap_or("-"),
            out.access_key_id.as_deref().unwrap_or("-"),
            out.role.as_deref().unwrap_or("-"),
            out.session_name.as_deref().unwrap_or("-"),
        ),
    }
    Served { status: out.status, body: out.body, authenticated: out.status == 200 }
}

/// A request record for a data-plane call on this listener (audit and metrics, as for the
/// Instance API).
fn record(request_id: &str, now: i64, source: SocketAddr, caller_id: &str) -> RequestRecord {
    RequestRecord {
        client_key_id: caller_id.to_owned(),
        ..RequestRecord::new(request_id.to_owned(), now, GET_SECRET_VALUE.to_owned(), source)
    }
}

/// A client-key request on the shared gateway: the enforcer decides under the snapshot, the
/// nonce is spent, and the secret the decision named is read from the same snapshot.
fn serve_client_key(gateway: &Gateway, api: &OpenApi, call: &Call, params: &Params) -> Served {
    let started = Instant::now();
    let host_id = &api.instance().host_id;
    let snapshot = gateway.snapshots.load();
    let mut headers = call.headers.clone();
    headers.push((":method".into(), call.method.clone()));
    headers.push((":path".into(), format!("{}?{}", call.path, call.query)));
    let request = EnforceRequest {
        door: EnforceDoor::SharedGateway,
        headers: &headers,
        body: &call.body,
        peer: call.peer,
        now: call.now,
        request_id: &call.request_id,
    };
    let mut rec = record(&call.request_id, call.now, call.peer, "");
    let served = match gateway.enforcer.check_with(&snapshot.policy, &request) {
        EnforceOutcome::Deny { status, headers, body, authenticated, detail } => {
            rec.client_key_id = authenticated.map(|a| a.client_key_id).unwrap_or_default();
            rec.detail = detail;
            let is_json = headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("content-type") && v.contains("json"));
            let code = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("Code").and_then(|c| c.as_str()).map(str::to_owned));
            match (is_json, code) {
                (true, Some(code)) => {
                    rec.error_code = code;
                    Served { status, body, authenticated: !rec.client_key_id.is_empty() }
                }
                // The enforcer failed (its answers are then the Instance API's protobuf): fail
                // closed in this endpoint's format.
                _ => {
                    let c = OpenApiCode::InternalFailure;
                    rec.error_code = c.as_str().to_owned();
                    let body = error_json(c.http_status(), c.as_str(), "Internal Failure.", &call.request_id, host_id);
                    Served { status: c.http_status(), body, authenticated: false }
                }
            }
        }
        EnforceOutcome::Allow(caller) => {
            rec.client_key_id.clone_from(&caller.client_key_id);
            rec.aap.clone_from(&caller.aap);
            rec.policy.clone_from(&caller.policy);
            rec.resource.clone_from(&caller.resource);
            rec.allowed = true;
            let result = (|| {
                // The filter keeps no state: the replay window is the host's.
                let nonce = params.required("SignatureNonce")?;
                api.record_nonce(&caller.client_key_id, nonce, params.required("Timestamp")?, call.now)?;
                let query = SecretValueQuery::from_params(params)?;
                read_secret(gateway, &snapshot, &caller, &query, &call.request_id)
            })();
            match result {
                Ok(value) => Served { status: 200, body: secret_body(&value, &call.request_id), authenticated: true },
                Err(e) => {
                    rec.allowed = false;
                    rec.error_code = e.code().to_owned();
                    rec.detail = e.to_string();
                    Served { status: e.status(), body: error_body(&e, &call.request_id, host_id), authenticated: true }
                }
            }
        }
    };
    rec.status = served.status;
    rec.latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    if !rec.allowed && !rec.detail.is_empty() {
        eprintln!(
            "aapkit: shared gateway {} from {}: refused {}: {}",
            call.request_id, call.peer, rec.error_code, rec.detail
        );
    }
    gateway.observer.record(rec);
    served
}

fn secret_body(value: &SecretValue, request_id: &str) -> Vec<u8> {
    let mut json = value.to_json();
    if let serde_json::Value::Object(map) = &mut json {
        map.insert("RequestId".into(), serde_json::Value::String(request_id.to_owned()));
    }
    serde_json::to_vec(&json).unwrap_or_default()
}

/// Runs the allowed GetSecretValue through the Instance API handler — the code path the Instance
/// API uses, restricted to what `caller.authorized` names on `snapshot` — and returns its answer
/// in the OpenAPI's terms.
fn read_secret(
    gateway: &Gateway,
    snapshot: &Snapshot,
    caller: &Caller,
    query: &SecretValueQuery,
    request_id: &str,
) -> Result<SecretValue, OpenApiError> {
    let request = aapkit_kms::proto::GetSecretValueRequest {
        secret_name: query.secret_name.clone(),
        version_stage: query.version_stage.clone().unwrap_or_default(),
        version_id: query.version_id.clone().unwrap_or_default(),
        fetch_extended_config: false,
    };
    let internal = |detail: String| OpenApiError::Denied {
        code: OpenApiCode::InternalFailure,
        message: "The request processing has failed due to some unknown error.".into(),
        detail,
    };
    let out =
        gateway.api.handle(GET_SECRET_VALUE, &request.encode_to_vec(), request_id, caller, snapshot).map_err(|f| {
            match OpenApiCode::from_wire(&f.code).filter(|c| *c != OpenApiCode::InternalFailure) {
                Some(code) => OpenApiError::Denied { code, message: f.message.clone(), detail: f.message },
                None => internal(format!("{}: {}", f.code, f.message)),
            }
        })?;
    let r = aapkit_kms::proto::GetSecretValueResponse::decode(out.body.as_slice())
        .map_err(|e| internal(format!("the Instance API's GetSecretValue answer does not decode: {e}")))?;
    Ok(SecretValue {
        secret_name: r.secret_name,
        secret_type: r.secret_type,
        secret_data: r.secret_data,
        secret_data_type: r.secret_data_type,
        version_id: r.version_id,
        version_stages: r.version_stages,
        create_time: r.create_time,
    })
}

/// GetSecretValue for the OpenAPI's HMAC-authenticated callers, decided and read on the snapshot
/// in force: a RAM-role session by its role's AAP (`policy_core::decide_ram_role_session`), the
/// account's AccessKey on any live secret (it is the account's owner). Every call is audited.
pub struct SnapshotSecrets {
    pub gateway: Arc<Gateway>,
}

impl SecretReader for SnapshotSecrets {
    fn get_secret_value(
        &self,
        principal: &Principal<'_>,
        query: &SecretValueQuery,
        peer: IpAddr,
        forwarded_for: Option<&str>,
        request_id: &str,
    ) -> Result<SecretValue, OpenApiError> {
        let started = Instant::now();
        let gateway = &self.gateway;
        let snapshot = gateway.snapshots.load();
        let (caller_id, role_session) = match principal {
            Principal::Session { access_key_id, session } => {
                (*access_key_id, format!("ram-role {} session {}", session.role, session.session_name))
            }
            Principal::AccessKey { access_key_id } => (*access_key_id, "account AccessKey".to_owned()),
        };
        let mut rec = record(request_id, (gateway.clock)(), SocketAddr::new(peer, 0), caller_id);
        let result = (|| {
            let caller = match principal {
                Principal::Session { session, .. } => {
                    session_caller(&snapshot, &session.aap, query, peer, forwarded_for)?
                }
                Principal::AccessKey { .. } => account_caller(&snapshot, query)?,
            };
            rec.aap.clone_from(&caller.aap);
            rec.policy.clone_from(&caller.policy);
            rec.resource.clone_from(&caller.resource);
            read_secret(gateway, &snapshot, &caller, query, request_id)
        })();
        rec.allowed = result.is_ok();
        rec.status = result.as_ref().map_or_else(OpenApiError::status, |_| 200);
        rec.detail = match &result {
            Ok(_) => role_session,
            Err(e) => format!("{role_session}: {e}"),
        };
        if let Err(e) = &result {
            rec.error_code = e.code().to_owned();
        }
        rec.latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        gateway.observer.record(rec);
        result
    }
}

/// What a RAM-role session's AAP allows, decided on the snapshot's natively compiled bundle.
fn session_caller(
    snapshot: &Snapshot,
    aap: &str,
    query: &SecretValueQuery,
    peer: IpAddr,
    forwarded_for: Option<&str>,
) -> Result<Caller, OpenApiError> {
    let Some(bundle) = snapshot.sessions.as_deref() else {
        return Err(OpenApiError::Denied {
            code: OpenApiCode::ForbiddenNoPermission,
            message: "This operation is forbidden by permission system.".into(),
            detail: "the configuration has no RAM-role AAP".into(),
        });
    };
    let peer = policy_core::PeerAddr { ip: peer, forwarded_for };
    let d = policy_core::decide_ram_role_session(bundle, aap, &query.secret_name, peer);
    if !d.allowed() {
        return Err(OpenApiError::Denied {
            code: d.openapi_code().unwrap_or(OpenApiCode::InternalFailure),
            message: d.wire_message(),
            detail: d.message(),
        });
    }
    let api = Some(policy_core::Api::GetSecretValue);
    Ok(Caller {
        client_key_id: String::new(),
        aap: d.aap().unwrap_or_default().to_owned(),
        policy: d.policy().unwrap_or_default().to_owned(),
        resource: resource_label(api, d.resource()),
        qps_group: d.qps_group(),
        authorized: authorized(api, d.resource(), None, d.secret_key(), bundle.generation()),
    })
}

/// The account's AccessKey reads any live secret of the snapshot: what is authorized is that
/// secret under the encryption key the snapshot's key ring records for it.
fn account_caller(snapshot: &Snapshot, query: &SecretValueQuery) -> Result<Caller, OpenApiError> {
    let stage =
        if query.version_id.is_some() { None } else { Some(query.version_stage.as_deref().unwrap_or("ACSCurrent")) };
    let not_found = || OpenApiError::Denied {
        code: OpenApiCode::ForbiddenResourceNotFound,
        message: format!("The specified secret \"{}\" does not exist.", query.secret_name),
        detail: String::new(),
    };
    let secret = snapshot
        .ring
        .secret_value(&query.secret_name, query.version_id.as_deref(), stage)
        .map_err(|e| OpenApiError::Denied {
            code: OpenApiCode::InternalFailure,
            message: "The request processing has failed due to some unknown error.".into(),
            detail: e.0,
        })?
        .ok_or_else(not_found)?;
    let api = Some(policy_core::Api::GetSecretValue);
    Ok(Caller {
        client_key_id: String::new(),
        aap: String::new(),
        policy: String::new(),
        resource: resource_label(api, Some(&query.secret_name)),
        qps_group: None,
        authorized: authorized(
            api,
            Some(&secret.secret_name),
            None,
            Some(&secret.encryption_key_id),
            Some(snapshot.generation),
        ),
    })
}
