//! Project Wycheproof RSA-2048 PKCS#1 v1.5 SHA-256 vectors (tests/data, Apache-2.0).
//!
//! Every `valid` case must verify and every `invalid` one must fail, for each verifier.
//! `acceptable` cases (here only `MissingNull`: a DigestInfo without the NULL parameters) are
//! rejected by `PureRustVerifier`, which accepts exactly the one DER encoding of RFC 8017; the
//! official SDKs never produce the legacy form. For other verifiers they are only reported.

use policy_core::{PureRustVerifier, RsaPublicKey, SignatureVerifier};
use serde_json::Value;

struct Case {
    id: u64,
    key: usize,
    msg: Vec<u8>,
    sig: Vec<u8>,
    result: String,
    flags: Vec<String>,
}

fn load() -> (Vec<RsaPublicKey>, Vec<Case>) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/wycheproof_rsa_signature_2048_sha256_test.json"
    ))
    .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut keys = Vec::new();
    let mut cases = Vec::new();
    for group in doc["testGroups"].as_array().unwrap() {
        let spki = hex::decode(group["publicKeyDer"].as_str().unwrap()).unwrap();
        let pkcs1 = hex::decode(group["publicKeyAsn"].as_str().unwrap()).unwrap();
        let key = RsaPublicKey::from_der(&spki).unwrap();
        // The same key through every entry point.
        assert_eq!(RsaPublicKey::from_pem(group["publicKeyPem"].as_str().unwrap()).unwrap(), key);
        assert_eq!(RsaPublicKey::from_pkcs1_der(&pkcs1).unwrap(), key);
        assert_eq!(key.spki_der(), &spki[..], "canonical SPKI re-encoding");
        assert_eq!(key.modulus_bits(), group["keySize"].as_u64().unwrap() as usize);
        assert_eq!(key.cert_validity(), None);
        keys.push(key);
        for t in group["tests"].as_array().unwrap() {
            cases.push(Case {
                id: t["tcId"].as_u64().unwrap(),
                key: keys.len() - 1,
                msg: hex::decode(t["msg"].as_str().unwrap()).unwrap(),
                sig: hex::decode(t["sig"].as_str().unwrap()).unwrap(),
                result: t["result"].as_str().unwrap().to_owned(),
                flags: t["flags"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_owned()).collect(),
            });
        }
    }
    assert_eq!(cases.len(), doc["numberOfTests"].as_u64().unwrap() as usize);
    (keys, cases)
}

/// Runs all cases; returns the ids of the `acceptable` cases that verified.
fn run(verifier: &dyn SignatureVerifier) -> Vec<u64> {
    let (keys, cases) = load();
    let mut failures = Vec::new();
    let mut accepted = Vec::new();
    for c in &cases {
        let ok = verifier.verify_pkcs1v15_sha256(&keys[c.key], &c.msg, &c.sig);
        match (c.result.as_str(), ok) {
            ("valid", false) => failures.push(format!("tcId {} valid but rejected {:?}", c.id, c.flags)),
            ("invalid", true) => failures.push(format!("tcId {} invalid but accepted {:?}", c.id, c.flags)),
            ("acceptable", true) => accepted.push(c.id),
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    accepted
}

#[test]
fn pure_rust_verifier_passes_wycheproof() {
    let accepted = run(&PureRustVerifier);
    assert!(accepted.is_empty(), "acceptable (legacy) cases must be rejected: {accepted:?}");
}

#[cfg(feature = "rsa-crate")]
#[test]
fn rsa_crate_verifier_passes_wycheproof() {
    let accepted = run(&policy_core::RsaCrateVerifier);
    eprintln!("rsa crate accepted acceptable cases: {accepted:?}");
}
