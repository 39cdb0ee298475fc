//! Parameter checks. Each error names the parameter and the offending value.

use super::StoreError;

/// Longest resource name accepted (network rules, policies, AAPs).
pub const MAX_NAME_LEN: usize = 128;
/// Longest AAP name (RFC 5280 ub-common-name: it is the client-key certificate's CN).
pub const MAX_AAP_NAME_LEN: usize = 64;
// The AAP model's limits are policy-core's: the store refuses what the bundle would refuse.
pub use policy_core::limits::{
    MAX_CLIENT_KEYS_PER_AAP, MAX_NETWORK_RULES_PER_POLICY, MAX_POLICIES_PER_AAP, MAX_SOURCE_IPS_PER_RULE,
};
/// Resources in one policy.
pub const MAX_RESOURCES_PER_POLICY: usize = 1000;
/// Longest description.
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// Largest secret value (Alibaba's SecretData limit).
pub const MAX_SECRET_BYTES: usize = 30 * 1024;
/// Pending window of ScheduleKeyDeletion, in days.
pub const PENDING_WINDOW_DAYS: std::ops::RangeInclusive<i64> = 7..=366;

/// The permission templates a policy may grant.
pub const PERMISSION_TEMPLATES: [&str; 3] = [
    "RbacPermission/Template/CryptoServiceKeyUser",
    "RbacPermission/Template/CryptoServiceSecretUser",
    // Console-only in Alibaba; scope `shared`.
    "RbacPermission/Template/SecretUser",
];

/// A network-rule, policy or AAP name: 1..=128 of `A-Z a-z 0-9 _ - .`.
pub fn resource_name(param: &'static str, name: &str) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(StoreError::MissingParameter(param));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(StoreError::invalid(param, name, format!("longer than {MAX_NAME_LEN} characters")));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
        return Err(StoreError::invalid(param, name, "only letters, digits, `_`, `-` and `.` are allowed"));
    }
    Ok(())
}

pub fn description(desc: &str) -> Result<(), StoreError> {
    if desc.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(StoreError::invalid(
            "Description",
            shorten(desc),
            format!("longer than {MAX_DESCRIPTION_LEN} characters"),
        ));
    }
    Ok(())
}

/// One SourcePrivateIp entry: an IPv4/IPv6 address or CIDR, parsed by policy-core (the same
/// rules the bundle applies), wholly inside a private range (`Type=Private`; policy-core's
/// [`policy_core::PRIVATE_RANGES`]). Returns it in canonical text form.
pub fn ip_or_cidr(entry: &str) -> Result<String, StoreError> {
    let c = entry
        .parse::<policy_core::IpCidr>()
        .map_err(|e| StoreError::invalid("SourcePrivateIp", entry, e.to_string()))?;
    if !c.is_private() {
        return Err(StoreError::invalid(
            "SourcePrivateIp",
            entry,
            format!(
                "not a private address range; a Private network rule accepts only {}",
                policy_core::PRIVATE_RANGES.join(", ")
            ),
        ));
    }
    Ok(c.to_string())
}

pub fn source_private_ips(entries: &[String]) -> Result<Vec<String>, StoreError> {
    if entries.is_empty() {
        return Err(StoreError::invalid("SourcePrivateIp", "[]", "list at least one IP address or CIDR"));
    }
    if entries.len() > MAX_SOURCE_IPS_PER_RULE {
        return Err(StoreError::invalid(
            "SourcePrivateIp",
            format!("({} entries)", entries.len()),
            format!("a network rule holds at most {MAX_SOURCE_IPS_PER_RULE} addresses or CIDR blocks"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(entries.len());
    for e in entries {
        let c = ip_or_cidr(e.trim())?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

pub fn network_type(t: &str) -> Result<(), StoreError> {
    if t != "Private" {
        return Err(StoreError::invalid("Type", t, "only `Private` is supported"));
    }
    Ok(())
}

pub fn permissions(perms: &[String]) -> Result<(), StoreError> {
    if perms.is_empty() {
        return Err(StoreError::MissingParameter("Permissions"));
    }
    for p in perms {
        if !PERMISSION_TEMPLATES.contains(&p.as_str()) {
            return Err(StoreError::invalid(
                "Permissions",
                p,
                format!("not a permission template; expected one of {}", PERMISSION_TEMPLATES.join(", ")),
            ));
        }
    }
    Ok(())
}

/// `key/<id>`, `key/<prefix>*`, `secret/<name>`, `secret/<prefix>*` (`*` only as the last character).
pub fn resource(r: &str) -> Result<(), StoreError> {
    let bad = |reason: &str| StoreError::invalid("Resources", r, reason.to_owned());
    let rest = r
        .strip_prefix("key/")
        .or_else(|| r.strip_prefix("secret/"))
        .ok_or_else(|| bad("a resource must start with `key/` or `secret/`"))?;
    if rest.is_empty() {
        return Err(bad("the name after `/` is empty (use `*` for all)"));
    }
    if let Some(pos) = rest.find('*') {
        if pos + 1 != rest.len() {
            return Err(bad("`*` is allowed only as the last character"));
        }
    }
    if !rest.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("only visible ASCII characters are allowed"));
    }
    Ok(())
}

pub fn resources(rs: &[String]) -> Result<(), StoreError> {
    if rs.is_empty() {
        return Err(StoreError::MissingParameter("Resources"));
    }
    if rs.len() > MAX_RESOURCES_PER_POLICY {
        return Err(StoreError::LimitExceeded(format!(
            "Resources has {} entries; a policy holds at most {MAX_RESOURCES_PER_POLICY}",
            rs.len()
        )));
    }
    rs.iter().try_for_each(|r| resource(r))
}

/// `SecretUser` (all secrets through the shared gateway) only makes sense in scope `shared`.
pub fn permissions_for_scope(perms: &[String], scope: &str) -> Result<(), StoreError> {
    const SECRET_USER: &str = "RbacPermission/Template/SecretUser";
    if scope != "shared" && perms.iter().any(|p| p == SECRET_USER) {
        return Err(StoreError::invalid(
            "Permissions",
            SECRET_USER,
            format!("SecretUser is allowed only with KmsInstance `shared`, not {scope}"),
        ));
    }
    Ok(())
}

/// A policy that can never allow anything (policy-core's rule, the one the bundle parser applies too)
/// is refused at creation and update, naming the parameter to change and why.
pub fn policy_grants_something(scope: &str, perms: &[String], resources: &[String]) -> Result<(), StoreError> {
    match policy_core::policy_grants_nothing_str(scope, perms, resources) {
        None => Ok(()),
        Some(why) => {
            let (field, value) = match why.field() {
                "Resources" => ("Resources", shorten(&resources.join(","))),
                _ => ("Permissions", shorten(&perms.join(","))),
            };
            Err(StoreError::invalid(field, value, why.to_string()))
        }
    }
}

/// An AAP name is also the CN of its client keys' certificates: at most 64 characters.
pub fn aap_name(name: &str) -> Result<(), StoreError> {
    resource_name("Name", name)?;
    if name.len() > MAX_AAP_NAME_LEN {
        return Err(StoreError::invalid(
            "Name",
            name,
            format!("an AAP name has at most {MAX_AAP_NAME_LEN} characters"),
        ));
    }
    Ok(())
}

/// A policy scope: `kst-<id>` or `shared`.
pub fn scope(param: &'static str, s: &str) -> Result<(), StoreError> {
    if s == "shared" {
        return Ok(());
    }
    let ok = s.strip_prefix("kst-").is_some_and(|id| {
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if !ok {
        return Err(StoreError::invalid(param, s, "expected a KMS instance id `kst-...` or `shared`"));
    }
    Ok(())
}

/// AuthenticationMethod of an AAP: `ClientKey` (client keys sign the requests) or `RAMRole`
/// (callers hold temporary credentials of a RAM role bound to the AAP: `aapkit ram-role`).
pub fn authentication_method(m: &str) -> Result<(), StoreError> {
    match m {
        "ClientKey" | "RAMRole" => Ok(()),
        _ => Err(StoreError::invalid("AuthenticationMethod", m, "expected `ClientKey` or `RAMRole`")),
    }
}

/// `alias/<name>`: letters, digits, `_`, `-`, `/`; at most 255 characters; `alias/acs/` is reserved.
pub fn alias_name(a: &str) -> Result<(), StoreError> {
    let bad = |reason: &str| StoreError::invalid("AliasName", a, reason.to_owned());
    let rest = a.strip_prefix("alias/").ok_or_else(|| bad("an alias must start with `alias/`"))?;
    if rest.is_empty() || a.len() > 255 {
        return Err(bad("the name after `alias/` must be 1 to 249 characters"));
    }
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'/')) {
        return Err(bad("only letters, digits, `_`, `-` and `/` are allowed"));
    }
    if rest.starts_with("acs/") {
        return Err(bad("the prefix `alias/acs/` is reserved"));
    }
    Ok(())
}

/// Secret names: 1..=192 of letters, digits and `_ / + = . @ -`; `acs/` is reserved.
pub fn secret_name(n: &str) -> Result<(), StoreError> {
    let bad = |reason: &str| StoreError::invalid("SecretName", n, reason.to_owned());
    if n.is_empty() {
        return Err(StoreError::MissingParameter("SecretName"));
    }
    if n.len() > 192 {
        return Err(bad("longer than 192 characters"));
    }
    if !n.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'/' | b'+' | b'=' | b'.' | b'@' | b'-')) {
        return Err(bad("only letters, digits and `_ / + = . @ -` are allowed"));
    }
    if n.starts_with("acs/") {
        return Err(bad("the prefix `acs/` is reserved"));
    }
    Ok(())
}

/// Secret version ids and stage names: 1..=64 of letters, digits, `_ - .` (no `/`, which keeps the AAD
/// of a sealed value unambiguous).
pub fn version_label(param: &'static str, v: &str) -> Result<(), StoreError> {
    if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(StoreError::invalid(param, v, "expected 1 to 64 letters, digits, `_`, `-` or `.`"));
    }
    Ok(())
}

/// A region id like Alibaba's: `[a-z]{2,}-[a-z0-9-]+` (`cn-hangzhou`, `ap-southeast-1`), at most 64.
pub fn region_id(r: &str) -> Result<(), StoreError> {
    let ok = r.len() <= 64
        && r.split_once('-').is_some_and(|(head, tail)| {
            head.len() >= 2
                && head.bytes().all(|b| b.is_ascii_lowercase())
                && !tail.is_empty()
                && tail.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if !ok {
        return Err(StoreError::invalid("RegionId", shorten(r), "expected a region id like cn-hangzhou"));
    }
    Ok(())
}

/// Shortens long values quoted in error messages.
pub fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_entries() {
        for (input, ok) in [
            ("10.0.0.1", Some("10.0.0.1")),
            ("192.168.0.0/24", Some("192.168.0.0/24")),
            ("fd00::1", Some("fd00::1")),
            ("fd00::/8", Some("fd00::/8")),
            ("10.0.0.0/33", None),
            ("8.8.8.8", None),
            ("0.0.0.0/0", None),
            ("2001:db8::/32", None),
            ("127.0.0.1", Some("127.0.0.1")),
            ("fd00::/129", None),
            ("10.0.0.0/", None),
            ("10.0.0.0/+8", None),
            ("10.0.0", None),
            ("host.example", None),
            ("", None),
        ] {
            assert_eq!(ip_or_cidr(input).ok().as_deref(), ok, "{input}");
        }
    }

    #[test]
    fn resource_patterns() {
        for (r, ok) in [
            ("key/key-abc", true),
            ("key/*", true),
            ("key/a*", true),
            ("secret/acs/ram/user/x", true),
            ("secret/*", true),
            ("key/", false),
            ("key/*a", false),
            ("key/a**", false),
            ("keys/a", false),
            ("secret/a b", false),
        ] {
            assert_eq!(resource(r).is_ok(), ok, "{r}");
        }
    }

    #[test]
    fn scopes_and_names() {
        assert!(scope("KmsInstance", "shared").is_ok());
        assert!(scope("KmsInstance", "kst-hzz62ee817bvyyr5").is_ok());
        assert!(scope("KmsInstance", "kst-").is_err());
        assert!(scope("KmsInstance", "kst-a_b").is_err());
        assert!(aap_name(&"a".repeat(64)).is_ok());
        assert!(aap_name(&"a".repeat(65)).is_err());
        let su = vec!["RbacPermission/Template/SecretUser".to_string()];
        assert!(permissions_for_scope(&su, "shared").is_ok());
        assert!(permissions_for_scope(&su, "kst-a").is_err());
        assert!(scope("KmsInstance", "default").is_err());
        assert!(alias_name("alias/app").is_ok());
        assert!(alias_name("alias/").is_err());
        assert!(alias_name("app").is_err());
        assert!(alias_name("alias/acs/x").is_err());
        assert!(resource_name("Name", "rule_1.a-b").is_ok());
        assert!(resource_name("Name", "rule 1").is_err());
        for (r, ok) in [
            ("cn-hangzhou", true),
            ("ap-southeast-1", true),
            ("us-east-1", true),
            ("cn-", false),
            ("c-hangzhou", false),
            ("CN-hangzhou", false),
            ("cnhangzhou", false),
            ("cn-hang_zhou", false),
            ("", false),
        ] {
            assert_eq!(region_id(r).is_ok(), ok, "{r}");
        }
    }
}
