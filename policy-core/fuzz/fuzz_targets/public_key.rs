//! Public-key parsing must never panic, and whatever it accepts must satisfy the key rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_core::{PureRustVerifier, RsaPublicKey, SignatureVerifier};

fuzz_target!(|data: &[u8]| {
    let parsed = [
        RsaPublicKey::from_der(data),
        RsaPublicKey::from_pkcs1_der(data),
        RsaPublicKey::from_pem(&String::from_utf8_lossy(data)),
    ];
    for key in parsed.into_iter().flatten() {
        assert!((2048..=4096).contains(&key.modulus_bits()));
        assert!(key.exponent() >= 3 && key.exponent() % 2 == 1);
        // The canonical re-encoding parses back to the same key.
        assert_eq!(RsaPublicKey::from_der(key.spki_der()).ok().as_ref(), Some(&key));
        let sig = vec![0x5A; key.modulus_len()];
        let _ = PureRustVerifier.verify_pkcs1v15_sha256(&key, data, &sig);
    }
});
