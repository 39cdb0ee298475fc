//! The filter module in wasmtime against policy-core called natively, on the SDK-signed vector
//! (Encrypt, client key `key_for_unit_test`, policy-core's example bundle), in one run:
//!
//! - `native/authorize+aws-lc`: `policy_core::authorize` with the host's native RSA verifier.
//! - `wasm/filter+offload`: the whole filter request path in wasmtime (ABI calls, header reads,
//!   verification, decision) with RSA offloaded to the same native verifier: the ratio to the line
//!   above is the filter's overhead on the decision path.
//! - `native/authorize+pure-rust` and `wasm/filter+pure-rust`: the same with the pure-Rust RSA
//!   verifier, natively and inside wasm.
//! - `enforcer/native` and `enforcer/wasm`: the gateway's per-request call (`Enforcer::check_with`),
//!   header copies and the audited `Caller` included; their ratio is the wasm overhead per request.
//!   `enforcer/wasm-fuel`: the same with fuel metering instead of epoch deadlines.
//! - `native/rsa-verify-pure-rust` and `native/rsa-verify-aws-lc`: RSA alone.
//!
//! Needs the filter module: `cargo build -p aapkit-filter --target wasm32-wasip1 --profile wasm-release`
//! (or AAPKIT_FILTER_WASM). Run: `cargo bench -p aapkit --bench filter`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The gateway's allocator (see main.rs), so that allocation costs here are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use aapkit_host::server::filter_enforcer::{host_config, FilterEnforcer};
use aapkit_host::server::native::NativeEnforcer;
use aapkit_host::server::{EnforceOutcome, EnforceRequest, Enforcer};
use aapkit_kms::native_rsa::NativeVerifier;
use criterion::{criterion_group, criterion_main, Criterion};
use policy_core::{authorize, compile_bundle, HttpRequestView, PeerAddr, PureRustVerifier, SignatureVerifier};
use proxy_wasm_host::{FilterHost, FilterHostConfig, FilterOutcome, FilterRequest, GuestLimit};
use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn filter_wasm() -> Vec<u8> {
    let path = aapkit_tests::filter_wasm().unwrap_or_else(|e| panic!("{e}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bench(c: &mut Criterion) {
    let bundle_json = std::fs::read_to_string(repo("policy-core/tests/data/example-bundle.json")).unwrap();
    let vector: Value =
        serde_json::from_str(&std::fs::read_to_string(repo("policy-core/tests/data/sdk-signed-encrypt.json")).unwrap())
            .unwrap();
    let headers: Vec<(String, String)> = vector["request"]["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let body = hex::decode(vector["request"]["body_hex"].as_str().unwrap()).unwrap();
    let now = policy_core::parse_rfc1123("Thu, 06 Feb 2020 07:32:54 GMT").unwrap();
    let source = "172.16.3.4:50000";

    let compiled = compile_bundle(&bundle_json).unwrap();
    let view_headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let view = HttpRequestView { method: "POST", headers: &view_headers, body: &body };
    let peer = PeerAddr { ip: "172.16.3.4".parse().unwrap(), forwarded_for: None };
    assert!(authorize(&compiled, &view, peer, now, &NativeVerifier).allowed(), "the vector must be allowed");

    let wasm = filter_wasm();
    let make = |offload: bool| {
        let host = FilterHost::new(&wasm, host_config(offload)).unwrap();
        host.configure(bundle_json.as_bytes()).unwrap();
        host
    };
    let offload = make(true);
    let pure = make(false);
    let now_nanos = Some(u64::try_from(now).unwrap() * 1_000_000_000);
    let req = FilterRequest {
        headers: &headers,
        body: &body,
        source_address: source,
        now_nanos,
        full_header_map: true,
        ..FilterRequest::default()
    };
    for h in [&offload, &pure] {
        assert!(matches!(h.run_request(&req), FilterOutcome::Continue { .. }), "the filter must allow the vector");
    }

    let mut g = c.benchmark_group("request-path");
    g.bench_function("native/authorize+aws-lc", |b| b.iter(|| authorize(&compiled, &view, peer, now, &NativeVerifier)));
    g.bench_function("wasm/filter+offload", |b| b.iter(|| offload.run_request(&req)));
    g.bench_function("native/authorize+pure-rust", |b| {
        b.iter(|| authorize(&compiled, &view, peer, now, &PureRustVerifier))
    });
    g.bench_function("wasm/filter+pure-rust", |b| b.iter(|| pure.run_request(&req)));
    // The fixed cost of the ABI round trip: a request with no client key id is refused at the
    // first check, after the same callbacks and hostcalls as any other (no RSA, little policy).
    let anonymous: Vec<(String, String)> =
        headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("x-kms-acccesskeyid")).cloned().collect();
    let early = FilterRequest { headers: &anonymous, ..req };
    assert!(matches!(offload.run_request(&early), FilterOutcome::LocalResponse { status: 400, .. }));
    g.bench_function("wasm/filter-refused-at-first-check", |b| b.iter(|| offload.run_request(&early)));
    g.finish();

    // What the gateway calls per request: the `Enforcer` trait, wasm against native, from the
    // header list the server builds to the `Caller` it audits.
    let native = NativeEnforcer::new();
    let native_policy = native.prepare(&bundle_json).unwrap();
    let wasm_enforcer = FilterEnforcer::new(&wasm, host_config(true)).unwrap();
    let wasm_policy = wasm_enforcer.prepare(&bundle_json).unwrap();
    let lower: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect();
    let enforce = EnforceRequest {
        door: Default::default(),
        headers: &lower,
        body: &body,
        peer: source.parse().unwrap(),
        now,
        request_id: "bench-request-id",
    };
    for (e, policy) in [(&native as &dyn Enforcer, &native_policy), (&wasm_enforcer as &dyn Enforcer, &wasm_policy)] {
        let allowed = matches!(e.check_with(policy, &enforce), EnforceOutcome::Allow(_));
        assert!(allowed, "{} must allow the vector", e.kind());
    }
    // The same filter host with fuel metering instead of epoch deadlines (RSA offloaded too, so the
    // two differ only in how the guest is limited).
    let fuel =
        FilterEnforcer::new(&wasm, FilterHostConfig { limit: GuestLimit::DEFAULT_FUEL, ..host_config(true) }).unwrap();
    let fuel_policy = fuel.prepare(&bundle_json).unwrap();
    assert!(matches!(fuel.check_with(&fuel_policy, &enforce), EnforceOutcome::Allow(_)));
    let mut g = c.benchmark_group("enforcer");
    g.bench_function("native", |b| b.iter(|| native.check_with(&native_policy, &enforce)));
    g.bench_function("wasm", |b| b.iter(|| wasm_enforcer.check_with(&wasm_policy, &enforce)));
    g.bench_function("wasm-fuel", |b| b.iter(|| fuel.check_with(&fuel_policy, &enforce)));
    g.finish();

    let key = compiled.client_key_public_key("key_for_unit_test").unwrap();
    let sts = vector["string_to_sign"].as_str().unwrap().as_bytes();
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(headers.iter().find(|(k, _)| k == "authorization").unwrap().1.trim_start_matches("Bearer "))
        .unwrap();
    let mut g = c.benchmark_group("rsa-verify");
    g.bench_function("native/pure-rust", |b| b.iter(|| PureRustVerifier.verify_pkcs1v15_sha256(key, sts, &sig)));
    g.bench_function("native/aws-lc", |b| b.iter(|| NativeVerifier.verify_pkcs1v15_sha256(key, sts, &sig)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
