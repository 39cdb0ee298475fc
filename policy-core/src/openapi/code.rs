//! The error codes of the KMS endpoint (the POP OpenAPI) that a client-key decision can produce,
//! with their HTTP statuses: the one table for the shared gateway, as `ErrorCode` is for the
//! Instance API (`docs/protocol.md#shared-gateway`).

use core::fmt;

/// An error `Code` of the KMS endpoint's JSON error body.
///
/// The gateway-level codes and statuses are the POP gateway's as the official clients and the
/// aapkit KMS endpoint use them (`InvalidTimeStamp.Expired` 400, `SignatureDoesNotMatch` 400,
/// `InvalidAccessKeyId.NotFound` 404, …); the resource-level ones (`Forbidden.NoPermission` 403, …)
/// are KMS's. Which code a client key outside its validity window gets is not published:
/// `InvalidAccessKeyId.Inactive` 403 is aapkit's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum OpenApiCode {
    /// 400 a required parameter is absent or empty.
    MissingParameter,
    /// 400 a parameter is repeated or has a value this endpoint does not take.
    InvalidParameter,
    /// 400 `Version` is not `2016-01-20`.
    InvalidVersion,
    /// 400 `SignatureMethod` is not `SHA256withRSA` (a client key's).
    InvalidSignatureMethod,
    /// 400 `SignatureType` / `SignatureVersion` are not `PRIVATEKEY` / `1.0`.
    IncompleteSignature,
    /// 400 `Timestamp` is not `YYYY-MM-DDThh:mm:ssZ`.
    InvalidTimeStampFormat,
    /// 400 `Timestamp` is outside the window.
    InvalidTimeStampExpired,
    /// 400 the signature does not verify.
    SignatureDoesNotMatch,
    /// 403 the client key is outside its NotBefore/NotAfter window.
    InvalidAccessKeyIdInactive,
    /// 403 the AAP's policies do not allow the request, or the action is not one a client key may call.
    ForbiddenNoPermission,
    /// 404 unknown client key.
    InvalidAccessKeyIdNotFound,
    /// 404 the secret (or key) does not exist.
    ForbiddenResourceNotFound,
    /// 409 the secret's encryption key is disabled.
    RejectedDisabled,
    /// 409 the secret's encryption key is pending deletion.
    RejectedPendingDeletion,
    /// 409 the secret's encryption key waits for its material.
    RejectedPendingImport,
    /// 500 the gateway cannot decide.
    InternalFailure,
}

impl OpenApiCode {
    /// Every code, in table order.
    pub const ALL: [OpenApiCode; 16] = [
        OpenApiCode::MissingParameter,
        OpenApiCode::InvalidParameter,
        OpenApiCode::InvalidVersion,
        OpenApiCode::InvalidSignatureMethod,
        OpenApiCode::IncompleteSignature,
        OpenApiCode::InvalidTimeStampFormat,
        OpenApiCode::InvalidTimeStampExpired,
        OpenApiCode::SignatureDoesNotMatch,
        OpenApiCode::InvalidAccessKeyIdInactive,
        OpenApiCode::ForbiddenNoPermission,
        OpenApiCode::InvalidAccessKeyIdNotFound,
        OpenApiCode::ForbiddenResourceNotFound,
        OpenApiCode::RejectedDisabled,
        OpenApiCode::RejectedPendingDeletion,
        OpenApiCode::RejectedPendingImport,
        OpenApiCode::InternalFailure,
    ];

    const fn info(self) -> (&'static str, u16) {
        match self {
            OpenApiCode::MissingParameter => ("MissingParameter", 400),
            OpenApiCode::InvalidParameter => ("InvalidParameter", 400),
            OpenApiCode::InvalidVersion => ("InvalidVersion", 400),
            OpenApiCode::InvalidSignatureMethod => ("InvalidSignatureMethod", 400),
            OpenApiCode::IncompleteSignature => ("IncompleteSignature", 400),
            OpenApiCode::InvalidTimeStampFormat => ("InvalidTimeStamp.Format", 400),
            OpenApiCode::InvalidTimeStampExpired => ("InvalidTimeStamp.Expired", 400),
            OpenApiCode::SignatureDoesNotMatch => ("SignatureDoesNotMatch", 400),
            OpenApiCode::InvalidAccessKeyIdInactive => ("InvalidAccessKeyId.Inactive", 403),
            OpenApiCode::ForbiddenNoPermission => ("Forbidden.NoPermission", 403),
            OpenApiCode::InvalidAccessKeyIdNotFound => ("InvalidAccessKeyId.NotFound", 404),
            OpenApiCode::ForbiddenResourceNotFound => ("Forbidden.ResourceNotFound", 404),
            OpenApiCode::RejectedDisabled => ("Rejected.Disabled", 409),
            OpenApiCode::RejectedPendingDeletion => ("Rejected.PendingDeletion", 409),
            OpenApiCode::RejectedPendingImport => ("Rejected.PendingImport", 409),
            OpenApiCode::InternalFailure => ("InternalFailure", 500),
        }
    }

    /// The `Code` string, e.g. `InvalidTimeStamp.Expired`.
    pub const fn as_str(self) -> &'static str {
        self.info().0
    }

    /// The HTTP status the code is sent with.
    pub const fn http_status(self) -> u16 {
        self.info().1
    }

    /// Parses a `Code` string back.
    pub fn from_wire(s: &str) -> Option<OpenApiCode> {
        OpenApiCode::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for OpenApiCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut names: Vec<_> = OpenApiCode::ALL.iter().map(|c| c.as_str()).collect();
        for c in OpenApiCode::ALL {
            assert_eq!(OpenApiCode::from_wire(c.as_str()), Some(c));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), OpenApiCode::ALL.len());
        assert_eq!(OpenApiCode::SignatureDoesNotMatch.http_status(), 400);
        assert_eq!(OpenApiCode::InvalidAccessKeyIdNotFound.http_status(), 404);
        assert_eq!(OpenApiCode::ForbiddenNoPermission.http_status(), 403);
    }
}
