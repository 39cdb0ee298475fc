//! Public-key parsing: every accepted form, every refusal with its reason, and no panics on
//! malformed input (random bytes, truncations, mutations).

use base64::Engine as _;
use policy_core::{PublicKeyError, RsaPublicKey};
use proptest::prelude::*;

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn pem_body(pem: &str) -> Vec<u8> {
    let b64: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
}

fn sdk_cert_der() -> Vec<u8> {
    pem_body(&data("sdk-unit-test-cert.pem"))
}

#[test]
fn accepts_certificate_spki_and_pkcs1() {
    let cert = RsaPublicKey::from_pem(&data("sdk-unit-test-cert.pem")).unwrap();
    assert_eq!(RsaPublicKey::from_der(&sdk_cert_der()).unwrap(), cert);
    assert_eq!(RsaPublicKey::from_certificate_der(&sdk_cert_der()).unwrap().cert_validity(), cert.cert_validity());

    let pkcs1_pem = data("keys/test-rsa2048-pkcs1-pub.pem");
    let pkcs1 = RsaPublicKey::from_pem(&pkcs1_pem).unwrap();
    assert_eq!(RsaPublicKey::from_der(&pem_body(&pkcs1_pem)).unwrap(), pkcs1);
    let spki_pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(pkcs1.spki_der())
    );
    assert_eq!(RsaPublicKey::from_pem(&spki_pem).unwrap(), pkcs1);
    assert_eq!(pkcs1.modulus_bits(), 2048);
}

#[test]
fn generalized_time_certificate() {
    let key = RsaPublicKey::from_pem(&data("keys/cert-rsa3072-generalized-time.pem")).unwrap();
    assert_eq!(key.modulus_bits(), 3072);
    let (not_before, not_after) = key.cert_validity().unwrap();
    // notBefore Nov 29 14:50:09 2026 GMT (UTCTime), notAfter Mar 11 14:50:09 2076 GMT (GeneralizedTime).
    assert_eq!((not_before, not_after), (1_795_963_809, 3_351_163_809));
}

#[test]
fn refusals_name_the_problem() {
    let err = |name: &str| RsaPublicKey::from_pem(&data(name)).unwrap_err();
    assert_eq!(err("keys/rsa1024-pub.pem"), PublicKeyError::ModulusTooSmall { bits: 1024 });
    assert!(matches!(err("keys/ec-p256-pub.pem"), PublicKeyError::NotRsa { algorithm } if algorithm.contains("EC")));
    assert!(
        matches!(err("keys/ed25519-pub.pem"), PublicKeyError::NotRsa { algorithm } if algorithm.contains("Ed25519"))
    );
    assert!(matches!(err("keys/test-rsa2048.pem"), PublicKeyError::PrivateKeyPem { .. }));
    let msg = err("keys/test-rsa2048.pem").to_string();
    assert!(msg.contains("never its private key"), "{msg}");
    assert!(err("keys/ec-p256-pub.pem").to_string().contains("client keys are RSA_2048"));
}

#[test]
fn every_truncation_is_an_error() {
    let spki = RsaPublicKey::from_der(&sdk_cert_der()).unwrap().spki_der().to_vec();
    for der in [sdk_cert_der(), spki] {
        for len in 0..der.len() {
            assert!(RsaPublicKey::from_der(&der[..len]).is_err(), "prefix of {len} bytes");
        }
        let mut longer = der.clone();
        longer.push(0);
        assert!(RsaPublicKey::from_der(&longer).is_err(), "trailing byte");
    }
}

#[test]
fn non_der_encodings_are_refused() {
    let spki = RsaPublicKey::from_der(&sdk_cert_der()).unwrap().spki_der().to_vec();
    // Outer SEQUENCE length in indefinite form.
    let mut indefinite = spki.clone();
    indefinite[1] = 0x80;
    assert!(RsaPublicKey::from_der(&indefinite).is_err());
    // The modulus INTEGER with an extra leading zero (non-minimal).
    let pkcs1 = {
        let key = RsaPublicKey::from_der(&spki).unwrap();
        let mut n = vec![0x02, 0x82, 0x01, 0x02, 0x00, 0x00];
        n.extend_from_slice(key.modulus_be());
        let mut seq = vec![0x30, 0x82, 0x01, 0x09];
        seq.extend_from_slice(&n);
        seq.extend_from_slice(&[0x02, 0x03, 0x01, 0x00, 0x01]);
        seq
    };
    assert!(matches!(RsaPublicKey::from_pkcs1_der(&pkcs1), Err(PublicKeyError::Der { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = RsaPublicKey::from_der(&bytes);
        let _ = RsaPublicKey::from_pkcs1_der(&bytes);
        let _ = RsaPublicKey::from_certificate_der(&bytes);
        let _ = RsaPublicKey::from_pem(&String::from_utf8_lossy(&bytes));
        let _ = RsaPublicKey::from_components(&bytes, u32::from(bytes.first().copied().unwrap_or(3)));
    }

    #[test]
    fn random_pem_never_panics(label in "(CERTIFICATE|PUBLIC KEY|RSA PUBLIC KEY|X)", body in "[A-Za-z0-9+/=\n:-]{0,300}") {
        let _ = RsaPublicKey::from_pem(&format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"));
        let _ = RsaPublicKey::from_pem(&format!("-----BEGIN {label}-----{body}"));
    }

    #[test]
    fn mutated_certificates_never_panic(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut der = sdk_cert_der();
        for (at, value) in edits {
            let i = at.index(der.len());
            der[i] = value;
        }
        if let Ok(key) = RsaPublicKey::from_der(&der) {
            // Whatever is accepted satisfies the key rules.
            prop_assert!((2048..=4096).contains(&key.modulus_bits()));
            prop_assert!(key.exponent() >= 3 && key.exponent() % 2 == 1);
            prop_assert!(key.modulus_be().last().is_some_and(|b| b % 2 == 1));
        }
    }
}

#[test]
fn components_from_spki_and_pkcs1() {
    let pkcs1_pem = data("keys/test-rsa2048-pkcs1-pub.pem");
    let key = RsaPublicKey::from_pem(&pkcs1_pem).unwrap();
    let expected = (key.modulus_be(), key.exponent());
    assert_eq!(RsaPublicKey::components_from_der(&pem_body(&pkcs1_pem)).unwrap(), expected);
    assert_eq!(RsaPublicKey::components_from_der(key.spki_der()).unwrap(), expected);
    // Not a bare key: a certificate, a truncation, garbage.
    assert!(RsaPublicKey::components_from_der(&sdk_cert_der()).is_err());
    let spki = key.spki_der();
    for cut in 0..spki.len() {
        assert!(RsaPublicKey::components_from_der(&spki[..cut]).is_err(), "{cut}");
    }
    assert!(RsaPublicKey::components_from_der(b"\x30\x03\x02\x01").is_err());
}
