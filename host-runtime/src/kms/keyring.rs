//! What the Instance API needs from storage: key material and secret values, already unsealed.
//!
//! The store (`crate::store`) implements [`KeyRing`]; the handlers (`crate::kms`) only read through it,
//! so they can be tested with [`InMemoryKeyRing`].

use std::fmt;
use zeroize::Zeroizing;

/// Key specs the native backend supports (Alibaba names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeySpec {
    /// AES-256-GCM.
    AliyunAes256,
    Rsa2048,
    Rsa3072,
    EcP256,
}

impl KeySpec {
    pub fn as_str(self) -> &'static str {
        match self {
            KeySpec::AliyunAes256 => "Aliyun_AES_256",
            KeySpec::Rsa2048 => "RSA_2048",
            KeySpec::Rsa3072 => "RSA_3072",
            KeySpec::EcP256 => "EC_P256",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Aliyun_AES_256" => KeySpec::AliyunAes256,
            "RSA_2048" => KeySpec::Rsa2048,
            "RSA_3072" => KeySpec::Rsa3072,
            "EC_P256" => KeySpec::EcP256,
            _ => return None,
        })
    }
    pub fn is_symmetric(self) -> bool {
        matches!(self, KeySpec::AliyunAes256)
    }
}

/// Key states: the AAP model's own (`Enabled`, `Disabled`, `PendingDeletion`, `PendingImport`).
pub use policy_core::KeyState;

/// One version of a key. `material` is the raw AES key (32 bytes) for symmetric keys and the
/// PKCS#8 DER private key for asymmetric ones.
#[derive(Clone)]
pub struct KeyVersionRecord {
    /// 36-character UUID.
    pub version_id: String,
    pub material: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for KeyVersionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyVersionRecord").field("version_id", &self.version_id).finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
pub struct KeyRecord {
    pub key_id: String,
    pub spec: KeySpec,
    pub state: KeyState,
    /// The version Encrypt uses (the first one created).
    pub initial_version_id: String,
    /// The version the Advance operations use (the newest one).
    pub primary_version_id: String,
    /// All versions, oldest first.
    pub versions: Vec<KeyVersionRecord>,
}

impl KeyRecord {
    pub fn version(&self, version_id: &str) -> Option<&KeyVersionRecord> {
        self.versions.iter().find(|v| v.version_id == version_id)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretDataType {
    Text,
    Binary,
}

impl SecretDataType {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretDataType::Text => "text",
            SecretDataType::Binary => "binary",
        }
    }
}

#[derive(Clone)]
pub struct SecretVersionRecord {
    pub secret_name: String,
    pub secret_type: String,
    pub version_id: String,
    /// e.g. `ACSCurrent`, `ACSPrevious`, custom stages.
    pub stages: Vec<String>,
    /// For `binary`, the raw bytes (returned base64-encoded); for `text`, UTF-8.
    pub data: Zeroizing<Vec<u8>>,
    pub data_type: SecretDataType,
    /// RFC 3339 UTC.
    pub create_time: String,
    pub encryption_key_id: String,
}

impl fmt::Debug for SecretVersionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretVersionRecord")
            .field("secret_name", &self.secret_name)
            .field("version_id", &self.version_id)
            .field("stages", &self.stages)
            .finish_non_exhaustive()
    }
}

/// A storage failure, as the request path sees it (it becomes `InternalFailure`).
#[derive(Debug, thiserror::Error)]
#[error("key store: {0}")]
pub struct KeyRingError(pub String);

pub trait KeyRing: Send + Sync {
    /// Finds a key by id or by `alias/<name>`.
    fn resolve_key(&self, key_id_or_alias: &str) -> Result<Option<KeyRecord>, KeyRingError>;
    /// Finds the key that owns a key version.
    fn key_by_version(&self, version_id: &str) -> Result<Option<KeyRecord>, KeyRingError>;
    /// A secret version by id, else by stage (default `ACSCurrent`).
    fn secret_value(
        &self,
        name: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Option<SecretVersionRecord>, KeyRingError>;
}

/// A key ring held in memory, for tests and for caches.
#[derive(Default, Clone, Debug)]
pub struct InMemoryKeyRing {
    pub keys: Vec<KeyRecord>,
    /// `(alias/<name>, key id)`.
    pub aliases: Vec<(String, String)>,
    pub secrets: Vec<SecretVersionRecord>,
}

impl KeyRing for InMemoryKeyRing {
    fn resolve_key(&self, key_id_or_alias: &str) -> Result<Option<KeyRecord>, KeyRingError> {
        let id =
            self.aliases.iter().find(|(a, _)| a == key_id_or_alias).map(|(_, k)| k.as_str()).unwrap_or(key_id_or_alias);
        Ok(self.keys.iter().find(|k| k.key_id == id).cloned())
    }
    fn key_by_version(&self, version_id: &str) -> Result<Option<KeyRecord>, KeyRingError> {
        Ok(self.keys.iter().find(|k| k.version(version_id).is_some()).cloned())
    }
    fn secret_value(
        &self,
        name: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Option<SecretVersionRecord>, KeyRingError> {
        let stage = stage.unwrap_or("ACSCurrent");
        Ok(self
            .secrets
            .iter()
            .find(|s| {
                s.secret_name == name
                    && match version_id {
                        Some(v) => s.version_id == v,
                        None => s.stages.iter().any(|st| st == stage),
                    }
            })
            .cloned())
    }
}

/// Added by the Instance API side: a shared key ring (e.g. the store behind an `Arc`, also used
/// by the control plane) is a key ring.
impl<T: KeyRing + ?Sized> KeyRing for std::sync::Arc<T> {
    fn resolve_key(&self, key_id_or_alias: &str) -> Result<Option<KeyRecord>, KeyRingError> {
        (**self).resolve_key(key_id_or_alias)
    }
    fn key_by_version(&self, version_id: &str) -> Result<Option<KeyRecord>, KeyRingError> {
        (**self).key_by_version(version_id)
    }
    fn secret_value(
        &self,
        name: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Option<SecretVersionRecord>, KeyRingError> {
        (**self).secret_value(name, version_id, stage)
    }
}
