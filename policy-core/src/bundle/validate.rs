//! Semantic checks on a typed bundle: names, limits, duplicates and references. Runs on parsed
//! documents and on bundles the host builds in code (via `Bundle::compile`).

use rustc_hash::FxHashMap as HashMap;

use super::error::{json_str, BundleError};
use super::hints::{Hints, Kind};
use super::model::{limits::*, *};
use crate::catalogue::Permission;
use crate::scope::policy_grants_nothing;

fn json_list(items: impl Iterator<Item = String>) -> String {
    serde_json::to_string(&items.collect::<Vec<_>>()).unwrap_or_default()
}

/// A place in a list: the item's index, and the index within the item's own list (0 if none).
type At = (usize, usize);

struct V<'h> {
    errors: Vec<BundleError>,
    hints: &'h Hints,
}

impl V<'_> {
    fn err(&mut self, path: String, value: String, message: impl Into<String>) {
        if !self.hints.is_broken(&path) {
            self.errors.push(BundleError::new(path, value, message));
        }
    }

    /// A name or id: 1..=256 visible ASCII characters (names travel in HTTP headers). Paths are
    /// written only for an error: a bundle of 100,000 keys would otherwise format a few hundred
    /// thousand of them to find none wrong.
    fn name(&mut self, path: impl FnOnce() -> String, s: &str, what: &str) -> bool {
        if s.is_empty() {
            self.err(path(), json_str(s), format!("{what} must not be empty"));
            false
        } else if s.len() > MAX_NAME_LEN {
            self.err(path(), json_str(s), format!("{what} is longer than {MAX_NAME_LEN} characters"));
            false
        } else if !s.bytes().all(|b| b.is_ascii_graphic()) {
            self.err(path(), json_str(s), format!("{what} may contain only visible ASCII characters (no spaces)"));
            false
        } else {
            true
        }
    }

    /// Records `name`, found at `at`, in `seen`, reporting a duplicate; `path` writes the JSON path
    /// of a place.
    fn unique<'a>(
        &mut self,
        seen: &mut HashMap<&'a str, At>,
        name: &'a str,
        at: At,
        path: impl Fn(At) -> String,
        what: &str,
    ) {
        if name.is_empty() {
            return;
        }
        match seen.get(name) {
            Some(&first) => {
                let msg = format!("duplicate {what} `{name}` (first defined at {})", path(first));
                self.err(path(at), json_str(name), msg);
            }
            None => {
                seen.insert(name, at);
            }
        }
    }

    fn reference(
        &mut self,
        kind: Kind,
        known: &HashMap<&str, At>,
        name: &str,
        path: impl FnOnce() -> String,
        what: &str,
    ) {
        if !name.is_empty() && !known.contains_key(name) && !self.hints.incomplete.contains(&kind) {
            self.err(path(), json_str(name), format!("unknown {what} `{name}`"));
        }
    }
}

/// True for `shared` or `kst-` followed by letters, digits, `-` or `*`.
pub(crate) fn valid_scope(s: &str) -> bool {
    s == "shared"
        || s.strip_prefix("kst-").is_some_and(|r| {
            !r.is_empty() && r.len() <= 64 && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*')
        })
}

/// Client key ids: `KAAP.<uuid>` in practice; any 1..=128 of `[A-Za-z0-9._-]` is accepted
/// (the SDK's unit-test key is `key_for_unit_test`).
pub(crate) fn valid_client_key_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub(crate) fn validate_into(b: &Bundle, hints: &Hints, out: &mut Vec<BundleError>) {
    let mut v = V { errors: Vec::new(), hints };

    let mut rules = HashMap::default();
    for (i, r) in b.network_rules.iter().enumerate() {
        let p = format!("$.NetworkRules[{i}]");
        if v.name(|| format!("{p}.Name"), &r.name, "a network rule name") {
            v.unique(&mut rules, &r.name, (i, 0), |(i, _)| format!("$.NetworkRules[{i}].Name"), "network rule name");
        }
        let n = r.source_private_ip.len();
        if n == 0 {
            v.err(format!("{p}.SourcePrivateIp"), "[]".into(), "a network rule needs at least one IP or CIDR block");
        } else if n > MAX_SOURCE_IPS_PER_RULE {
            v.err(
                format!("{p}.SourcePrivateIp"),
                format!("[{n} entries]"),
                format!("at most {MAX_SOURCE_IPS_PER_RULE} IPs or CIDR blocks per network rule, found {n}"),
            );
        }
    }

    let mut policies = HashMap::default();
    for (i, pol) in b.policies.iter().enumerate() {
        let p = format!("$.Policies[{i}]");
        if v.name(|| format!("{p}.Name"), &pol.name, "a policy name") {
            v.unique(&mut policies, &pol.name, (i, 0), |(i, _)| format!("$.Policies[{i}].Name"), "policy name");
        }
        if pol.permissions.is_empty() {
            v.err(format!("{p}.Permissions"), "[]".into(), "a policy needs at least one permission");
        }
        if pol.resources.is_empty() {
            v.err(format!("{p}.Resources"), "[]".into(), "a policy needs at least one resource");
        }
        if !valid_scope(&pol.kms_instance) {
            v.err(
                format!("{p}.KmsInstance"),
                json_str(&pol.kms_instance),
                "expected a KMS instance id (`kst-...`) or `shared`",
            );
        } else if let Some(j) =
            pol.permissions.iter().position(|x| *x == Permission::SecretUser).filter(|_| pol.kms_instance != "shared")
        {
            v.err(
                format!("{p}.Permissions[{j}]"),
                json_str(Permission::SecretUser.template()),
                "SecretUser applies only to the shared gateway (KmsInstance `shared`)",
            );
        } else if !pol.permissions.is_empty() && !pol.resources.is_empty() {
            // A list with an item that did not parse is partial: judging it would add a follow-up error.
            let complete =
                !v.hints.is_broken(&format!("{p}.Permissions")) && !v.hints.is_broken(&format!("{p}.Resources"));
            let why = complete.then(|| policy_grants_nothing(&pol.kms_instance, &pol.permissions, &pol.resources));
            if let Some(why) = why.flatten() {
                let field = why.field();
                let value = if field == "Permissions" {
                    json_list(pol.permissions.iter().map(|x| x.template().to_owned()))
                } else {
                    json_list(pol.resources.iter().map(ToString::to_string))
                };
                v.err(format!("{p}.{field}"), value, why.to_string());
            }
        }
        let nr = &pol.access_control_rules.network_rules;
        let np = format!("{p}.AccessControlRules.NetworkRules");
        if nr.len() > MAX_NETWORK_RULES_PER_POLICY {
            v.err(
                np.clone(),
                format!("[{} entries]", nr.len()),
                format!("at most {MAX_NETWORK_RULES_PER_POLICY} network rules per policy, found {}", nr.len()),
            );
        }
        for (j, name) in nr.iter().enumerate() {
            v.reference(Kind::NetworkRule, &rules, name, || format!("{np}[{j}]"), "network rule");
        }
    }

    let mut aaps = HashMap::default();
    for (i, a) in b.application_access_points.iter().enumerate() {
        let p = format!("$.ApplicationAccessPoints[{i}]");
        if v.name(|| format!("{p}.Name"), &a.name, "an AAP name") {
            v.unique(&mut aaps, &a.name, (i, 0), |(i, _)| format!("$.ApplicationAccessPoints[{i}].Name"), "AAP name");
        }
        let n = a.policies.len();
        if n == 0 {
            v.err(format!("{p}.Policies"), "[]".into(), "an AAP needs at least one policy");
        } else if n > MAX_POLICIES_PER_AAP {
            v.err(
                format!("{p}.Policies"),
                format!("[{n} entries]"),
                format!("at most {MAX_POLICIES_PER_AAP} policies per AAP, found {n}"),
            );
        }
        let mut seen = HashMap::default();
        for (j, name) in a.policies.iter().enumerate() {
            v.unique(
                &mut seen,
                name,
                (i, j),
                |(i, j)| format!("$.ApplicationAccessPoints[{i}].Policies[{j}]"),
                "policy in this AAP",
            );
            v.reference(Kind::Policy, &policies, name, || format!("{p}.Policies[{j}]"), "policy");
        }
    }

    let mut cks = HashMap::default();
    let mut per_aap: HashMap<&str, usize> = HashMap::default();
    // The first AAP of each name, as a lookup.
    let mut auth: HashMap<&str, AuthenticationMethod> = HashMap::default();
    for a in &b.application_access_points {
        auth.entry(a.name.as_str()).or_insert(a.authentication_method);
    }
    for (i, k) in b.client_keys.iter().enumerate() {
        let p = |field: &str| format!("$.ClientKeys[{i}].{field}");
        if !valid_client_key_id(&k.client_key_id) {
            v.err(
                p("ClientKeyId"),
                json_str(&k.client_key_id),
                "a client key id is 1 to 128 of letters, digits, `.`, `_`, `-` (e.g. `KAAP.<uuid>`)",
            );
        } else {
            v.unique(
                &mut cks,
                &k.client_key_id,
                (i, 0),
                |(i, _)| format!("$.ClientKeys[{i}].ClientKeyId"),
                "client key id",
            );
        }
        v.reference(Kind::Aap, &aaps, &k.aap_name, || p("AapName"), "AAP");
        if auth.get(k.aap_name.as_str()).is_some_and(|m| *m != AuthenticationMethod::ClientKey) {
            v.err(
                p("AapName"),
                json_str(&k.aap_name),
                "the AAP's AuthenticationMethod is RAMRole; client keys need ClientKey",
            );
        }
        let count = per_aap.entry(k.aap_name.as_str()).or_insert(0);
        *count += 1;
        if *count == MAX_CLIENT_KEYS_PER_AAP + 1 {
            v.err(
                p("AapName"),
                json_str(&k.aap_name),
                format!("at most {MAX_CLIENT_KEYS_PER_AAP} client keys per AAP"),
            );
        }
        if k.public_key_data.trim().is_empty() {
            v.err(p("PublicKeyData"), "\"\"".into(), "PublicKeyData must hold a PEM certificate or public key");
        }
        if k.not_before >= k.not_after {
            v.err(
                p("NotAfter"),
                json_str(&crate::time::format_iso8601(k.not_after)),
                "NotAfter must be later than NotBefore",
            );
        }
    }

    let mut keys = HashMap::default();
    let mut aliases = HashMap::default();
    let mut versions = HashMap::default();
    for (i, k) in b.keys.iter().enumerate() {
        let p = |field: &str| format!("$.Keys[{i}].{field}");
        if v.name(|| p("KeyId"), &k.key_id, "a key id") {
            if k.key_id.starts_with("alias/") {
                v.err(p("KeyId"), json_str(&k.key_id), "a key id must not start with `alias/`");
            }
            v.unique(&mut keys, &k.key_id, (i, 0), |(i, _)| format!("$.Keys[{i}].KeyId"), "key id");
        }
        for (j, a) in k.aliases.iter().enumerate() {
            let ap = || format!("$.Keys[{i}].Aliases[{j}]");
            if !a.starts_with("alias/") || a.len() <= "alias/".len() {
                v.err(ap(), json_str(a), "an alias is `alias/` followed by a name");
            } else if v.name(ap, a, "an alias") {
                v.unique(&mut aliases, a, (i, j), |(i, j)| format!("$.Keys[{i}].Aliases[{j}]"), "alias");
            }
        }
        if !KEY_SPECS.contains(&k.key_spec.as_str()) {
            let list = KEY_SPECS.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
            v.err(p("KeySpec"), json_str(&k.key_spec), format!("unknown key spec, expected one of {list}"));
        }
        for (j, ver) in k.key_versions.iter().enumerate() {
            if ver.len() != crate::blob::KEY_VERSION_ID_LEN || !ver.bytes().all(|c| c.is_ascii_graphic()) {
                v.err(
                    format!("$.Keys[{i}].KeyVersions[{j}]"),
                    json_str(ver),
                    "a key version id is 36 visible ASCII characters (a UUID)",
                );
            } else {
                v.unique(
                    &mut versions,
                    ver,
                    (i, j),
                    |(i, j)| format!("$.Keys[{i}].KeyVersions[{j}]"),
                    "key version id",
                );
            }
        }
    }

    let mut secrets = HashMap::default();
    for (i, s) in b.secrets.iter().enumerate() {
        let p = |field: &str| format!("$.Secrets[{i}].{field}");
        if v.name(|| p("SecretName"), &s.secret_name, "a secret name") {
            v.unique(
                &mut secrets,
                &s.secret_name,
                (i, 0),
                |(i, _)| format!("$.Secrets[{i}].SecretName"),
                "secret name",
            );
        }
        v.reference(Kind::Key, &keys, &s.encryption_key_id, || p("EncryptionKeyId"), "key id");
    }

    if let Some(g) = &b.gateway {
        if !valid_scope(&g.scope) {
            v.err("$.Gateway.Scope".into(), json_str(&g.scope), "expected a KMS instance id (`kst-...`) or `shared`");
        }
        if g.max_skew_seconds == 0 || g.max_skew_seconds > 86_400 {
            v.err(
                "$.Gateway.MaxSkewSeconds".into(),
                g.max_skew_seconds.to_string(),
                "expected an integer number of seconds from 1 to 86400",
            );
        }
    }
    out.append(&mut v.errors);
}
