//! The STS handler: one request in, one JSON response out; transport-free.

use std::io::Read as _;

use aapkit_store::{format_time, JwksSource, RamRoleInfo, SessionCredential, Store, DEFAULT_DURATION_SECONDS};
use serde_json::{json, Value};

use crate::oidc::{self, TokenExpectations, VerifiedToken, MAX_JWKS_BYTES};
use crate::wire::{AssumeRoleWithOidcResponse, AssumedRoleUser, Credentials, CredentialsUriResponse, OidcTokenInfo};
use crate::StsError;

/// The STS API version served.
pub const STS_API_VERSION: &str = "2015-04-01";
/// Path of the credentials-URI request: `GET /v1/credentials?role=<RoleName>&token=<token>`.
pub const CREDENTIALS_URI_PATH: &str = "/v1/credentials";
/// RoleSessionName of sessions issued through the credentials URI (the client names none).
pub const CREDENTIALS_URI_SESSION_NAME: &str = "credentials-uri";
/// Parameters per request at most.
const MAX_PARAMS: usize = 64;

/// One HTTP request as the STS side sees it.
pub struct StsRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Header names in lower case.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl StsRequest<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn has_form_body(&self) -> bool {
        self.header("content-type").is_some_and(policy_core::openapi::is_form_content_type)
    }
}

/// One response: status and JSON body, plus what the access log records.
#[derive(Debug, Clone)]
pub struct StsResponse {
    pub status: u16,
    pub body: Vec<u8>,
    pub action: Option<String>,
    /// The role asked for (verified or not).
    pub role: Option<String>,
    pub session_name: Option<String>,
    /// The issued session's AccessKeyId.
    pub access_key_id: Option<String>,
    pub error_code: Option<&'static str>,
    /// The full failure for the server's log; never sent.
    pub error_detail: Option<String>,
}

/// Where the issuer's JWKS text comes from (the host may cache, fetch URLs, ...).
pub trait JwksProvider: Send + Sync {
    fn jwks(&self, source: &JwksSource) -> Result<String, StsError>;
}

/// Reads JWKS files (at most [`MAX_JWKS_BYTES`]) on every call; refuses URLs (fetching is the
/// host's job: it supplies a provider that fetches and caches).
#[derive(Debug, Default, Clone, Copy)]
pub struct FileJwks;

impl JwksProvider for FileJwks {
    fn jwks(&self, source: &JwksSource) -> Result<String, StsError> {
        match source {
            JwksSource::File(path) => {
                let f = std::fs::File::open(path).map_err(|e| StsError::JwksUnavailable(format!("{path}: {e}")))?;
                let mut text = String::new();
                f.take(MAX_JWKS_BYTES as u64 + 1)
                    .read_to_string(&mut text)
                    .map_err(|e| StsError::JwksUnavailable(format!("{path}: {e}")))?;
                if text.len() > MAX_JWKS_BYTES {
                    return Err(StsError::JwksUnavailable(format!("{path}: larger than {MAX_JWKS_BYTES} bytes")));
                }
                Ok(text)
            }
            JwksSource::Url(u) => Err(StsError::JwksUnavailable(format!("{u}: this host does not fetch JWKS URLs"))),
        }
    }
}

/// The STS side over the store.
pub struct Sts {
    store: Store,
    jwks: Box<dyn JwksProvider>,
    host_id: String,
}

/// Decoded parameters (query, then a form body), names unique.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(req: &StsRequest<'_>) -> Result<Params, StsError> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut add = |encoded: &[u8]| -> Result<(), StsError> {
            let text = std::str::from_utf8(encoded).map_err(|_| StsError::invalid("(parameters)", "not ASCII"))?;
            let pairs = policy_core::openapi::decode_form_urlencoded(text)
                .map_err(|e| StsError::invalid("(parameters)", e.to_string()))?;
            for (n, v) in pairs {
                if out.iter().any(|(o, _)| *o == n) {
                    return Err(StsError::invalid("(parameters)", format!("{n} is given more than once")));
                }
                if out.len() == MAX_PARAMS {
                    return Err(StsError::invalid("(parameters)", format!("more than {MAX_PARAMS} parameters")));
                }
                out.push((n, v));
            }
            Ok(())
        };
        add(req.query.as_bytes())?;
        if req.has_form_body() {
            add(req.body)?;
        }
        Ok(Params(out))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<&str, StsError> {
        self.get(name).ok_or(StsError::MissingParameter(name))
    }
}

#[derive(Default)]
struct Trace {
    action: Option<String>,
    role: Option<String>,
    session_name: Option<String>,
    access_key_id: Option<String>,
}

impl Sts {
    /// `host_id` is the name error bodies carry as `HostId` (e.g. `sts.aliyuncs.com`).
    pub fn new(store: Store, jwks: Box<dyn JwksProvider>, host_id: impl Into<String>) -> Sts {
        Sts { store, jwks, host_id: host_id.into() }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves one request at `now` (seconds since the epoch) under `request_id`: the STS actions
    /// on `/`, the credentials URI on [`CREDENTIALS_URI_PATH`].
    pub fn handle(&self, req: &StsRequest<'_>, now: i64, request_id: &str) -> StsResponse {
        let mut trace = Trace::default();
        let result = if req.path == CREDENTIALS_URI_PATH {
            trace.action = Some("CredentialsUri".into());
            self.credentials_uri(req, now, &mut trace)
        } else {
            self.action(req, now, &mut trace)
        };
        match result {
            Ok(mut body) => {
                // The credentials-URI body is flat and exact; the STS actions carry RequestId.
                if req.path != CREDENTIALS_URI_PATH {
                    if let Value::Object(map) = &mut body {
                        map.insert("RequestId".into(), Value::String(request_id.to_owned()));
                    }
                }
                StsResponse {
                    status: 200,
                    body: serde_json::to_vec(&body).unwrap_or_default(),
                    action: trace.action,
                    role: trace.role,
                    session_name: trace.session_name,
                    access_key_id: trace.access_key_id,
                    error_code: None,
                    error_detail: None,
                }
            }
            Err(e) => StsResponse {
                status: e.status(),
                body: self.error_body(&e, request_id),
                action: trace.action,
                role: trace.role,
                session_name: trace.session_name,
                access_key_id: None,
                error_code: Some(e.code()),
                error_detail: Some(e.to_string()),
            },
        }
    }

    /// Alibaba's error body: `{RequestId, HostId, Code, Message, Recommend}`.
    fn error_body(&self, e: &StsError, request_id: &str) -> Vec<u8> {
        let code = e.code();
        let body = json!({
            "RequestId": request_id,
            "HostId": self.host_id,
            "Code": code,
            "Message": e.message(),
            "Recommend": format!("https://api.aliyun.com/troubleshoot?q={code}&product=Sts"),
        });
        serde_json::to_vec(&body).unwrap_or_default()
    }

    fn action(&self, req: &StsRequest<'_>, now: i64, trace: &mut Trace) -> Result<Value, StsError> {
        if !matches!(req.method, "POST" | "GET") || req.path != "/" {
            return Err(StsError::UnsupportedRequest);
        }
        let params = Params::parse(req)?;
        let action = params.required("Action")?;
        trace.action = Some(action.to_owned());
        let version = params.required("Version")?;
        if version != STS_API_VERSION {
            return Err(StsError::UnsupportedVersion(version.to_owned()));
        }
        match action {
            "AssumeRoleWithOIDC" => {
                let out = self.assume_role_with_oidc(&params, now, trace)?;
                serde_json::to_value(out).map_err(|e| StsError::Store(aapkit_store::StoreError::Corrupt(e.to_string())))
            }
            other => Err(StsError::UnknownAction(other.to_owned())),
        }
    }

    /// AssumeRoleWithOIDC: anonymous; the OIDC token is the proof.
    pub fn assume_role_with_oidc_params(
        &self,
        role_arn: &str,
        provider_arn: &str,
        token: &str,
        session_name: Option<&str>,
        duration: Option<i64>,
        now: i64,
    ) -> Result<(AssumeRoleWithOidcResponse, SessionCredential), StsError> {
        let role = self.store.ram_role_by_arn(role_arn)?;
        let trust = role.oidc.as_ref().ok_or_else(|| StsError::NoSuchOidcProvider(provider_arn.to_owned()))?;
        if !provider_arn.starts_with("acs:ram::") || !provider_arn.contains(":oidc-provider/") {
            return Err(StsError::invalid("OIDCProviderArn", "expected acs:ram::<AccountId>:oidc-provider/<name>"));
        }
        if provider_arn != trust.oidc_provider_arn {
            return Err(StsError::NoSuchOidcProvider(provider_arn.to_owned()));
        }
        let source = trust.jwks().ok_or_else(|| StsError::JwksUnavailable("the role has no JWKS source".into()))?;
        let jwks = oidc::parse_jwks(&self.jwks.jwks(&source)?)?;
        let expect = TokenExpectations {
            issuer: &trust.issuer_url,
            audiences: &trust.audiences,
            subject: trust.subject_pattern.as_deref(),
        };
        let verified = oidc::verify_token(token, &jwks, &expect, now)?;
        let duration = duration.unwrap_or(DEFAULT_DURATION_SECONDS.min(role.max_session_duration));
        let default_name;
        let session_name = match session_name {
            Some(n) => n,
            None => {
                // [inferred] STS names a session the caller did not name; aapkit uses the time.
                default_name = format!("oidc-{now}");
                &default_name
            }
        };
        let session = self.store.issue_session(&role.role_name, session_name, duration, now)?;
        Ok((oidc_response(&role, &session, &verified), session))
    }

    fn assume_role_with_oidc(
        &self,
        params: &Params,
        now: i64,
        trace: &mut Trace,
    ) -> Result<AssumeRoleWithOidcResponse, StsError> {
        let role_arn = params.required("RoleArn")?;
        trace.role = Some(role_arn.to_owned());
        let provider_arn = params.required("OIDCProviderArn")?;
        let token = params.required("OIDCToken")?;
        let session_name = params.get("RoleSessionName");
        trace.session_name = session_name.map(str::to_owned);
        // A session policy can only narrow the role's rights; aapkit does not evaluate them, so
        // one is refused rather than ignored (ignoring would grant more than was asked).
        if params.get("Policy").is_some() {
            return Err(StsError::invalid("Policy", "session policies are not supported by aapkit; omit Policy"));
        }
        let duration = match params.get("DurationSeconds") {
            None => None,
            Some(d) => Some(d.parse::<i64>().map_err(|_| StsError::invalid("DurationSeconds", "expected an integer"))?),
        };
        let (out, session) =
            self.assume_role_with_oidc_params(role_arn, provider_arn, token, session_name, duration, now)?;
        trace.role = Some(session.role.clone());
        trace.session_name = Some(session.session_name.clone());
        trace.access_key_id = Some(session.id.clone());
        Ok(out)
    }

    /// `GET /v1/credentials?role=<RoleName>&token=<token>`: a fresh session of the role for its
    /// MaxSessionDuration, when the token is the role's (constant-time check of digests).
    fn credentials_uri(&self, req: &StsRequest<'_>, now: i64, trace: &mut Trace) -> Result<Value, StsError> {
        if req.method != "GET" {
            return Err(StsError::UnsupportedRequest);
        }
        let params = Params::parse(&StsRequest { body: &[], headers: &[], ..*req })?;
        let role = params.required("role")?;
        trace.role = Some(role.to_owned());
        let token = params.required("token")?;
        if !self.store.check_credentials_uri_token(role, token)? {
            return Err(StsError::CredentialsUriDenied);
        }
        let info = self.store.describe_ram_role(role)?;
        let session =
            self.store.issue_session(&info.role_name, CREDENTIALS_URI_SESSION_NAME, info.max_session_duration, now)?;
        trace.session_name = Some(session.session_name.clone());
        trace.access_key_id = Some(session.id.clone());
        let out = CredentialsUriResponse {
            code: "Success",
            access_key_id: session.id.clone(),
            access_key_secret: session.secret.to_string(),
            security_token: session.security_token.to_string(),
            expiration: session.expiration(),
            last_updated: format_time(now),
        };
        serde_json::to_value(out).map_err(|e| StsError::Store(aapkit_store::StoreError::Corrupt(e.to_string())))
    }
}

fn oidc_response(role: &RamRoleInfo, s: &SessionCredential, t: &VerifiedToken) -> AssumeRoleWithOidcResponse {
    let account = role.arn.strip_prefix("acs:ram::").and_then(|r| r.split(':').next()).unwrap_or_default();
    AssumeRoleWithOidcResponse {
        assumed_role_user: AssumedRoleUser {
            arn: format!("acs:ram::{account}:role/{}/{}", role.role_name.to_ascii_lowercase(), s.session_name),
            assumed_role_id: format!("{}:{}", role.role_id, s.session_name),
        },
        credentials: Credentials {
            access_key_id: s.id.clone(),
            access_key_secret: s.secret.to_string(),
            security_token: s.security_token.to_string(),
            expiration: s.expiration(),
        },
        oidc_token_info: OidcTokenInfo {
            subject: t.subject.clone(),
            issuer: t.issuer.clone(),
            client_ids: t.audiences.join(","),
            expiration_time: format_time(t.expires_at),
            issuance_time: format_time(t.issued_at),
            // [inferred] the value real STS puts here is not in the sources.
            verification_info: "Success".into(),
        },
    }
}
