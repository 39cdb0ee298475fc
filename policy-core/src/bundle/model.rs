//! The bundle document as typed values. Field names serialize as in Alibaba's management API
//! (PascalCase); lists serialize in the canonical array form.

use serde::{Serialize, Serializer};

use super::cidr::IpCidr;
use crate::catalogue::Permission;
use crate::time::{format_iso8601, UnixTime};

/// Default `Gateway.MaxSkewSeconds`: the server's 15 minutes.
pub const DEFAULT_MAX_SKEW_SECONDS: u32 = 900;

/// Limits of access points, policies and network rules (`docs/protocol.md#aap-limits`).
pub mod limits {
    /// Entries in one network rule's SourcePrivateIp.
    pub const MAX_SOURCE_IPS_PER_RULE: usize = 800;
    /// Network rules in one policy's AccessControlRules.
    pub const MAX_NETWORK_RULES_PER_POLICY: usize = 40;
    /// Policies attached to one AAP.
    pub const MAX_POLICIES_PER_AAP: usize = 3;
    /// Client keys bound to one AAP.
    pub const MAX_CLIENT_KEYS_PER_AAP: usize = 3;
    /// Longest name or id accepted.
    pub const MAX_NAME_LEN: usize = 256;
}

/// The whole policy bundle.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Bundle {
    pub network_rules: Vec<NetworkRule>,
    pub policies: Vec<Policy>,
    pub application_access_points: Vec<ApplicationAccessPoint>,
    pub client_keys: Vec<ClientKey>,
    pub keys: Vec<Key>,
    pub secrets: Vec<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Gateway>,
}

/// `Type` of a network rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum NetworkType {
    Private,
}

/// A network rule: the private source addresses a policy accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkRule {
    pub name: String,
    #[serde(rename = "Type")]
    pub network_type: NetworkType,
    pub source_private_ip: Vec<IpCidr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A resource pattern of a policy: `key/<id>`, `key/<prefix>*`, `secret/<name>`, `secret/<prefix>*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourcePattern {
    Key(NamePattern),
    Secret(NamePattern),
}

/// An exact name or a prefix (`*` only as the last character; `*` alone is the empty prefix).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NamePattern {
    Exact(String),
    Prefix(String),
}

impl NamePattern {
    /// True when `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            NamePattern::Exact(e) => e == name,
            NamePattern::Prefix(p) => name.starts_with(p.as_str()),
        }
    }
}

impl ResourcePattern {
    /// Parses `key/...` or `secret/...`; `*` is allowed only as the last character.
    pub fn parse(s: &str) -> Result<ResourcePattern, &'static str> {
        let (kind, rest) = if let Some(r) = s.strip_prefix("key/") {
            (0, r)
        } else if let Some(r) = s.strip_prefix("secret/") {
            (1, r)
        } else {
            return Err("a resource must start with `key/` or `secret/`");
        };
        let pat = match rest.strip_suffix('*') {
            Some(p) if !p.contains('*') => NamePattern::Prefix(p.to_owned()),
            Some(_) => return Err("`*` is allowed only once, as the last character"),
            None if rest.contains('*') => return Err("`*` is allowed only as the last character"),
            None if rest.is_empty() => return Err("the resource name after the `/` is empty"),
            None => NamePattern::Exact(rest.to_owned()),
        };
        if !rest.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("a resource name may contain only visible ASCII characters");
        }
        Ok(if kind == 0 { ResourcePattern::Key(pat) } else { ResourcePattern::Secret(pat) })
    }
}

impl core::fmt::Display for ResourcePattern {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (kind, pat) = match self {
            ResourcePattern::Key(p) => ("key/", p),
            ResourcePattern::Secret(p) => ("secret/", p),
        };
        match pat {
            NamePattern::Exact(e) => write!(f, "{kind}{e}"),
            NamePattern::Prefix(p) => write!(f, "{kind}{p}*"),
        }
    }
}

impl Serialize for ResourcePattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.template())
    }
}

/// `AccessControlRules` of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessControlRules {
    pub network_rules: Vec<String>,
}

/// A permission policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    pub name: String,
    pub permissions: Vec<Permission>,
    pub resources: Vec<ResourcePattern>,
    /// The scope: a KMS instance id (`kst-...`) or `shared`.
    pub kms_instance: String,
    pub access_control_rules: AccessControlRules,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// How an AAP's callers authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuthenticationMethod {
    ClientKey,
    /// A RAM role's sessions: never on the Instance API; on the KMS endpoint the host verifies the
    /// session's signature and `decide_ram_role_session` decides with the AAP's policies.
    #[serde(rename = "RAMRole")]
    RamRole,
}

/// An application access point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationAccessPoint {
    pub name: String,
    pub policies: Vec<String>,
    pub authentication_method: AuthenticationMethod,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Key algorithm of a client key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ClientKeyAlgorithm {
    #[serde(rename = "RSA_2048")]
    Rsa2048,
}

/// The public record of a client key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientKey {
    pub client_key_id: String,
    pub aap_name: String,
    pub key_algorithm: ClientKeyAlgorithm,
    /// PEM certificate or PEM public key.
    pub public_key_data: String,
    #[serde(serialize_with = "ser_iso")]
    pub not_before: UnixTime,
    #[serde(serialize_with = "ser_iso")]
    pub not_after: UnixTime,
}

fn ser_iso<S: Serializer>(t: &UnixTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_iso8601(*t))
}

/// State of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
    PendingImport,
}

impl KeyState {
    pub const ALL: [KeyState; 4] =
        [KeyState::Enabled, KeyState::Disabled, KeyState::PendingDeletion, KeyState::PendingImport];

    /// The state named by [`KeyState::name`].
    pub fn from_name(name: &str) -> Option<KeyState> {
        KeyState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The wire name.
    pub const fn name(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingImport => "PendingImport",
        }
    }
}

/// Accepted `KeySpec` values (the KMS instance specs).
pub const KEY_SPECS: [&str; 10] = [
    "Aliyun_AES_256",
    "Aliyun_AES_192",
    "Aliyun_AES_128",
    "Aliyun_SM4",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "EC_P256",
    "EC_P256K",
    "EC_SM2",
];

/// A key of the catalogue (no key material).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Key {
    pub key_id: String,
    pub aliases: Vec<String>,
    pub key_spec: String,
    pub key_state: KeyState,
    /// 36-character key-version ids (they appear in ciphertext blobs).
    pub key_versions: Vec<String>,
}

/// A secret of the catalogue (no value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Secret {
    pub secret_name: String,
    pub encryption_key_id: String,
}

/// Settings of the gateway that enforces the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Gateway {
    /// The scope requests arrive in: the instance id this gateway serves, or `shared`.
    pub scope: String,
    /// Proxies whose `X-Forwarded-For` is trusted.
    pub trusted_proxies: Vec<IpCidr>,
    /// Allowed |date − now| in seconds.
    pub max_skew_seconds: u32,
    /// The control-plane generation the bundle was exported at. Enforcers report it with every
    /// allow so the server can check that the decision and the key ring it acts on are one snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
}
