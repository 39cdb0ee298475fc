//! Every error the Instance API handlers produce: code, HTTP status and message, data-driven.

use crate::common;

use aapkit_kms::proto::*;
use common::*;
use prost::Message;

/// One row: API, request body, expected wire code, HTTP status, and a message fragment.
struct Case {
    api: &'static str,
    body: Vec<u8>,
    code: &'static str,
    status: u16,
    message: &'static str,
}

fn case(api: &'static str, req: impl Message, code: &'static str, status: u16, message: &'static str) -> Case {
    Case { api, body: req.encode_to_vec(), code, status, message }
}

fn enc(key: &str) -> EncryptRequest {
    EncryptRequest { key_id: key.into(), plaintext: b"p".to_vec(), ..Default::default() }
}

fn sign_req(key: &str, alg: &str) -> SignRequest {
    SignRequest { key_id: key.into(), algorithm: alg.into(), message: b"m".to_vec(), ..Default::default() }
}

fn aes_blob() -> Vec<u8> {
    let r: EncryptResponse = call(&api(), "Encrypt", &enc(AES)).unwrap();
    r.ciphertext_blob
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    const STATE: &str = "The request was rejected because the key state is";
    const UNSUP: &str = "Rejected.UnsupportedOperation";
    let blob = aes_blob();
    vec![
        // Unknown API, removed API, malformed protobuf.
        Case { api: "Hash", body: vec![], code: "InvalidApiName", status: 400, message: "The ApiName \"Hash\" is invalid." },
        Case { api: "Hmac", body: vec![], code: "UnsupportedOperation", status: 400, message: UNSUP },
        Case { api: "Encrypt", body: vec![0x0a, 0x05, b'a'], code: "InvalidParameter", status: 400, message: "not a valid protobuf" },
        Case { api: "Sign", body: vec![0xff, 0xff, 0xff], code: "InvalidParameter", status: 400, message: "not a valid protobuf" },
        // Key lookup and state.
        case("Encrypt", enc(""), "MissingParameter", 400, "The parameter KeyId is required."),
        case("Encrypt", enc("key-nope"), "Forbidden.KeyNotFound", 404, "The specified key does not exist."),
        case("Encrypt", enc("alias/nope"), "Forbidden.KeyNotFound", 404, "The specified key does not exist."),
        case("Encrypt", enc(DISABLED), "Rejected.Disabled", 409, "The request was rejected because the key state is Disabled."),
        case("Encrypt", enc(PENDING_DELETION), "Rejected.PendingDeletion", 409, "key state is PendingDeletion."),
        case("Encrypt", enc(PENDING_IMPORT), "Rejected.PendingImport", 409, "key state is PendingImport."),
        case("Sign", sign_req(DISABLED, "RSA_PSS_SHA_256"), "Rejected.Disabled", 409, STATE),
        case("GenerateDataKey", GenerateDataKeyRequest { key_id: PENDING_DELETION.into(), ..Default::default() }, "Rejected.PendingDeletion", 409, STATE),
        // Key type rules.
        case("AdvanceEncrypt", AdvanceEncryptRequest { key_id: RSA2048.into(), plaintext: vec![1], ..Default::default() }, "UnsupportedOperation", 400, "AdvanceEncrypt needs a symmetric key; the key is RSA_2048."),
        case("GenerateDataKey", GenerateDataKeyRequest { key_id: EC.into(), ..Default::default() }, "UnsupportedOperation", 400, UNSUP),
        case("AdvanceGenerateDataKey", AdvanceGenerateDataKeyRequest { key_id: RSA3072.into(), ..Default::default() }, "UnsupportedOperation", 400, UNSUP),
        case("GenerateDataKeyPair", GenerateDataKeyPairRequest { key_id: RSA2048.into(), key_pair_spec: "EC_P256".into(), ..Default::default() }, "UnsupportedOperation", 400, UNSUP),
        case("AdvanceDecrypt", AdvanceDecryptRequest { key_id: EC.into(), ciphertext_blob: vec![1], ..Default::default() }, "UnsupportedOperation", 400, UNSUP),
        case("Sign", sign_req(AES, "RSA_PSS_SHA_256"), "UnsupportedOperation", 400, "Sign needs an asymmetric key; the key is Aliyun_AES_256."),
        case("Verify", VerifyRequest { key_id: AES.into(), algorithm: "RSA_PSS_SHA_256".into(), message: vec![1], signature: vec![1], ..Default::default() }, "UnsupportedOperation", 400, UNSUP),
        case("GetPublicKey", GetPublicKeyRequest { key_id: AES.into() }, "UnsupportedOperation", 400, UNSUP),
        case("Sign", sign_req(EC, "RSA_PSS_SHA_256"), "UnsupportedOperation", 400, "Algorithm RSA_PSS_SHA_256 does not apply to EC_P256 keys."),
        case("Sign", sign_req(RSA2048, "ECDSA_SHA_256"), "UnsupportedOperation", 400, "does not apply to RSA_2048 keys"),
        case("Sign", sign_req(EC, "SM2DSA"), "UnsupportedOperation", 400, UNSUP),
        case("Encrypt", EncryptRequest { algorithm: "RSAES_OAEP_SHA_256".into(), ..enc(AES) }, "UnsupportedOperation", 400, "needs an RSA key"),
        case("Encrypt", EncryptRequest { algorithm: "AES_GCM".into(), ..enc(RSA2048) }, "UnsupportedOperation", 400, "needs a symmetric key"),
        case("Encrypt", EncryptRequest { algorithm: "RSAES_OAEP_SHA_256".into(), ..enc(EC) }, "UnsupportedOperation", 400, "ECIES"),
        case("Encrypt", EncryptRequest { algorithm: "AES_CBC".into(), ..enc(AES) }, "UnsupportedOperation", 400, "AES_CBC"),
        // Bad parameters.
        case("Encrypt", enc(RSA2048), "InvalidParameter", 400, "needs Algorithm RSAES_OAEP_SHA_256"),
        case("Encrypt", EncryptRequest { algorithm: "ROT13".into(), ..enc(AES) }, "InvalidParameter", 400, "The Algorithm \"ROT13\" is invalid."),
        case("Encrypt", EncryptRequest { iv: vec![0; 16], ..enc(AES) }, "InvalidParameter", 400, "The Iv must be 12 bytes for AES_GCM; got 16."),
        case("Encrypt", EncryptRequest { padding_mode: "PKCS7_PADDING".into(), ..enc(AES) }, "InvalidParameter", 400, "PaddingMode"),
        case("Encrypt", EncryptRequest { algorithm: "RSAES_OAEP_SHA_256".into(), plaintext: vec![0; 191], ..enc(RSA2048) }, "InvalidParameter", 400, "takes at most 190"),
        case("Encrypt", EncryptRequest { algorithm: "RSAES_OAEP_SHA_256".into(), aad: vec![1], ..enc(RSA2048) }, "InvalidParameter", 400, "Aad, Iv and PaddingMode do not apply"),
        case("Decrypt", DecryptRequest::default(), "MissingParameter", 400, "The parameter CiphertextBlob is required."),
        case("Decrypt", DecryptRequest { ciphertext_blob: b"garbage".to_vec(), ..Default::default() }, "InvalidParameter", 400, "The CiphertextBlob is invalid"),
        case("Decrypt", DecryptRequest { ciphertext_blob: blob.clone(), key_id: AES_OTHER.into(), ..Default::default() }, "InvalidParameter", 400, "not encrypted under the specified KeyId"),
        case("Decrypt", DecryptRequest { ciphertext_blob: blob.clone(), iv: vec![0; 12], ..Default::default() }, "InvalidParameter", 400, "The Iv does not match"),
        case("Decrypt", DecryptRequest { ciphertext_blob: blob.clone(), aad: b"x".to_vec(), ..Default::default() }, "InvalidParameter", 400, "The CiphertextBlob is invalid or the Aad does not match."),
        case("Decrypt", DecryptRequest { ciphertext_blob: vec![1; 256], key_id: RSA2048.into(), ..Default::default() }, "InvalidParameter", 400, "needs Algorithm RSAES_OAEP_SHA_256"),
        case("Decrypt", DecryptRequest { ciphertext_blob: vec![1; 255], key_id: RSA2048.into(), algorithm: "RSAES_OAEP_SHA_256".into(), ..Default::default() }, "InvalidParameter", 400, "is 255 bytes"),
        case("Decrypt", DecryptRequest { ciphertext_blob: vec![1; 256], key_id: RSA2048.into(), algorithm: "RSAES_OAEP_SHA_256".into(), ..Default::default() }, "InvalidParameter", 400, "The CiphertextBlob is invalid."),
        case("Decrypt", DecryptRequest { ciphertext_blob: blob.clone(), key_id: DISABLED.into(), ..Default::default() }, "Rejected.Disabled", 409, STATE),
        case("GenerateDataKey", GenerateDataKeyRequest { key_id: AES.into(), number_of_bytes: 1025, ..Default::default() }, "InvalidParameter", 400, "The NumberOfBytes must be between 1 and 1024; got 1025."),
        case("GenerateDataKey", GenerateDataKeyRequest { key_id: AES.into(), number_of_bytes: -1, ..Default::default() }, "InvalidParameter", 400, "got -1"),
        case("GenerateDataKey", GenerateDataKeyRequest { key_id: AES.into(), algorithm: "AES_CBC".into(), ..Default::default() }, "UnsupportedOperation", 400, UNSUP),
        case("GenerateDataKeyPair", GenerateDataKeyPairRequest { key_id: AES.into(), ..Default::default() }, "MissingParameter", 400, "The parameter KeyPairSpec is required."),
        case("GenerateDataKeyPair", GenerateDataKeyPairRequest { key_id: AES.into(), key_pair_spec: "RSA_1024".into(), ..Default::default() }, "InvalidParameter", 400, "The KeyPairSpec \"RSA_1024\" is invalid"),
        case("GenerateDataKeyPair", GenerateDataKeyPairRequest { key_id: AES.into(), key_pair_spec: "Aliyun_AES_256".into(), ..Default::default() }, "InvalidParameter", 400, "is invalid"),
        case("GenerateDataKeyPair", GenerateDataKeyPairRequest { key_id: AES.into(), key_pair_spec: "EC_SM2".into(), ..Default::default() }, "UnsupportedOperation", 400, UNSUP),
        case("AdvanceGenerateDataKeyPair", AdvanceGenerateDataKeyPairRequest { key_id: AES.into(), key_pair_spec: "EC_P256".into(), key_format: "JWK".into(), ..Default::default() }, "InvalidParameter", 400, "The KeyFormat \"JWK\" is invalid; use PEM or DER."),
        case("Sign", sign_req(RSA2048, ""), "MissingParameter", 400, "The parameter Algorithm is required."),
        case("Sign", sign_req(RSA2048, "RSA_PSS_SHA_512"), "InvalidParameter", 400, "The Algorithm \"RSA_PSS_SHA_512\" is invalid."),
        case("Sign", SignRequest { message_type: "HASH".into(), ..sign_req(RSA2048, "RSA_PSS_SHA_256") }, "InvalidParameter", 400, "The MessageType \"HASH\" is invalid; use RAW or DIGEST."),
        case("Sign", SignRequest { message_type: "DIGEST".into(), message: vec![], digest: vec![0; 20], ..sign_req(RSA2048, "RSA_PSS_SHA_256") }, "InvalidParameter", 400, "The Digest must be a 32-byte SHA-256 digest; got 20 bytes."),
        case("Sign", SignRequest { message_type: "DIGEST".into(), message: vec![], ..sign_req(EC, "ECDSA_SHA_256") }, "MissingParameter", 400, "The parameter Message is required."),
        // The SDKs send the digest of MessageType DIGEST in Message: a 1-byte one is refused.
        case("Sign", SignRequest { message_type: "DIGEST".into(), ..sign_req(EC, "ECDSA_SHA_256") }, "InvalidParameter", 400, "The Digest must be a 32-byte SHA-256 digest; got 1 bytes."),
        case("Sign", SignRequest { message_type: "DIGEST".into(), digest: vec![0; 32], message: vec![0; 32], ..sign_req(EC, "ECDSA_SHA_256") }, "InvalidParameter", 400, "not both"),
        case("Sign", SignRequest { message_type: "RAW".into(), digest: vec![0; 32], ..sign_req(EC, "ECDSA_SHA_256") }, "InvalidParameter", 400, "MessageType RAW takes Message, not Digest."),
        case("Sign", SignRequest { message: vec![], ..sign_req(EC, "ECDSA_SHA_256") }, "MissingParameter", 400, "The parameter Message is required."),
        case("Verify", VerifyRequest { key_id: EC.into(), algorithm: "ECDSA_SHA_256".into(), message: vec![1], ..Default::default() }, "MissingParameter", 400, "The parameter Signature is required."),
        case("GetPublicKey", GetPublicKeyRequest { key_id: "key-nope".into() }, "Forbidden.KeyNotFound", 404, "The specified key does not exist."),
        case("GenerateRandom", GenerateRandomRequest { length: 0 }, "InvalidParameter", 400, "The Length must be between 1 and 1024; got 0."),
        case("GenerateRandom", GenerateRandomRequest { length: 1025 }, "InvalidParameter", 400, "got 1025"),
        case("GenerateRandom", GenerateRandomRequest { length: -5 }, "InvalidParameter", 400, "got -5"),
        // Secrets.
        case("GetSecretValue", GetSecretValueRequest::default(), "MissingParameter", 400, "The parameter SecretName is required."),
        case("GetSecretValue", GetSecretValueRequest { secret_name: "nope".into(), ..Default::default() }, "Forbidden.ResourceNotFound", 404, "does not exist"),
        case("GetSecretValue", GetSecretValueRequest { secret_name: SECRET.into(), version_stage: "ACSPending".into(), ..Default::default() }, "Forbidden.ResourceNotFound", 404, "does not exist"),
        case("GetSecretValue", GetSecretValueRequest { secret_name: SECRET.into(), version_id: "v9".into(), ..Default::default() }, "Forbidden.ResourceNotFound", 404, "does not exist"),
        case("GetSecretValue", GetSecretValueRequest { secret_name: SECRET.into(), version_id: "v1".into(), version_stage: "ACSCurrent".into(), ..Default::default() }, "Forbidden.ResourceNotFound", 404, "does not exist"),
        case("GetSecretValue", GetSecretValueRequest { secret_name: SECRET_DISABLED_KEY.into(), ..Default::default() }, "Rejected.Disabled", 409, STATE),
    ]
}

#[test]
fn error_table() {
    let api = api();
    let mut failures = Vec::new();
    for (i, c) in cases().into_iter().enumerate() {
        match api.handle(c.api, &c.body, "r") {
            Ok(_) => failures.push(format!("#{i} {}: succeeded, expected {}", c.api, c.code)),
            Err(e) => {
                // The wire body carries the same code, status and message.
                let w = policy_core::wire::decode_error(&e.to_wire("req-9")).unwrap();
                assert_eq!(
                    (w.status_code, w.error_code.as_str(), w.error_message.as_str(), w.request_id.as_str()),
                    (i32::from(e.http_status()), e.code.as_str(), e.message.as_str(), "req-9")
                );
                if e.code.as_str() != c.code || e.http_status() != c.status || !e.message.contains(c.message) {
                    failures.push(format!(
                        "#{i} {}: got {} {} {:?}, expected {} {} containing {:?}",
                        c.api,
                        e.http_status(),
                        e.code.as_str(),
                        e.message,
                        c.status,
                        c.code,
                        c.message
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_secret_whose_key_is_gone_is_key_not_found() {
    let mut ring = ring();
    ring.keys.retain(|k| k.key_id != DISABLED);
    let api = aapkit_kms::InstanceApi::new(ring);
    let err = call::<_, GetSecretValueResponse>(
        &api,
        "GetSecretValue",
        &GetSecretValueRequest { secret_name: SECRET_DISABLED_KEY.into(), ..Default::default() },
    )
    .unwrap_err();
    assert_eq!(err.code.as_str(), "Forbidden.KeyNotFound");
}

#[test]
fn decrypt_of_a_disabled_keys_blob_is_rejected() {
    // Blob made while the key was enabled; then the key is disabled.
    let mut ring = ring();
    let api = aapkit_kms::InstanceApi::new(ring.clone());
    let r: EncryptResponse = call(&api, "Encrypt", &enc(AES_OTHER)).unwrap();
    for k in ring.keys.iter_mut().filter(|k| k.key_id == AES_OTHER) {
        k.state = aapkit_kms::keyring::KeyState::PendingDeletion;
    }
    let api = aapkit_kms::InstanceApi::new(ring);
    let err = call::<_, DecryptResponse>(
        &api,
        "Decrypt",
        &DecryptRequest { ciphertext_blob: r.ciphertext_blob, ..Default::default() },
    )
    .unwrap_err();
    assert_eq!((err.code.as_str(), err.http_status()), ("Rejected.PendingDeletion", 409));
}

#[test]
fn verify_with_a_bad_signature_is_false_not_an_error() {
    let api = api();
    for (key, alg) in [(RSA2048, "RSA_PSS_SHA_256"), (RSA2048, "RSA_PKCS1_SHA_256"), (EC, "ECDSA_SHA_256")] {
        let r: VerifyResponse = call(
            &api,
            "Verify",
            &VerifyRequest {
                key_id: key.into(),
                algorithm: alg.into(),
                message: b"m".to_vec(),
                signature: vec![0; 300],
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!r.value);
        assert_eq!(r.algorithm, alg);
    }
}
