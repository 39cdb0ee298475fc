//! Differential tests: `PureRustVerifier` against the `rsa` crate on signatures made with fixed
//! test keys, and the Montgomery exponentiation (both limb widths) against `num-bigint`.

use std::sync::OnceLock;

use num_bigint::BigUint;
use policy_core::__bench_support::Modexp;
use policy_core::{PureRustVerifier, RsaPublicKey, SignatureVerifier};
use proptest::prelude::*;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;

struct TestKey {
    private: rsa::PrivateKey,
    public: RsaPublicKey,
}

fn keys() -> &'static [TestKey] {
    static KEYS: OnceLock<Vec<TestKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        ["test-rsa2048.pem", "test-rsa2048-e3.pem", "test-rsa3072.pem", "test-rsa4096.pem"]
            .iter()
            .map(|name| {
                let path = format!("{}/tests/data/keys/{name}", env!("CARGO_MANIFEST_DIR"));
                let private = rsa::PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(path).unwrap()).unwrap();
                let n = private.n().to_be_bytes();
                let e = u32::try_from(private.e().to_be_bytes().iter().fold(0u64, |a, &b| (a << 8) | u64::from(b)))
                    .unwrap();
                let public = RsaPublicKey::from_components(&n, e).unwrap();
                // Our canonical SPKI is byte-identical to the rsa crate's.
                let theirs = private.to_public_key().to_public_key_der().unwrap();
                assert_eq!(public.spki_der(), theirs.as_bytes(), "{name}");
                TestKey { private, public }
            })
            .collect()
    })
}

fn sign(key: &TestKey, msg: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let hashed = Sha256::digest(msg);
    key.private.sign(rsa::Pkcs1v15Sign::new::<rsa::sha2::Sha256>(), &hashed).unwrap()
}

fn verify_both(key: &RsaPublicKey, msg: &[u8], sig: &[u8]) -> bool {
    let ours = PureRustVerifier.verify_pkcs1v15_sha256(key, msg, sig);
    #[cfg(feature = "rsa-crate")]
    {
        let theirs = policy_core::RsaCrateVerifier.verify_pkcs1v15_sha256(key, msg, sig);
        assert_eq!(ours, theirs, "verifiers disagree");
    }
    ours
}

fn modexp_reference(n: &[u8], e: u32, s: &[u8]) -> Vec<u8> {
    let r = BigUint::from_bytes_be(s).modpow(&BigUint::from(e), &BigUint::from_bytes_be(n));
    let bytes = r.to_bytes_be();
    let mut out = vec![0u8; n.len() - bytes.len().min(n.len())];
    out.extend_from_slice(&bytes);
    out
}

fn check_modexp(key: &RsaPublicKey, s: &[u8]) {
    let n = key.modulus_be();
    let expected =
        (BigUint::from_bytes_be(s) < BigUint::from_bytes_be(n)).then(|| modexp_reference(n, key.exponent(), s));
    for wide in [false, true] {
        let m = Modexp::new(key, wide).unwrap();
        let mut out = vec![0u8; n.len()];
        let ok = m.modexp(s, key.exponent(), &mut out);
        match &expected {
            Some(want) => assert!(ok && &out == want, "wide={wide} bits={}", key.modulus_bits()),
            None => assert!(!ok, "s >= n must be refused (wide={wide})"),
        }
    }
}

/// A random odd modulus of `bits` bits (not an RSA modulus: Montgomery only needs it odd).
fn modulus(bits: usize, seed: &[u8]) -> Vec<u8> {
    let len = bits.div_ceil(8);
    let mut n: Vec<u8> = (0..len).map(|i| seed[i % seed.len()].wrapping_mul(31).wrapping_add(i as u8)).collect();
    let top_bits = bits - (len - 1) * 8;
    n[0] = (n[0] & ((1u16 << top_bits) - 1) as u8) | (1 << (top_bits - 1));
    n[len - 1] |= 1;
    n
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn signatures_verify_and_bit_flips_fail(
        key_index in 0usize..4,
        msg in proptest::collection::vec(any::<u8>(), 0..300),
        flip in any::<prop::sample::Index>(),
        msg_flip in any::<prop::sample::Index>(),
    ) {
        let key = &keys()[key_index];
        let sig = sign(key, &msg);
        prop_assert!(verify_both(&key.public, &msg, &sig));

        let bit = flip.index(sig.len() * 8);
        let mut bad = sig.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(!verify_both(&key.public, &msg, &bad));

        if !msg.is_empty() {
            let bit = msg_flip.index(msg.len() * 8);
            let mut other = msg.clone();
            other[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(!verify_both(&key.public, &other, &sig));
        }
        // The signature of one key never verifies under another.
        let other_key = &keys()[(key_index + 1) % 4].public;
        prop_assert!(!verify_both(other_key, &msg, &sig));
    }

    #[test]
    fn random_signatures_agree(key_index in 0usize..4, fill in any::<u8>(), seed in proptest::collection::vec(any::<u8>(), 1..64)) {
        let key = &keys()[key_index].public;
        let sig: Vec<u8> = (0..key.modulus_len()).map(|i| seed[i % seed.len()] ^ fill.wrapping_mul(i as u8)).collect();
        prop_assert!(!verify_both(key, b"msg", &sig));
        check_modexp(key, &sig);
    }

    #[test]
    fn modexp_matches_num_bigint(
        bits in 2048usize..=4096,
        e in (1u32..(u32::MAX / 2)).prop_map(|x| x * 2 + 1),
        n_seed in proptest::collection::vec(any::<u8>(), 1..32),
        s_seed in proptest::collection::vec(any::<u8>(), 1..600),
    ) {
        let key = RsaPublicKey::from_components(&modulus(bits, &n_seed), e).unwrap();
        let s: Vec<u8> = (0..key.modulus_len()).map(|i| s_seed[i % s_seed.len()].rotate_left(i as u32 % 8)).collect();
        check_modexp(&key, &s);
    }
}

#[test]
fn modexp_edge_values() {
    for bits in [2048, 2049, 2080, 3072, 3073, 4095, 4096] {
        for e in [3, 17, 65537, u32::MAX] {
            let key = RsaPublicKey::from_components(&modulus(bits, &[0x5A, 0xC3, 0x99]), e).unwrap();
            let n = key.modulus_be().to_vec();
            let k = n.len();
            let mut n_minus_1 = n.clone();
            n_minus_1[k - 1] -= 1; // n is odd
            let mut n_plus_1 = n.clone();
            n_plus_1[k - 1] += 1; // n is odd, so no carry
            let mut one = vec![0u8; k];
            one[k - 1] = 1;
            for s in [vec![0u8; k], one, vec![0xFF; k], n_minus_1, n.clone(), n_plus_1] {
                check_modexp(&key, &s);
            }
        }
    }
}
