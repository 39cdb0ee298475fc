//! RSA-2048 PKCS#1 v1.5 SHA-256 verification and key parsing, natively; and the two client-key
//! request paths end to end, in the same run: the Instance API's `authorize` and the shared
//! gateway's `authorize_shared_gateway` (RPC v1 SHA256withRSA).
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

const BUNDLE: &str = include_str!("../tests/data/example-bundle.json");
const OPENAPI_VECTORS: &str = include_str!("../tests/vectors/openapi-signatures.json");

/// Both doors with the pure-Rust verifier, each on a request an official SDK signed with the
/// unit-test client key: the Instance API's Encrypt (headers + protobuf body → allow) and the
/// Secrets Manager client's GetSecretValue on the KMS endpoint (wire query decoded, RPC v1
/// StringToSign, RSA, policies in scope `shared` → the policy passes; the secret is not catalogued).
fn client_key_requests(c: &mut Criterion) {
    use policy_core::openapi::{authorize_shared_gateway, decode_form_urlencoded, OpenApiCode, RpcRequestView};
    use policy_core::{authorize, compile_bundle, parse_iso8601, parse_rfc1123, HttpRequestView, PeerAddr};

    let bundle = compile_bundle(BUNDLE).unwrap();
    let doc: serde_json::Value = serde_json::from_str(VECTOR).unwrap();
    let headers: Vec<(String, String)> = doc["request"]["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let body = hex::decode(doc["request"]["body_hex"].as_str().unwrap()).unwrap();
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let req = HttpRequestView { method: "POST", headers: &h, body: &body };
    let now = parse_rfc1123(&headers.iter().find(|(k, _)| k == "date").unwrap().1).unwrap();
    let peer = PeerAddr { ip: "172.16.8.20".parse().unwrap(), forwarded_for: None };
    assert!(authorize(&bundle, &req, peer, now, &PureRustVerifier).allowed());

    let vectors: serde_json::Value = serde_json::from_str(OPENAPI_VECTORS).unwrap();
    let v = vectors["rpc_v1"].as_array().unwrap().iter().find(|v| v["access_key_id"] == "key_for_unit_test").unwrap();
    let signature: String = url_encode(v["signature"].as_str().unwrap());
    let wire = format!("{}&Signature={signature}", v["wire_query"].as_str().unwrap());
    let rpc_now = parse_iso8601("2020-02-06T07:32:54Z").unwrap();
    let rpc_peer = PeerAddr { ip: "192.168.10.5".parse().unwrap(), forwarded_for: None };
    let shared = |wire: &str| {
        let params = decode_form_urlencoded(wire).unwrap();
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = RpcRequestView { method: "POST", params: &pairs };
        authorize_shared_gateway(&bundle, &r, rpc_peer, rpc_now, &PureRustVerifier).code()
    };
    assert_eq!(shared(&wire), Some(OpenApiCode::ForbiddenResourceNotFound), "signature verified, policy passed");

    let mut group = c.benchmark_group("client_key_request");
    group.bench_function("instance_api_authorize (Encrypt: headers, RSA, protobuf scan, decide)", |b| {
        b.iter(|| assert!(authorize(black_box(&bundle), black_box(&req), peer, now, &PureRustVerifier).allowed()))
    });
    group.bench_function("shared_gateway_authorize (GetSecretValue: decode query, RPC v1, RSA, decide)", |b| {
        b.iter(|| shared(black_box(&wire)))
    });
    group.finish();
}

/// Percent-encodes a base64 signature for the query (`+`, `/`, `=`).
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'+' => "%2B".to_owned(),
            b'/' => "%2F".to_owned(),
            b'=' => "%3D".to_owned(),
            _ => char::from(b).to_string(),
        })
        .collect()
}

criterion_group!(benches, verify, parse, client_key_requests);
criterion_main!(benches);
