//! aapkit policy core: the AAP model, the policy evaluator, the client-key request verifier and the
//! KMS OpenAPI request signatures (`openapi`).
//!
//! Pure: no I/O, no clock, no randomness. Time (`now`) and the RSA verifier are passed in.
//! See `docs/ARCHITECTURE.md` for the contract with the other crates and `docs/bundle-format.md`
//! for the bundle document and the decision rules.
#![forbid(unsafe_code)]

mod crypto;

pub mod blob;
mod bundle;
mod catalogue;
mod compiled;
mod decide;
mod error;
pub mod gateway;
mod http;
pub mod impact;
pub mod openapi;
mod proto_scan;
mod report;
mod scope;
mod time;
pub mod wire;

// The public interface is:
// - the document: model types, strict parser, validation, compilation
pub use bundle::cidr::{canonical_ip, CidrParseError, IpCidr, PRIVATE_RANGES};
pub use bundle::model::{
    limits, AccessControlRules, ApplicationAccessPoint, AuthenticationMethod, Bundle, ClientKey, ClientKeyAlgorithm,
    Gateway, Key, KeyState, NamePattern, NetworkRule, NetworkType, Policy, ResourcePattern, Secret,
    DEFAULT_MAX_SKEW_SECONDS, KEY_SPECS,
};
pub use bundle::{parse_bundle, BundleError, BundleErrors, SourceSpan};
pub use compiled::compact::{
    __reseal_for_fuzzing, compact_len, compact_prefix_len, is_compact, CompactError, COMPACT_HEADER_LEN, COMPACT_MAGIC,
    COMPACT_VERSION,
};
pub use compiled::{compile_bundle, CompiledBundle, PublicKeyCache};
// - the operation catalogue and the error-code table
pub use catalogue::{is_asymmetric_spec, Api, Permission, QpsGroup, ResourceKind};
pub use error::ErrorCode;
// - scope and role semantics
pub use scope::{is_shared_scope, policy_grants_nothing, policy_grants_nothing_str, GrantsNothing, SHARED_SCOPE};
// - evaluation
pub use decide::{
    decide, decide_ram_role_session, AccessRequest, Check, CheckOutcome, Decision, DenyReason, Endpoint, PolicyTrace,
    PolicyTraces, Requirement,
};
pub use report::{AccessRequestDoc, DecisionReport, FailedCheck, PolicyTraceReport, RequestDocError};
// - signed HTTP requests
pub use crypto::{optional::*, PublicKeyError, PureRustVerifier, RsaPublicKey, SignatureVerifier};
pub use http::{
    authorize, string_to_sign, verify_request, HttpRequestView, PeerAddr, VerifiedRequest, API_VERSION, CONTENT_TYPE,
    SIGNATURE_METHOD,
};
pub use proto_scan::{extract_resource, extract_resource_with_header, ResourceRef, MIGRATION_KEY_VERSION_HEADER};
pub use wire::ProtoError;
// - time without a clock
pub use time::{format_iso8601, format_rfc1123, parse_iso8601, parse_rfc1123, parse_rfc3339, UnixTime};
