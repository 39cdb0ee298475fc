//! RSA PKCS#1 v1.5 SHA-256 signature verification of client-key requests.
//!
//! - [`RsaPublicKey`]: a client key's public key, parsed once from a certificate, SPKI or PKCS#1
//!   (PEM or DER) and prepared for fast verification.
//! - [`SignatureVerifier`]: the pluggable check; hosts supply native ones (aws-lc-rs, Envoy's
//!   `verify_signature`).
//! - [`PureRustVerifier`]: the default, for wasm32 too; its own fixed-size Montgomery arithmetic.
//! - `RsaCrateVerifier` (feature `rsa-crate`): the RustCrypto `rsa` crate, as a reference.
//!
//! Only public data is handled here (keys, signatures, messages), so nothing needs to be
//! constant-time.

mod der;
mod error;
mod key;
mod limb;
mod mont;
mod pem;
mod pkcs1;
#[cfg(feature = "rsa-crate")]
mod rsa_crate;

#[doc(hidden)]
pub mod bench_support;

use sha2::{Digest as _, Sha256};

pub use error::PublicKeyError;
pub use key::RsaPublicKey;

/// Items re-exported from the crate root with a glob, so that feature-gated and hidden items need
/// no extra lines there.
pub mod optional {
    #[doc(hidden)]
    pub use super::bench_support as __bench_support;
    pub use super::key::{MAX_MODULUS_BITS, MIN_MODULUS_BITS};
    #[cfg(feature = "rsa-crate")]
    pub use super::rsa_crate::RsaCrateVerifier;
}

/// Largest modulus in bytes (4096 bits): the size of the stack buffers of a verification.
const MAX_MODULUS_BYTES: usize = key::MAX_MODULUS_BITS / 8;

/// Checks an RSASSA-PKCS1-v1_5 signature with SHA-256 (`RSA_PKCS1_SHA_256` in the KMS protocol).
///
/// Implementations return `true` only for a valid signature of `msg` under `key`; any malformed
/// input is simply `false`. Object-safe; implementations are expected to be `Send + Sync`.
pub trait SignatureVerifier {
    /// `sig` is the raw signature (already base64-decoded), `msg` the signed bytes (not hashed).
    fn verify_pkcs1v15_sha256(&self, key: &RsaPublicKey, msg: &[u8], sig: &[u8]) -> bool;
}

impl<T: SignatureVerifier + ?Sized> SignatureVerifier for &T {
    fn verify_pkcs1v15_sha256(&self, key: &RsaPublicKey, msg: &[u8], sig: &[u8]) -> bool {
        (**self).verify_pkcs1v15_sha256(key, msg, sig)
    }
}

impl<T: SignatureVerifier + ?Sized> SignatureVerifier for Box<T> {
    fn verify_pkcs1v15_sha256(&self, key: &RsaPublicKey, msg: &[u8], sig: &[u8]) -> bool {
        (**self).verify_pkcs1v15_sha256(key, msg, sig)
    }
}

impl<T: SignatureVerifier + ?Sized> SignatureVerifier for std::sync::Arc<T> {
    fn verify_pkcs1v15_sha256(&self, key: &RsaPublicKey, msg: &[u8], sig: &[u8]) -> bool {
        (**self).verify_pkcs1v15_sha256(key, msg, sig)
    }
}

/// The built-in verifier: pure Rust, no allocation, runs on wasm32.
///
/// It requires `len(sig) == len(n)` and `s < n`, computes `m = s^e mod n`, builds the only valid
/// EMSA-PKCS1-v1_5 encoding of `SHA-256(msg)` and compares the whole block.
#[derive(Clone, Copy, Debug, Default)]
pub struct PureRustVerifier;

impl SignatureVerifier for PureRustVerifier {
    fn verify_pkcs1v15_sha256(&self, key: &RsaPublicKey, msg: &[u8], sig: &[u8]) -> bool {
        let k = key.modulus_len();
        if sig.len() != k {
            return false;
        }
        let mut em_buf = [0u8; MAX_MODULUS_BYTES];
        let mut expected_buf = [0u8; MAX_MODULUS_BYTES];
        let (Some(em), Some(expected)) = (em_buf.get_mut(..k), expected_buf.get_mut(..k)) else {
            return false;
        };
        if !key.mont().is_some_and(|m| m.modexp_be(sig, key.exponent(), em)) {
            return false;
        }
        let digest: [u8; 32] = Sha256::digest(msg).into();
        pkcs1::encode_sha256(&digest, expected) && pkcs1::bytes_equal(em, expected)
    }
}
