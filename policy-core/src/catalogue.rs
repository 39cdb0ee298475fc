//! The operation catalogue: every Instance API operation, the role it needs, the resource it acts
//! on and its QPS group (`docs/protocol.md#instance-api-operations` and
//! `docs/protocol.md#qps-quotas`).

use core::fmt;

/// An Instance API operation (value of `x-kms-apiname`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Api {
    Encrypt,
    Decrypt,
    AdvanceEncrypt,
    AdvanceDecrypt,
    GenerateDataKey,
    AdvanceGenerateDataKey,
    GenerateDataKeyPair,
    GenerateDataKeyPairWithoutPlaintext,
    AdvanceGenerateDataKeyPair,
    AdvanceGenerateDataKeyPairWithoutPlaintext,
    Sign,
    Verify,
    GetPublicKey,
    GetSecretValue,
    GenerateRandom,
    /// Historic (Java SDK 2021-10 to 2023-05); kept so old clients get a policy decision.
    Hmac,
}

/// A permission template of a policy (`RbacPermission/Template/<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Permission {
    /// Use of keys in a KMS instance.
    CryptoServiceKeyUser,
    /// Use of secrets in a KMS instance.
    CryptoServiceSecretUser,
    /// Use of all secrets through the shared gateway (scope `shared`).
    SecretUser,
}

/// What kind of resource an operation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// A key (KeyId or `alias/...`).
    Key,
    /// A secret (SecretName).
    Secret,
    /// No resource (GenerateRandom).
    None,
}

/// The operation groups of the instance QPS quota (`docs/protocol.md#qps-quotas`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QpsGroup {
    Symmetric,
    Asymmetric,
    GetPublicKey,
    GetSecretValue,
    GenerateRandom,
    DataKeyPair,
}

impl Api {
    /// All operations, the 15 current ones first, then Hmac.
    pub const ALL: [Api; 16] = [
        Api::Encrypt,
        Api::Decrypt,
        Api::AdvanceEncrypt,
        Api::AdvanceDecrypt,
        Api::GenerateDataKey,
        Api::AdvanceGenerateDataKey,
        Api::GenerateDataKeyPair,
        Api::GenerateDataKeyPairWithoutPlaintext,
        Api::AdvanceGenerateDataKeyPair,
        Api::AdvanceGenerateDataKeyPairWithoutPlaintext,
        Api::Sign,
        Api::Verify,
        Api::GetPublicKey,
        Api::GetSecretValue,
        Api::GenerateRandom,
        Api::Hmac,
    ];

    /// The wire name.
    pub const fn name(self) -> &'static str {
        match self {
            Api::Encrypt => "Encrypt",
            Api::Decrypt => "Decrypt",
            Api::AdvanceEncrypt => "AdvanceEncrypt",
            Api::AdvanceDecrypt => "AdvanceDecrypt",
            Api::GenerateDataKey => "GenerateDataKey",
            Api::AdvanceGenerateDataKey => "AdvanceGenerateDataKey",
            Api::GenerateDataKeyPair => "GenerateDataKeyPair",
            Api::GenerateDataKeyPairWithoutPlaintext => "GenerateDataKeyPairWithoutPlaintext",
            Api::AdvanceGenerateDataKeyPair => "AdvanceGenerateDataKeyPair",
            Api::AdvanceGenerateDataKeyPairWithoutPlaintext => "AdvanceGenerateDataKeyPairWithoutPlaintext",
            Api::Sign => "Sign",
            Api::Verify => "Verify",
            Api::GetPublicKey => "GetPublicKey",
            Api::GetSecretValue => "GetSecretValue",
            Api::GenerateRandom => "GenerateRandom",
            Api::Hmac => "Hmac",
        }
    }

    /// Parses a wire name (exact, case-sensitive like the server).
    pub fn from_name(name: &str) -> Option<Api> {
        Api::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// The permission an instance-scope policy must grant. GetSecretValue additionally needs
    /// `CryptoServiceKeyUser` on the secret's encryption key, and in scope `shared` `SecretUser`
    /// suffices (see `docs/bundle-format.md`). GenerateRandom needs `CryptoServiceKeyUser`.
    pub const fn permission(self) -> Permission {
        match self {
            Api::GetSecretValue => Permission::CryptoServiceSecretUser,
            _ => Permission::CryptoServiceKeyUser,
        }
    }

    /// The resource the operation acts on.
    pub const fn resource_kind(self) -> ResourceKind {
        match self {
            Api::GetSecretValue => ResourceKind::Secret,
            Api::GenerateRandom => ResourceKind::None,
            _ => ResourceKind::Key,
        }
    }

    /// The QPS group. Encrypt and Decrypt count as asymmetric when the key spec is RSA/EC/SM2
    /// (pass the key's `KeySpec` when known); everything else has a fixed group.
    pub fn qps_group(self, key_spec: Option<&str>) -> QpsGroup {
        match self {
            Api::Encrypt | Api::Decrypt => match key_spec {
                Some(spec) if is_asymmetric_spec(spec) => QpsGroup::Asymmetric,
                _ => QpsGroup::Symmetric,
            },
            Api::AdvanceEncrypt
            | Api::AdvanceDecrypt
            | Api::GenerateDataKey
            | Api::AdvanceGenerateDataKey
            | Api::Hmac => QpsGroup::Symmetric,
            Api::Sign | Api::Verify => QpsGroup::Asymmetric,
            Api::GetPublicKey => QpsGroup::GetPublicKey,
            Api::GetSecretValue => QpsGroup::GetSecretValue,
            Api::GenerateRandom => QpsGroup::GenerateRandom,
            Api::GenerateDataKeyPair
            | Api::GenerateDataKeyPairWithoutPlaintext
            | Api::AdvanceGenerateDataKeyPair
            | Api::AdvanceGenerateDataKeyPairWithoutPlaintext => QpsGroup::DataKeyPair,
        }
    }

    /// Protobuf field number of the `KeyId` string in the request, `None` for GetSecretValue
    /// and GenerateRandom (`docs/protocol.md#request-bodies`).
    pub(crate) const fn key_id_field(self) -> Option<u32> {
        match self {
            Api::Decrypt | Api::AdvanceDecrypt => Some(2),
            Api::GetSecretValue | Api::GenerateRandom => None,
            _ => Some(1),
        }
    }
}

/// True for the asymmetric key specs of KMS (RSA_*, EC_*, and the SM2 spec).
pub fn is_asymmetric_spec(spec: &str) -> bool {
    spec.starts_with("RSA_") || spec.starts_with("EC_")
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Permission {
    /// All templates.
    pub const ALL: [Permission; 3] =
        [Permission::CryptoServiceKeyUser, Permission::CryptoServiceSecretUser, Permission::SecretUser];

    /// The full template string used in policies.
    pub const fn template(self) -> &'static str {
        match self {
            Permission::CryptoServiceKeyUser => "RbacPermission/Template/CryptoServiceKeyUser",
            Permission::CryptoServiceSecretUser => "RbacPermission/Template/CryptoServiceSecretUser",
            Permission::SecretUser => "RbacPermission/Template/SecretUser",
        }
    }

    /// The short name (`CryptoServiceKeyUser`).
    pub const fn short_name(self) -> &'static str {
        match self {
            Permission::CryptoServiceKeyUser => "CryptoServiceKeyUser",
            Permission::CryptoServiceSecretUser => "CryptoServiceSecretUser",
            Permission::SecretUser => "SecretUser",
        }
    }

    /// Parses the full template string.
    pub fn from_template(s: &str) -> Option<Permission> {
        Permission::ALL.iter().copied().find(|p| p.template() == s)
    }

    pub(crate) const fn bit(self) -> u8 {
        match self {
            Permission::CryptoServiceKeyUser => 1,
            Permission::CryptoServiceSecretUser => 2,
            Permission::SecretUser => 4,
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.template())
    }
}

impl QpsGroup {
    pub const ALL: [QpsGroup; 6] = [
        QpsGroup::Symmetric,
        QpsGroup::Asymmetric,
        QpsGroup::GetPublicKey,
        QpsGroup::GetSecretValue,
        QpsGroup::GenerateRandom,
        QpsGroup::DataKeyPair,
    ];

    /// The group named by [`QpsGroup::name`].
    pub fn from_name(name: &str) -> Option<QpsGroup> {
        QpsGroup::ALL.into_iter().find(|g| g.name() == name)
    }

    /// A stable name for the group.
    pub const fn name(self) -> &'static str {
        match self {
            QpsGroup::Symmetric => "Symmetric",
            QpsGroup::Asymmetric => "Asymmetric",
            QpsGroup::GetPublicKey => "GetPublicKey",
            QpsGroup::GetSecretValue => "GetSecretValue",
            QpsGroup::GenerateRandom => "GenerateRandom",
            QpsGroup::DataKeyPair => "DataKeyPair",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qps_group_names_round_trip() {
        for g in QpsGroup::ALL {
            assert_eq!(QpsGroup::from_name(g.name()), Some(g));
        }
        assert_eq!(QpsGroup::from_name("symmetric"), None);
    }

    #[test]
    fn names_round_trip() {
        for a in Api::ALL {
            assert_eq!(Api::from_name(a.name()), Some(a));
        }
        assert_eq!(Api::from_name("encrypt"), None);
        assert_eq!(Api::from_name("Hash"), None);
    }

    #[test]
    fn catalogue_facts() {
        assert_eq!(Api::GetSecretValue.resource_kind(), ResourceKind::Secret);
        assert_eq!(Api::GenerateRandom.resource_kind(), ResourceKind::None);
        assert_eq!(Api::Sign.permission(), Permission::CryptoServiceKeyUser);
        assert_eq!(Api::Encrypt.qps_group(Some("RSA_2048")), QpsGroup::Asymmetric);
        assert_eq!(Api::Encrypt.qps_group(Some("Aliyun_AES_256")), QpsGroup::Symmetric);
        assert_eq!(Api::AdvanceGenerateDataKeyPair.qps_group(None), QpsGroup::DataKeyPair);
        assert_eq!(Api::Decrypt.key_id_field(), Some(2));
        for p in Permission::ALL {
            assert_eq!(Permission::from_template(p.template()), Some(p));
        }
    }
}
