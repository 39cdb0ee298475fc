//! The store as the Instance API's [`KeyRing`]: an unsealed in-memory snapshot, rebuilt when the
//! generation changes (the request path calls it per request; unsealing per request would be waste).

use std::sync::{Arc, Mutex};

use super::catalogue::{Catalogue, CatalogueRead};
use super::keys::deletion_due;
use super::time::now;
use super::{read_catalogue_generation, read_generation, Store, StoreError};
use aapkit_kms::keyring::{IndexedKeyRing, KeyRecord, KeyRing, KeyRingError, SecretVersionRecord};

/// A configuration read ([`Store::config_snapshot_since`]), consistent with one generation.
#[derive(Debug)]
pub struct ConfigRead {
    pub generation: u64,
    /// The generation of the last committed change to keys, aliases or secrets; None on a store that has not recorded one (then `ring` is always Some).
    pub catalogue_generation: Option<u64>,
    /// None when `known_catalogue` is still current: keys and secrets were not read, and `bundle.keys` and `bundle.secrets` are empty.
    pub ring: Option<Arc<IndexedKeyRing>>,
    pub bundle: policy_core::Bundle,
    /// Whether the access part was read whole or patched from the change log.
    pub access: super::AccessRead,
    /// Whether the key catalogue was kept (`ring` is None), read whole, or patched from the log.
    pub catalogue: CatalogueRead,
}

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
        let (g, ring) =
            self.read(|tx| Ok((read_generation(tx)?, Arc::new(Catalogue::read(tx, &self.sealer)?.into_ring()))))?;
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
        let read = self.config_snapshot_since(scope, None)?;
        let ring = read.ring.ok_or_else(|| StoreError::Corrupt("a full configuration read has no key ring".into()))?;
        Ok((read.generation, ring, read.bundle))
    }

    /// [`Store::config_snapshot`] for a reader that already holds the key catalogue as of
    /// `known_catalogue` (the [`ConfigRead::catalogue_generation`] of its last read): when that is
    /// still the store's catalogue generation, and no key's deletion window has ended without its
    /// purge (one indexed query, no catalogue rows read: such a key left every read without a
    /// write), keys, aliases, key versions and secrets are not read, and the result has no ring
    /// and a bundle without `keys` and `secrets` (the reader keeps its own). Otherwise, and always
    /// with `known_catalogue` `None` or on a store that has not recorded a catalogue generation,
    /// everything is read, exactly as [`Store::config_snapshot`] does. One read transaction either
    /// way.
    pub fn config_snapshot_since(&self, scope: &str, known_catalogue: Option<u64>) -> Result<ConfigRead, StoreError> {
        super::validate::scope("Scope", scope)?;
        self.read(|tx| {
            let generation = read_generation(tx)?;
            let catalogue_generation = read_catalogue_generation(tx)?;
            let unchanged = match (known_catalogue, catalogue_generation) {
                // A key whose deletion window ended left every read without a write: while one
                // waits for its purge, the catalogue a full read gives is not the one of
                // `known_catalogue`.
                (Some(known), Some(current)) if known == current => !deletion_due(tx, now())?,
                _ => false,
            };
            let (mut bundle, access) = self.access_part(tx, generation)?;
            bundle.gateway = Some(super::export::gateway(scope, Some(generation)));
            if unchanged {
                let catalogue = CatalogueRead::Kept;
                return Ok(ConfigRead { generation, catalogue_generation, ring: None, bundle, access, catalogue });
            }
            let (parts, catalogue) = self.catalogue_at(tx, generation)?;
            bundle.keys = parts.keys;
            bundle.secrets = parts.secrets;
            let ring = Some(Arc::new(parts.ring));
            Ok(ConfigRead { generation, catalogue_generation, ring, bundle, access, catalogue })
        })
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
