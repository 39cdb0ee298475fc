//! KMS Instance API error codes: the one place that maps a code to its wire string and HTTP status.
//!
//! The table is `ErrorCode::info`; everything else (the evaluator, the request verifier, the host's
//! own handlers) reuses it, so a code can never travel with two different statuses.

use core::fmt;

/// An error code of the KMS Instance API (`docs/protocol.md#error-codes`).
///
/// CAUTION: this enum is part of the public contract with the host and the wasm modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400 unknown `x-kms-apiname`.
    InvalidApiName,
    /// 400 missing or wrong `x-kms-apiversion`.
    InvalidApiVersion,
    /// 400 a header (date, signature method, content-sha256, authorization) is invalid.
    InvalidParam,
    /// 400 a required parameter (key id header, KeyId, SecretName) is absent.
    MissingParameter,
    /// 400 `date` is more than the allowed window away from the server clock.
    RequestTimeTooSkewed,
    /// 400 a body parameter is not valid (malformed protobuf, malformed ciphertext blob).
    InvalidParameter,
    /// 400 wrong key type or algorithm for the API.
    UnsupportedOperation,
    /// 401 the request signature does not verify.
    SignatureNotMatch,
    /// 403 the AAP's policies do not allow the request.
    ForbiddenNoPermission,
    /// 404 the key id or alias is unknown.
    ForbiddenKeyNotFound,
    /// 404 the secret (or another resource) is unknown.
    ForbiddenResourceNotFound,
    /// 404 unknown, deleted, expired or not-yet-valid client key.
    Unauthorized,
    /// 409 the key is disabled.
    RejectedDisabled,
    /// 409 the key is pending deletion.
    RejectedPendingDeletion,
    /// 409 the key waits for its key material.
    RejectedPendingImport,
    /// 415 the content type is not `application/x-protobuf`.
    InvalidContentType,
    /// 429 over the QPS quota.
    RejectedThrottling,
    /// 500 internal error on the request path.
    InternalFailure,
    /// 503 temporarily unavailable.
    ServiceUnavailableTemporary,
}

impl ErrorCode {
    /// Every code, in table order.
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::InvalidApiName,
        ErrorCode::InvalidApiVersion,
        ErrorCode::InvalidParam,
        ErrorCode::MissingParameter,
        ErrorCode::RequestTimeTooSkewed,
        ErrorCode::InvalidParameter,
        ErrorCode::UnsupportedOperation,
        ErrorCode::SignatureNotMatch,
        ErrorCode::ForbiddenNoPermission,
        ErrorCode::ForbiddenKeyNotFound,
        ErrorCode::ForbiddenResourceNotFound,
        ErrorCode::Unauthorized,
        ErrorCode::RejectedDisabled,
        ErrorCode::RejectedPendingDeletion,
        ErrorCode::RejectedPendingImport,
        ErrorCode::InvalidContentType,
        ErrorCode::RejectedThrottling,
        ErrorCode::InternalFailure,
        ErrorCode::ServiceUnavailableTemporary,
    ];

    /// The one mapping: wire string, HTTP status, and the server's fixed message where it has one.
    const fn info(self) -> (&'static str, u16, &'static str) {
        match self {
            ErrorCode::InvalidApiName => ("InvalidApiName", 400, "The ApiName is invalid."),
            ErrorCode::InvalidApiVersion => ("InvalidApiVersion", 400, "The ApiVersion is invalid."),
            ErrorCode::InvalidParam => ("InvalidParam", 400, "The Param is invalid."),
            ErrorCode::MissingParameter => ("MissingParameter", 400, "A required parameter is missing."),
            ErrorCode::RequestTimeTooSkewed => {
                ("RequestTimeTooSkewed", 400, "Request time exceeds server time more than 15 minutes.")
            }
            ErrorCode::InvalidParameter => ("InvalidParameter", 400, "The specified parameter is not valid."),
            ErrorCode::UnsupportedOperation => ("UnsupportedOperation", 400, "Rejected.UnsupportedOperation"),
            ErrorCode::SignatureNotMatch => ("SignatureNotMatch", 401, "Signature is not matched."),
            ErrorCode::ForbiddenNoPermission => {
                ("Forbidden.NoPermission", 403, "This operation is forbidden by permission system.")
            }
            ErrorCode::ForbiddenKeyNotFound => {
                ("Forbidden.KeyNotFound", 404, "The key Key ID or Alias does not exist in the system.")
            }
            ErrorCode::ForbiddenResourceNotFound => {
                ("Forbidden.ResourceNotFound", 404, "The specified resource does not exist.")
            }
            ErrorCode::Unauthorized => ("Unauthorized", 404, "The AccessKey ID does not exist in our records."),
            ErrorCode::RejectedDisabled => {
                ("Rejected.Disabled", 409, "The request was rejected because the key state is Disabled.")
            }
            ErrorCode::RejectedPendingDeletion => {
                ("Rejected.PendingDeletion", 409, "The request was rejected because the key state is PendingDeletion.")
            }
            ErrorCode::RejectedPendingImport => {
                ("Rejected.PendingImport", 409, "The request was rejected because the key state is PendingImport.")
            }
            ErrorCode::InvalidContentType => ("InvalidContentType", 415, "Content-Type is unsupported."),
            ErrorCode::RejectedThrottling => ("Rejected.Throttling", 429, "QPS Limit Exceeded"),
            ErrorCode::InternalFailure => ("InternalFailure", 500, "Internal Failure."),
            ErrorCode::ServiceUnavailableTemporary => {
                ("ServiceUnavailableTemporary", 503, "Service Unavailable Temporary.")
            }
        }
    }

    /// The `ErrorCode` string of the protobuf `Error` body, e.g. `Forbidden.NoPermission`.
    pub const fn as_str(self) -> &'static str {
        self.info().0
    }

    /// The HTTP status the code is sent with.
    pub const fn http_status(self) -> u16 {
        self.info().1
    }

    /// A generic message for the code (the server's fixed text where it has one). Decisions
    /// carry a more specific message; the host uses this for its own errors.
    pub const fn default_message(self) -> &'static str {
        self.info().2
    }

    /// Parses a wire string back (case-sensitive, as on the wire).
    pub fn from_wire(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_round_trip_and_are_unique() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_wire(c.as_str()), Some(c));
        }
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn statuses_match_reference_table() {
        assert_eq!(ErrorCode::Unauthorized.http_status(), 404);
        assert_eq!(ErrorCode::SignatureNotMatch.http_status(), 401);
        assert_eq!(ErrorCode::ForbiddenNoPermission.http_status(), 403);
        assert_eq!(ErrorCode::RejectedPendingImport.http_status(), 409);
        assert_eq!(ErrorCode::InvalidContentType.http_status(), 415);
        assert_eq!(ErrorCode::RejectedThrottling.http_status(), 429);
        assert_eq!(ErrorCode::ServiceUnavailableTemporary.http_status(), 503);
    }
}
