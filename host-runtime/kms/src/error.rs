//! The one error type of the Instance API handlers, and the messages it carries.
//!
//! Codes and statuses come from `policy_core::ErrorCode` (one table for the whole project); this
//! file only chooses the code and the message for each situation the handlers meet.

use std::fmt;

use super::keyring::{KeyRingError, KeySpec, KeyState};
use policy_core::ErrorCode;

/// An Instance API error: a wire code and the `ErrorMessage` sent with it.
///
/// The caller sends it with status [`KmsError::http_status`] and body [`KmsError::to_wire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsError {
    pub code: ErrorCode,
    pub message: String,
}

impl KmsError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        KmsError { code, message: message.into() }
    }

    /// The HTTP status of the response.
    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    /// The protobuf `Error` body for this error (`policy_core::wire::encode_error_code`).
    pub fn to_wire(&self, request_id: &str) -> Vec<u8> {
        policy_core::wire::encode_error_code(self.code, &self.message, request_id)
    }

    /// 400 `InvalidParameter` with a message naming what is wrong.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        KmsError::new(ErrorCode::InvalidParameter, message)
    }

    /// 400 `MissingParameter` for a required request field that is empty or absent.
    pub(crate) fn missing(field: &str) -> Self {
        KmsError::new(ErrorCode::MissingParameter, format!("The parameter {field} is required."))
    }

    /// 400 `UnsupportedOperation`. The message keeps the server's text and adds why.
    pub(crate) fn unsupported(detail: impl fmt::Display) -> Self {
        KmsError::new(ErrorCode::UnsupportedOperation, format!("Rejected.UnsupportedOperation: {detail}"))
    }

    /// An operation that needs a symmetric key was given an asymmetric one (or the reverse).
    pub(crate) fn wrong_key_type(api: &str, spec: KeySpec) -> Self {
        let needs = if spec.is_symmetric() { "an asymmetric" } else { "a symmetric" };
        KmsError::unsupported(format_args!("{api} needs {needs} key; the key is {}.", spec.as_str()))
    }

    /// 404 `Forbidden.KeyNotFound`.
    pub(crate) fn key_not_found() -> Self {
        KmsError::new(ErrorCode::ForbiddenKeyNotFound, "The specified key does not exist.")
    }

    /// 404 `Forbidden.ResourceNotFound` for a secret name, version id or stage.
    pub(crate) fn secret_not_found() -> Self {
        KmsError::new(ErrorCode::ForbiddenResourceNotFound, "The specified secret or secret version does not exist.")
    }

    /// 409 for a key that is not `Enabled`; `None` when it is.
    pub(crate) fn for_state(state: KeyState) -> Option<Self> {
        let code = match state {
            KeyState::Enabled => return None,
            KeyState::Disabled => ErrorCode::RejectedDisabled,
            KeyState::PendingDeletion => ErrorCode::RejectedPendingDeletion,
            KeyState::PendingImport => ErrorCode::RejectedPendingImport,
        };
        Some(KmsError::new(code, format!("The request was rejected because the key state is {}.", state.name())))
    }

    /// 500 `InternalFailure`. The detail stays on the server: it may describe stored key material.
    pub(crate) fn internal() -> Self {
        KmsError::new(ErrorCode::InternalFailure, "Internal Failure.")
    }
}

impl fmt::Display for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for KmsError {}

impl From<KeyRingError> for KmsError {
    fn from(_: KeyRingError) -> Self {
        KmsError::internal()
    }
}
