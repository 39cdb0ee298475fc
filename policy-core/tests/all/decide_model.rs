//! Property test: decisions of the compiled form equal a straightforward evaluation of the
//! document written here from the rules in docs/bundle-format.md (no indexes, no ranges).

use std::net::IpAddr;

use policy_core::*;
use proptest::prelude::*;

const CERT: &str = include_str!("../data/sdk-unit-test-cert.pem");

fn pem() -> String {
    let s = CERT.find("-----BEGIN").unwrap();
    CERT[s..].to_owned()
}

const RES_POOL: [&str; 9] =
    ["key/*", "key/k1", "key/k*", "key/k1*", "secret/*", "secret/s1", "secret/s*", "secret/a/*", "key/alias/a1"];
const REQ_RES: [&str; 10] = ["k1", "k2", "k10", "k3", "alias/a1", "alias/zz", "s1", "s2", "a/x", "s9"];
const STATES: [KeyState; 4] =
    [KeyState::Enabled, KeyState::Disabled, KeyState::PendingDeletion, KeyState::PendingImport];

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (0u32..1024).prop_map(|x| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + x))),
        (0u32..1024).prop_map(|x| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + x).to_ipv6_mapped())),
        (0u128..64).prop_map(|x| IpAddr::from(std::net::Ipv6Addr::from((0xfd00u128 << 112) + x))),
    ]
}

fn cidr() -> impl Strategy<Value = IpCidr> {
    prop_oneof![
        ((0u32..1024), 22u8..=32)
            .prop_map(|(x, p)| IpCidr::new(std::net::Ipv4Addr::from(0x0a00_0000 + x).into(), p).unwrap()),
        ((0u128..64), 122u8..=128).prop_map(|(x, p)| IpCidr::new(
            std::net::Ipv6Addr::from((0xfd00u128 << 112) + x).into(),
            p
        )
        .unwrap()),
    ]
}

#[derive(Debug, Clone)]
struct GenPolicy {
    perms: Vec<Permission>,
    resources: Vec<usize>,
    shared: bool,
    rules: Vec<usize>,
}

fn policy() -> impl Strategy<Value = GenPolicy> {
    (
        proptest::sample::subsequence(Permission::ALL.to_vec(), 1..=3),
        proptest::sample::subsequence((0..RES_POOL.len()).collect::<Vec<_>>(), 1..=4),
        any::<bool>(),
        proptest::sample::subsequence(vec![0usize, 1, 2], 0..=3),
    )
        .prop_map(|(perms, resources, shared, rules)| GenPolicy { perms, resources, shared, rules })
}

fn bundle() -> impl Strategy<Value = Bundle> {
    (
        proptest::collection::vec(proptest::collection::vec(cidr(), 1..5), 3),
        proptest::collection::vec(policy(), 1..=4),
        proptest::sample::subsequence(vec![0usize, 1, 2, 3], 1..=3),
        proptest::collection::vec(0usize..4, 3),
    )
        .prop_map(|(rules, pols, aap_pols, states)| {
            let network_rules = rules
                .into_iter()
                .enumerate()
                .map(|(i, c)| NetworkRule {
                    name: format!("r{i}"),
                    network_type: NetworkType::Private,
                    source_private_ip: c,
                    description: None,
                })
                .collect();
            let n = pols.len();
            let policies = pols
                .into_iter()
                .enumerate()
                .map(|(i, p)| {
                    let mut perms = p.perms;
                    let mut resources: Vec<ResourcePattern> =
                        p.resources.iter().map(|&r| ResourcePattern::parse(RES_POOL[r]).unwrap()).collect();
                    // Only policies that can allow something are valid (`policy_grants_nothing`).
                    if p.shared {
                        if !perms.iter().any(|x| *x != Permission::CryptoServiceKeyUser) {
                            perms.push(Permission::SecretUser);
                        }
                        if !resources.iter().any(|r| matches!(r, ResourcePattern::Secret(_))) {
                            resources.push(ResourcePattern::parse("secret/s*").unwrap());
                        }
                    } else {
                        perms.retain(|x| *x != Permission::SecretUser);
                        if perms.is_empty() || policy_grants_nothing("kst-a", &perms, &resources).is_some() {
                            perms.push(Permission::CryptoServiceKeyUser);
                        }
                    }
                    Policy {
                        name: format!("p{i}"),
                        permissions: perms,
                        resources,
                        kms_instance: if p.shared { "shared".into() } else { "kst-a".into() },
                        access_control_rules: AccessControlRules {
                            network_rules: p.rules.iter().map(|r| format!("r{r}")).collect(),
                        },
                        description: None,
                    }
                })
                .collect();
            let mut ap: Vec<String> = aap_pols.into_iter().filter(|&i| i < n).map(|i| format!("p{i}")).collect();
            if ap.is_empty() {
                ap.push("p0".into());
            }
            let key = |id: &str, aliases: &[&str], st: usize| Key {
                key_id: id.into(),
                aliases: aliases.iter().map(|a| (*a).into()).collect(),
                key_spec: "Aliyun_AES_256".into(),
                key_state: STATES[st],
                key_versions: vec![],
            };
            Bundle {
                network_rules,
                policies,
                application_access_points: vec![ApplicationAccessPoint {
                    name: "aap".into(),
                    policies: ap,
                    authentication_method: AuthenticationMethod::ClientKey,
                    description: None,
                }],
                client_keys: vec![ClientKey {
                    client_key_id: "ck".into(),
                    aap_name: "aap".into(),
                    key_algorithm: ClientKeyAlgorithm::Rsa2048,
                    public_key_data: pem(),
                    not_before: 1000,
                    not_after: 2000,
                }],
                keys: vec![key("k1", &["alias/a1"], states[0]), key("k2", &[], states[1]), key("k10", &[], states[2])],
                secrets: vec![
                    Secret { secret_name: "s1".into(), encryption_key_id: "k1".into() },
                    Secret { secret_name: "s2".into(), encryption_key_id: "k2".into() },
                    Secret { secret_name: "a/x".into(), encryption_key_id: "k10".into() },
                ],
                gateway: None,
            }
        })
}

/// The reference: `(allowed, code, policy)`; codes of the request's endpoint (scope `shared`: the
/// KMS endpoint's).
fn naive(b: &Bundle, r: &AccessRequest<'_>, now: i64) -> (bool, Option<&'static str>, Option<String>) {
    let deny = |c: &'static str| (false, Some(c), None);
    let shared = r.scope == "shared";
    let Some(ck) = b.client_keys.iter().find(|k| k.client_key_id == r.client_key_id) else {
        return deny(if shared { "InvalidAccessKeyId.NotFound" } else { "Unauthorized" });
    };
    if now < ck.not_before || now > ck.not_after {
        return deny(if shared { "InvalidAccessKeyId.Inactive" } else { "Unauthorized" });
    }
    // The shared gateway serves a client key GetSecretValue only.
    if shared && r.api != Api::GetSecretValue {
        return deny("Forbidden.NoPermission");
    }
    let aap = b.application_access_points.iter().find(|a| a.name == ck.aap_name).unwrap();
    let pols: Vec<&Policy> = aap.policies.iter().map(|n| b.policies.iter().find(|p| &p.name == n).unwrap()).collect();
    let ip = canonical_ip(r.source_ip);
    let net_ok = |p: &Policy| {
        p.access_control_rules.network_rules.iter().any(|rn| {
            let rule = b.network_rules.iter().find(|x| &x.name == rn).unwrap();
            rule.source_private_ip.iter().any(|c| c.contains(ip))
        })
    };
    let key_match =
        |p: &Policy, id: &str| p.resources.iter().any(|x| matches!(x, ResourcePattern::Key(n) if n.matches(id)));
    let secret_match =
        |p: &Policy, name: &str| p.resources.iter().any(|x| matches!(x, ResourcePattern::Secret(n) if n.matches(name)));
    let passes = |p: &Policy, perms: &[Permission], res: &dyn Fn(&Policy) -> bool| {
        p.kms_instance == r.scope && perms.iter().any(|x| p.permissions.contains(x)) && res(p) && net_ok(p)
    };
    let ku = [Permission::CryptoServiceKeyUser];
    let state_code = |s: KeyState| match s {
        KeyState::Enabled => None,
        KeyState::Disabled => Some("Rejected.Disabled"),
        KeyState::PendingDeletion => Some("Rejected.PendingDeletion"),
        KeyState::PendingImport => Some("Rejected.PendingImport"),
    };
    match r.api {
        Api::GenerateRandom => match pols.iter().find(|p| passes(p, &ku, &|_| true)) {
            Some(p) => (true, None, Some(p.name.clone())),
            None => deny("Forbidden.NoPermission"),
        },
        Api::GetSecretValue => {
            let Some(name) = r.resource.filter(|n| !n.is_empty()) else { return deny("MissingParameter") };
            // In scope `shared` either secret template is SecretUser; in an instance, only
            // CryptoServiceSecretUser, plus key use on the secret's key.
            let roles: &[Permission] = if shared {
                &[Permission::SecretUser, Permission::CryptoServiceSecretUser]
            } else {
                &[Permission::CryptoServiceSecretUser]
            };
            let chosen = pols.iter().find(|p| passes(p, roles, &|p| secret_match(p, name)));
            let Some(p) = chosen else { return deny("Forbidden.NoPermission") };
            let Some(s) = b.secrets.iter().find(|s| s.secret_name == name) else {
                return deny("Forbidden.ResourceNotFound");
            };
            let k = b.keys.iter().find(|k| k.key_id == s.encryption_key_id).unwrap();
            if !shared && !pols.iter().any(|q| passes(q, &ku, &|q| key_match(q, &k.key_id))) {
                return deny("Forbidden.NoPermission");
            }
            match state_code(k.key_state) {
                Some(c) => deny(c),
                None => (true, None, Some(p.name.clone())),
            }
        }
        _ => {
            let Some(res) = r.resource else { return deny("MissingParameter") };
            let key = if res.starts_with("alias/") {
                match b.keys.iter().find(|k| k.aliases.iter().any(|a| a == res)) {
                    Some(k) => Some(k),
                    None => return deny("Forbidden.KeyNotFound"),
                }
            } else {
                b.keys.iter().find(|k| k.key_id == res)
            };
            let id = key.map_or(res, |k| k.key_id.as_str());
            let Some(p) = pols.iter().find(|p| passes(p, &ku, &|p| key_match(p, id))) else {
                return deny("Forbidden.NoPermission");
            };
            let Some(k) = key else { return deny("Forbidden.KeyNotFound") };
            match state_code(k.key_state) {
                Some(c) => deny(c),
                None => (true, None, Some(p.name.clone())),
            }
        }
    }
}

/// Requests against the generated bundles: (api, resource, source, scope, client key, now).
type GenRequest = (Api, Option<&'static str>, IpAddr, &'static str, &'static str, i64);

fn requests() -> impl Strategy<Value = Vec<GenRequest>> {
    proptest::collection::vec(
        (
            proptest::sample::select(Api::ALL.to_vec()),
            proptest::option::weighted(0.9, proptest::sample::select(REQ_RES.to_vec())),
            ip(),
            proptest::sample::select(vec!["kst-a", "shared", "kst-b"]),
            proptest::sample::select(vec!["ck", "ck", "ck", "nobody"]),
            proptest::sample::select(vec![500i64, 1000, 1500, 2000, 2001]),
        ),
        1..30,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn compiled_equals_naive(
        b in bundle(),
        reqs in requests(),
    ) {
        let c = b.compile().unwrap();
        for (api, res, ip, scope, ck, now) in reqs {
            let r = AccessRequest { client_key_id: ck, api, resource: res, source_ip: ip, scope };
            let d = decide(&c, &r, now);
            let (allowed, code, policy) = naive(&b, &r, now);
            prop_assert_eq!(d.allowed(), allowed, "{:?} → {}", r, d.message());
            prop_assert_eq!(d.error_code_str(), code, "{:?} → {}", r, d.message());
            prop_assert_eq!(d.policy().map(str::to_owned), policy, "{:?}", r);
            // Denials for policy reasons trace every policy of the AAP.
            if matches!(d.reason(), DenyReason::NoPermission { .. }) {
                prop_assert!(!d.trace().is_empty());
                prop_assert!(d.trace().iter().all(|t| t.failed_check().is_some()));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// The compact form decides as the JSON bundle it was written from: the whole decision (reason,
    /// policy, resource, key, traces), and it reads back to the same bytes.
    #[test]
    fn compact_form_decides_as_the_json(
        b in bundle(),
        reqs in requests(),
    ) {
        let json = compile_bundle(&b.to_json()).unwrap();
        let bytes = json.to_compact();
        let compact = CompiledBundle::from_compact(&bytes).unwrap();
        prop_assert_eq!(compact.to_compact(), bytes);
        for (api, res, ip, scope, ck, now) in reqs {
            let r = AccessRequest { client_key_id: ck, api, resource: res, source_ip: ip, scope };
            prop_assert_eq!(decide(&compact, &r, now).to_report(), decide(&json, &r, now).to_report(), "{:?}", r);
            prop_assert_eq!(
                impact::decide_by_version(&compact, &r, now),
                impact::decide_by_version(&json, &r, now),
                "{:?}", r
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// A bundle compiled over a previous bundle's catalogue (a gateway whose store reports the keys
    /// and secrets unchanged) decides as the whole bundle compiled from scratch, whatever changed in
    /// the access part: policies renamed, reordered, edited, added or dropped (the generator's
    /// policy names p0..p3 recur, so bits are carried over by name and recomputed on edits). So does
    /// a VM that loads the new compact form over the catalogue it holds.
    #[test]
    fn compiled_over_a_held_catalogue_decides_as_the_whole(
        before in bundle(),
        after in bundle(),
        reqs in requests(),
    ) {
        let mut cache = PublicKeyCache::default();
        let previous = before.clone().into_compiled_with(&mut cache).unwrap();
        let whole = Bundle { keys: before.keys.clone(), secrets: before.secrets.clone(), ..after.clone() };
        let whole = whole.compile().unwrap();
        let access = Bundle { keys: Vec::new(), secrets: Vec::new(), ..after };
        let over = access.into_compiled_over(&previous, &mut cache).unwrap();
        prop_assert!(over.shares_catalogue_with(&previous));
        prop_assert!(over.same_compiled(&whole));

        let held = CompiledBundle::from_compact(&previous.to_compact()).unwrap();
        let bytes = over.to_compact();
        let prefix = &bytes[..compact_prefix_len(&bytes).unwrap()];
        let loaded = CompiledBundle::from_compact_over(prefix, Some(&held)).unwrap();
        prop_assert!(loaded.shares_catalogue_with(&held));
        prop_assert_eq!(loaded.to_compact(), whole.to_compact());
        for (api, res, ip, scope, ck, now) in reqs {
            let r = AccessRequest { client_key_id: ck, api, resource: res, source_ip: ip, scope };
            prop_assert_eq!(decide(&over, &r, now).to_report(), decide(&whole, &r, now).to_report(), "{:?}", r);
            prop_assert_eq!(decide(&loaded, &r, now).to_report(), decide(&whole, &r, now).to_report(), "{:?}", r);
        }
    }
}
