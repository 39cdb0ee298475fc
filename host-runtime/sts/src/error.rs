//! Every STS failure, mapped to Alibaba's `Code`, HTTP status and message in one place.
//!
//! Sourced codes (STS 2015-04-01 error codes page,
//! https://help.aliyun.com/zh/ram/developer-reference/api-sts-2015-04-01-errorcodes, all 401):
//! `AuthenticationFail.OIDCToken.Expired`, `.Invalid`, `.InvalidSignature`, `.AudienceNotMatch`,
//! `AuthenticationFail.NoPermission` ("No such OIDC Provider registered." / "There is no
//! permission"). The others are **inferred** (marked below) and listed in docs/ram-roles.md.

use aapkit_store::StoreError;

use crate::oidc::OidcError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StsError {
    #[error("missing required parameter {0}")]
    MissingParameter(&'static str),
    #[error("invalid {param}: {reason}")]
    InvalidParameter { param: &'static str, reason: String },
    #[error("unsupported method or path")]
    UnsupportedRequest,
    #[error("unknown action {0}")]
    UnknownAction(String),
    #[error("unsupported version {0}")]
    UnsupportedVersion(String),
    /// The role named by RoleArn does not exist.
    #[error("role {0} does not exist")]
    RoleNotFound(String),
    /// The OIDCProviderArn is not the role's provider, or the role has no OIDC trust.
    #[error("no such OIDC provider for this role: {0}")]
    NoSuchOidcProvider(String),
    #[error(transparent)]
    Token(#[from] OidcError),
    /// The credentials-URI request names no role with this token (either is wrong; not told which).
    #[error("the credentials-URI token is not valid for this role")]
    CredentialsUriDenied,
    /// The issuer's keys could not be obtained (file unreadable, URL not served by this host).
    #[error("the issuer's JWKS is unavailable: {0}")]
    JwksUnavailable(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for StsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidParameter { param, reason, .. } => StsError::InvalidParameter { param, reason },
            StoreError::MissingParameter(p) => StsError::MissingParameter(p),
            StoreError::NotFound { name, .. } => StsError::RoleNotFound(name),
            other => StsError::Store(other),
        }
    }
}

impl StsError {
    pub fn invalid(param: &'static str, reason: impl Into<String>) -> Self {
        StsError::InvalidParameter { param, reason: reason.into() }
    }

    /// Alibaba's error code.
    pub fn code(&self) -> &'static str {
        match self {
            // [inferred] STS's models; the KMS endpoint uses the same generic codes.
            StsError::MissingParameter(_) => "MissingParameter",
            StsError::InvalidParameter { param, .. } => match *param {
                "RoleArn" => "InvalidParameter.RoleArn",
                "OIDCProviderArn" => "InvalidParameter.OIDCProviderArn",
                "RoleSessionName" => "InvalidParameter.RoleSessionName",
                "DurationSeconds" => "InvalidParameter.DurationSeconds",
                "Policy" => "InvalidParameter.PolicyGrammar",
                _ => "InvalidParameter",
            },
            StsError::UnsupportedRequest => "UnsupportedHTTPMethod",
            StsError::UnknownAction(_) => "InvalidAction.NotFound",
            StsError::UnsupportedVersion(_) => "InvalidVersion",
            // [inferred] RAM's code for a missing role.
            StsError::RoleNotFound(_) => "EntityNotExist.Role",
            StsError::NoSuchOidcProvider(_) => "AuthenticationFail.NoPermission",
            StsError::Token(t) => match t {
                OidcError::Expired(_) => "AuthenticationFail.OIDCToken.Expired",
                OidcError::InvalidSignature => "AuthenticationFail.OIDCToken.InvalidSignature",
                OidcError::AudienceMismatch => "AuthenticationFail.OIDCToken.AudienceNotMatch",
                // [inferred] by analogy with AudienceNotMatch.
                OidcError::IssuerMismatch(_) => "AuthenticationFail.OIDCToken.IssuerNotMatch",
                // [inferred] the role's trust condition on `sub` is not met.
                OidcError::SubjectMismatch(_) => "AuthenticationFail.NoPermission",
                OidcError::BadJwks(_) => "InternalError",
                OidcError::Malformed(_)
                | OidcError::UnsupportedAlgorithm(_)
                | OidcError::CriticalExtension(_)
                | OidcError::UnknownKey(_)
                | OidcError::NotYetValid(_)
                | OidcError::IssuedInFuture(_) => "AuthenticationFail.OIDCToken.Invalid",
            },
            // aapkit's own (the credentials URI is not an Alibaba API).
            StsError::CredentialsUriDenied => "Forbidden.CredentialsUriToken",
            StsError::JwksUnavailable(_) => "InternalError",
            // aapkit's own: the role holds as many live sessions as it may.
            StsError::Store(aapkit_store::StoreError::LimitExceeded(_)) => "Rejected.LimitExceeded",
            StsError::Store(_) => "InternalError",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            StsError::UnsupportedRequest | StsError::UnknownAction(_) | StsError::RoleNotFound(_) => 404,
            StsError::NoSuchOidcProvider(_) => 401,
            StsError::Token(OidcError::BadJwks(_)) => 500,
            StsError::Token(_) => 401,
            StsError::CredentialsUriDenied => 403,
            StsError::Store(aapkit_store::StoreError::LimitExceeded(_)) => 409,
            StsError::JwksUnavailable(_) | StsError::Store(_) => 500,
            _ => 400,
        }
    }

    /// The caller-facing message: server-side failures say nothing of their cause.
    pub fn message(&self) -> String {
        match self {
            StsError::NoSuchOidcProvider(_) => "No such OIDC Provider registered.".into(),
            StsError::Token(OidcError::Expired(_)) => "This JsonWebToken is expired.".into(),
            StsError::Token(OidcError::InvalidSignature) => "OIDC token validate failed: invalid signature.".into(),
            StsError::Token(OidcError::AudienceMismatch) => "Invalid audience.".into(),
            StsError::Token(OidcError::SubjectMismatch(_)) => "There is no permission".into(),
            StsError::Store(aapkit_store::StoreError::LimitExceeded(_)) => {
                "The role holds as many unexpired sessions as it may; retry when some have expired.".into()
            }
            StsError::Token(OidcError::BadJwks(_)) | StsError::JwksUnavailable(_) | StsError::Store(_) => {
                "The request processing has failed due to some unknown error.".into()
            }
            other => other.to_string(),
        }
    }
}
