//! The four bundle sizes of issue 16 ("configuration at scale"), shared by policy-core's `scale`
//! bench and the gateway's `config_scale` bench (which includes this file by path).
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};

use policy_core::*;

const CERT: &str = include_str!("../../tests/data/sdk-unit-test-cert.pem");

/// One row of the table: keys, client keys (3 per AAP), CIDR blocks per rule (40 rules per policy).
pub struct Row {
    pub name: &'static str,
    pub keys: usize,
    pub client_keys: usize,
    pub cidrs_per_rule: usize,
}

pub const ROWS: [Row; 4] = [
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

/// The row's bundle.
pub fn bundle(row: &Row) -> Bundle {
    let pem = CERT[CERT.find("-----BEGIN").unwrap()..].to_owned();
    let network_rules: Vec<NetworkRule> = (0..40u32)
        .map(|r| NetworkRule {
            name: format!("rule-{r}"),
            network_type: NetworkType::Private,
            source_private_ip: (0..row.cidrs_per_rule as u32)
                .map(|c| {
                    // /28 blocks spread over 10.0.0.0/8, 32 addresses apart: disjoint and not
                    // adjacent, so each stays a range of its own in the compiled address set.
                    let n: u32 = 0x0a00_0000 + ((r * row.cidrs_per_rule as u32 + c) << 5);
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
    Bundle {
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
    }
}
