//! Cross-checks against the `openssl` command line: signatures made by Sign verify with
//! `openssl dgst` using the GetPublicKey PEM, and an OAEP ciphertext made by `openssl pkeyutl`
//! decrypts with Decrypt. Skipped (with a note) when `openssl` is not on PATH.

use crate::common;

use std::path::Path;
use std::process::Command;

use aapkit_kms::proto::*;
use common::*;

fn openssl_available() -> bool {
    let ok = Command::new("openssl").arg("version").output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        eprintln!("openssl not found; skipping the openssl cross-check");
    }
    ok
}

fn openssl(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new("openssl").args(args).current_dir(dir).output().unwrap()
}

#[test]
fn sign_verifies_with_openssl_dgst() {
    if !openssl_available() {
        return;
    }
    let api = api();
    let dir = tempfile::tempdir().unwrap();
    let message = b"aapkit cross-check with openssl".to_vec();
    std::fs::write(dir.path().join("msg.bin"), &message).unwrap();
    let cases: [(&str, &str, &[&str]); 5] = [
        (RSA2048, "RSA_PKCS1_SHA_256", &[]),
        (RSA3072, "RSA_PKCS1_SHA_256", &[]),
        (RSA2048, "RSA_PSS_SHA_256", &["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]),
        (RSA3072, "RSA_PSS_SHA_256", &["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]),
        (EC, "ECDSA_SHA_256", &[]),
    ];
    for (key, alg, opts) in cases {
        let pem: GetPublicKeyResponse =
            call(&api, "GetPublicKey", &GetPublicKeyRequest { key_id: key.into() }).unwrap();
        std::fs::write(dir.path().join("pub.pem"), pem.public_key).unwrap();
        let sig: SignResponse = call(
            &api,
            "Sign",
            &SignRequest { key_id: key.into(), algorithm: alg.into(), message: message.clone(), ..Default::default() },
        )
        .unwrap();
        std::fs::write(dir.path().join("sig.bin"), &sig.signature).unwrap();
        let mut args = vec!["dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin"];
        args.extend_from_slice(opts);
        args.push("msg.bin");
        let out = openssl(&args, dir.path());
        assert!(
            out.status.success(),
            "{key} {alg}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // And openssl rejects a tampered message.
        std::fs::write(dir.path().join("msg2.bin"), b"something else").unwrap();
        if let Some(last) = args.last_mut() {
            *last = "msg2.bin";
        }
        assert!(!openssl(&args, dir.path()).status.success(), "{key} {alg}: tampered message verified");
    }
}

#[test]
fn openssl_oaep_ciphertext_decrypts() {
    if !openssl_available() {
        return;
    }
    let api = api();
    let dir = tempfile::tempdir().unwrap();
    let pem: GetPublicKeyResponse =
        call(&api, "GetPublicKey", &GetPublicKeyRequest { key_id: RSA2048.into() }).unwrap();
    std::fs::write(dir.path().join("pub.pem"), pem.public_key).unwrap();
    std::fs::write(dir.path().join("pt.bin"), b"oaep plaintext").unwrap();
    let out = openssl(
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            "pub.pem",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
            "-in",
            "pt.bin",
            "-out",
            "ct.bin",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ct = std::fs::read(dir.path().join("ct.bin")).unwrap();
    let dec: DecryptResponse = call(
        &api,
        "Decrypt",
        &DecryptRequest {
            key_id: RSA2048.into(),
            ciphertext_blob: ct,
            algorithm: "RSAES_OAEP_SHA_256".into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(dec.plaintext, b"oaep plaintext");
}

#[test]
fn generated_private_key_pem_is_read_by_openssl() {
    if !openssl_available() {
        return;
    }
    let api = api();
    let dir = tempfile::tempdir().unwrap();
    for spec in ["RSA_2048", "EC_P256"] {
        let r: GenerateDataKeyPairResponse = call(
            &api,
            "GenerateDataKeyPair",
            &GenerateDataKeyPairRequest { key_id: AES.into(), key_pair_spec: spec.into(), ..Default::default() },
        )
        .unwrap();
        std::fs::write(dir.path().join("priv.pem"), &r.private_key_plaintext).unwrap();
        let out = openssl(&["pkey", "-in", "priv.pem", "-pubout"], dir.path());
        assert!(out.status.success(), "{spec}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, r.public_key, "{spec}: openssl derives the same public key PEM");
    }
}
