//! Decision latency, bundle compile time and the signed-request pipeline (without RSA) on a
//! realistic bundle: one AAP with 3 policies, 40 network rules of 20 CIDRs each, 1,000 keys,
//! 200 secrets. Run: `cargo bench -p aapkit-policy-core --bench decide`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use policy_core::*;
use sha2::{Digest, Sha256};

const CERT: &str = include_str!("../tests/data/sdk-unit-test-cert.pem");

fn bundle() -> Bundle {
    let pem = CERT[CERT.find("-----BEGIN").unwrap()..].to_owned();
    // 40 rules × 20 /28 blocks spread over 10.0.0.0/8 (800 disjoint ranges).
    let network_rules = (0..40)
        .map(|r| NetworkRule {
            name: format!("rule-{r}"),
            network_type: NetworkType::Private,
            source_private_ip: (0..20)
                .map(|c| {
                    let n: u32 = 0x0a00_0000 + ((r * 20 + c) << 12);
                    IpCidr::new(IpAddr::V4(Ipv4Addr::from(n)), 28).unwrap()
                })
                .collect(),
            description: None,
        })
        .collect();
    let rules: Vec<String> = (0..40).map(|r| format!("rule-{r}")).collect();
    let policy = |name: &str, perms: Vec<Permission>, resources: Vec<&str>| Policy {
        name: name.into(),
        permissions: perms,
        resources: resources.into_iter().map(|r| ResourcePattern::parse(r).unwrap()).collect(),
        kms_instance: "kst-bench".into(),
        access_control_rules: AccessControlRules { network_rules: rules.clone() },
        description: None,
    };
    let mut key_res: Vec<String> = (0..200).map(|i| format!("key/key-{i:04}")).collect();
    key_res.push("key/key-09*".into());
    let key_res_refs: Vec<&str> = key_res.iter().map(String::as_str).collect();
    Bundle {
        network_rules,
        policies: vec![
            policy("p-other", vec![Permission::CryptoServiceKeyUser], vec!["key/other-*"]),
            policy("p-keys", vec![Permission::CryptoServiceKeyUser], key_res_refs),
            policy(
                "p-secrets",
                vec![Permission::CryptoServiceSecretUser, Permission::CryptoServiceKeyUser],
                vec!["secret/app/*", "key/key-0999"],
            ),
        ],
        application_access_points: vec![ApplicationAccessPoint {
            name: "aap".into(),
            policies: vec!["p-other".into(), "p-keys".into(), "p-secrets".into()],
            authentication_method: AuthenticationMethod::ClientKey,
            description: None,
        }],
        client_keys: (0..3)
            .map(|i| ClientKey {
                client_key_id: format!("KAAP.00000000-0000-0000-0000-00000000000{i}"),
                aap_name: "aap".into(),
                key_algorithm: ClientKeyAlgorithm::Rsa2048,
                public_key_data: pem.clone(),
                not_before: 0,
                not_after: 4_000_000_000,
            })
            .collect(),
        keys: (0..1000)
            .map(|i| Key {
                key_id: format!("key-{i:04}"),
                aliases: vec![format!("alias/k{i}")],
                key_spec: "Aliyun_AES_256".into(),
                key_state: KeyState::Enabled,
                key_versions: vec![format!("00000000-0000-4000-8000-{i:012}")],
            })
            .collect(),
        secrets: (0..200)
            .map(|i| Secret { secret_name: format!("app/secret-{i}"), encryption_key_id: "key-0999".into() })
            .collect(),
        gateway: Some(Gateway {
            scope: "kst-bench".into(),
            trusted_proxies: vec![],
            max_skew_seconds: 900,
            generation: None,
        }),
    }
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
    // In the last CIDR block of the last rule.
    let inside = IpAddr::V4(Ipv4Addr::from(0x0a00_0000u32 + (799 << 12) + 5));
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

criterion_group! {
    name = decide_benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500)).sample_size(50);
    targets = benches
}
criterion_main!(decide_benches);
