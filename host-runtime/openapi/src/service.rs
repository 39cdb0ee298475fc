//! The OpenAPI service: one request in, one JSON response out. Transport-free (the gateway's HTTP
//! server feeds it; tests call it directly). Management calls are serialized on the service's own
//! store handle, so the actor named in each change's management event is the caller's AccessKeyId.

use std::sync::{Arc, Mutex};

use aapkit_store::{Store, StoreError, STS_ACCESS_KEY_ID_PREFIX};
use serde_json::Value;

use crate::actions::{self, ActionContext};
use crate::auth::{self, Credential, OpenApiRequest};
use crate::data_plane::{Principal, SecretReader, SecretValueQuery, GET_SECRET_VALUE};
use crate::nonce::NonceCache;
use crate::params::Params;
use crate::OpenApiError;

/// A header that turns a management change into a dry run (signed like every header with ACS3;
/// RPC v1 signs no header, so over plain HTTP only ACS3 protects it).
pub const DRY_RUN_HEADER: &str = "x-aapkit-dry-run";

/// The changes a dry run can preview: those that change who may do what.
pub const DRY_RUN_ACTIONS: [&str; 11] = [
    "CreateNetworkRule",
    "UpdateNetworkRule",
    "DeleteNetworkRule",
    "CreatePolicy",
    "UpdatePolicy",
    "DeletePolicy",
    "CreateApplicationAccessPoint",
    "UpdateApplicationAccessPoint",
    "DeleteApplicationAccessPoint",
    "CreateClientKey",
    "DeleteClientKey",
];

/// The API version this endpoint serves.
pub const API_VERSION: &str = "2016-01-20";

/// Signed requests remembered for replay protection by default: about 40 MB at most, and a
/// sustained 2,200 signed requests a second over the 15-minute window.
pub const DEFAULT_REPLAY_ENTRIES: usize = 2_000_000;

/// What the service knows of the instance it fronts (GetKmsInstance, ARNs, DKMSInstanceId checks).
#[derive(Debug, Clone)]
pub struct InstanceInfo {
    /// `kst-…`.
    pub instance_id: String,
    /// `host:port` of the instance endpoint (the Instance API listener).
    pub instance_endpoint: String,
    /// The host name the error bodies name as `HostId`.
    pub host_id: String,
    /// The instance CA (PEM): GetKmsInstance's `CaCertificateChainPem`, what the Instance SDK trusts.
    pub ca_pem: String,
    /// When the instance was initialised (`yyyy-MM-ddTHH:mm:ssZ`).
    pub create_time: String,
}

/// One response: HTTP status and the JSON body (with `RequestId`).
#[derive(Debug, Clone)]
pub struct OpenApiResponse {
    pub status: u16,
    pub body: Vec<u8>,
    /// Who called (verified), for the access log.
    pub access_key_id: Option<String>,
    /// The action asked for, if one was named.
    pub action: Option<String>,
    /// `Code` of a failure.
    pub error_code: Option<&'static str>,
    /// The full failure (internal detail included) for the server's log; never sent.
    pub error_detail: Option<String>,
}

pub struct OpenApi {
    store: Mutex<Store>,
    instance: InstanceInfo,
    nonces: NonceCache,
    /// GetSecretValue's decision and read, on the host's snapshot; without one the action is
    /// not served.
    secrets: Option<Arc<dyn SecretReader>>,
}

impl OpenApi {
    /// The service over `store`, a handle of its own (its actor is set per call).
    pub fn new(store: Store, instance: InstanceInfo) -> Self {
        OpenApi { store: Mutex::new(store), instance, nonces: NonceCache::new(DEFAULT_REPLAY_ENTRIES), secrets: None }
    }

    /// Remembers at most `entries` signed requests for the replay window (then refuses with
    /// `Rejected.Throttling` until older ones expire).
    pub fn with_replay_capacity(mut self, entries: usize) -> Self {
        self.nonces = NonceCache::new(entries);
        self
    }

    /// Shares the replay window with the other gateways of a cluster (PostgreSQL store).
    pub fn with_shared_replay(mut self, shared: aapkit_store::SharedReplay) -> Self {
        self.nonces = std::mem::replace(&mut self.nonces, NonceCache::new(1)).with_shared(shared);
        self
    }

    /// Serves GetSecretValue through `reader` (RAM-role sessions and the account's AccessKeys).
    pub fn with_secret_reader(mut self, reader: Arc<dyn SecretReader>) -> Self {
        self.secrets = Some(reader);
        self
    }

    pub fn instance(&self) -> &InstanceInfo {
        &self.instance
    }

    /// Records a client key's `SignatureNonce` in the replay window (the client-key path is
    /// decided by the filter, which keeps no state): a second use within 15 minutes of
    /// `timestamp` is refused. Call only for a request whose signature verified.
    pub fn record_nonce(&self, key_id: &str, nonce: &str, timestamp: &str, now: i64) -> Result<(), OpenApiError> {
        auth::check_nonce_shape(nonce)?;
        let forget_after = auth::check_timestamp(timestamp, now)?;
        self.nonces.check_and_record(key_id, nonce, forget_after, now)
    }

    /// Serves one request at time `now` (seconds since the epoch) under `request_id`.
    pub fn handle(&self, req: &OpenApiRequest<'_>, now: i64, request_id: &str) -> OpenApiResponse {
        let mut caller_id = None;
        let mut action = None;
        match self.handle_inner(req, now, request_id, &mut caller_id, &mut action) {
            Ok(mut body) => {
                if let Value::Object(map) = &mut body {
                    map.insert("RequestId".into(), Value::String(request_id.to_owned()));
                }
                OpenApiResponse {
                    status: 200,
                    body: serde_json::to_vec(&body).unwrap_or_default(),
                    access_key_id: caller_id,
                    action,
                    error_code: None,
                    error_detail: None,
                }
            }
            Err(e) => OpenApiResponse {
                status: e.status(),
                body: error_body(&e, request_id, &self.instance.host_id),
                access_key_id: caller_id,
                action,
                error_code: Some(e.code()),
                error_detail: Some(e.to_string()),
            },
        }
    }

    fn handle_inner(
        &self,
        req: &OpenApiRequest<'_>,
        now: i64,
        request_id: &str,
        caller_id: &mut Option<String>,
        action: &mut Option<String>,
    ) -> Result<Value, OpenApiError> {
        if !matches!(req.method, "POST" | "GET") || req.path != "/" {
            return Err(OpenApiError::UnsupportedRequest);
        }
        let params = Params::parse(req.query, req.has_form_body().then_some(req.body))?;
        *action = params.get("Action").or_else(|| req.header("x-acs-action")).map(str::to_owned);
        let lookup = |id: &str| -> Result<Option<Credential>, OpenApiError> {
            let store = self.lock();
            let found = if id.starts_with(STS_ACCESS_KEY_ID_PREFIX) {
                store.session_credential(id).map(|s| Credential {
                    secret: s.secret.clone(),
                    enabled: true,
                    session: Some(s),
                })
            } else {
                store.access_key_credential(id).map(|c| Credential {
                    secret: c.secret,
                    enabled: c.enabled,
                    session: None,
                })
            };
            match found {
                Ok(c) => Ok(Some(c)),
                Err(StoreError::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            }
        };
        let caller = auth::authenticate(req, &params, &lookup, &self.nonces, now)?;
        *caller_id = Some(caller.access_key_id.clone());
        *action = Some(caller.action.clone());
        if caller.version != API_VERSION {
            return Err(OpenApiError::UnsupportedVersion(caller.version));
        }
        if caller.action == GET_SECRET_VALUE {
            let reader = self.secrets.as_ref().ok_or_else(|| OpenApiError::UnknownAction(caller.action.clone()))?;
            let query = SecretValueQuery::from_params(&params)?;
            let principal = match &caller.session {
                Some(session) => Principal::Session { access_key_id: &caller.access_key_id, session },
                None => Principal::AccessKey { access_key_id: &caller.access_key_id },
            };
            let forwarded_for = forwarded_for(req.headers);
            let value = reader.get_secret_value(&principal, &query, req.peer, forwarded_for.as_deref(), request_id)?;
            return Ok(value.to_json());
        }
        // Temporary credentials are for the data plane only: no management with a session.
        if let Some(session) = &caller.session {
            return Err(OpenApiError::SessionNotAllowed {
                session: format!("{}/{}", session.role, session.session_name),
                action: caller.action.clone(),
            });
        }
        let handler =
            actions::lookup(&caller.action).ok_or_else(|| OpenApiError::UnknownAction(caller.action.clone()))?;
        let mut store = self.lock();
        store.set_actor(caller.access_key_id.clone());
        let account = store.account()?;
        if req.header(DRY_RUN_HEADER).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return self.dry_run(&mut store, &caller.action, handler, &params, &account, now);
        }
        let ctx = ActionContext { store: &store, instance: &self.instance, account: &account, now };
        handler(&ctx, &params)
    }

    /// The action with its writes rolled back: `{"DryRun": true, "Impact": <the diff>}` instead
    /// of its result (`docs/impact.md`).
    fn dry_run(
        &self,
        store: &mut Store,
        action: &str,
        handler: actions::Handler,
        params: &Params,
        account: &aapkit_store::Account,
        now: i64,
    ) -> Result<Value, OpenApiError> {
        if !DRY_RUN_ACTIONS.contains(&action) {
            return Err(OpenApiError::invalid(
                DRY_RUN_HEADER,
                format!("dry runs apply to {}", DRY_RUN_ACTIONS.join(", ")),
            ));
        }
        let scope = self.instance.instance_id.clone();
        let before = store.export_bundle(&scope)?;
        let mut failure = None;
        let (_, after) = store.dry_run(&scope, |s| {
            let ctx = ActionContext { store: s, instance: &self.instance, account, now };
            if let Err(e) = handler(&ctx, params) {
                failure = Some(e);
            }
            Ok(())
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        let compile = |b: &policy_core::Bundle| {
            b.compile()
                .map_err(|e| OpenApiError::Store(StoreError::Corrupt(format!("the bundle does not compile: {e}"))))
        };
        let report = policy_core::impact::diff_bundles(&compile(&before)?, &compile(&after)?);
        let impact = serde_json::to_value(&report)
            .map_err(|e| OpenApiError::Store(StoreError::Corrupt(format!("encoding the diff: {e}"))))?;
        Ok(serde_json::json!({ "DryRun": true, "Impact": impact }))
    }

    /// The store handle (the host's STS side shares it).
    pub fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// All `x-forwarded-for` values joined by `,` (a request may carry the header more than once).
pub fn forwarded_for(headers: &[(String, String)]) -> Option<String> {
    let parts: Vec<&str> = headers.iter().filter(|(k, _)| k == "x-forwarded-for").map(|(_, v)| v.as_str()).collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// Whether a request is one whose work is slow (an RSA key pair to generate): the HTTP layer runs
/// it in the heavy lane of its work pool. A cheap peek; a wrong guess only picks the other lane.
pub fn is_heavy(query: &str, headers: &[(String, String)], body: &[u8]) -> bool {
    let header_action = headers.iter().find(|(n, _)| n == "x-acs-action").map(|(_, v)| v.as_str());
    let params = Params::parse(query, Some(body)).unwrap_or_default();
    let action = header_action.or_else(|| params.get("Action"));
    match action {
        Some("CreateClientKey") => true,
        Some("CreateKey") => params.get("KeySpec").is_some_and(|s| !s.starts_with("Aliyun_")),
        _ => false,
    }
}

/// Alibaba's error body: `{RequestId, HostId, Code, Message, Recommend}` (plus `HttpStatus`, as
/// KMS's own samples carry it).
pub fn error_body(e: &OpenApiError, request_id: &str, host_id: &str) -> Vec<u8> {
    error_json(e.status(), e.code(), &e.message(), request_id, host_id)
}

/// The same body for a refusal made before the service runs (the HTTP layer's limits): policy-core's
/// writer, shared with the filter's and the shared gateway's denies.
pub fn error_json(status: u16, code: &str, message: &str, request_id: &str, host_id: &str) -> Vec<u8> {
    policy_core::openapi::error_body_json(status, code, message, request_id, host_id).into_bytes()
}
