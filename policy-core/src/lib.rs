//! aapkit policy core: the AAP model, the policy evaluator and the client-key request verifier.
//!
//! Pure: no I/O, no clock, no randomness. Time (`now`) and the RSA verifier are passed in.
//! See `docs/ARCHITECTURE.md` for the contract with the other crates.

// TEMPORARY: the crypto helper's module has not landed yet; see crypto_standin.rs.
#[path = "crypto_standin.rs"]
mod crypto;

pub mod blob;
mod bundle;
mod catalogue;
mod error;
mod proto_scan;
mod time;
pub mod wire;

// The public interface is:
pub use bundle::cidr::{canonical_ip, CidrParseError, IpCidr};
pub use bundle::model::{
    limits, AccessControlRules, ApplicationAccessPoint, AuthenticationMethod, Bundle, ClientKey, ClientKeyAlgorithm,
    Gateway, Key, KeyState, NamePattern, NetworkRule, NetworkType, Policy, ResourcePattern, Secret,
    DEFAULT_MAX_SKEW_SECONDS, KEY_SPECS,
};
pub use bundle::{parse_bundle, BundleError, BundleErrors};
pub use catalogue::{is_asymmetric_spec, Api, Permission, QpsGroup, ResourceKind};
pub use crypto::{PublicKeyError, PureRustVerifier, RsaPublicKey, SignatureVerifier};
pub use error::ErrorCode;
pub use proto_scan::{extract_resource, ProtoError, ResourceRef};
pub use time::{format_iso8601, format_rfc1123, parse_iso8601, parse_rfc1123, parse_rfc3339, UnixTime};
