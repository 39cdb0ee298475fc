//! The benchmark bundle shared by the benches: one AAP with 3 policies over 40 network rules of 20
//! CIDRs each, 1,000 keys (each with an alias and a version), 200 secrets, 3 client keys — at scale
//! 1; `scale` multiplies rules, keys, secrets and client keys.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};

use policy_core::*;

const CERT: &str = include_str!("../../tests/data/sdk-unit-test-cert.pem");

/// The benchmark bundle at `scale` (1: 40 rules × 20 CIDRs, 1,000 keys, 200 secrets, 3 client
/// keys; 10: ten times each).
pub fn bundle_at_scale(scale: u32) -> Bundle {
    let pem = CERT[CERT.find("-----BEGIN").unwrap()..].to_owned();
    // 40 rules × 20 /28 blocks spread over 10.0.0.0/8 (800 disjoint ranges at scale 1).
    let network_rules = (0..40 * scale)
        .map(|r| NetworkRule {
            name: format!("rule-{r}"),
            network_type: NetworkType::Private,
            source_private_ip: (0..20)
                .map(|c| {
                    let n: u32 = 0x0a00_0000 + ((r * 20 + c) << 11);
                    IpCidr::new(IpAddr::V4(Ipv4Addr::from(n)), 28).unwrap()
                })
                .collect(),
            description: None,
        })
        .collect();
    // One AAP of 3 policies over its own 40 rules per unit of scale (Alibaba's limits: 3 policies
    // per AAP, 40 rules per policy); the first AAP's policies are the scale-1 bundle's.
    let mut policies = Vec::new();
    let mut aaps = Vec::new();
    for a in 0..scale {
        let rules: Vec<String> = (40 * a..40 * (a + 1)).map(|r| format!("rule-{r}")).collect();
        let suffix = if a == 0 { String::new() } else { format!("-{a}") };
        let policy = |name: &str, perms: Vec<Permission>, resources: &[String]| Policy {
            name: format!("{name}{suffix}"),
            permissions: perms,
            resources: resources.iter().map(|r| ResourcePattern::parse(r).unwrap()).collect(),
            kms_instance: "kst-bench".into(),
            access_control_rules: AccessControlRules { network_rules: rules.clone() },
            description: None,
        };
        let mut key_res: Vec<String> = (0..200).map(|i| format!("key/key-{:04}", i + 1000 * a)).collect();
        key_res.push("key/key-09*".into());
        policies.push(policy("p-other", vec![Permission::CryptoServiceKeyUser], &["key/other-*".to_owned()]));
        policies.push(policy("p-keys", vec![Permission::CryptoServiceKeyUser], &key_res));
        policies.push(policy(
            "p-secrets",
            vec![Permission::CryptoServiceSecretUser, Permission::CryptoServiceKeyUser],
            &["secret/app/*".to_owned(), "key/key-0999".to_owned()],
        ));
        aaps.push(ApplicationAccessPoint {
            name: format!("aap{suffix}"),
            policies: vec![format!("p-other{suffix}"), format!("p-keys{suffix}"), format!("p-secrets{suffix}")],
            authentication_method: AuthenticationMethod::ClientKey,
            description: None,
        });
    }
    Bundle {
        network_rules,
        policies,
        application_access_points: aaps,
        client_keys: (0..3 * scale)
            .map(|i| ClientKey {
                client_key_id: format!("KAAP.00000000-0000-0000-0000-{i:012}"),
                aap_name: if i / 3 == 0 { "aap".into() } else { format!("aap-{}", i / 3) },
                key_algorithm: ClientKeyAlgorithm::Rsa2048,
                public_key_data: pem.clone(),
                not_before: 0,
                not_after: 4_000_000_000,
            })
            .collect(),
        keys: (0..1000 * scale)
            .map(|i| Key {
                key_id: format!("key-{i:04}"),
                aliases: vec![format!("alias/k{i}")],
                key_spec: "Aliyun_AES_256".into(),
                key_state: KeyState::Enabled,
                key_versions: vec![format!("00000000-0000-4000-8000-{i:012}")],
            })
            .collect(),
        secrets: (0..200 * scale)
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
