//! Our PKCS#12 reader on the official SDK unit-test client key (password 1234).

use crate::common;

use aapkit_pki as pki;
use aapkit_pki::{pkcs12, PkiError};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use common::*;

fn sample() -> Vec<u8> {
    std::fs::read(data_file("sdk-unit-test-client-key.p12")).unwrap()
}

#[test]
fn reads_the_official_sample() {
    let (cert, pkcs8) = pkcs12::parse(&sample(), "1234").unwrap();
    let key = RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
    assert_eq!(key.public_modulus_len(), 256, "RSA-2048");

    // The private key belongs to the certificate: its signature verifies with the cert's key.
    let spki = pki::certificate_public_key(&cert).unwrap();
    let mut sig = vec![0; 256];
    key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), b"sample", &mut sig).unwrap();
    assert!(verify_rsa_sha256(&spki, b"sample", &sig));

    // Same certificate as OpenSSL extracts.
    let pem = run(openssl()
        .args(["pkcs12", "-legacy", "-nokeys", "-passin", "pass:1234", "-in"])
        .arg(data_file("sdk-unit-test-client-key.p12")));
    assert_eq!(pki::decode_pem(&pem, "CERTIFICATE").unwrap(), cert);
}

#[test]
fn wrong_password_is_a_mac_verify_failure() {
    let err = pkcs12::parse(&sample(), "12345").unwrap_err();
    assert!(matches!(err, PkiError::MacVerifyFailure), "{err:?}");
    assert!(err.to_string().starts_with("mac verify failure"), "{err}");
}

#[test]
fn damaged_input_is_an_error_not_a_panic() {
    let data = sample();
    for len in (0..data.len()).step_by(97) {
        assert!(pkcs12::parse(&data[..len], "1234").is_err(), "truncated to {len}");
    }
    for i in (0..data.len()).step_by(131) {
        let mut d = data.clone();
        d[i] ^= 0x5a;
        assert!(pkcs12::parse(&d, "1234").is_err(), "byte {i} flipped");
    }
    assert!(pkcs12::parse(b"not der", "1234").is_err());
}

#[test]
fn reads_a_pkcs12_made_by_openssl() {
    // OpenSSL's own -legacy export (different encoder, MAC with NULL parameters, friendlyName).
    let dir = tempfile::tempdir().unwrap();
    let k = pki::generate(
        "openssl-made",
        "abcd1234",
        time::macros::datetime!(2024-01-01 0:00 UTC),
        time::macros::datetime!(2025-01-01 0:00 UTC),
    )
    .unwrap();
    let (cert, pkcs8) = pkcs12::parse(&base64_decode(&k.private_key_data), "abcd1234").unwrap();
    let cert_pem = write(dir.path(), "c.pem", pki::encode_pem("CERTIFICATE", &cert));
    let key_pem = write(dir.path(), "k.pem", pki::encode_pem("PRIVATE KEY", &pkcs8));
    let out = dir.path().join("o.p12");
    run(openssl()
        .args(["pkcs12", "-export", "-legacy", "-name", "friendly", "-passout", "pass:Other-pass1", "-in"])
        .arg(&cert_pem)
        .arg("-inkey")
        .arg(&key_pem)
        .arg("-out")
        .arg(&out));
    let (cert2, pkcs8_2) = pkcs12::parse(&std::fs::read(&out).unwrap(), "Other-pass1").unwrap();
    assert_eq!(cert2, cert);
    // OpenSSL may re-encode the PKCS#8 (attributes, version); the key must be the same.
    let a = RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
    let b = RsaKeyPair::from_pkcs8(&pkcs8_2).unwrap();
    use aws_lc_rs::signature::KeyPair as _;
    assert_eq!(a.public_key().as_ref(), b.public_key().as_ref());
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}
