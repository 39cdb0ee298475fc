//! Who is calling: the two AccessKey signature schemes the official clients use, the 15-minute
//! timestamp window and the nonce replay check. The canonical forms and the HMACs are
//! policy-core's (`policy_core::openapi`, shared with the filter); this module picks the scheme,
//! checks the envelope and looks the AccessKey up.
//!
//! - `Authorization: ACS3-HMAC-SHA256 …` → signature v3 (the current SDKs' default).
//! - else a `Signature` parameter → RPC signature v1 (`SignatureMethod=HMAC-SHA1`: Terraform, the
//!   older core SDK, `signature_algorithm='v2'`).
//!
//! Order of checks: envelope (scheme, required fields, timestamp window) → AccessKey → signature →
//! nonce. A nonce is recorded only for a verified request, so strangers cannot spend it.

use aapkit_store::SessionCredential;
use policy_core::openapi as sig;
use zeroize::Zeroizing;

use crate::nonce::{NonceCache, MAX_NONCE_LEN};
use crate::params::Params;
use crate::OpenApiError;

/// How far a request's timestamp may be from the server's clock, either way.
pub const TIMESTAMP_WINDOW_SECS: i64 = 15 * 60;

/// One HTTP request as the OpenAPI sees it.
pub struct OpenApiRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Header names in lower case, values as received (repeated names allowed).
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// The TCP peer (the data plane resolves the source address from it and `X-Forwarded-For`
    /// under the configuration's trusted proxies).
    pub peer: std::net::IpAddr,
}

impl OpenApiRequest<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Whether the body carries form parameters (Terraform, and the SDK's `SecretData`).
    pub fn has_form_body(&self) -> bool {
        self.header("content-type").is_some_and(sig::is_form_content_type)
    }
}

/// The credential of an AccessKey, as the store returns it.
pub struct Credential {
    pub secret: Zeroizing<String>,
    pub enabled: bool,
    /// For a RAM-role session's temporary AccessKey (`STS.…`): the session, whose SecurityToken
    /// must come with the request and whose expiry is checked.
    pub session: Option<SessionCredential>,
}

/// The RAM-role session a verified caller holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCaller {
    pub role: String,
    pub session_name: String,
    /// The AAP the role is bound to: its policies decide.
    pub aap: String,
}

/// A verified caller and what it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub access_key_id: String,
    pub action: String,
    pub version: String,
    /// `Some` for a RAM-role session's temporary credentials, `None` for an AccessKey.
    pub session: Option<SessionCaller>,
}

/// Authenticates `req`. `lookup` returns the AccessKey's credential (`None`: no such key).
pub fn authenticate(
    req: &OpenApiRequest<'_>,
    params: &Params,
    lookup: &dyn Fn(&str) -> Result<Option<Credential>, OpenApiError>,
    nonces: &NonceCache,
    now: i64,
) -> Result<Caller, OpenApiError> {
    match req.header("authorization") {
        Some(auth) if auth.starts_with("ACS3-") => authenticate_v3(req, auth, lookup, nonces, now),
        Some(_) | None if params.get("Signature").is_some() => authenticate_v1(req, params, lookup, nonces, now),
        Some(_) => Err(OpenApiError::IncompleteSignature("the Authorization header is not ACS3-HMAC-SHA256".into())),
        None => Err(OpenApiError::MissingParameter("Signature".into())),
    }
}

fn authenticate_v3(
    req: &OpenApiRequest<'_>,
    authorization: &str,
    lookup: &dyn Fn(&str) -> Result<Option<Credential>, OpenApiError>,
    nonces: &NonceCache,
    now: i64,
) -> Result<Caller, OpenApiError> {
    let auth = sig::parse_acs3_authorization(authorization)
        .map_err(|e| OpenApiError::IncompleteSignature(format!("Authorization: {e}")))?;
    if auth.algorithm != sig::ACS3_HMAC_SHA256 {
        return Err(OpenApiError::UnsupportedSignatureMethod(auth.algorithm.to_owned()));
    }
    if let Some(missing) = sig::ACS3_REQUIRED_SIGNED_HEADERS.iter().find(|h| !auth.signed_headers.contains(h)) {
        return Err(OpenApiError::IncompleteSignature(format!("the header {missing} must be signed")));
    }
    let header = |name: &'static str| {
        req.header(name).filter(|v| !v.is_empty()).ok_or(OpenApiError::MissingParameter(name.to_owned()))
    };
    let action = header("x-acs-action")?;
    let version = header("x-acs-version")?;
    let date = header("x-acs-date")?;
    let nonce = header("x-acs-signature-nonce")?;
    let claimed_hash = header("x-acs-content-sha256")?;
    let forget_after = check_timestamp(date, now)?;
    check_nonce_shape(nonce)?;
    let credential = credential(lookup, auth.credential)?;

    let query = Params::parse(req.query, None)?;
    let query: Vec<(&str, &str)> = query.pairs().collect();
    let headers: Vec<(&str, &str)> = req.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let body_hash = sig::sha256_hex(req.body);
    let canonical =
        sig::acs3_canonical_request(req.method, req.path, &query, &headers, &auth.signed_headers, claimed_hash)
            .map_err(|e| OpenApiError::IncompleteSignature(e.to_string()))?;
    let string_to_sign = sig::acs3_string_to_sign(auth.algorithm, &canonical);
    if !sig::verify_acs3_hmac_sha256(credential.secret.as_bytes(), &string_to_sign, auth.signature) {
        return Err(OpenApiError::SignatureDoesNotMatch { string_to_sign });
    }
    // The signature covers the claimed hash; the claim must also be the body that arrived.
    if !claimed_hash.eq_ignore_ascii_case(&body_hash) {
        return Err(OpenApiError::ContentSha256Mismatch);
    }
    let session = check_session(&credential, auth.credential, req.header("x-acs-security-token"), now)?;
    nonces.check_and_record(auth.credential, nonce, forget_after, now)?;
    Ok(Caller {
        access_key_id: auth.credential.to_owned(),
        action: action.to_owned(),
        version: version.to_owned(),
        session,
    })
}

fn authenticate_v1(
    req: &OpenApiRequest<'_>,
    params: &Params,
    lookup: &dyn Fn(&str) -> Result<Option<Credential>, OpenApiError>,
    nonces: &NonceCache,
    now: i64,
) -> Result<Caller, OpenApiError> {
    let method = params.required("SignatureMethod")?;
    if method != sig::RPC_V1_HMAC_SHA1 {
        return Err(OpenApiError::UnsupportedSignatureMethod(method.to_owned()));
    }
    let version = params.required("SignatureVersion")?;
    if version != sig::RPC_V1_SIGNATURE_VERSION {
        return Err(OpenApiError::invalid("SignatureVersion", "expected 1.0"));
    }
    // CORE sends an empty SignatureType with HMAC (signed like any other parameter).
    if params.optional("SignatureType").is_some() {
        return Err(OpenApiError::invalid("SignatureType", "must be empty or absent with HMAC-SHA1"));
    }
    let access_key_id = params.required("AccessKeyId")?;
    let signature = params.required("Signature")?;
    let nonce = params.required("SignatureNonce")?;
    let forget_after = check_timestamp(params.required("Timestamp")?, now)?;
    let action = params.required("Action")?;
    let api_version = params.required("Version")?;
    check_nonce_shape(nonce)?;
    let credential = credential(lookup, access_key_id)?;
    let signed: Vec<(&str, &str)> = params.pairs().collect();
    let string_to_sign = sig::rpc_v1_string_to_sign(req.method, &signed);
    if !sig::verify_rpc_v1_hmac_sha1(credential.secret.as_bytes(), &string_to_sign, signature) {
        return Err(OpenApiError::SignatureDoesNotMatch { string_to_sign });
    }
    let session = check_session(&credential, access_key_id, params.get("SecurityToken"), now)?;
    nonces.check_and_record(access_key_id, nonce, forget_after, now)?;
    Ok(Caller {
        access_key_id: access_key_id.to_owned(),
        action: action.to_owned(),
        version: api_version.to_owned(),
        session,
    })
}

fn credential(
    lookup: &dyn Fn(&str) -> Result<Option<Credential>, OpenApiError>,
    access_key_id: &str,
) -> Result<Credential, OpenApiError> {
    match lookup(access_key_id)? {
        None => Err(OpenApiError::AccessKeyNotFound(access_key_id.to_owned())),
        Some(c) if !c.enabled => Err(OpenApiError::AccessKeyDisabled(access_key_id.to_owned())),
        Some(c) => Ok(c),
    }
}

/// A session's credentials need their SecurityToken and must not have expired; a permanent
/// AccessKey takes no token. Checked after the signature (only the secret's holder gets here).
fn check_session(
    credential: &Credential,
    access_key_id: &str,
    presented: Option<&str>,
    now: i64,
) -> Result<Option<SessionCaller>, OpenApiError> {
    let presented = presented.filter(|t| !t.is_empty());
    let Some(session) = &credential.session else {
        return match presented {
            None => Ok(None),
            Some(_) => Err(OpenApiError::SecurityTokenMismatch(access_key_id.to_owned())),
        };
    };
    let token = presented.ok_or_else(|| OpenApiError::SecurityTokenMissing(access_key_id.to_owned()))?;
    if !session.token_matches(token) {
        return Err(OpenApiError::SecurityTokenMismatch(access_key_id.to_owned()));
    }
    if session.is_expired(now) {
        return Err(OpenApiError::SecurityTokenExpired(access_key_id.to_owned()));
    }
    Ok(Some(SessionCaller {
        role: session.role.clone(),
        session_name: session.session_name.clone(),
        aap: session.aap.clone(),
    }))
}

pub(crate) fn check_nonce_shape(nonce: &str) -> Result<(), OpenApiError> {
    if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
        return Err(OpenApiError::invalid("SignatureNonce", format!("must be 1 to {MAX_NONCE_LEN} characters")));
    }
    Ok(())
}

/// Checks an ISO 8601 UTC timestamp against the window; returns when its nonce may be forgotten.
pub(crate) fn check_timestamp(text: &str, now: i64) -> Result<i64, OpenApiError> {
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| OpenApiError::TimestampMalformed(text.to_owned()))?;
    let at = parsed.unix_timestamp();
    if (at - now).abs() > TIMESTAMP_WINDOW_SECS {
        return Err(OpenApiError::TimestampExpired(text.to_owned()));
    }
    Ok(at + TIMESTAMP_WINDOW_SECS)
}
