//! policy-core's DER/PEM readers (SPKI, PKCS#1, X.509 certificates) must never panic, and whatever
//! they accept must satisfy the key rules and re-encode canonically.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_core::{PureRustVerifier, RsaPublicKey, SignatureVerifier};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = [
        RsaPublicKey::from_der(data),
        RsaPublicKey::from_pkcs1_der(data),
        RsaPublicKey::from_spki_der(data),
        RsaPublicKey::from_certificate_der(data),
        RsaPublicKey::from_pem(&text),
    ];
    if let Ok((n, e)) = RsaPublicKey::components_from_der(data) {
        // The components reader agrees with the full reader when the latter accepts.
        if let Ok(k) = RsaPublicKey::from_der(data) {
            assert_eq!(k.exponent(), e);
            let skip = n.iter().take_while(|&&b| b == 0).count();
            assert_eq!(k.modulus_be(), &n[skip..]);
        }
    }
    for key in parsed.into_iter().flatten() {
        assert!((2048..=4096).contains(&key.modulus_bits()));
        assert!(key.exponent() >= 3 && key.exponent() % 2 == 1);
        // Only a certificate carries a validity window.
        if key.cert_validity().is_some() {
            assert!(RsaPublicKey::from_certificate_der(data).is_ok() || text.contains("-----BEGIN"));
        }
        // The canonical re-encoding parses back to the same key.
        let again = RsaPublicKey::from_der(key.spki_der());
        assert_eq!(
            again.as_ref().ok().map(|k| (k.modulus_be(), k.exponent())),
            Some((key.modulus_be(), key.exponent()))
        );
        let sig = vec![0x5A; key.modulus_len()];
        // A constant 0x5A.. signature is never valid (it is not a PKCS#1 v1.5 encoding of anything
        // for these moduli); the point is that verification of any accepted key runs without panic.
        let _ = PureRustVerifier.verify_pkcs1v15_sha256(&key, data, &sig);
    }
});
