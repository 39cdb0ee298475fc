//! Scope and role semantics (`docs/bundle-format.md#scopes-and-roles`): what a policy of each scope
//! can grant, and the check that refuses a policy which can never allow anything.
//!
//! - A policy whose `KmsInstance` is a KMS instance (`kst-…`) is matched only by Instance API requests
//!   decided in that instance's scope: CryptoServiceKeyUser on `key/…` (and GenerateRandom),
//!   CryptoServiceSecretUser on `secret/…` (with key use on the secret's key).
//! - A policy whose `KmsInstance` is `shared` is matched only on the KMS endpoint (the shared
//!   gateway), where a client key may call GetSecretValue and nothing else. There the secret role is
//!   **SecretUser**, written `RbacPermission/Template/SecretUser` or
//!   `RbacPermission/Template/CryptoServiceSecretUser` (the only secret template CreatePolicy lists,
//!   so what the console and Terraform send); it covers the secret alone, without key use on its
//!   encryption key. CryptoServiceKeyUser and `key/…` resources grant nothing there.

use core::fmt;

use crate::bundle::model::ResourcePattern;
use crate::catalogue::Permission;

/// The scope of the shared gateway (the KMS endpoint), as `KmsInstance` and `Gateway.Scope` name it.
pub const SHARED_SCOPE: &str = "shared";

/// True for the shared gateway's scope.
pub fn is_shared_scope(scope: &str) -> bool {
    scope == SHARED_SCOPE
}

/// Why a policy can never allow a request (from [`policy_grants_nothing`]). `Display` is the
/// message for whoever wrote the policy; [`GrantsNothing::field`] names the field to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrantsNothing {
    /// A `shared` policy without a secret role: CryptoServiceKeyUser has no operation on the shared
    /// gateway.
    SharedWithoutSecretRole,
    /// A `shared` policy with a secret role but only `key/…` resources.
    SharedWithoutSecretResource,
    /// An instance policy whose only role is CryptoServiceSecretUser, with only `key/…` resources.
    SecretRoleWithoutSecretResource,
}

impl GrantsNothing {
    /// The policy field the reason is about: `Permissions` or `Resources`.
    pub const fn field(self) -> &'static str {
        match self {
            GrantsNothing::SharedWithoutSecretRole => "Permissions",
            GrantsNothing::SharedWithoutSecretResource | GrantsNothing::SecretRoleWithoutSecretResource => "Resources",
        }
    }
}

impl fmt::Display for GrantsNothing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GrantsNothing::SharedWithoutSecretRole => {
                "this policy can never allow anything: on the shared gateway (KmsInstance `shared`) a client key \
                 can only call GetSecretValue, which needs SecretUser (RbacPermission/Template/SecretUser or \
                 RbacPermission/Template/CryptoServiceSecretUser); CryptoServiceKeyUser grants nothing there"
            }
            GrantsNothing::SharedWithoutSecretResource => {
                "this policy can never allow anything: on the shared gateway (KmsInstance `shared`) only \
                 secrets are used, and its Resources list no `secret/…` entry (`key/…` entries match nothing there)"
            }
            GrantsNothing::SecretRoleWithoutSecretResource => {
                "this policy can never allow anything: its only role, CryptoServiceSecretUser, applies to \
                 `secret/…` resources and it lists only `key/…` (add the secrets, or CryptoServiceKeyUser for the keys)"
            }
        })
    }
}

impl std::error::Error for GrantsNothing {}

/// `None` when a policy of `scope` with these permissions and resources can allow some request;
/// otherwise why it never can. Empty lists and a SecretUser outside `shared` are reported by the
/// bundle validation itself, not here.
///
/// An instance policy with CryptoServiceKeyUser always grants something: GenerateRandom names no
/// resource, so it needs only key use in the scope (`docs/bundle-format.md`). An instance policy with
/// CryptoServiceSecretUser on `secret/…` alone is useful too: the key use GetSecretValue also needs
/// may come from another policy of the same AAP.
pub fn policy_grants_nothing(
    scope: &str,
    permissions: &[Permission],
    resources: &[ResourcePattern],
) -> Option<GrantsNothing> {
    let has = |p: Permission| permissions.contains(&p);
    let any_secret = resources.iter().any(|r| matches!(r, ResourcePattern::Secret(_)));
    if is_shared_scope(scope) {
        if !(has(Permission::SecretUser) || has(Permission::CryptoServiceSecretUser)) {
            return Some(GrantsNothing::SharedWithoutSecretRole);
        }
        if !any_secret {
            return Some(GrantsNothing::SharedWithoutSecretResource);
        }
        return None;
    }
    if !has(Permission::CryptoServiceKeyUser) && has(Permission::CryptoServiceSecretUser) && !any_secret {
        return Some(GrantsNothing::SecretRoleWithoutSecretResource);
    }
    None
}

/// The same check over the management API's strings (the store's input): permission templates and
/// resource patterns as sent. Entries that do not parse are ignored here; the caller reports them.
pub fn policy_grants_nothing_str<P: AsRef<str>, R: AsRef<str>>(
    scope: &str,
    permissions: &[P],
    resources: &[R],
) -> Option<GrantsNothing> {
    let perms: Vec<Permission> = permissions.iter().filter_map(|p| Permission::from_template(p.as_ref())).collect();
    let res: Vec<ResourcePattern> = resources.iter().filter_map(|r| ResourcePattern::parse(r.as_ref()).ok()).collect();
    policy_grants_nothing(scope, &perms, &res)
}

/// The permission bits a compiled policy of `scope` carries: in `shared`, either secret template
/// means SecretUser and key use means nothing; in an instance scope the templates as written.
pub(crate) fn effective_bits(scope: &str, permissions: &[Permission]) -> u8 {
    if is_shared_scope(scope) {
        let secret =
            permissions.iter().any(|p| matches!(p, Permission::SecretUser | Permission::CryptoServiceSecretUser));
        if secret {
            Permission::SecretUser.bit()
        } else {
            0
        }
    } else {
        permissions.iter().fold(0, |m, x| m | x.bit())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn res(list: &[&str]) -> Vec<ResourcePattern> {
        list.iter().map(|s| ResourcePattern::parse(s).unwrap()).collect()
    }

    #[test]
    fn shared_policies() {
        use Permission::*;
        let g = |p: &[Permission], r: &[&str]| policy_grants_nothing("shared", p, &res(r));
        assert_eq!(g(&[SecretUser], &["secret/*"]), None);
        assert_eq!(g(&[CryptoServiceSecretUser], &["secret/app/*"]), None);
        assert_eq!(g(&[CryptoServiceKeyUser, CryptoServiceSecretUser], &["secret/a", "key/*"]), None);
        assert_eq!(g(&[CryptoServiceKeyUser], &["secret/*"]), Some(GrantsNothing::SharedWithoutSecretRole));
        assert_eq!(g(&[CryptoServiceKeyUser], &["key/*"]), Some(GrantsNothing::SharedWithoutSecretRole));
        assert_eq!(g(&[SecretUser], &["key/*", "key/k1"]), Some(GrantsNothing::SharedWithoutSecretResource));
        assert_eq!(GrantsNothing::SharedWithoutSecretRole.field(), "Permissions");
        assert_eq!(GrantsNothing::SharedWithoutSecretResource.field(), "Resources");
    }

    #[test]
    fn instance_policies() {
        use Permission::*;
        let g = |p: &[Permission], r: &[&str]| policy_grants_nothing("kst-a", p, &res(r));
        assert_eq!(g(&[CryptoServiceKeyUser], &["key/*"]), None);
        // GenerateRandom needs key use in the scope only.
        assert_eq!(g(&[CryptoServiceKeyUser], &["secret/*"]), None);
        // The key use may come from another policy of the AAP.
        assert_eq!(g(&[CryptoServiceSecretUser], &["secret/*"]), None);
        assert_eq!(g(&[CryptoServiceSecretUser], &["key/k"]), Some(GrantsNothing::SecretRoleWithoutSecretResource));
        assert_eq!(g(&[CryptoServiceSecretUser, CryptoServiceKeyUser], &["key/k"]), None);
    }

    #[test]
    fn strings() {
        let p = ["RbacPermission/Template/CryptoServiceKeyUser"];
        assert_eq!(policy_grants_nothing_str("shared", &p, &["key/*"]), Some(GrantsNothing::SharedWithoutSecretRole));
        let p = ["RbacPermission/Template/CryptoServiceSecretUser".to_string()];
        assert_eq!(policy_grants_nothing_str("shared", &p, &["secret/db/*".to_string()]), None);
        assert!(GrantsNothing::SharedWithoutSecretRole.to_string().contains("never allow anything"));
    }

    #[test]
    fn bits() {
        use Permission::*;
        assert_eq!(effective_bits("shared", &[CryptoServiceSecretUser]), SecretUser.bit());
        assert_eq!(effective_bits("shared", &[CryptoServiceKeyUser]), 0);
        assert_eq!(effective_bits("kst-a", &[CryptoServiceKeyUser, CryptoServiceSecretUser]), 3);
    }
}
