//! The native crypto backend (aws-lc-rs) and the KMS Instance API operations.
//!
//! One entry point, [`InstanceApi::handle`]; one error type, [`KmsError`]. Key material comes
//! from a [`KeyRing`] (the store, or [`InMemoryKeyRing`] in tests).
//!
//! Behaviour where the service documentation leaves a choice (tests in `tests/kms_*.rs`):
//! - Symmetric ciphertexts are the self-describing blob (`'$' 0x00 0x02 | version id | IV | ct||tag`)
//!   for Encrypt, AdvanceEncrypt and the data-key operations alike. Encrypt and GenerateDataKey*
//!   use the key's initial version, the Advance operations its primary version; Decrypt and
//!   AdvanceDecrypt open a blob of any version of its key. A KeyId given with a blob must own
//!   the blob's version (400 `InvalidParameter` otherwise).
//! - A GCM authentication failure (tampered blob or wrong Aad) is 400 `InvalidParameter`
//!   "The CiphertextBlob is invalid or the Aad does not match."
//! - Asymmetric keys use their initial version. Encrypt/Decrypt with an RSA key need
//!   `Algorithm: RSAES_OAEP_SHA_256` (OAEP, SHA-256, MGF1-SHA-256) and reject Aad/Iv/PaddingMode.
//! - Absent required fields are 400 `MissingParameter` "The parameter <Name> is required.";
//!   malformed or out-of-range ones 400 `InvalidParameter` naming the field; algorithms, specs or
//!   key types the service knows but this backend or key does not support are 400
//!   `UnsupportedOperation` "Rejected.UnsupportedOperation: <why>".
//! - Sign/Verify with no MessageType and only a Digest treat it as DIGEST (older SDKs send that).
//!   Verify answers `Value: false` for any signature that does not verify.
//! - GetSecretValue with both VersionId and VersionStage requires the version to carry the stage.
//! - Storage failures are 500 `InternalFailure` "Internal Failure." with no detail on the wire.

mod api;
mod cache;
mod error;
pub mod keyring;
pub mod material;
/// The native RSA verifier (aws-lc-rs) shared by the native enforcer and the filter's foreign function.
pub mod native_rsa;
mod ops;
/// Protobuf messages of the KMS Instance API (prost).
pub mod proto;

pub use api::{call_cost, Authorized, AuthorizedResource, CallCost, InstanceApi, SharedKeyCache};
pub use error::KmsError;
pub use keyring::{InMemoryKeyRing, IndexedKeyRing, KeyRing};
pub use material::{generate_material, public_key_der, public_key_pem};
