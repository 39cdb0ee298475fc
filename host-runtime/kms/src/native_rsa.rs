//! The native RSA verifier (aws-lc-rs) that the host plugs into policy-core and offers to the
//! filter as the `verify_signature` foreign function. One implementation serves both.
//!
//! Public keys are parsed once and kept ([`ParsedPublicKey`]): building aws-lc's key from the
//! modulus and exponent on every request, and the Montgomery constants it then derives for that
//! key, cost a fifth of a verification (issue 16). The keys come from the policy bundle (the
//! client keys' certificates), so the cache holds at most what the configuration names; it is
//! emptied when it reaches [`MAX_CACHED_KEYS`] (a configuration with more keys than that only
//! loses the saving).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use aws_lc_rs::signature::{ParsedPublicKey, RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
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

/// Parsed keys kept at most; past this the cache starts again empty.
pub const MAX_CACHED_KEYS: usize = 4_096;

/// Parsed public keys by modulus (with the exponent they were parsed with).
type KeyCache = RwLock<HashMap<Box<[u8]>, (u32, Arc<ParsedPublicKey>)>>;

fn cache() -> &'static KeyCache {
    static CACHE: OnceLock<KeyCache> = OnceLock::new();
    CACHE.get_or_init(|| RwLock::new(HashMap::new()))
}

/// The parsed key of `(n, e)`, from the cache or parsed now (and kept); `None` when aws-lc does
/// not accept the components.
fn parsed_key(n: &[u8], e: u32) -> Option<Arc<ParsedPublicKey>> {
    {
        let map = cache().read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((cached_e, key)) = map.get(n) {
            if *cached_e == e {
                return Some(Arc::clone(key));
            }
        }
    }
    let e_bytes = e.to_be_bytes();
    let first = e_bytes.iter().position(|&b| b != 0).unwrap_or(e_bytes.len().saturating_sub(1));
    let components = RsaPublicKeyComponents { n, e: e_bytes.get(first..).unwrap_or(&e_bytes) };
    let key = Arc::new(components.to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256).ok()?);
    let mut map = cache().write().unwrap_or_else(std::sync::PoisonError::into_inner);
    if map.len() >= MAX_CACHED_KEYS {
        map.clear();
    }
    map.insert(n.into(), (e, Arc::clone(&key)));
    Some(key)
}

/// RSASSA-PKCS1-v1_5 / SHA-256 with a 2048- to 8192-bit modulus, through aws-lc-rs.
fn verify_components(n: &[u8], e: u32, msg: &[u8], sig: &[u8]) -> bool {
    parsed_key(n, e).is_some_and(|key| key.verify_sig(msg, sig).is_ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};

    fn signed(bits: KeySize, msg: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let pair = RsaKeyPair::generate(bits).unwrap();
        let mut sig = vec![0; pair.public_modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig).unwrap();
        (pair.public_key().as_ref().to_vec(), sig)
    }

    #[test]
    fn cached_keys_verify_as_fresh_ones() {
        let msg = b"POST\n\napplication/x-protobuf\n";
        let (der, sig) = signed(KeySize::Rsa2048, msg);
        let (other_der, other_sig) = signed(KeySize::Rsa2048, msg);
        for _ in 0..3 {
            assert!(verify_pkcs1v15_sha256_der(&der, msg, &sig));
            assert!(verify_pkcs1v15_sha256_der(&other_der, msg, &other_sig));
            assert!(!verify_pkcs1v15_sha256_der(&der, msg, &other_sig), "another key's signature");
            assert!(!verify_pkcs1v15_sha256_der(&der, b"POST\n\n", &sig), "another message");
            let mut bad = sig.clone();
            bad[10] ^= 1;
            assert!(!verify_pkcs1v15_sha256_der(&der, msg, &bad));
        }
        let (n, e) = RsaPublicKey::components_from_der(&der).unwrap();
        assert!(verify_components(n, e, msg, &sig));
        // The same modulus with another exponent is another key (and not a valid one here).
        assert!(!verify_components(n, 3, msg, &sig));
        assert!(verify_components(n, e, msg, &sig));
    }

    #[test]
    fn keys_outside_the_size_range_are_refused_from_the_cache_too() {
        let msg = b"m";
        let (der, sig) = signed(KeySize::Rsa2048, msg);
        let (n, e) = RsaPublicKey::components_from_der(&der).unwrap();
        // A 1024-bit modulus (the top half of a 2048-bit one) is below the accepted range.
        let short = &n[..128];
        assert!(!verify_components(short, e, msg, &sig[..128]));
        assert!(!verify_components(short, e, msg, &sig[..128]));
        assert!(!verify_pkcs1v15_sha256_der(b"not a key", msg, &sig));
    }
}
