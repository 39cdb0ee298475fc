//! The RustCrypto `rsa` crate as a verifier: the reference for differential tests and benches.

use sha2::{Digest as _, Sha256};

use super::{RsaPublicKey, SignatureVerifier};

/// Verifies with `rsa` 0.10 (feature `rsa-crate`). Slower than [`super::PureRustVerifier`];
/// kept as an independent implementation to test against.
#[derive(Clone, Copy, Debug, Default)]
pub struct RsaCrateVerifier;

impl SignatureVerifier for RsaCrateVerifier {
    fn verify_pkcs1v15_sha256(&self, key: &RsaPublicKey, msg: &[u8], sig: &[u8]) -> bool {
        let Some(public) = key.rsa_crate_key() else {
            return false;
        };
        let hashed = Sha256::digest(msg);
        public.verify(rsa::Pkcs1v15Sign::new::<rsa::sha2::Sha256>(), &hashed, sig).is_ok()
    }
}
