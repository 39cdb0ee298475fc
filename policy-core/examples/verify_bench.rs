//! Times RSA-2048 verification where it runs: natively, or as wasm32-wasip1 under node
//! (`run-wasi.mjs`). Reads no files (the SDK vector is compiled in). See `docs/bench-rsa.md`.
//!
//! Usage: `verify_bench [iterations]` (default 2000).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Instant;

use base64::Engine as _;
use policy_core::__bench_support::Modexp;
use policy_core::{PureRustVerifier, RsaPublicKey, SignatureVerifier};

const CERT_PEM: &str = include_str!("../tests/data/sdk-unit-test-cert.pem");
const VECTOR: &str = include_str!("../tests/data/sdk-signed-encrypt.json");

/// Prints the best of 50 short rounds: on a shared machine the minimum is the least disturbed.
const ROUNDS: u32 = 50;

fn report(what: &str, iterations: u32, mut run: impl FnMut()) {
    run(); // warm-up (wasm tier-up, caches)
    let per_round = iterations.div_ceil(ROUNDS).max(1);
    let mut best = f64::INFINITY;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..per_round {
            run();
        }
        best = best.min(start.elapsed().as_secs_f64() / f64::from(per_round));
    }
    println!("{what:<34} {:>9.1} µs/op {:>10.0} op/s", best * 1e6, 1.0 / best);
}

fn main() {
    let iterations: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let doc: serde_json::Value = serde_json::from_str(VECTOR).unwrap();
    let msg = doc["string_to_sign"].as_str().unwrap().as_bytes().to_vec();
    let auth = doc["request"]["headers"]["authorization"].as_str().unwrap();
    let sig = base64::engine::general_purpose::STANDARD.decode(auth.trim_start_matches("Bearer ")).unwrap();
    let key = RsaPublicKey::from_pem(CERT_PEM).unwrap();
    assert!(PureRustVerifier.verify_pkcs1v15_sha256(&key, &msg, &sig));

    println!("target: {}, {} iterations", std::env::consts::ARCH, iterations);
    report("PureRustVerifier verify", iterations, || {
        assert!(PureRustVerifier.verify_pkcs1v15_sha256(black_box(&key), black_box(&msg), black_box(&sig)));
    });
    for (name, wide) in [("modexp, u32 limbs / u64 products", false), ("modexp, u64 limbs / u128 products", true)] {
        let m = Modexp::new(&key, wide).unwrap();
        let mut out = [0u8; 256];
        report(name, iterations, || {
            assert!(m.modexp(black_box(&sig), key.exponent(), &mut out));
        });
    }
    report("key parse (certificate PEM)", iterations.div_ceil(4), || {
        black_box(RsaPublicKey::from_pem(black_box(CERT_PEM)).unwrap());
    });
    let spki = key.spki_der().to_vec();
    report("key parse (SPKI DER)", iterations.div_ceil(4), || {
        black_box(RsaPublicKey::from_der(black_box(&spki)).unwrap());
    });
    #[cfg(feature = "rsa-crate")]
    report("RsaCrateVerifier (rsa 0.10) verify", iterations.div_ceil(4), || {
        assert!(policy_core::RsaCrateVerifier.verify_pkcs1v15_sha256(black_box(&key), &msg, &sig));
    });
}
