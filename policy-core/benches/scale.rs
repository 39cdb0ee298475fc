//! Configuration at scale (issue 16's baseline): `compile_bundle` on the JSON bundle, as every VM of
//! the gateway and every Envoy worker runs it on each change, for four bundle sizes, with the memory
//! the compiled form holds and the peak during compilation (a counting allocator).
//! Run: `cargo bench -p aapkit-policy-core --bench scale` (`AAPKIT_BENCH_QUICK=1`: the first row only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use policy_core::*;

/// Counts the bytes allocated and still live, and the peak since the last reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const CERT: &str = include_str!("../tests/data/sdk-unit-test-cert.pem");

/// One row of the table: keys, client keys (3 per AAP), CIDR blocks per rule (40 rules per policy).
struct Row {
    name: &'static str,
    keys: usize,
    client_keys: usize,
    cidrs_per_rule: usize,
}

const ROWS: [Row; 4] = [
    Row { name: "1k keys, 10 client keys, 800 CIDRs/policy", keys: 1_000, client_keys: 10, cidrs_per_rule: 20 },
    Row { name: "100k keys", keys: 100_000, client_keys: 10, cidrs_per_rule: 20 },
    Row { name: "10k client keys (3,334 AAPs)", keys: 1_000, client_keys: 10_000, cidrs_per_rule: 20 },
    Row {
        name: "100k keys + 10k client keys + 8k CIDRs/policy",
        keys: 100_000,
        client_keys: 10_000,
        cidrs_per_rule: 200,
    },
];

fn bundle_json(row: &Row) -> String {
    let pem = CERT[CERT.find("-----BEGIN").unwrap()..].to_owned();
    let network_rules: Vec<NetworkRule> = (0..40u32)
        .map(|r| NetworkRule {
            name: format!("rule-{r}"),
            network_type: NetworkType::Private,
            source_private_ip: (0..row.cidrs_per_rule as u32)
                .map(|c| {
                    // /28 blocks spread over 10.0.0.0/8, disjoint.
                    let n: u32 = 0x0a00_0000 + ((r * row.cidrs_per_rule as u32 + c) << 4);
                    IpCidr::new(IpAddr::V4(Ipv4Addr::from(n)), 28).unwrap()
                })
                .collect(),
            description: None,
        })
        .collect();
    let rules: Vec<String> = (0..40).map(|r| format!("rule-{r}")).collect();
    let policy = |name: &str, perms: Vec<Permission>, resources: Vec<String>| Policy {
        name: name.into(),
        permissions: perms,
        resources: resources.iter().map(|r| ResourcePattern::parse(r).unwrap()).collect(),
        kms_instance: "kst-bench".into(),
        access_control_rules: AccessControlRules { network_rules: rules.clone() },
        description: None,
    };
    let mut key_res: Vec<String> = (0..200).map(|i| format!("key/key-{i:06}")).collect();
    key_res.push("key/key-09*".into());
    let aaps = row.client_keys.div_ceil(3);
    let bundle = Bundle {
        network_rules,
        policies: vec![
            policy("p-other", vec![Permission::CryptoServiceKeyUser], vec!["key/other-*".into()]),
            policy("p-keys", vec![Permission::CryptoServiceKeyUser], key_res),
            policy(
                "p-secrets",
                vec![Permission::CryptoServiceSecretUser, Permission::CryptoServiceKeyUser],
                vec!["secret/app/*".into(), "key/key-000999".into()],
            ),
        ],
        application_access_points: (0..aaps)
            .map(|a| ApplicationAccessPoint {
                name: format!("aap-{a}"),
                policies: vec!["p-other".into(), "p-keys".into(), "p-secrets".into()],
                authentication_method: AuthenticationMethod::ClientKey,
                description: None,
            })
            .collect(),
        client_keys: (0..row.client_keys)
            .map(|i| ClientKey {
                client_key_id: format!("KAAP.00000000-0000-0000-0000-{i:012}"),
                aap_name: format!("aap-{}", i / 3),
                key_algorithm: ClientKeyAlgorithm::Rsa2048,
                public_key_data: pem.clone(),
                not_before: 0,
                not_after: 4_000_000_000,
            })
            .collect(),
        keys: (0..row.keys)
            .map(|i| Key {
                key_id: format!("key-{i:06}"),
                aliases: vec![format!("alias/k{i}")],
                key_spec: "Aliyun_AES_256".into(),
                key_state: KeyState::Enabled,
                key_versions: vec![format!("00000000-0000-4000-8000-{i:012}")],
            })
            .collect(),
        secrets: (0..200)
            .map(|i| Secret { secret_name: format!("app/secret-{i}"), encryption_key_id: "key-000999".into() })
            .collect(),
        gateway: Some(Gateway {
            scope: "kst-bench".into(),
            trusted_proxies: vec![],
            max_skew_seconds: 900,
            generation: None,
        }),
    };
    serde_json::to_string(&bundle).unwrap()
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn benches(c: &mut Criterion) {
    let quick = std::env::var_os("AAPKIT_BENCH_QUICK").is_some();
    let mut group = c.benchmark_group("scale");
    for row in ROWS.iter().take(if quick { 1 } else { ROWS.len() }) {
        let json = bundle_json(row);
        // What the compiled form holds, and the peak on the way (beyond the JSON text itself).
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let compiled = compile_bundle(&json).unwrap();
        let held = LIVE.load(Ordering::Relaxed).saturating_sub(base);
        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
        eprintln!(
            "scale: {}: JSON {:.1} MiB, compiled form {:.1} MiB, peak during compile {:.1} MiB",
            row.name,
            mib(json.len()),
            mib(held),
            mib(peak)
        );
        drop(compiled);
        group.bench_function(format!("compile_bundle: {}", row.name), |b| b.iter(|| compile_bundle(black_box(&json))));
    }
    group.finish();
}

criterion_group! {
    name = scale;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(scale);
