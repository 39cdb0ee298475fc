//! The official SDK's unit-test client key and one request it signed
//! (`tests/data/sdk-signed-encrypt.json`, `tests/data/sdk-unit-test-cert.pem`).

use base64::Engine as _;
use policy_core::{PureRustVerifier, RsaPublicKey, SignatureVerifier};
use serde_json::Value;

fn vector() -> (RsaPublicKey, Vec<u8>, Vec<u8>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");
    let pem = std::fs::read_to_string(format!("{dir}sdk-unit-test-cert.pem")).unwrap();
    let key = RsaPublicKey::from_pem(&pem).unwrap();
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}sdk-signed-encrypt.json")).unwrap()).unwrap();
    let msg = doc["string_to_sign"].as_str().unwrap().as_bytes().to_vec();
    let auth = doc["request"]["headers"]["authorization"].as_str().unwrap();
    let sig = base64::engine::general_purpose::STANDARD.decode(auth.strip_prefix("Bearer ").unwrap()).unwrap();
    (key, msg, sig)
}

#[test]
fn certificate_fields() {
    let (key, _, _) = vector();
    assert_eq!(key.modulus_bits(), 2048);
    assert_eq!(key.exponent(), 65537);
    assert_eq!(&key.modulus_be()[..4], &[0xF3, 0xEC, 0xB9, 0xBA]);
    // Not Before: Jul  1 04:24:04 2021 GMT, Not After: Jul  1 04:24:04 2026 GMT.
    assert_eq!(key.cert_validity(), Some((1_625_113_444, 1_782_879_844)));
    // The SPKI re-encoding parses back to the same key, without the certificate metadata.
    let spki = RsaPublicKey::from_der(key.spki_der()).unwrap();
    assert_eq!(spki, key);
    assert_eq!(spki.cert_validity(), None);
}

fn check_all_single_byte_changes(verifier: &dyn SignatureVerifier) {
    let (key, msg, sig) = vector();
    assert!(verifier.verify_pkcs1v15_sha256(&key, &msg, &sig), "the SDK signature verifies");
    for i in 0..sig.len() {
        for delta in [0x01u8, 0x80, 0xFF] {
            let mut s = sig.clone();
            s[i] ^= delta;
            assert!(!verifier.verify_pkcs1v15_sha256(&key, &msg, &s), "sig byte {i} ^ {delta:#x}");
        }
    }
    for i in 0..msg.len() {
        for delta in [0x01u8, 0x20] {
            let mut m = msg.clone();
            m[i] ^= delta;
            assert!(!verifier.verify_pkcs1v15_sha256(&key, &m, &sig), "msg byte {i} ^ {delta:#x}");
        }
    }
    let mut longer = msg.clone();
    longer.push(b'\n');
    assert!(!verifier.verify_pkcs1v15_sha256(&key, &longer, &sig));
    assert!(!verifier.verify_pkcs1v15_sha256(&key, &msg[..msg.len() - 1], &sig));
    assert!(!verifier.verify_pkcs1v15_sha256(&key, &msg, &sig[1..]));
    let mut padded = vec![0u8];
    padded.extend_from_slice(&sig);
    assert!(!verifier.verify_pkcs1v15_sha256(&key, &msg, &padded));
}

#[test]
fn pure_rust_verifies_the_sdk_signature_and_nothing_else() {
    check_all_single_byte_changes(&PureRustVerifier);
}

#[cfg(feature = "rsa-crate")]
#[test]
fn rsa_crate_verifies_the_sdk_signature_and_nothing_else() {
    check_all_single_byte_changes(&policy_core::RsaCrateVerifier);
}
