//! The store as the Instance API's [`KeyRing`]: an unsealed in-memory snapshot, rebuilt when the
//! generation changes (the request path calls it per request; unsealing per request would be waste).

use std::sync::{Arc, Mutex};

use crate::db::Tx;
use crate::params;

use super::keys::{aliases_by_key, all_keys, versions_by_key};
use super::seal::{key_version_aad, secret_version_aad};
use super::secrets::{live_secret_names, parse_data_type, stages_of};
use super::time::format_time;
use super::{read_generation, Store, StoreError};
use aapkit_kms::keyring::{
    InMemoryKeyRing, IndexedKeyRing, KeyRecord, KeyRing, KeyRingError, KeyVersionRecord, SecretVersionRecord,
};

#[derive(Default)]
pub(crate) struct SnapshotCache(Mutex<Option<(u64, Arc<IndexedKeyRing>)>>);

impl Store {
    /// Every live key (material unsealed), alias and secret version, consistent with the returned
    /// generation. Cached until the generation changes.
    pub fn keyring_snapshot(&self) -> Result<(u64, Arc<IndexedKeyRing>), StoreError> {
        let current = self.cache_generation()?;
        {
            let cache = self.cache.0.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((g, ring)) = cache.as_ref() {
                if *g == current {
                    return Ok((*g, Arc::clone(ring)));
                }
            }
        }
        let (g, ring) = self.read(|tx| Ok((read_generation(tx)?, Arc::new(self.load_ring(tx)?.index()))))?;
        let mut cache = self.cache.0.lock().unwrap_or_else(|p| p.into_inner());
        // Keep the newest of two racing loads.
        if cache.as_ref().is_none_or(|(cg, _)| *cg <= g) {
            *cache = Some((g, Arc::clone(&ring)));
        }
        Ok((g, ring))
    }

    /// The key ring and the policy bundle for `scope`, both read in one transaction, with the
    /// generation they reflect: what the server publishes as one configuration snapshot.
    pub fn config_snapshot(&self, scope: &str) -> Result<(u64, Arc<IndexedKeyRing>, policy_core::Bundle), StoreError> {
        super::validate::scope("Scope", scope)?;
        self.read(|tx| {
            let generation = read_generation(tx)?;
            let ring = Arc::new(self.load_ring(tx)?.index());
            let bundle = super::export::build(tx, scope, Some(generation))?;
            Ok((generation, ring, bundle))
        })
    }

    pub(crate) fn load_ring(&self, tx: &Tx<'_>) -> Result<InMemoryKeyRing, StoreError> {
        let mut ring = InMemoryKeyRing::default();
        let mut sealed_versions = versions_by_key(tx, true)?;
        let mut aliases = aliases_by_key(tx)?;
        for row in all_keys(tx)? {
            let sealed = sealed_versions.remove(&row.id).unwrap_or_default();
            let mut versions = Vec::with_capacity(sealed.len());
            for (version_id, blob) in sealed {
                let material = self.sealer.open(&key_version_aad(&row.id, &version_id), &blob)?;
                versions.push(KeyVersionRecord { version_id, material });
            }
            for alias in aliases.remove(&row.id).unwrap_or_default() {
                ring.aliases.push((alias, row.id.clone()));
            }
            ring.keys.push(KeyRecord {
                key_id: row.id,
                spec: row.spec,
                state: row.state,
                initial_version_id: row.initial_version,
                primary_version_id: row.primary_version,
                versions,
            });
        }
        // A secret pending deletion is not served (GetSecretValue finds nothing).
        for name in live_secret_names(tx)? {
            let (key_id, secret_type): (String, String) = tx.query_row(
                "SELECT encryption_key_id, secret_type FROM secrets WHERE name = ?1",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let rows = tx.query_map(
                "SELECT version_id, data_type, created, sealed FROM secret_versions WHERE secret_name = ?1 ORDER BY seq", params![name], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, Vec<u8>>(3)?))
                })?;
            for (version_id, data_type, created, blob) in rows {
                let data = self.sealer.open(&secret_version_aad(&name, &version_id), &blob)?;
                let data_type = parse_data_type(&data_type)
                    .ok_or_else(|| StoreError::Corrupt(format!("secret {name}: data type {data_type:?}")))?;
                ring.secrets.push(SecretVersionRecord {
                    secret_name: name.clone(),
                    secret_type: secret_type.clone(),
                    stages: stages_of(tx, &name, &version_id)?,
                    version_id,
                    data,
                    data_type,
                    create_time: format_time(created),
                    encryption_key_id: key_id.clone(),
                });
            }
        }
        Ok(ring)
    }

    fn ring(&self) -> Result<Arc<IndexedKeyRing>, KeyRingError> {
        self.keyring_snapshot().map(|(_, r)| r).map_err(|e| KeyRingError(e.to_string()))
    }
}

impl KeyRing for Store {
    fn resolve_key(&self, key_id_or_alias: &str) -> Result<Option<Arc<KeyRecord>>, KeyRingError> {
        self.ring()?.resolve_key(key_id_or_alias)
    }

    fn key_by_version(&self, version_id: &str) -> Result<Option<Arc<KeyRecord>>, KeyRingError> {
        self.ring()?.key_by_version(version_id)
    }

    fn secret_value(
        &self,
        name: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Option<Arc<SecretVersionRecord>>, KeyRingError> {
        self.ring()?.secret_value(name, version_id, stage)
    }
}
