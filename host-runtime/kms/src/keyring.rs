//! What the Instance API needs from storage: key material and secret values, already unsealed.
//!
//! The store (`aapkit-store`) implements [`KeyRing`]; the handlers (this crate) only read through it,
//! so they can be tested with [`InMemoryKeyRing`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

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
    fn resolve_key(&self, key_id_or_alias: &str) -> Result<Option<Arc<KeyRecord>>, KeyRingError>;
    /// Finds the key that owns a key version.
    fn key_by_version(&self, version_id: &str) -> Result<Option<Arc<KeyRecord>>, KeyRingError>;
    /// A secret version by id, else by stage (default `ACSCurrent`).
    fn secret_value(
        &self,
        name: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Option<Arc<SecretVersionRecord>>, KeyRingError>;
}

/// A key ring held in memory, as plain lists: the form tests and the store build. Lookups search
/// the lists and copy what they find; call [`InMemoryKeyRing::index`] for the request path.
#[derive(Default, Clone, Debug)]
pub struct InMemoryKeyRing {
    pub keys: Vec<KeyRecord>,
    /// `(alias/<name>, key id)`.
    pub aliases: Vec<(String, String)>,
    pub secrets: Vec<SecretVersionRecord>,
}

impl InMemoryKeyRing {
    /// The same keys and secrets indexed by id, alias, version and secret name, each record
    /// shared behind an `Arc`: lookups hand out the record, never a copy of its material.
    pub fn index(self) -> IndexedKeyRing {
        IndexedKeyRing::from_shared(
            self.keys.into_iter().map(Arc::new),
            self.aliases,
            self.secrets.into_iter().map(Arc::new),
        )
    }
}

impl IndexedKeyRing {
    /// Indexes records already shared. `aliases` are `(alias/<name>, key id)`; one naming a key
    /// not in `keys` is left out. Each secret's versions keep the order given (oldest first).
    pub fn from_shared(
        keys: impl IntoIterator<Item = Arc<KeyRecord>>,
        aliases: impl IntoIterator<Item = (String, String)>,
        secrets: impl IntoIterator<Item = Arc<SecretVersionRecord>>,
    ) -> IndexedKeyRing {
        let mut ring = IndexedKeyRing::default();
        for k in keys {
            ring.put_key(k);
        }
        for (alias, key_id) in aliases {
            ring.put_alias(&alias, Some(&key_id));
        }
        let mut by_secret: HashMap<Arc<str>, Vec<Arc<SecretVersionRecord>>> = HashMap::new();
        for s in secrets {
            by_secret.entry(Arc::from(s.secret_name.as_str())).or_default().push(s);
        }
        ring.secrets = by_secret.into_iter().map(|(name, versions)| (name, Arc::from(versions))).collect();
        ring
    }

    /// Puts `record` in place of the key with its id, or adds it: its versions are indexed anew
    /// and the aliases naming the key point to the new record.
    pub fn put_key(&mut self, record: Arc<KeyRecord>) {
        if let Some(old) = self.by_id.insert(Arc::from(record.key_id.as_str()), Arc::clone(&record)) {
            for v in &old.versions {
                self.by_version.remove(v.version_id.as_str());
            }
            for named in self.by_alias.values_mut() {
                if named.key_id == record.key_id {
                    *named = Arc::clone(&record);
                }
            }
        }
        for v in &record.versions {
            self.by_version.insert(Arc::from(v.version_id.as_str()), Arc::clone(&record));
        }
    }

    /// Removes the key `key_id`, its versions and the aliases naming it.
    pub fn remove_key(&mut self, key_id: &str) {
        if let Some(old) = self.by_id.remove(key_id) {
            for v in &old.versions {
                self.by_version.remove(v.version_id.as_str());
            }
            self.by_alias.retain(|_, named| named.key_id != key_id);
        }
    }

    /// Points `alias` (`alias/<name>`) at the key `key_id`; removes it when `key_id` is `None` or
    /// names a key the ring does not hold.
    pub fn put_alias(&mut self, alias: &str, key_id: Option<&str>) {
        match key_id.and_then(|id| self.by_id.get(id)) {
            Some(k) => {
                let k = Arc::clone(k);
                self.by_alias.insert(Arc::from(alias), k);
            }
            None => {
                self.by_alias.remove(alias);
            }
        }
    }

    /// Replaces the versions of the secret `name` (oldest first); none removes the secret.
    pub fn put_secret(&mut self, name: &str, versions: Vec<Arc<SecretVersionRecord>>) {
        if versions.is_empty() {
            self.secrets.remove(name);
        } else {
            self.secrets.insert(Arc::from(name), Arc::from(versions));
        }
    }
}

fn find_secret<'a, S: std::borrow::Borrow<SecretVersionRecord> + 'a>(
    versions: impl IntoIterator<Item = &'a S>,
    name: &str,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Option<&'a S> {
    let stage = stage.unwrap_or("ACSCurrent");
    versions.into_iter().find(|s| {
        let s: &SecretVersionRecord = std::borrow::Borrow::borrow(*s);
        s.secret_name == name
            && match version_id {
                Some(v) => s.version_id == v,
                None => s.stages.iter().any(|st| st == stage),
            }
    })
}

impl KeyRing for InMemoryKeyRing {
    fn resolve_key(&self, key_id_or_alias: &str) -> Result<Option<Arc<KeyRecord>>, KeyRingError> {
        let id =
            self.aliases.iter().find(|(a, _)| a == key_id_or_alias).map(|(_, k)| k.as_str()).unwrap_or(key_id_or_alias);
        Ok(self.keys.iter().find(|k| k.key_id == id).cloned().map(Arc::new))
    }
    fn key_by_version(&self, version_id: &str) -> Result<Option<Arc<KeyRecord>>, KeyRingError> {
        Ok(self.keys.iter().find(|k| k.version(version_id).is_some()).cloned().map(Arc::new))
    }
    fn secret_value(
        &self,
        name: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Option<Arc<SecretVersionRecord>>, KeyRingError> {
        Ok(find_secret(&self.secrets, name, version_id, stage).cloned().map(Arc::new))
    }
}

/// The request path's key ring: hash-indexed, records shared (see [`InMemoryKeyRing::index`]).
/// Names are shared too, so a copy costs the tables and reference counts, not the strings: a
/// reader that patches a ring in place ([`IndexedKeyRing::put_key`] and the rest) hands out copies.
#[derive(Default, Debug, Clone)]
pub struct IndexedKeyRing {
    by_id: HashMap<Arc<str>, Arc<KeyRecord>>,
    /// `alias/<name>` to its key.
    by_alias: HashMap<Arc<str>, Arc<KeyRecord>>,
    by_version: HashMap<Arc<str>, Arc<KeyRecord>>,
    /// The versions of each secret, oldest first.
    secrets: HashMap<Arc<str>, Arc<[Arc<SecretVersionRecord>]>>,
}

impl IndexedKeyRing {
    /// How many keys the ring holds.
    pub fn key_count(&self) -> usize {
        self.by_id.len()
    }
}

impl KeyRing for IndexedKeyRing {
    fn resolve_key(&self, key_id_or_alias: &str) -> Result<Option<Arc<KeyRecord>>, KeyRingError> {
        let found = self.by_alias.get(key_id_or_alias).or_else(|| self.by_id.get(key_id_or_alias));
        Ok(found.map(Arc::clone))
    }
    fn key_by_version(&self, version_id: &str) -> Result<Option<Arc<KeyRecord>>, KeyRingError> {
        Ok(self.by_version.get(version_id).map(Arc::clone))
    }
    fn secret_value(
        &self,
        name: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Option<Arc<SecretVersionRecord>>, KeyRingError> {
        let Some(versions) = self.secrets.get(name) else { return Ok(None) };
        Ok(find_secret(versions.iter(), name, version_id, stage).map(Arc::clone))
    }
}

/// A pointer to a key ring is a key ring: the store behind an `Arc` (shared with the control
/// plane), or a borrowed snapshot ring the server lends each request.
impl<P> KeyRing for P
where
    P: std::ops::Deref + Send + Sync,
    P::Target: KeyRing,
{
    fn resolve_key(&self, key_id_or_alias: &str) -> Result<Option<Arc<KeyRecord>>, KeyRingError> {
        (**self).resolve_key(key_id_or_alias)
    }
    fn key_by_version(&self, version_id: &str) -> Result<Option<Arc<KeyRecord>>, KeyRingError> {
        (**self).key_by_version(version_id)
    }
    fn secret_value(
        &self,
        name: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Option<Arc<SecretVersionRecord>>, KeyRingError> {
        (**self).secret_value(name, version_id, stage)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(id: &str, versions: &[&str]) -> Arc<KeyRecord> {
        Arc::new(KeyRecord {
            key_id: id.into(),
            spec: KeySpec::AliyunAes256,
            state: KeyState::Enabled,
            initial_version_id: versions[0].into(),
            primary_version_id: versions[versions.len() - 1].into(),
            versions: versions
                .iter()
                .map(|v| KeyVersionRecord { version_id: (*v).into(), material: Zeroizing::new(v.as_bytes().to_vec()) })
                .collect(),
        })
    }

    fn secret(name: &str, version: &str) -> Arc<SecretVersionRecord> {
        Arc::new(SecretVersionRecord {
            secret_name: name.into(),
            secret_type: "Generic".into(),
            version_id: version.into(),
            stages: vec!["ACSCurrent".into()],
            data: Zeroizing::new(version.as_bytes().to_vec()),
            data_type: SecretDataType::Text,
            create_time: String::new(),
            encryption_key_id: "k1".into(),
        })
    }

    /// What `ring` serves for every name in play: key, alias and version lookups, secrets.
    fn served(ring: &IndexedKeyRing) -> Vec<String> {
        let mut out = vec![format!("{} keys", ring.key_count())];
        for name in ["k1", "k2", "k3", "alias/a", "alias/b", "alias/c"] {
            let k = ring.resolve_key(name).unwrap();
            out.push(format!("{name}: {:?}", k.map(|k| (k.key_id.clone(), k.versions.len()))));
        }
        for v in ["v1", "v2", "v3", "v4"] {
            out.push(format!("{v}: {:?}", ring.key_by_version(v).unwrap().map(|k| k.key_id.clone())));
        }
        for s in ["s1", "s2"] {
            out.push(format!("{s}: {:?}", ring.secret_value(s, None, None).unwrap().map(|r| r.version_id.clone())));
        }
        out
    }

    /// Edits in place serve what a ring indexed from the edited lists serves.
    #[test]
    fn edits_in_place_equal_a_fresh_index() {
        let alias = |a: &str, k: &str| (a.to_owned(), k.to_owned());
        let mut ring = IndexedKeyRing::from_shared(
            [key("k1", &["v1"]), key("k2", &["v2"])],
            [alias("alias/a", "k1"), alias("alias/b", "k2"), alias("alias/c", "gone")],
            [secret("s1", "x1")],
        );
        assert_eq!(ring.resolve_key("alias/c").unwrap().map(|k| k.key_id.clone()), None);
        // k1 rotated: its alias follows the new record; k2 removed with its alias and version.
        ring.put_key(key("k1", &["v1", "v3"]));
        ring.remove_key("k2");
        ring.put_key(key("k3", &["v4"]));
        ring.put_alias("alias/c", Some("k3"));
        ring.put_alias("alias/b", Some("missing"));
        ring.put_secret("s2", vec![secret("s2", "y1")]);
        ring.put_secret("s1", Vec::new());
        let fresh = IndexedKeyRing::from_shared(
            [key("k1", &["v1", "v3"]), key("k3", &["v4"])],
            [alias("alias/a", "k1"), alias("alias/c", "k3")],
            [secret("s2", "y1")],
        );
        assert_eq!(served(&ring), served(&fresh));
        assert_eq!(ring.resolve_key("alias/a").unwrap().unwrap().versions.len(), 2, "the alias kept the old record");
        assert_eq!(ring.key_by_version("v2").unwrap().map(|k| k.key_id.clone()), None);
    }
}
