//! The host's `verify_signature` foreign function (Envoy's layout, native aws-lc-rs RSA) against
//! Project Wycheproof RSA-2048 PKCS#1 v1.5 SHA-256: every `valid` case verifies, every `invalid`
//! case does not, and the answers are well-formed `VerifySignatureResult` messages.

use aapkit_host::server::foreign::verify_signature;
use policy_core::wire::{VerifySignatureArgs, VerifySignatureResult};
use serde_json::Value;

/// The result's `result` field; a `false` must say why.
fn result_is_true(result: &[u8]) -> bool {
    let decoded = VerifySignatureResult::decode(result).unwrap();
    assert_eq!(decoded.result, decoded.error.is_empty(), "{decoded:?}");
    decoded.result
}

fn encode_verify_args(hash: &str, key: &[u8], signature: &[u8], text: &[u8]) -> Vec<u8> {
    VerifySignatureArgs { hash_function: hash.as_bytes(), ..VerifySignatureArgs::sha256(key, signature, text) }.encode()
}

#[test]
fn wycheproof_rsa_2048_sha256() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../policy-core/tests/data/wycheproof_rsa_signature_2048_sha256_test.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut counted = 0;
    for group in doc["testGroups"].as_array().unwrap() {
        let key = hex::decode(group["publicKeyDer"].as_str().unwrap()).unwrap();
        for case in group["tests"].as_array().unwrap() {
            let msg = hex::decode(case["msg"].as_str().unwrap()).unwrap();
            let sig = hex::decode(case["sig"].as_str().unwrap()).unwrap();
            let out = verify_signature(&encode_verify_args("sha256", &key, &sig, &msg)).unwrap();
            let ok = result_is_true(&out);
            let id = &case["tcId"];
            match case["result"].as_str().unwrap() {
                "valid" => assert!(ok, "tcId {id} should verify"),
                "invalid" => assert!(!ok, "tcId {id} should not verify"),
                _ => {}
            }
            counted += 1;
        }
    }
    assert_eq!(counted, doc["numberOfTests"].as_u64().unwrap());
}

#[test]
fn only_sha256_and_der_keys() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../policy-core/tests/data/wycheproof_rsa_signature_2048_sha256_test.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let group = &doc["testGroups"][0];
    let key = hex::decode(group["publicKeyDer"].as_str().unwrap()).unwrap();
    let case = &group["tests"][0];
    let (msg, sig) =
        (hex::decode(case["msg"].as_str().unwrap()).unwrap(), hex::decode(case["sig"].as_str().unwrap()).unwrap());
    assert!(result_is_true(&verify_signature(&encode_verify_args("sha256", &key, &sig, &msg)).unwrap()));
    assert!(!result_is_true(&verify_signature(&encode_verify_args("sha1", &key, &sig, &msg)).unwrap()));
    // No key at all is a bad argument (Envoy's answer), not a false result.
    assert!(verify_signature(&encode_verify_args("sha256", &[], &sig, &msg)).is_err());
}
