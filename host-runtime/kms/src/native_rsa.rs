//! The native RSA verifier (aws-lc-rs) that the host plugs into policy-core and offers to the
//! filter as the `verify_signature` foreign function. One implementation serves both.

use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use policy_core::{RsaPublicKey, SignatureVerifier};

/// RSASSA-PKCS1-v1_5 with SHA-256 through aws-lc-rs.
#[derive(Debug, Default, Clone, Copy)]
pub struct NativeVerifier;

impl SignatureVerifier for NativeVerifier {
    fn verify_pkcs1v15_sha256(&self, key: &RsaPublicKey, msg: &[u8], sig: &[u8]) -> bool {
        verify_components(key.modulus_be(), key.exponent(), msg, sig)
    }
}

/// Verifies with a public key given as DER (SubjectPublicKeyInfo or PKCS#1 RSAPublicKey), as the
/// foreign function receives it: the key is read by policy-core's parser and verified exactly as
/// [`NativeVerifier`] does. A key that does not parse is a failed verification.
pub fn verify_pkcs1v15_sha256_der(public_key_der: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    match RsaPublicKey::components_from_der(public_key_der) {
        Ok((n, e)) => verify_components(n, e, msg, sig),
        Err(_) => false,
    }
}

/// RSASSA-PKCS1-v1_5 / SHA-256 with a 2048- to 8192-bit modulus, through aws-lc-rs.
fn verify_components(n: &[u8], e: u32, msg: &[u8], sig: &[u8]) -> bool {
    let e = e.to_be_bytes();
    let first = e.iter().position(|&b| b != 0).unwrap_or(e.len().saturating_sub(1));
    let components = RsaPublicKeyComponents { n, e: e.get(first..).unwrap_or(&e) };
    components.verify(&RSA_PKCS1_2048_8192_SHA256, msg, sig).is_ok()
}
