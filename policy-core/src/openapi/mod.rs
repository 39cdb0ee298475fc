//! The request signatures of Alibaba Cloud's POP OpenAPI (the KMS endpoint, product `Kms`,
//! version `2016-01-20`), as the server re-derives and checks them
//! (`docs/protocol.md#openapi-signatures`):
//!
//! - **RPC v1** (`SignatureVersion=1.0`): one canonical string over the request parameters, signed
//!   with HMAC-SHA1 (an AccessKey secret: Terraform, `aliyun-python-sdk-core`, the Tea SDK with
//!   `signature_algorithm='v2'`) or SHA256withRSA (a client key's private key).
//! - **ACS3-HMAC-SHA256** (signature v3, the default of the current Tea SDKs): a canonical request
//!   over method, path, query, the signed headers and the body hash.
//!
//! Pure: the server does the I/O (it decodes the query and the form body, hashes the raw body,
//! looks up the secret, checks timestamps and nonces) and hands the decoded pieces in here.
//!
//! Choices the sources leave open or that a server has to make, and what this module does:
//! - **Parameters are decoded first, then re-encoded** ([`percent_encode`]): the clients put
//!   parameters on the wire with different encoders (`+` or `%20` for a space), but all sign the
//!   RFC 3986 encoding of the decoded values. Decoding (`+` is a space, `%XX` a byte, the result
//!   UTF-8) is [`decode_form_urlencoded`]; non-UTF-8 input is refused there, before any signature
//!   work, and the `&str` API takes only valid UTF-8.
//! - **Empty values are signed** as `Name=` (CORE sends `SignatureType=` empty and signs it;
//!   reference vector 2 covers it). A parameter written without `=` decodes to an empty value.
//! - **Repeated parameter names**: no SDK sends one (their parameters are maps), so the server
//!   should refuse a name given twice (query and body included) rather than pick one. Both
//!   canonicalisations here still stay deterministic: equal names are ordered by value.
//! - **RPC v1 parameter names** are encoded like values (CORE and Tea do). **ACS3 parameter names**
//!   are not encoded by Tea 0.4.6 (only values are); a name outside the RFC 3986 unreserved set
//!   would make the signed string ambiguous (`a=b`+`c` vs `a`+`b=c`), so
//!   [`acs3_canonical_request`] refuses it. KMS parameter names are plain ASCII words.
//! - **ACS3 headers**: only the names listed in `SignedHeaders` are used, matched without regard
//!   to case; each value is trimmed of leading and trailing whitespace (Python's `str.strip`, the
//!   SDK's); a name received several times gives its trimmed values sorted (byte order) and joined
//!   with `,` (as the SDK does when two spellings of one name are set); a signed name that was not
//!   received is an error. `host` is the Host header as received: the SDK signs the endpoint it
//!   was given (`host[:port]`). A server should require at least
//!   [`ACS3_REQUIRED_SIGNED_HEADERS`], so that what it checks (date, nonce, action, version, body
//!   hash) is covered by the signature.
//! - **ACS3 path**: the request path as received; an empty path is `/` (the SDK's rule). KMS RPC
//!   calls always use `/`.
//! - Signatures are compared in constant time (`hmac`'s `verify_slice`); a malformed signature
//!   (bad base64, bad hex, wrong length) is a mismatch, never a panic.

mod acs3;
mod code;
mod encode;
mod error;
mod rpc_v1;
mod shared_gateway;

pub use acs3::{
    acs3_canonical_request, acs3_string_to_sign, parse_acs3_authorization, sign_acs3_hmac_sha256,
    verify_acs3_hmac_sha256, Acs3Authorization, ACS3_HMAC_SHA256, ACS3_REQUIRED_SIGNED_HEADERS,
};
pub use code::OpenApiCode;
pub use encode::{
    decode_form_urlencoded, decode_rpc_parameters, is_form_content_type, percent_decode, percent_encode, sha256_hex,
};
pub use error::OpenApiSignatureError;
pub use rpc_v1::{
    rpc_v1_string_to_sign, sign_rpc_v1_hmac_sha1, verify_rpc_v1_hmac_sha1, verify_rpc_v1_sha256_with_rsa,
    RPC_V1_HMAC_SHA1, RPC_V1_SHA256_WITH_RSA, RPC_V1_SIGNATURE_VERSION,
};
pub use shared_gateway::{
    authorize_shared_gateway, error_body_json, openapi_error_json, RpcRequestView, SharedGatewayDecision,
    CLIENT_KEY_ID_PREFIX, KMS_API_VERSION, SHARED_GATEWAY_ACTION, SIGNATURE_TYPE_PRIVATE_KEY,
};
