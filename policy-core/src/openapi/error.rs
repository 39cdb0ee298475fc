//! Why an OpenAPI request's signature material could not be read.

use core::fmt;

/// A malformed `Authorization` header, a signed header that is missing, or a parameter that
/// cannot be canonicalised. A signature that simply does not match is not an error: the
/// `verify_*` functions return `false`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenApiSignatureError {
    /// The `Authorization` value is not `<algorithm> <Name=value>,…` (no algorithm, no space, or
    /// an algorithm with characters other than letters, digits and `-`).
    AuthorizationMalformed,
    /// A comma-separated part of the `Authorization` value is empty, has no `=`, or its value
    /// holds whitespace or control characters.
    AuthorizationFieldMalformed {
        /// The field name as far as it could be read (may be empty).
        field: String,
    },
    /// A field other than `Credential`, `SignedHeaders` and `Signature`.
    UnknownAuthorizationField { field: String },
    /// A field given twice.
    DuplicateAuthorizationField { field: &'static str },
    /// A required field is absent.
    MissingAuthorizationField { field: &'static str },
    /// A field is present with an empty value.
    EmptyAuthorizationField { field: &'static str },
    /// A `SignedHeaders` entry is empty, has upper-case letters or is not an HTTP token.
    InvalidSignedHeader { name: String },
    /// `SignedHeaders` is not in strictly increasing byte order (the SDK sorts; a repeat counts).
    SignedHeadersNotSorted { name: String },
    /// `SignedHeaders` names `authorization`, which cannot sign itself.
    AuthorizationHeaderSigned,
    /// A header named in `SignedHeaders` was not received.
    MissingSignedHeader { name: String },
    /// An ACS3 query parameter name that is empty or outside the RFC 3986 unreserved set.
    InvalidParameterName { name: String },
    /// A `%` not followed by two hex digits, at this byte offset of the encoded input.
    InvalidPercentEncoding { offset: usize },
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

impl fmt::Display for OpenApiSignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AuthorizationMalformed => f.write_str(
                "the Authorization header is malformed: expected \
                 `ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<a;b>,Signature=<hex>`",
            ),
            Self::AuthorizationFieldMalformed { field } => {
                write!(f, "the Authorization header field `{field}` is malformed: expected `Name=value`")
            }
            Self::UnknownAuthorizationField { field } => write!(
                f,
                "the Authorization header has an unknown field `{field}`: \
                 expected Credential, SignedHeaders and Signature"
            ),
            Self::DuplicateAuthorizationField { field } => {
                write!(f, "the Authorization header gives `{field}` more than once")
            }
            Self::MissingAuthorizationField { field } => write!(f, "the Authorization header has no `{field}`"),
            Self::EmptyAuthorizationField { field } => write!(f, "the Authorization header's `{field}` is empty"),
            Self::InvalidSignedHeader { name } => {
                write!(f, "SignedHeaders entry `{name}` is not a lower-case HTTP header name")
            }
            Self::SignedHeadersNotSorted { name } => {
                write!(f, "SignedHeaders must be sorted and without repeats; `{name}` is out of order")
            }
            Self::AuthorizationHeaderSigned => f.write_str("SignedHeaders must not name `authorization`"),
            Self::MissingSignedHeader { name } => {
                write!(f, "the signed header `{name}` is not in the request")
            }
            Self::InvalidParameterName { name } => write!(
                f,
                "the query parameter name `{name}` is empty or has characters other than \
                 letters, digits and `-_.~`"
            ),
            Self::InvalidPercentEncoding { offset } => {
                write!(f, "invalid percent-encoding at byte {offset}: `%` must be followed by two hex digits")
            }
            Self::NotUtf8 => f.write_str("the decoded parameters are not UTF-8"),
        }
    }
}

impl std::error::Error for OpenApiSignatureError {}
