//! Instance API hot paths through `InstanceApi::handle` (decode, key lookup, crypto, encode).
//!
//! `cargo bench -p aapkit-kms --bench kms_ops`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aapkit_kms::keyring::{KeyRecord, KeySpec, KeyState, KeyVersionRecord};
use aapkit_kms::proto::{DecryptRequest, EncryptRequest, EncryptResponse, SignRequest};
use aapkit_kms::{generate_material, InMemoryKeyRing, InstanceApi};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;

fn key(id: &str, spec: KeySpec, version: &str) -> KeyRecord {
    KeyRecord {
        key_id: id.to_owned(),
        spec,
        state: KeyState::Enabled,
        initial_version_id: version.to_owned(),
        primary_version_id: version.to_owned(),
        versions: vec![KeyVersionRecord { version_id: version.to_owned(), material: generate_material(spec).unwrap() }],
    }
}

fn bench(c: &mut Criterion) {
    let ring = InMemoryKeyRing {
        keys: vec![
            key("key-aes", KeySpec::AliyunAes256, "00000000-0000-4000-8000-000000000001"),
            key("key-rsa", KeySpec::Rsa2048, "00000000-0000-4000-8000-000000000002"),
            key("key-ec", KeySpec::EcP256, "00000000-0000-4000-8000-000000000003"),
        ],
        ..Default::default()
    };
    // The indexed ring is what the server's snapshots hold.
    let api = InstanceApi::new(ring.index());
    let mut g = c.benchmark_group("kms");
    g.throughput(Throughput::Elements(1));

    let enc =
        EncryptRequest { key_id: "key-aes".into(), plaintext: vec![0x42; 32], ..Default::default() }.encode_to_vec();
    g.bench_function("Encrypt AES-256-GCM 32 B", |b| b.iter(|| api.handle("Encrypt", &enc, "r").unwrap()));

    let blob = EncryptResponse::decode(api.handle("Encrypt", &enc, "r").unwrap().as_slice()).unwrap().ciphertext_blob;
    let dec = DecryptRequest { ciphertext_blob: blob, ..Default::default() }.encode_to_vec();
    g.bench_function("Decrypt AES-256-GCM 32 B (blob only)", |b| b.iter(|| api.handle("Decrypt", &dec, "r").unwrap()));

    for (key, alg) in [("key-rsa", "RSA_PKCS1_SHA_256"), ("key-rsa", "RSA_PSS_SHA_256"), ("key-ec", "ECDSA_SHA_256")] {
        let sign =
            SignRequest { key_id: key.into(), algorithm: alg.into(), message: vec![1; 64], ..Default::default() }
                .encode_to_vec();
        g.bench_function(format!("Sign {alg}"), |b| b.iter(|| api.handle("Sign", &sign, "r").unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
