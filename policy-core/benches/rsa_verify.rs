//! RSA-2048 PKCS#1 v1.5 SHA-256 verification and key parsing, natively.
//!
//! `cargo bench -p aapkit-policy-core --features rsa-crate --bench rsa_verify`
//! (wasm figures: `examples/verify_bench.rs`, see `docs/bench-rsa.md`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion};
use policy_core::__bench_support::Modexp;
use policy_core::{PureRustVerifier, RsaPublicKey, SignatureVerifier};

const CERT_PEM: &str = include_str!("../tests/data/sdk-unit-test-cert.pem");
const VECTOR: &str = include_str!("../tests/data/sdk-signed-encrypt.json");

fn vector() -> (RsaPublicKey, Vec<u8>, Vec<u8>) {
    let doc: serde_json::Value = serde_json::from_str(VECTOR).unwrap();
    let msg = doc["string_to_sign"].as_str().unwrap().as_bytes().to_vec();
    let auth = doc["request"]["headers"]["authorization"].as_str().unwrap();
    let sig = base64::engine::general_purpose::STANDARD.decode(auth.trim_start_matches("Bearer ")).unwrap();
    (RsaPublicKey::from_pem(CERT_PEM).unwrap(), msg, sig)
}

fn verify(c: &mut Criterion) {
    let (key, msg, sig) = vector();
    let mut group = c.benchmark_group("rsa2048_verify");
    group.bench_function("pure_rust", |b| {
        b.iter(|| assert!(PureRustVerifier.verify_pkcs1v15_sha256(black_box(&key), black_box(&msg), black_box(&sig))))
    });
    #[cfg(feature = "rsa-crate")]
    group.bench_function("rsa_crate_0_10", |b| {
        b.iter(|| {
            assert!(policy_core::RsaCrateVerifier.verify_pkcs1v15_sha256(
                black_box(&key),
                black_box(&msg),
                black_box(&sig)
            ))
        })
    });
    for (name, wide) in [("modexp_u32_limbs", false), ("modexp_u64_limbs", true)] {
        let m = Modexp::new(&key, wide).unwrap();
        let mut out = [0u8; 256];
        group.bench_function(name, |b| b.iter(|| assert!(m.modexp(black_box(&sig), key.exponent(), &mut out))));
    }
    group.finish();
}

fn parse(c: &mut Criterion) {
    let (key, _, _) = vector();
    let spki = key.spki_der().to_vec();
    let mut group = c.benchmark_group("key_parse");
    group.bench_function("certificate_pem", |b| b.iter(|| RsaPublicKey::from_pem(black_box(CERT_PEM)).unwrap()));
    group.bench_function("spki_der", |b| b.iter(|| RsaPublicKey::from_der(black_box(&spki)).unwrap()));
    group.finish();
}

criterion_group!(benches, verify, parse);
criterion_main!(benches);
