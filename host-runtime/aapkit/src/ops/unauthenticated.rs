//! Why a request ended without a verified client-key signature: a closed set, used by the
//! metrics (a label) and the audit observer (a log line). Such requests never reach the audit log.

/// The reason of an unauthenticated refusal, from its error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnauthenticatedReason {
    MissingKeyId,
    UnknownClientKey,
    BadSignature,
    TimeSkew,
    InvalidRequest,
    TooLarge,
    Throttled,
    Other,
}

impl UnauthenticatedReason {
    pub const ALL: [UnauthenticatedReason; 8] = [
        UnauthenticatedReason::MissingKeyId,
        UnauthenticatedReason::UnknownClientKey,
        UnauthenticatedReason::BadSignature,
        UnauthenticatedReason::TimeSkew,
        UnauthenticatedReason::InvalidRequest,
        UnauthenticatedReason::TooLarge,
        UnauthenticatedReason::Throttled,
        UnauthenticatedReason::Other,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            UnauthenticatedReason::MissingKeyId => "missing_key_id",
            UnauthenticatedReason::UnknownClientKey => "unknown_client_key",
            UnauthenticatedReason::BadSignature => "bad_signature",
            UnauthenticatedReason::TimeSkew => "time_skew",
            UnauthenticatedReason::InvalidRequest => "invalid_request",
            UnauthenticatedReason::TooLarge => "too_large",
            UnauthenticatedReason::Throttled => "throttled",
            UnauthenticatedReason::Other => "other",
        }
    }

    /// The reason of an unauthenticated request from its error code.
    pub fn of_error_code(error_code: &str) -> UnauthenticatedReason {
        match error_code {
            // The Instance API's codes, then the KMS endpoint's (the shared gateway's) for the same.
            "MissingParameter" => UnauthenticatedReason::MissingKeyId,
            "Unauthorized" | "InvalidAccessKeyId.NotFound" => UnauthenticatedReason::UnknownClientKey,
            "SignatureNotMatch" | "SignatureDoesNotMatch" => UnauthenticatedReason::BadSignature,
            "RequestTimeTooSkewed" | "InvalidTimeStamp.Expired" => UnauthenticatedReason::TimeSkew,
            "InvalidParam"
            | "InvalidParameter"
            | "InvalidApiVersion"
            | "InvalidApiName"
            | "InvalidVersion"
            | "InvalidSignatureMethod"
            | "IncompleteSignature"
            | "InvalidTimeStamp.Format" => UnauthenticatedReason::InvalidRequest,
            "RequestEntityTooLarge" => UnauthenticatedReason::TooLarge,
            "Rejected.Throttling" => UnauthenticatedReason::Throttled,
            _ => UnauthenticatedReason::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_reason_in_the_closed_set() {
        for code in policy_core::ErrorCode::ALL {
            assert!(UnauthenticatedReason::ALL.contains(&UnauthenticatedReason::of_error_code(code.as_str())));
        }
        for code in policy_core::openapi::OpenApiCode::ALL {
            assert!(UnauthenticatedReason::ALL.contains(&UnauthenticatedReason::of_error_code(code.as_str())));
        }
        assert_eq!(UnauthenticatedReason::of_error_code("SignatureDoesNotMatch").as_str(), "bad_signature");
        assert_eq!(UnauthenticatedReason::of_error_code("SignatureNotMatch").as_str(), "bad_signature");
    }
}
