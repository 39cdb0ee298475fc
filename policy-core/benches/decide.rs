//! Decision latency, bundle compile time and the signed-request pipeline (without RSA) on a
//! realistic bundle: one AAP with 3 policies, 40 network rules of 20 CIDRs each, 1,000 keys,
//! 200 secrets. Run: `cargo bench -p aapkit-policy-core --bench decide`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use policy_core::*;
use sha2::{Digest, Sha256};

mod support;
use support::bundle_at_scale;

fn bundle() -> Bundle {
    bundle_at_scale(1)
}

struct AcceptAll;
impl SignatureVerifier for AcceptAll {
    fn verify_pkcs1v15_sha256(&self, _: &RsaPublicKey, _: &[u8], _: &[u8]) -> bool {
        true
    }
}

fn benches(c: &mut Criterion) {
    let b = bundle();
    c.bench_function("compile (40x20 CIDRs, 1000 keys, 200 secrets)", |x| x.iter(|| black_box(&b).compile().unwrap()));
    let cb = b.compile().unwrap();
    // In the last CIDR block of the last rule (the generator spaces /28 blocks 2,048 apart).
    let inside = IpAddr::V4(Ipv4Addr::from(0x0a00_0000u32 + (799 << 11) + 5));
    let outside = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1));
    let ck = "KAAP.00000000-0000-0000-0000-000000000002";
    let allow = AccessRequest {
        client_key_id: ck,
        api: Api::Encrypt,
        resource: Some("key-0950"),
        source_ip: inside,
        scope: "kst-bench",
    };
    assert!(decide(&cb, &allow, 1_700_000_000).allowed());
    c.bench_function("decide allow (key in 2nd of 3 policies)", |x| {
        x.iter(|| decide(black_box(&cb), black_box(&allow), 1_700_000_000).allowed())
    });
    let deny = AccessRequest { source_ip: outside, ..allow };
    assert_eq!(decide(&cb, &deny, 1_700_000_000).code(), Some(ErrorCode::ForbiddenNoPermission));
    c.bench_function("decide deny (network, all 3 policies traced)", |x| {
        x.iter(|| decide(black_box(&cb), black_box(&deny), 1_700_000_000).allowed())
    });
    let alias = AccessRequest { resource: Some("alias/k17"), ..allow };
    assert!(decide(&cb, &alias, 1_700_000_000).allowed());
    c.bench_function("decide allow via alias", |x| {
        x.iter(|| decide(black_box(&cb), black_box(&alias), 1_700_000_000).allowed())
    });
    let secret = AccessRequest { api: Api::GetSecretValue, resource: Some("app/secret-77"), ..allow };
    assert!(decide(&cb, &secret, 1_700_000_000).allowed());
    c.bench_function("decide allow GetSecretValue (secret + encryption key)", |x| {
        x.iter(|| decide(black_box(&cb), black_box(&secret), 1_700_000_000).allowed())
    });
    let unknown = AccessRequest { client_key_id: "KAAP.unknown", ..allow };
    c.bench_function("decide deny unknown client key", |x| {
        x.iter(|| decide(black_box(&cb), black_box(&unknown), 1_700_000_000).allowed())
    });
    // Criterion reports batch means; the goal is also on the tail of single decisions.
    for (name, r) in [
        ("allow", &allow),
        ("deny (network)", &deny),
        ("allow via alias", &alias),
        ("GetSecretValue", &secret),
        ("unknown client key", &unknown),
    ] {
        latency_distribution(name, || decide(black_box(&cb), black_box(r), 1_700_000_000).allowed());
    }

    // Signed-request pipeline without RSA: headers, SHA-256 of the body, date, string-to-sign,
    // base64, protobuf scan, decide.
    let body: Vec<u8> = {
        let mut v = vec![0x0a, 8];
        v.extend_from_slice(b"key-0950");
        v.extend_from_slice(&[0x12, 32]);
        v.extend_from_slice(&[7u8; 32]);
        v
    };
    let sha = Sha256::digest(&body).iter().map(|b| format!("{b:02X}")).collect::<String>();
    let now = 1_700_000_000;
    let date = format_rfc1123(now);
    let auth = format!("Bearer {}", "A".repeat(342) + "==");
    let headers = [
        ("accept", "application/x-protobuf"),
        ("host", "kst-bench.cryptoservice.kms.aliyuncs.com"),
        ("date", date.as_str()),
        ("user-agent", "AlibabaCloud (Linux; x86_64) Python/3.11 kms-gcs-python-sdk-version/1.0.2"),
        ("x-kms-apiversion", "dkms-gcs-0.2"),
        ("x-kms-apiname", "Encrypt"),
        ("x-kms-signaturemethod", "RSA_PKCS1_SHA_256"),
        ("x-kms-acccesskeyid", ck),
        ("content-type", "application/x-protobuf"),
        ("content-length", "44"),
        ("content-sha256", sha.as_str()),
        ("authorization", auth.as_str()),
    ];
    let req = HttpRequestView { method: "POST", headers: &headers, body: &body };
    let peer = PeerAddr { ip: inside, forwarded_for: None };
    let d = authorize(&cb, &req, peer, now, &AcceptAll);
    assert!(d.allowed(), "{}", d.message());
    c.bench_function("string_to_sign", |x| x.iter(|| string_to_sign(black_box(&req)).len()));
    c.bench_function("authorize pipeline without RSA (verify headers + scan + decide)", |x| {
        x.iter(|| authorize(black_box(&cb), black_box(&req), peer, now, &AcceptAll).allowed())
    });
}

/// Times `f` one call at a time and prints the median and 99th percentile per call, less the
/// timer's own cost (the median of timing nothing), which `AAPKIT_BENCH_QUICK` skips.
fn latency_distribution(name: &str, f: impl Fn() -> bool) {
    if std::env::var_os("AAPKIT_BENCH_QUICK").is_some() {
        return;
    }
    const N: usize = 200_000;
    let sample = |f: &dyn Fn() -> bool| {
        let mut t: Vec<u64> = Vec::with_capacity(N);
        for _ in 0..N {
            let start = Instant::now();
            black_box(f());
            t.push(start.elapsed().as_nanos() as u64);
        }
        t.sort_unstable();
        t
    };
    let empty = sample(&|| true);
    let overhead = empty[N / 2];
    // Warm up, then measure.
    sample(&f);
    let t = sample(&f);
    let at = |q: f64| t[((N as f64 * q) as usize).min(N - 1)].saturating_sub(overhead);
    eprintln!(
        "latency {name}: median {} ns, p99 {} ns, p99.9 {} ns (per call, timer overhead {overhead} ns subtracted)",
        at(0.5),
        at(0.99),
        at(0.999)
    );
}

criterion_group! {
    name = decide_benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500)).sample_size(50);
    targets = benches
}
criterion_main!(decide_benches);
