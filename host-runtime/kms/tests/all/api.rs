//! Round trips through `InstanceApi::handle` for every operation.

use crate::common;

use aapkit_kms::keyring::{KeyRing, KeySpec};
use aapkit_kms::proto::*;
use aapkit_kms::public_key_der;
use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, RSA_PKCS1_2048_8192_SHA256};
use common::*;
use prost::Message;

#[test]
fn encrypt_then_decrypt_with_blob_only() {
    let api = api();
    let enc: EncryptResponse = call(
        &api,
        "Encrypt",
        &EncryptRequest { key_id: AES_ALIAS.into(), plaintext: b"hello".to_vec(), ..Default::default() },
    )
    .unwrap();
    assert_eq!(enc.key_id, AES, "alias resolves to the key id");
    assert_eq!(enc.algorithm, "AES_GCM");
    assert_eq!(enc.iv.len(), 12);
    // '$' 0x00 0x02 | initial version id | IV | ct || tag
    assert_eq!(&enc.ciphertext_blob[..3], b"$\x00\x02");
    assert_eq!(&enc.ciphertext_blob[3..39], AES_V1.as_bytes(), "Encrypt uses the initial version");
    assert_eq!(&enc.ciphertext_blob[39..51], enc.iv.as_slice());
    assert_eq!(enc.ciphertext_blob.len(), 51 + 5 + 16);

    let dec: DecryptResponse =
        call(&api, "Decrypt", &DecryptRequest { ciphertext_blob: enc.ciphertext_blob.clone(), ..Default::default() })
            .unwrap();
    assert_eq!(dec.plaintext, b"hello");
    assert_eq!(dec.key_id, AES);
    assert_eq!(dec.algorithm, "AES_GCM");

    // With the KeyId (or its alias) too.
    let dec: DecryptResponse = call(
        &api,
        "Decrypt",
        &DecryptRequest { ciphertext_blob: enc.ciphertext_blob, key_id: AES_ALIAS.into(), ..Default::default() },
    )
    .unwrap();
    assert_eq!(dec.plaintext, b"hello");
}

#[test]
fn encrypt_with_aad_needs_the_same_aad() {
    let api = api();
    let enc: EncryptResponse = call(
        &api,
        "Encrypt",
        &EncryptRequest { key_id: AES.into(), plaintext: vec![1; 100], aad: b"ctx".to_vec(), ..Default::default() },
    )
    .unwrap();
    let ok: DecryptResponse = call(
        &api,
        "Decrypt",
        &DecryptRequest { ciphertext_blob: enc.ciphertext_blob.clone(), aad: b"ctx".to_vec(), ..Default::default() },
    )
    .unwrap();
    assert_eq!(ok.plaintext, vec![1; 100]);
    let err = call::<_, DecryptResponse>(
        &api,
        "Decrypt",
        &DecryptRequest { ciphertext_blob: enc.ciphertext_blob, aad: b"other".to_vec(), ..Default::default() },
    )
    .unwrap_err();
    assert_eq!(err.code.as_str(), "InvalidParameter");
    assert_eq!(err.message, "The CiphertextBlob is invalid or the Aad does not match.");
}

#[test]
fn encrypt_with_caller_iv_and_empty_plaintext() {
    let api = api();
    let enc: EncryptResponse = call(
        &api,
        "Encrypt",
        &EncryptRequest { key_id: AES.into(), iv: vec![9; 12], algorithm: "AES_GCM".into(), ..Default::default() },
    )
    .unwrap();
    assert_eq!(enc.iv, vec![9; 12]);
    let dec: DecryptResponse = call(
        &api,
        "Decrypt",
        &DecryptRequest { ciphertext_blob: enc.ciphertext_blob, iv: vec![9; 12], ..Default::default() },
    )
    .unwrap();
    assert!(dec.plaintext.is_empty());
}

#[test]
fn advance_encrypt_uses_primary_version() {
    let api = api();
    let enc: AdvanceEncryptResponse = call(
        &api,
        "AdvanceEncrypt",
        &AdvanceEncryptRequest {
            key_id: AES.into(),
            plaintext: b"adv".to_vec(),
            aad: b"a".to_vec(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(enc.key_version_id, AES_V2);
    assert_eq!(&enc.ciphertext_blob[3..39], AES_V2.as_bytes());
    let dec: AdvanceDecryptResponse = call(
        &api,
        "AdvanceDecrypt",
        &AdvanceDecryptRequest { ciphertext_blob: enc.ciphertext_blob, aad: b"a".to_vec(), ..Default::default() },
    )
    .unwrap();
    assert_eq!(dec.plaintext, b"adv");
    assert_eq!(dec.key_version_id, AES_V2);
    assert_eq!(dec.key_id, AES);

    // AdvanceDecrypt also opens an Encrypt blob (initial version) and names that version.
    let enc: EncryptResponse =
        call(&api, "Encrypt", &EncryptRequest { key_id: AES.into(), plaintext: b"old".to_vec(), ..Default::default() })
            .unwrap();
    let dec: AdvanceDecryptResponse = call(
        &api,
        "AdvanceDecrypt",
        &AdvanceDecryptRequest { ciphertext_blob: enc.ciphertext_blob, key_id: AES.into(), ..Default::default() },
    )
    .unwrap();
    assert_eq!((dec.plaintext.as_slice(), dec.key_version_id.as_str()), (&b"old"[..], AES_V1));
}

#[test]
fn rsa_oaep_encrypt_decrypt() {
    let api = api();
    for key in [RSA2048, RSA3072] {
        let enc: EncryptResponse = call(
            &api,
            "Encrypt",
            &EncryptRequest {
                key_id: key.into(),
                plaintext: b"secret".to_vec(),
                algorithm: "RSAES_OAEP_SHA_256".into(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(enc.ciphertext_blob.len(), if key == RSA2048 { 256 } else { 384 });
        assert_eq!(enc.algorithm, "RSAES_OAEP_SHA_256");
        let dec: DecryptResponse = call(
            &api,
            "Decrypt",
            &DecryptRequest {
                key_id: key.into(),
                ciphertext_blob: enc.ciphertext_blob,
                algorithm: "RSAES_OAEP_SHA_256".into(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(dec.plaintext, b"secret");
    }
}

#[test]
fn generate_data_key_blob_decrypts_to_plaintext() {
    let api = api();
    let dk: GenerateDataKeyResponse =
        call(&api, "GenerateDataKey", &GenerateDataKeyRequest { key_id: AES.into(), ..Default::default() }).unwrap();
    assert_eq!(dk.plaintext.len(), 32, "default NumberOfBytes");
    assert_eq!(dk.algorithm, "AES_GCM");
    assert_eq!(&dk.ciphertext_blob[39..51], dk.iv.as_slice());
    let dec: DecryptResponse =
        call(&api, "Decrypt", &DecryptRequest { ciphertext_blob: dk.ciphertext_blob, ..Default::default() }).unwrap();
    assert_eq!(dec.plaintext, dk.plaintext);

    let dk: AdvanceGenerateDataKeyResponse = call(
        &api,
        "AdvanceGenerateDataKey",
        &AdvanceGenerateDataKeyRequest { key_id: AES.into(), number_of_bytes: 1024, aad: b"x".to_vec() },
    )
    .unwrap();
    assert_eq!((dk.plaintext.len(), dk.key_version_id.as_str()), (1024, AES_V2));
    let dec: AdvanceDecryptResponse = call(
        &api,
        "AdvanceDecrypt",
        &AdvanceDecryptRequest { ciphertext_blob: dk.ciphertext_blob, aad: b"x".to_vec(), ..Default::default() },
    )
    .unwrap();
    assert_eq!(dec.plaintext, dk.plaintext);
}

/// The private key of a generated pair decrypts from its blob and matches the public key.
fn check_pair(spec: KeySpec, der: bool, private: &[u8], blob: Vec<u8>, public: &[u8], aad: &[u8]) {
    let api = api();
    let dec: DecryptResponse =
        call(&api, "Decrypt", &DecryptRequest { ciphertext_blob: blob, aad: aad.to_vec(), ..Default::default() })
            .unwrap();
    assert_eq!(dec.plaintext, private);
    let (pkcs8, spki) = if der {
        (private.to_vec(), public.to_vec())
    } else {
        (pem_der(private, "PRIVATE KEY"), pem_der(public, "PUBLIC KEY"))
    };
    assert_eq!(public_key_der(spec, &pkcs8).unwrap(), spki);
}

#[test]
fn data_key_pairs_all_variants() {
    let api = api();
    for (spec, format) in
        [(KeySpec::Rsa2048, "PEM"), (KeySpec::EcP256, "DER"), (KeySpec::EcP256, ""), (KeySpec::Rsa3072, "DER")]
    {
        let der = format == "DER";
        let r: GenerateDataKeyPairResponse = call(
            &api,
            "GenerateDataKeyPair",
            &GenerateDataKeyPairRequest {
                key_id: AES.into(),
                key_pair_spec: spec.as_str().into(),
                key_format: format.into(),
                aad: b"pair".to_vec(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((r.key_pair_spec.as_str(), r.algorithm.as_str()), (spec.as_str(), "AES_GCM"));
        if !der {
            assert!(r.public_key.starts_with(b"-----BEGIN PUBLIC KEY-----\n"));
            assert!(r.private_key_plaintext.starts_with(b"-----BEGIN PRIVATE KEY-----\n"));
        }
        check_pair(spec, der, &r.private_key_plaintext, r.private_key_ciphertext_blob, &r.public_key, b"pair");
    }

    let r: AdvanceGenerateDataKeyPairResponse = call(
        &api,
        "AdvanceGenerateDataKeyPair",
        &AdvanceGenerateDataKeyPairRequest {
            key_id: AES.into(),
            key_pair_spec: "EC_P256".into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.key_version_id, AES_V2);
    check_pair(KeySpec::EcP256, false, &r.private_key_plaintext, r.private_key_ciphertext_blob, &r.public_key, b"");

    // Without plaintext: the private key only comes back through Decrypt.
    let r: GenerateDataKeyPairWithoutPlaintextResponse = call(
        &api,
        "GenerateDataKeyPairWithoutPlaintext",
        &GenerateDataKeyPairWithoutPlaintextRequest {
            key_id: AES.into(),
            key_pair_spec: "EC_P256".into(),
            key_format: "DER".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let dec: DecryptResponse =
        call(&api, "Decrypt", &DecryptRequest { ciphertext_blob: r.private_key_ciphertext_blob, ..Default::default() })
            .unwrap();
    assert_eq!(public_key_der(KeySpec::EcP256, &dec.plaintext).unwrap(), r.public_key);

    let r: AdvanceGenerateDataKeyPairWithoutPlaintextResponse = call(
        &api,
        "AdvanceGenerateDataKeyPairWithoutPlaintext",
        &AdvanceGenerateDataKeyPairWithoutPlaintextRequest {
            key_id: AES_ALIAS.into(),
            key_pair_spec: "EC_P256".into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((r.key_id.as_str(), r.key_version_id.as_str()), (AES, AES_V2));
    let dec: DecryptResponse =
        call(&api, "Decrypt", &DecryptRequest { ciphertext_blob: r.private_key_ciphertext_blob, ..Default::default() })
            .unwrap();
    let pkcs8 = pem_der(&dec.plaintext, "PRIVATE KEY");
    assert_eq!(public_key_der(KeySpec::EcP256, &pkcs8).unwrap(), pem_der(&r.public_key, "PUBLIC KEY"));
}

fn sign(api: &aapkit_kms::InstanceApi<aapkit_kms::InMemoryKeyRing>, req: SignRequest) -> SignResponse {
    call(api, "Sign", &req).unwrap()
}

fn verify(api: &aapkit_kms::InstanceApi<aapkit_kms::InMemoryKeyRing>, req: VerifyRequest) -> bool {
    call::<_, VerifyResponse>(api, "Verify", &req).unwrap().value
}

#[test]
fn sign_verify_every_algorithm_and_message_type() {
    let api = api();
    let message = b"the message".to_vec();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &message).as_ref().to_vec();
    let cases = [
        (RSA2048, "RSA_PSS_SHA_256"),
        (RSA2048, "RSA_PKCS1_SHA_256"),
        (RSA3072, "RSA_PSS_SHA_256"),
        (RSA3072, "RSA_PKCS1_SHA_256"),
        (EC, "ECDSA_SHA_256"),
    ];
    for (key, alg) in cases {
        // (MessageType, Message, Digest) triples that all sign the same SHA-256 digest.
        let inputs: [(&str, Vec<u8>, Vec<u8>); 4] = [
            ("RAW", message.clone(), vec![]),
            ("", message.clone(), vec![]),
            ("DIGEST", vec![], digest.clone()),
            ("", vec![], digest.clone()),
        ];
        for (mt, msg, dg) in &inputs {
            let s = sign(
                &api,
                SignRequest {
                    key_id: (*key).into(),
                    algorithm: alg.into(),
                    message_type: (*mt).into(),
                    message: msg.clone(),
                    digest: dg.clone(),
                },
            );
            assert_eq!(s.algorithm, alg);
            assert_eq!(s.key_id, key);
            assert_eq!(s.message_type, if dg.is_empty() { "RAW" } else { "DIGEST" });
            // Cross-verify with every input form, and tampered variants.
            for (mt2, msg2, dg2) in &inputs {
                let req = VerifyRequest {
                    key_id: (*key).into(),
                    algorithm: alg.into(),
                    message_type: (*mt2).into(),
                    message: msg2.clone(),
                    digest: dg2.clone(),
                    signature: s.signature.clone(),
                };
                assert!(verify(&api, req.clone()), "{key} {alg} {mt} -> {mt2}");
                let mut bad_sig = req.clone();
                if let Some(b) = bad_sig.signature.last_mut() {
                    *b ^= 1;
                }
                assert!(!verify(&api, bad_sig), "tampered signature {key} {alg}");
                let mut bad_msg = req.clone();
                if let Some(b) = bad_msg.message.first_mut().or(bad_msg.digest.first_mut()) {
                    *b ^= 1;
                }
                assert!(!verify(&api, bad_msg), "tampered message {key} {alg}");
                let mut short = req;
                short.signature.truncate(10);
                assert!(!verify(&api, short), "short signature {key} {alg}");
            }
        }
    }
}

#[test]
fn get_public_key_pem_parses_and_verifies() {
    let api = api();
    for (key, spec) in [(RSA2048, KeySpec::Rsa2048), (RSA3072, KeySpec::Rsa3072), (EC, KeySpec::EcP256)] {
        let r: GetPublicKeyResponse = call(&api, "GetPublicKey", &GetPublicKeyRequest { key_id: key.into() }).unwrap();
        assert!(r.public_key.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(r.public_key.ends_with("-----END PUBLIC KEY-----\n"));
        let spki = pem_der(r.public_key.as_bytes(), "PUBLIC KEY");
        let (alg, verifier): (&str, &'static dyn aws_lc_rs::signature::VerificationAlgorithm) = match spec {
            KeySpec::EcP256 => ("ECDSA_SHA_256", &ECDSA_P256_SHA256_ASN1),
            _ => ("RSA_PKCS1_SHA_256", &RSA_PKCS1_2048_8192_SHA256),
        };
        let s = sign(
            &api,
            SignRequest { key_id: key.into(), algorithm: alg.into(), message: b"m".to_vec(), ..Default::default() },
        );
        UnparsedPublicKey::new(verifier, &spki).verify(b"m", &s.signature).unwrap();
    }
}

#[test]
fn generate_random_lengths() {
    let api = api();
    for len in [1, 32, 1024] {
        let r: GenerateRandomResponse = call(&api, "GenerateRandom", &GenerateRandomRequest { length: len }).unwrap();
        assert_eq!(r.random.len(), len as usize);
    }
    let a: GenerateRandomResponse = call(&api, "GenerateRandom", &GenerateRandomRequest { length: 32 }).unwrap();
    let b: GenerateRandomResponse = call(&api, "GenerateRandom", &GenerateRandomRequest { length: 32 }).unwrap();
    assert_ne!(a.random, b.random);
}

#[test]
fn get_secret_value_by_stage_and_version() {
    let api = api();
    let get = |version_stage: &str, version_id: &str| -> GetSecretValueResponse {
        call(
            &api,
            "GetSecretValue",
            &GetSecretValueRequest {
                secret_name: SECRET.into(),
                version_stage: version_stage.into(),
                version_id: version_id.into(),
                ..Default::default()
            },
        )
        .unwrap()
    };
    let cur = get("", "");
    assert_eq!(cur.secret_data, "new-pass");
    assert_eq!(cur.secret_data_type, "text");
    assert_eq!(cur.version_id, "v2");
    assert_eq!(cur.version_stages, vec!["ACSCurrent".to_owned(), "blue".to_owned()]);
    assert_eq!(cur.create_time, "2025-01-02T03:04:05Z");
    assert_eq!(cur.secret_type, "Generic");
    assert_eq!(cur.secret_name, SECRET);
    assert_eq!(get("ACSPrevious", "").secret_data, "old-pass");
    assert_eq!(get("blue", "").version_id, "v2");
    assert_eq!(get("", "v1").secret_data, "old-pass");
    assert_eq!(get("ACSPrevious", "v1").secret_data, "old-pass");

    let bin: GetSecretValueResponse =
        call(&api, "GetSecretValue", &GetSecretValueRequest { secret_name: SECRET_BIN.into(), ..Default::default() })
            .unwrap();
    assert_eq!(bin.secret_data_type, "binary");
    assert_eq!(bin.secret_data, b64(BINARY_SECRET));
}

#[test]
fn responses_carry_the_request_id() {
    let api = api();
    let out = api.handle("GenerateRandom", &GenerateRandomRequest { length: 4 }.encode_to_vec(), "abc-123").unwrap();
    assert_eq!(GenerateRandomResponse::decode(out.as_slice()).unwrap().request_id, "abc-123");
    let out = api
        .handle(
            "Encrypt",
            &EncryptRequest { key_id: AES.into(), plaintext: vec![1], ..Default::default() }.encode_to_vec(),
            "r2",
        )
        .unwrap();
    assert_eq!(EncryptResponse::decode(out.as_slice()).unwrap().request_id, "r2");
}

#[test]
fn parsed_keys_are_cached_and_invalidated() {
    let api = api();
    assert_eq!(api.cached_key_count(), 0);
    for _ in 0..3 {
        let _: EncryptResponse =
            call(&api, "Encrypt", &EncryptRequest { key_id: AES.into(), plaintext: vec![1], ..Default::default() })
                .unwrap();
    }
    let _: GetPublicKeyResponse = call(&api, "GetPublicKey", &GetPublicKeyRequest { key_id: EC.into() }).unwrap();
    assert_eq!(api.cached_key_count(), 2);
    api.invalidate();
    assert_eq!(api.cached_key_count(), 0);
}

#[test]
fn a_removed_key_is_not_served_from_cache() {
    let mut ring = ring();
    let api = aapkit_kms::InstanceApi::new(ring.clone());
    let enc: EncryptResponse =
        call(&api, "Encrypt", &EncryptRequest { key_id: AES_OTHER.into(), plaintext: vec![1], ..Default::default() })
            .unwrap();
    ring.keys.retain(|k| k.key_id != AES_OTHER);
    let api2 = aapkit_kms::InstanceApi::new(ring);
    let err = call::<_, DecryptResponse>(
        &api2,
        "Decrypt",
        &DecryptRequest { ciphertext_blob: enc.ciphertext_blob, ..Default::default() },
    )
    .unwrap_err();
    assert_eq!(err.code.as_str(), "Forbidden.KeyNotFound");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn encrypt_decrypt_round_trip(plaintext in proptest::collection::vec(any::<u8>(), 0..2048),
                                      aad in proptest::collection::vec(any::<u8>(), 0..64),
                                      advance in any::<bool>()) {
            let api = api();
            let blob = if advance {
                call::<_, AdvanceEncryptResponse>(&api, "AdvanceEncrypt",
                    &AdvanceEncryptRequest { key_id: AES.into(), plaintext: plaintext.clone(), aad: aad.clone(), ..Default::default() })
                    .unwrap().ciphertext_blob
            } else {
                call::<_, EncryptResponse>(&api, "Encrypt",
                    &EncryptRequest { key_id: AES.into(), plaintext: plaintext.clone(), aad: aad.clone(), ..Default::default() })
                    .unwrap().ciphertext_blob
            };
            prop_assert_eq!(blob.len(), 3 + 36 + 12 + plaintext.len() + 16);
            let dec: DecryptResponse = call(&api, "Decrypt",
                &DecryptRequest { ciphertext_blob: blob.clone(), aad: aad.clone(), ..Default::default() }).unwrap();
            prop_assert_eq!(&dec.plaintext, &plaintext);
        }

        /// Any single-byte change to a blob makes Decrypt fail with a 4xx, never succeed or panic.
        #[test]
        fn tampered_blobs_are_rejected(pos in 0usize..80, bit in 0u8..8) {
            let api = api();
            let enc: EncryptResponse = call(&api, "Encrypt",
                &EncryptRequest { key_id: AES.into(), plaintext: vec![7; 13], ..Default::default() }).unwrap();
            let mut blob = enc.ciphertext_blob;
            let pos = pos % blob.len();
            blob[pos] ^= 1 << bit;
            let err = call::<_, DecryptResponse>(&api, "Decrypt",
                &DecryptRequest { ciphertext_blob: blob, ..Default::default() }).unwrap_err();
            // 400/404 mostly; 409 when the flip lands on another key's version that is not enabled.
            prop_assert!((400..500).contains(&err.http_status()), "{}", err);
        }

        /// Arbitrary bodies for every API never panic, and fail (if they fail) with a 4xx.
        #[test]
        fn arbitrary_bodies_never_panic(api_index in 0usize..16, body in proptest::collection::vec(any::<u8>(), 0..200)) {
            const APIS: [&str; 16] = ["Encrypt", "Decrypt", "AdvanceEncrypt", "AdvanceDecrypt", "GenerateDataKey",
                "AdvanceGenerateDataKey", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
                "AdvanceGenerateDataKeyPair", "AdvanceGenerateDataKeyPairWithoutPlaintext", "Sign", "Verify",
                "GetPublicKey", "GenerateRandom", "GetSecretValue", "Hmac"];
            let api = api();
            if let Err(e) = api.handle(APIS[api_index], &body, "r") {
                prop_assert!((400..500).contains(&e.http_status()), "{}", e);
            }
        }
    }
}

/// A blob altered to name an asymmetric key's version is the caller's error (400), not ours.
#[test]
fn blob_naming_an_asymmetric_key_version_is_invalid_parameter() {
    let api = api();
    let enc: EncryptResponse =
        call(&api, "Encrypt", &EncryptRequest { key_id: AES.into(), plaintext: vec![1; 8], ..Default::default() })
            .unwrap();
    let ring = api.keyring();
    let rsa = ring.resolve_key(RSA2048).unwrap().unwrap();
    let mut blob = enc.ciphertext_blob;
    blob[3..39].copy_from_slice(rsa.initial_version_id.as_bytes());
    let err =
        call::<_, DecryptResponse>(&api, "Decrypt", &DecryptRequest { ciphertext_blob: blob, ..Default::default() })
            .unwrap_err();
    assert_eq!((err.http_status(), err.code.as_str()), (400, "InvalidParameter"), "{err}");
}
