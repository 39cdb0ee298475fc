//! `policy_core::impact::diff_bundles` against brute force: for random pairs of bundles over a
//! shared universe of names, addresses and times, and random requests, a request's decision
//! changes between the two bundles if and only if it falls in a region the diff reports (both
//! directions), and every region's example request does change. IPv4 and IPv6, prefix patterns,
//! aliases, secrets with `/`, validity windows and both scopes are in the universe.

use std::net::IpAddr;

use policy_core::impact::{decide_by_version, diff_bundles, Outcome, Verdict};
use policy_core::{
    compile_bundle, decide, decide_ram_role_session, parse_iso8601, AccessRequest, Api, CompiledBundle, Decision,
    Endpoint, PeerAddr,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn certificate(i: usize) -> String {
    let b: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{ROOT}/policy-core/tests/data/example-bundle.json")).unwrap(),
    )
    .unwrap();
    b["ClientKeys"][i % 4]["PublicKeyData"].as_str().unwrap().to_owned()
}

const CIDRS: [&str; 8] = [
    "10.0.0.0/8",
    "10.20.0.0/16",
    "10.20.3.0/24",
    "192.168.1.0/24",
    "192.168.1.128/25",
    "fd00::/8",
    "fd00:1::/32",
    "172.16.5.5",
];
const KEY_PATTERNS: [&str; 6] = ["key/k1", "key/k*", "key/*", "key/kx", "key/a*", "key/al*"];
const SECRET_PATTERNS: [&str; 6] =
    ["secret/app/*", "secret/app/db", "secret/a*", "secret/*", "secret/b/c", "secret/app/d*"];
const TIMES: [&str; 4] =
    ["2020-01-01T00:00:00Z", "2022-01-01T00:00:00Z", "2024-01-01T00:00:00Z", "2030-01-01T00:00:00Z"];
const KEY_USER: &str = "RbacPermission/Template/CryptoServiceKeyUser";
const SECRET_USER: &str = "RbacPermission/Template/CryptoServiceSecretUser";

/// One bundle from choices over the universe.
#[derive(Debug, Clone)]
struct Spec {
    rules: Vec<Vec<usize>>,
    policies: Vec<(bool, bool, Vec<usize>, Vec<usize>, bool, Vec<usize>)>,
    aaps: Vec<Vec<usize>>,
    ram_aap: Vec<usize>,
    client_keys: Vec<(usize, usize, usize, usize)>,
    key_states: Vec<bool>,
    alias_to: usize,
    secrets_under: Vec<usize>,
}

fn spec() -> impl Strategy<Value = Spec> {
    let rules = prop::collection::vec(prop::collection::vec(0..CIDRS.len(), 1..3), 3);
    let policy = (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(0..KEY_PATTERNS.len(), 0..3),
        prop::collection::vec(0..SECRET_PATTERNS.len(), 0..3),
        any::<bool>(),
        prop::collection::vec(0..3usize, 1..3),
    );
    (
        rules,
        prop::collection::vec(policy, 1..5),
        prop::collection::vec(prop::collection::vec(0..4usize, 1..3), 2),
        prop::collection::vec(0..4usize, 1..3),
        prop::collection::vec((0..2usize, 0..TIMES.len(), 0..TIMES.len(), 0..2usize), 1..4),
        prop::collection::vec(any::<bool>(), 3),
        0..2usize,
        prop::collection::vec(0..3usize, 3),
    )
        .prop_map(|(rules, policies, aaps, ram_aap, client_keys, key_states, alias_to, secrets_under)| Spec {
            rules,
            policies,
            aaps,
            ram_aap,
            client_keys,
            key_states,
            alias_to,
            secrets_under,
        })
}

const KEYS: [&str; 3] = ["k1", "k2", "kx"];

/// The key version of a key of the universe (a UUID, as the bundle requires); `none`'s is in no bundle.
fn version_of(key: &str) -> &'static str {
    match key {
        "k1" => "11111111-1111-4111-8111-000000000001",
        "k2" => "11111111-1111-4111-8111-000000000002",
        "kx" => "11111111-1111-4111-8111-00000000000a",
        _ => "11111111-1111-4111-8111-0000000000ff",
    }
}
const SECRETS: [&str; 3] = ["app/db", "app/x", "b/c"];

fn bundle(s: &Spec) -> Option<CompiledBundle> {
    let rules: Vec<Value> = s
        .rules
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut ips: Vec<&str> = c.iter().map(|&j| CIDRS[j]).collect();
            ips.sort_unstable();
            ips.dedup();
            json!({"Name": format!("r{i}"), "Type": "Private", "SourcePrivateIp": ips})
        })
        .collect();
    let mut policies = Vec::new();
    for (i, (ku, su, keys, secrets, shared, rs)) in s.policies.iter().enumerate() {
        let mut perms = Vec::new();
        if *ku {
            perms.push(KEY_USER);
        }
        // Only policies that can allow something are valid: the shared ones need SecretUser, and
        // every one gets a secret pattern.
        if *su || *shared || perms.is_empty() {
            perms.push(SECRET_USER);
        }
        let mut res: Vec<&str> =
            keys.iter().map(|&k| KEY_PATTERNS[k]).chain(secrets.iter().map(|&k| SECRET_PATTERNS[k])).collect();
        if secrets.is_empty() {
            res.push(SECRET_PATTERNS[i % SECRET_PATTERNS.len()]);
        }
        res.sort_unstable();
        res.dedup();
        let mut rs: Vec<String> = rs.iter().map(|r| format!("r{r}")).collect();
        rs.sort_unstable();
        rs.dedup();
        policies.push(json!({
            "Name": format!("p{i}"), "Permissions": perms, "Resources": res,
            "KmsInstance": if *shared { "shared" } else { "kst-a" },
            "AccessControlRules": {"NetworkRules": rs}
        }));
    }
    let n = policies.len();
    let aap = |name: &str, ps: &[usize], method: &str| {
        let mut names: Vec<String> = ps.iter().map(|p| format!("p{}", p % n)).collect();
        names.sort_unstable();
        names.dedup();
        json!({"Name": name, "Policies": names, "AuthenticationMethod": method})
    };
    let aaps =
        vec![aap("a0", &s.aaps[0], "ClientKey"), aap("a1", &s.aaps[1], "ClientKey"), aap("ra", &s.ram_aap, "RAMRole")];
    let client_keys: Vec<Value> = s
        .client_keys
        .iter()
        .enumerate()
        .map(|(i, &(a, nb, na, cert))| {
            // NotAfter must be later than NotBefore.
            let (nb, na) = match (nb.min(na), nb.max(na)) {
                (a, b) if a == b && b + 1 < TIMES.len() => (a, b + 1),
                (a, b) if a == b => (a - 1, b),
                other => other,
            };
            json!({"ClientKeyId": format!("ck{i}"), "AapName": format!("a{a}"), "KeyAlgorithm": "RSA_2048",
                   "PublicKeyData": certificate(cert), "NotBefore": TIMES[nb], "NotAfter": TIMES[na]})
        })
        .collect();
    let keys: Vec<Value> = KEYS
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut key = json!({"KeyId": k, "KeySpec": "Aliyun_AES_256",
                                 "KeyState": if s.key_states[i] { "Enabled" } else { "Disabled" }});
            // Key versions: each key's own, and kx's second version sometimes missing (a version
            // added or removed between the bundles).
            let mut versions = vec![version_of(k).to_owned()];
            if *k == "kx" && s.alias_to == 0 {
                versions.pop();
            }
            key["KeyVersions"] = json!(versions);
            if i == s.alias_to {
                key["Aliases"] = json!(["alias/a"]);
            }
            key
        })
        .collect();
    let secrets: Vec<Value> = SECRETS
        .iter()
        .zip(&s.secrets_under)
        .map(|(name, &k)| json!({"SecretName": name, "EncryptionKeyId": KEYS[k]}))
        .collect();
    let doc = json!({
        "NetworkRules": rules, "Policies": policies, "ApplicationAccessPoints": aaps,
        "ClientKeys": client_keys, "Keys": keys, "Secrets": secrets,
        "Gateway": {"Scope": "kst-a", "MaxSkewSeconds": 900}
    });
    match compile_bundle(&doc.to_string()) {
        Ok(b) => Some(b),
        Err(e) => {
            if std::env::var_os("IMPACT_STATS").is_some() {
                for m in e.errors() {
                    eprintln!("impact skip: {m}");
                }
            }
            None
        }
    }
}

const IPS: [&str; 10] = [
    "10.1.2.3",
    "10.20.0.1",
    "10.20.3.9",
    "192.168.1.5",
    "192.168.1.200",
    "172.16.5.5",
    "8.8.8.8",
    "fd00::1",
    "fd00:1::9",
    "2001:db8::1",
];
const RESOURCES: [Option<&str>; 13] = [
    Some("k1"),
    Some("k2"),
    Some("kx"),
    Some("kz"),
    Some("alias/a"),
    Some("alias/zz"),
    Some("ab"),
    Some("app/db"),
    Some("app/x"),
    Some("app/dz"),
    Some("b/c"),
    Some("zzz"),
    None,
];
const APIS: [Api; 4] = [Api::Encrypt, Api::Decrypt, Api::GetSecretValue, Api::GenerateRandom];
const REQUEST_TIMES: [&str; 6] = [
    "2019-06-01T00:00:00Z",
    "2020-01-01T00:00:00Z",
    "2021-06-01T00:00:00Z",
    "2024-01-01T00:00:01Z",
    "2030-01-01T00:00:00Z",
    "2031-01-01T00:00:00Z",
];

fn outcome(d: &Decision<'_>) -> Outcome {
    if d.allowed() {
        return Outcome::Allow;
    }
    let code = match d.endpoint() {
        Endpoint::Kms => d.openapi_code().map(|c| c.as_str()),
        Endpoint::Instance => d.code().map(|c| c.as_str()),
    };
    Outcome::Deny(code.unwrap_or("InternalFailure"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_decision_changes_exactly_in_the_reported_regions(old in spec(), new in spec()) {
        // The generator makes only valid bundles: a pair that does not compile is a bug in it (and
        // skipping would let the property pass on nothing).
        let (Some(old), Some(new)) = (bundle(&old), bundle(&new)) else {
            prop_assert!(false, "the generator made an invalid bundle (run with IMPACT_STATS=1)");
            return Ok(());
        };
        let report = diff_bundles(&old, &new);
        if std::env::var_os("IMPACT_STATS").is_some() {
            eprintln!("impact stats: {} regions, {} notes", report.changes.len(), report.notes.len());
        }
        // Every region's example request changes as reported.
        for c in &report.changes {
            let e = &c.example;
            if let Some(api) = Api::from_name(&e.api).filter(|_| e.caller.starts_with("ck")) {
                let r = AccessRequest { client_key_id: &e.caller, api, resource: e.resource.as_deref(),
                                        source_ip: e.source_ip, scope: &e.scope };
                let now = parse_iso8601(&e.time).unwrap();
                if c.operation == policy_core::impact::OperationClass::KeyByVersion {
                    prop_assert_eq!(decide_by_version(&old, &r, now), c.before);
                    prop_assert_eq!(decide_by_version(&new, &r, now), c.after);
                } else {
                    prop_assert_eq!(outcome(&decide(&old, &r, now)), c.before);
                    prop_assert_eq!(outcome(&decide(&new, &r, now)), c.after);
                }
            }
        }
        let mut changed_any = false;
        for ck in ["ck0", "ck1", "ck2", "ck9"] {
            for api in APIS {
                for resource in RESOURCES {
                    for ip in IPS {
                        for scope in ["kst-a", "shared"] {
                            for t in REQUEST_TIMES {
                                let now = parse_iso8601(t).unwrap();
                                let ip: IpAddr = ip.parse().unwrap();
                                let r = AccessRequest { client_key_id: ck, api, resource, source_ip: ip, scope };
                                let (before, after) = (outcome(&decide(&old, &r, now)), outcome(&decide(&new, &r, now)));
                                let region = report.covering(&r, now);
                                prop_assert_eq!(before != after, region.is_some(), "{:?} at {}: {:?} -> {:?}, region {:?}",
                                                r, t, before, after, region);
                                if let Some(region) = region {
                                    prop_assert_eq!((region.before, region.after), (before, after));
                                    changed_any = true;
                                    if after == Outcome::Allow {
                                        prop_assert_eq!(report.verdict, Verdict::Widening);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        // Decrypts that name a key version in their blob, known to either bundle or to neither.
        for ck in ["ck0", "ck1", "ck9"] {
            for version in [Some(version_of("k1")), Some(version_of("k2")), Some(version_of("kx")), Some(version_of("none"))] {
                for ip in IPS {
                    for t in REQUEST_TIMES {
                        let now = parse_iso8601(t).unwrap();
                        let ip: IpAddr = ip.parse().unwrap();
                        let r = AccessRequest { client_key_id: ck, api: Api::Decrypt, resource: version, source_ip: ip, scope: "kst-a" };
                        let (before, after) = (decide_by_version(&old, &r, now), decide_by_version(&new, &r, now));
                        let region = report.covering_version(&r, now);
                        prop_assert_eq!(before != after, region.is_some(), "{:?} at {}: {:?} -> {:?}, region {:?}",
                                        r, t, before, after, region);
                        if let Some(region) = region {
                            prop_assert_eq!((region.before, region.after), (before, after));
                            changed_any = true;
                        }
                    }
                }
            }
        }
        // RAM-role sessions of the AAP `ra` (GetSecretValue on the KMS endpoint).
        for resource in RESOURCES.iter().flatten() {
            for ip in IPS {
                let ip: IpAddr = ip.parse().unwrap();
                let peer = PeerAddr { ip, forwarded_for: None };
                let (before, after) = (outcome(&decide_ram_role_session(&old, "ra", resource, peer)),
                                       outcome(&decide_ram_role_session(&new, "ra", resource, peer)));
                let region = report.covering_session("ra", resource, ip);
                prop_assert_eq!(before != after, region.is_some(), "session {} from {}: {:?} -> {:?}, region {:?}",
                                resource, ip, before, after, region);
                if let Some(region) = region {
                    prop_assert_eq!((region.before, region.after), (before, after));
                    changed_any = true;
                }
            }
        }
        if !changed_any && report.changes.is_empty() && report.notes.is_empty() {
            prop_assert_eq!(report.verdict, Verdict::NoChange);
        }
    }
}

#[test]
fn identical_bundles_have_no_change() {
    let text = std::fs::read_to_string(format!("{ROOT}/policy-core/tests/data/example-bundle.json")).unwrap();
    let b = compile_bundle(&text).unwrap();
    let report = diff_bundles(&b, &compile_bundle(&text).unwrap());
    assert!(report.changes.is_empty(), "{}", policy_core::impact::format_report(&report));
    assert_eq!(report.verdict, Verdict::NoChange);
}
