//! What an OpenAPI call can fail with, and the one place each failure becomes Alibaba's `Code`, HTTP
//! status and caller-facing message (the SDKs map status and code to their exceptions: see
//! docs/openapi.md#errors).

use aapkit_store::StoreError;

/// Everything an OpenAPI request can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenApiError {
    /// A required parameter (or signature header) is absent or empty.
    #[error("missing required parameter {0}")]
    MissingParameter(String),
    /// A parameter is malformed, out of range or repeated.
    #[error("invalid {param}: {reason}")]
    InvalidParameter { param: String, reason: String },
    /// The request is not `POST /` or `GET /`.
    #[error("unsupported method or path")]
    UnsupportedRequest,
    /// The action does not exist (in this version of the API).
    #[error("unknown action {0}")]
    UnknownAction(String),
    /// `Version` is not `2016-01-20`.
    #[error("unsupported version {0}")]
    UnsupportedVersion(String),
    /// A signature method or algorithm this endpoint does not verify.
    #[error("unsupported signature method {0}")]
    UnsupportedSignatureMethod(String),
    /// The `Authorization` header is malformed or leaves a required header unsigned.
    #[error("incomplete signature: {0}")]
    IncompleteSignature(String),
    /// The signature does not verify; `string_to_sign` is what the server computed (derived from the
    /// request alone, so showing it leaks nothing; the older core SDK parses it).
    #[error("signature mismatch")]
    SignatureDoesNotMatch { string_to_sign: String },
    /// `x-acs-content-sha256` is not the hash of the body that arrived.
    #[error("body hash mismatch")]
    ContentSha256Mismatch,
    /// Timestamp outside the accepted window.
    #[error("timestamp {0} is outside the 15-minute window")]
    TimestampExpired(String),
    /// Timestamp not in ISO 8601 UTC form.
    #[error("timestamp {0} is malformed")]
    TimestampMalformed(String),
    /// The nonce was already used by this AccessKey within the window.
    #[error("signature nonce already used")]
    NonceUsed,
    /// The replay cache is full (a flood of signed requests): retry later.
    #[error("replay cache full")]
    Throttled,
    #[error("access key {0} not found")]
    AccessKeyNotFound(String),
    #[error("access key {0} is disabled")]
    AccessKeyDisabled(String),
    /// The named KMS instance is not this one.
    #[error("instance {0} not found")]
    InstanceNotFound(String),
    /// An `STS.` AccessKey without its SecurityToken (`x-acs-security-token` or `SecurityToken`).
    #[error("session {0} sent no security token")]
    SecurityTokenMissing(String),
    /// The SecurityToken is not the session's, or one was sent with a permanent AccessKey.
    #[error("the security token does not belong to access key {0}")]
    SecurityTokenMismatch(String),
    /// The session's credentials have expired.
    #[error("session {0} expired")]
    SecurityTokenExpired(String),
    /// A RAM-role session may call GetSecretValue only (its AAP's policies decide which secrets).
    #[error("a RAM-role session ({session}) called {action}")]
    SessionNotAllowed { session: String, action: String },
    /// A data-plane decision or execution refused the call: the code policy-core (or the Instance
    /// API handler) chose, the caller's message, and the operator's account (never sent).
    #[error("{code}: {detail}")]
    Denied { code: policy_core::openapi::OpenApiCode, message: String, detail: String },
    /// A store operation failed (validation, not found, limits, ...).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OpenApiError {
    pub fn invalid(param: impl Into<String>, reason: impl Into<String>) -> Self {
        OpenApiError::InvalidParameter { param: param.into(), reason: reason.into() }
    }

    /// Alibaba's error code.
    pub fn code(&self) -> &'static str {
        match self {
            OpenApiError::MissingParameter(_) => "MissingParameter",
            OpenApiError::InvalidParameter { .. } => "InvalidParameter",
            OpenApiError::UnsupportedRequest => "UnsupportedHTTPMethod",
            OpenApiError::UnknownAction(_) => "InvalidAction.NotFound",
            OpenApiError::UnsupportedVersion(_) => "InvalidVersion",
            OpenApiError::UnsupportedSignatureMethod(_) => "InvalidSignatureMethod",
            OpenApiError::IncompleteSignature(_) => "IncompleteSignature",
            OpenApiError::SignatureDoesNotMatch { .. } | OpenApiError::ContentSha256Mismatch => "SignatureDoesNotMatch",
            OpenApiError::TimestampExpired(_) => "InvalidTimeStamp.Expired",
            OpenApiError::TimestampMalformed(_) => "InvalidTimeStamp.Format",
            OpenApiError::NonceUsed => "SignatureNonceUsed",
            OpenApiError::Throttled => "Rejected.Throttling",
            OpenApiError::AccessKeyNotFound(_) => "InvalidAccessKeyId.NotFound",
            OpenApiError::AccessKeyDisabled(_) => "InvalidAccessKeyId.Inactive",
            OpenApiError::InstanceNotFound(_) => "Forbidden.ResourceNotFound",
            OpenApiError::SecurityTokenMissing(_) => "MissingSecurityToken",
            OpenApiError::SecurityTokenMismatch(_) => "InvalidSecurityToken.MismatchWithAccessKey",
            OpenApiError::SecurityTokenExpired(_) => "InvalidSecurityToken.Expired",
            OpenApiError::SessionNotAllowed { .. } => "Forbidden.NoPermission",
            OpenApiError::Denied { code, .. } => code.as_str(),
            OpenApiError::Store(e) => e.code(),
        }
    }

    /// The HTTP status the SDKs expect with [`Self::code`].
    pub fn status(&self) -> u16 {
        match self {
            OpenApiError::UnknownAction(_)
            | OpenApiError::AccessKeyNotFound(_)
            | OpenApiError::InstanceNotFound(_)
            | OpenApiError::UnsupportedRequest => 404,
            OpenApiError::AccessKeyDisabled(_) | OpenApiError::SessionNotAllowed { .. } => 403,
            OpenApiError::Denied { code, .. } => code.http_status(),
            OpenApiError::Throttled => 429,
            OpenApiError::Store(e) => store_status(e),
            _ => 400,
        }
    }

    /// Whether the failure is the server's (500): its detail goes to the log, not to the caller.
    pub fn is_internal(&self) -> bool {
        self.status() >= 500
    }

    /// The `Message` shown to the caller. Authentication failures say what was wrong with the
    /// request, never whether a guessed secret was close; internal failures say nothing.
    pub fn message(&self) -> String {
        match self {
            OpenApiError::MissingParameter(p) => format!("The input parameter \"{p}\" that is mandatory for processing this request is not supplied."),
            OpenApiError::InvalidParameter { param, reason } => format!("The parameter \"{param}\" is invalid: {reason}"),
            OpenApiError::UnsupportedRequest => "The KMS OpenAPI accepts POST / and GET / only.".into(),
            OpenApiError::UnknownAction(a) => format!("Specified api is not found, please check your url and method. (Action \"{a}\")"),
            OpenApiError::UnsupportedVersion(v) => format!("Specified parameter Version \"{v}\" is not valid; this endpoint serves 2016-01-20."),
            OpenApiError::UnsupportedSignatureMethod(m) => format!("Specified signature method \"{m}\" is not supported: use ACS3-HMAC-SHA256 or HMAC-SHA1."),
            OpenApiError::IncompleteSignature(why) => format!("The request signature does not conform to Aliyun standards: {why}"),
            // The older core SDK splits this message at ':' and compares the rest with its own
            // StringToSign (see docs/openapi.md#errors): keep the ':' and the exact string.
            OpenApiError::SignatureDoesNotMatch { string_to_sign } => {
                format!("Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}")
            }
            OpenApiError::ContentSha256Mismatch => {
                "Specified signature is not matched with our calculation: x-acs-content-sha256 is not the SHA-256 of the body.".into()
            }
            OpenApiError::TimestampExpired(t) => format!("Specified time stamp or date value is expired: {t} is more than 15 minutes from the server's time."),
            OpenApiError::TimestampMalformed(t) => format!("Specified time stamp or date value is not well formatted: {t} (expected YYYY-MM-DDThh:mm:ssZ)."),
            OpenApiError::NonceUsed => "Specified signature nonce was used already.".into(),
            OpenApiError::Throttled => "Request was denied due to request throttling: retry later.".into(),
            OpenApiError::AccessKeyNotFound(_) => "Specified access key is not found.".into(),
            OpenApiError::AccessKeyDisabled(_) => "Specified access key is disabled.".into(),
            OpenApiError::InstanceNotFound(id) => format!("The KMS instance \"{id}\" does not exist."),
            OpenApiError::SecurityTokenMissing(_) => "The SecurityToken of the temporary AccessKey is not supplied (x-acs-security-token or SecurityToken).".into(),
            OpenApiError::SecurityTokenMismatch(_) => "Specified SecurityToken does not match the AccessKey.".into(),
            OpenApiError::SecurityTokenExpired(_) => "Specified SecurityToken is expired.".into(),
            OpenApiError::SessionNotAllowed { action, .. } => format!("This operation \"{action}\" is forbidden by permission system: RAM-role credentials may call only GetSecretValue on this endpoint."),
            OpenApiError::Denied { message, .. } => message.clone(),
            OpenApiError::Store(e) if self.is_internal() => {
                let _ = e;
                "The request processing has failed due to some unknown error.".into()
            }
            OpenApiError::Store(e) => e.to_string(),
        }
    }
}

/// HTTP status of a store failure (KMS's: not found 404, conflicts 409, bad input 400).
fn store_status(e: &StoreError) -> u16 {
    match e {
        StoreError::NotFound { .. } => 404,
        StoreError::InvalidParameter { .. } | StoreError::MissingParameter(_) | StoreError::NotWired(_) => 400,
        StoreError::AlreadyExists { .. }
        | StoreError::InUse { .. }
        | StoreError::LimitExceeded(_)
        | StoreError::InvalidState(_) => 409,
        StoreError::Unavailable(_) => 503,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn signature_mismatch_message_has_the_colon_the_core_sdk_splits_on() {
        let e = OpenApiError::SignatureDoesNotMatch { string_to_sign: "POST&%2F&A%3Db".into() };
        let m = e.message();
        assert_eq!(m.split(':').nth(1), Some("POST&%2F&A%3Db"));
        assert_eq!((e.code(), e.status()), ("SignatureDoesNotMatch", 400));
    }

    #[test]
    fn internal_store_failures_say_nothing() {
        let e = OpenApiError::Store(StoreError::Corrupt("row 7 of secrets".into()));
        assert_eq!(e.status(), 500);
        assert!(!e.message().contains("row 7"));
    }
}
