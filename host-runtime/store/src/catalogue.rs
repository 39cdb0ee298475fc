//! The key catalogue a configuration read hands out: the request path's key ring (material
//! unsealed) and the bundle's `Keys` and `Secrets`, both made from one [`Catalogue`]. A store
//! handle keeps the catalogue it read last, and a reload after a change to keys, aliases or secrets
//! reads again only the ones the change log names ([`crate::changelog`]): at 100,000 keys a whole
//! read, every key version unsealed, took 0.6–0.9 s in the config_scale bench.
//!
//! The patch falls back to a whole read whenever the log cannot vouch for it (the cases of
//! [`crate::changelog::vouched_rows`]), when a key's deletion window has ended without its purge
//! (it left every read without a write), when more than [`MAX_PATCHED_RESOURCES`] resources
//! changed, or when the patched catalogue's row counts differ from the tables' (a row added or
//! removed outside the API).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use aapkit_kms::keyring::{IndexedKeyRing, KeyRecord, KeyVersionRecord, SecretVersionRecord};
use policy_core::{Key, Secret};

use crate::change::ResourceType;
use crate::changelog::{token_at, vouched_rows, KEPT_CHANGES};
use crate::db::Tx;
use crate::keys::{
    aliases_by_key, aliases_of, all_keys, deletion_due, find_key, sealed_versions_of, versions_by_key, KeyRow,
};
use crate::params;
use crate::seal::{key_version_aad, secret_version_aad, Sealer};
use crate::secrets::{live_secret_names, parse_data_type, stages_of};
use crate::time::{format_time, now};
use crate::{Store, StoreError};

/// The most keys, aliases and secrets a reader reads again; past this it reads everything.
pub(crate) const MAX_PATCHED_RESOURCES: usize = 256;

/// How a configuration read got its key catalogue ([`crate::ConfigRead::catalogue`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CatalogueRead {
    /// Not read: the reader's catalogue is still current (no ring, no `Keys` or `Secrets`).
    Kept,
    /// Every key, alias and secret was read.
    Whole,
    /// The previous read's catalogue, with the keys, aliases and secrets named by `changes` log
    /// rows read again.
    Patched { changes: usize },
}

/// What a configuration read hands out of the catalogue.
pub(crate) struct CatalogueParts {
    pub ring: IndexedKeyRing,
    /// The bundle's `Keys`.
    pub keys: Vec<Key>,
    /// The bundle's `Secrets`.
    pub secrets: Vec<Secret>,
}

/// The live key catalogue, in the forms a read hands out, each kept up to date in place by a
/// patch: the ring (records and names shared, so a copy costs its tables) and the bundle's entries.
#[derive(Default)]
pub(crate) struct Catalogue {
    ring: IndexedKeyRing,
    /// The bundle's keys (live: not past their deletion window), by creation time, then id.
    keys: BTreeMap<(i64, String), Key>,
    /// Key id to its creation time: where its entry is in `keys`.
    created: HashMap<String, i64>,
    /// Every alias row, `alias/<name>` to key id. One naming a key not live is in neither output.
    aliases: BTreeMap<String, String>,
    /// Live secrets (not pending deletion): name to (encryption key id, versions held).
    secrets: BTreeMap<String, (String, usize)>,
}

impl Catalogue {
    /// Every live key (material unsealed), alias and live secret version.
    pub(crate) fn read(tx: &Tx<'_>, sealer: &Sealer) -> Result<Catalogue, StoreError> {
        let mut c = Catalogue::default();
        let mut sealed = versions_by_key(tx, true)?;
        let mut records = Vec::new();
        for row in all_keys(tx)? {
            let versions = sealed.remove(&row.id).unwrap_or_default();
            let created = row.created;
            let record = key_record(sealer, row, versions)?;
            c.created.insert(record.key_id.clone(), created);
            c.keys.insert((created, record.key_id.clone()), entry(&record));
            records.push(record);
        }
        for (key_id, names) in aliases_by_key(tx)? {
            for name in names {
                c.aliases.insert(name, key_id.clone());
            }
        }
        let mut secret_versions = Vec::new();
        for name in live_secret_names(tx)? {
            if let Some((key_id, versions)) = read_secret(tx, sealer, &name)? {
                c.secrets.insert(name, (key_id, versions.len()));
                secret_versions.extend(versions);
            }
        }
        for (alias, key_id) in &c.aliases {
            if let Some(e) = c.created.get(key_id).and_then(|t| c.keys.get_mut(&(*t, key_id.clone()))) {
                e.aliases.push(alias.clone());
            }
        }
        c.ring = IndexedKeyRing::from_shared(
            records,
            c.aliases.iter().map(|(alias, key)| (alias.clone(), key.clone())),
            secret_versions,
        );
        Ok(c)
    }

    /// The ring alone (no copy).
    pub(crate) fn into_ring(self) -> IndexedKeyRing {
        self.ring
    }

    /// A copy of what a read hands out: the ring (its tables; records and names are shared) and
    /// the bundle's `Keys` and `Secrets` (a secret whose key is no longer live leaves them: the
    /// bundle must not name a key it does not list).
    pub(crate) fn parts(&self) -> CatalogueParts {
        let secrets = self
            .secrets
            .iter()
            .filter(|(_, (key_id, _))| self.created.contains_key(key_id))
            .map(|(name, (key_id, _))| Secret { secret_name: name.clone(), encryption_key_id: key_id.clone() })
            .collect();
        CatalogueParts { ring: self.ring.clone(), keys: self.keys.values().cloned().collect(), secrets }
    }

    /// The bundle entry of the live key `key_id`, if it is live.
    fn entry_mut(&mut self, key_id: &str) -> Option<&mut Key> {
        let created = *self.created.get(key_id)?;
        self.keys.get_mut(&(created, key_id.to_owned()))
    }

    /// Reads again the resources `changed` names; `false` when it cannot (a kind outside the
    /// catalogue is skipped).
    fn patch(&mut self, tx: &Tx<'_>, sealer: &Sealer, changed: &BTreeSet<(&str, &str)>) -> Result<bool, StoreError> {
        for &(kind, name) in changed {
            match ResourceType::parse(kind) {
                Some(ResourceType::Key) => self.patch_key(tx, sealer, name)?,
                Some(ResourceType::Alias) => {
                    let key: Option<String> =
                        tx.query_opt("SELECT key_id FROM aliases WHERE name = ?1", params![name], |r| r.get(0))?;
                    self.set_alias(name, key);
                }
                Some(ResourceType::Secret) => match read_secret(tx, sealer, name)? {
                    Some((key_id, versions)) => {
                        self.secrets.insert(name.to_owned(), (key_id, versions.len()));
                        self.ring.put_secret(name, versions);
                    }
                    None => {
                        self.secrets.remove(name);
                        self.ring.put_secret(name, Vec::new());
                    }
                },
                Some(
                    ResourceType::NetworkRule
                    | ResourceType::Policy
                    | ResourceType::Aap
                    | ResourceType::ClientKey
                    | ResourceType::AccessKey
                    | ResourceType::RamRole,
                ) => {}
                None => return Ok(false),
            }
        }
        // A write that changed rows its log entry does not name would leave a stale catalogue:
        // the counts catch a row added or removed that way.
        let counts: (i64, i64, i64, i64) = tx.query_row(
            "SELECT (SELECT COUNT(*) FROM key_versions), (SELECT COUNT(*) FROM aliases),
                    (SELECT COUNT(*) FROM secrets WHERE planned_delete_time IS NULL),
                    (SELECT COUNT(*) FROM secret_versions v JOIN secrets s ON s.name = v.secret_name
                      WHERE s.planned_delete_time IS NULL)",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let held = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        Ok(counts
            == (
                held(self.keys.values().map(|k| k.key_versions.len()).sum()),
                held(self.aliases.len()),
                held(self.secrets.len()),
                held(self.secrets.values().map(|(_, n)| n).sum()),
            ))
    }

    /// Reads the key `key_id` again (gone when it is missing or past its deletion window), with the
    /// aliases naming it (a purge removes them with the key).
    fn patch_key(&mut self, tx: &Tx<'_>, sealer: &Sealer, key_id: &str) -> Result<(), StoreError> {
        if let Some(created) = self.created.remove(key_id) {
            self.keys.remove(&(created, key_id.to_owned()));
        }
        match find_key(tx, key_id)? {
            Some(row) => {
                let versions = sealed_versions_of(tx, &row.id)?;
                let created = row.created;
                let record = key_record(sealer, row, versions)?;
                self.created.insert(key_id.to_owned(), created);
                self.keys.insert((created, key_id.to_owned()), entry(&record));
                self.ring.put_key(record);
            }
            None => self.ring.remove_key(key_id),
        }
        let named: BTreeSet<String> = aliases_of(tx, key_id)?.into_iter().collect();
        let stale: Vec<String> =
            self.aliases.iter().filter(|(a, k)| *k == key_id && !named.contains(*a)).map(|(a, _)| a.clone()).collect();
        for alias in stale {
            self.set_alias(&alias, None);
        }
        for alias in named {
            self.set_alias(&alias, Some(key_id.to_owned()));
        }
        Ok(())
    }

    /// Points `alias` at `key` (`None`: the alias is gone), in the alias rows, the keys' entries
    /// and the ring.
    fn set_alias(&mut self, alias: &str, key: Option<String>) {
        let old = match &key {
            Some(k) => self.aliases.insert(alias.to_owned(), k.clone()),
            None => self.aliases.remove(alias),
        };
        if let Some(e) = old.and_then(|k| self.entry_mut(&k)) {
            e.aliases.retain(|a| a != alias);
        }
        if let Some(e) = key.as_deref().and_then(|k| self.entry_mut(k)) {
            // Entries list their aliases in byte order, as a whole read does.
            if let Err(at) = e.aliases.binary_search_by(|a| a.as_str().cmp(alias)) {
                e.aliases.insert(at, alias.to_owned());
            }
        }
        self.ring.put_alias(alias, key.as_deref());
    }
}

/// A key's bundle entry, without its aliases (`set_alias` and the whole read fill them in).
fn entry(record: &KeyRecord) -> Key {
    Key {
        key_id: record.key_id.clone(),
        aliases: Vec::new(),
        key_spec: record.spec.as_str().to_owned(),
        key_state: record.state,
        key_versions: record.versions.iter().map(|v| v.version_id.clone()).collect(),
    }
}

fn key_record(sealer: &Sealer, row: KeyRow, sealed: Vec<(String, Vec<u8>)>) -> Result<Arc<KeyRecord>, StoreError> {
    let mut versions = Vec::with_capacity(sealed.len());
    for (version_id, blob) in sealed {
        let material = sealer.open(&key_version_aad(&row.id, &version_id), &blob)?;
        versions.push(KeyVersionRecord { version_id, material });
    }
    Ok(Arc::new(KeyRecord {
        key_id: row.id,
        spec: row.spec,
        state: row.state,
        initial_version_id: row.initial_version,
        primary_version_id: row.primary_version,
        versions,
    }))
}

/// A live secret's encryption key id and versions (oldest first).
type LiveSecret = (String, Vec<Arc<SecretVersionRecord>>);

/// The secret `name` with its versions (values unsealed), unless it is missing or pending
/// deletion (a secret pending deletion is not served).
fn read_secret(tx: &Tx<'_>, sealer: &Sealer, name: &str) -> Result<Option<LiveSecret>, StoreError> {
    let Some((key_id, secret_type)): Option<(String, String)> = tx.query_opt(
        "SELECT encryption_key_id, secret_type FROM secrets WHERE name = ?1 AND planned_delete_time IS NULL",
        params![name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?
    else {
        return Ok(None);
    };
    let rows = tx.query_map(
        "SELECT version_id, data_type, created, sealed FROM secret_versions WHERE secret_name = ?1 ORDER BY seq",
        params![name],
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, Vec<u8>>(3)?)),
    )?;
    let mut versions = Vec::with_capacity(rows.len());
    for (version_id, data_type, created, blob) in rows {
        let data = sealer.open(&secret_version_aad(name, &version_id), &blob)?;
        let data_type = parse_data_type(&data_type)
            .ok_or_else(|| StoreError::Corrupt(format!("secret {name}: data type {data_type:?}")))?;
        versions.push(Arc::new(SecretVersionRecord {
            secret_name: name.to_owned(),
            secret_type: secret_type.clone(),
            stages: stages_of(tx, name, &version_id)?,
            version_id,
            data,
            data_type,
            create_time: format_time(created),
            encryption_key_id: key_id.clone(),
        }));
    }
    Ok(Some((key_id, versions)))
}

/// The catalogue a store handle read last, with the log row that vouches for it.
#[derive(Default)]
pub(crate) struct CatalogueCache(Mutex<Option<Cached>>);

struct Cached {
    generation: u64,
    token: i64,
    catalogue: Catalogue,
}

impl Store {
    /// The key catalogue at `generation` (read in `tx`) as the request path's key ring and the
    /// bundle's `Keys` and `Secrets`: the catalogue this handle read last, patched, or read whole
    /// (see the module comment).
    pub(crate) fn catalogue_at(
        &self,
        tx: &Tx<'_>,
        generation: u64,
    ) -> Result<(CatalogueParts, CatalogueRead), StoreError> {
        let mut cache = self.catalogue.0.lock().unwrap_or_else(|p| p.into_inner());
        // Taken out while patched: an error half-way leaves nothing behind to be trusted.
        if let Some(mut cached) = cache.take() {
            if let Some(changes) = self.patch_catalogue(tx, &mut cached, generation)? {
                let out = (cached.catalogue.parts(), CatalogueRead::Patched { changes });
                *cache = Some(cached);
                return Ok(out);
            }
        }
        let catalogue = Catalogue::read(tx, &self.sealer)?;
        let out = (catalogue.parts(), CatalogueRead::Whole);
        if let Some(token) = token_at(tx, generation)? {
            *cache = Some(Cached { generation, token, catalogue });
        }
        Ok(out)
    }

    /// Brings `cached` to `generation`; `None` when it cannot be trusted to (then it is dropped).
    fn patch_catalogue(&self, tx: &Tx<'_>, cached: &mut Cached, generation: u64) -> Result<Option<usize>, StoreError> {
        // The log keeps its last KEPT_CHANGES rows: any reader within them may patch, however many
        // of those changes were to the access part.
        let Some(rows) = vouched_rows(tx, cached.generation, cached.token, generation, KEPT_CHANGES)? else {
            return Ok(None);
        };
        // A key whose deletion window ended left every read without a write.
        if deletion_due(tx, now())? {
            return Ok(None);
        }
        let changed: BTreeSet<(&str, &str)> = rows[1..]
            .iter()
            .filter(|r| ResourceType::parse(&r.resource_type).is_none_or(ResourceType::touches_catalogue))
            .map(|r| (r.resource_type.as_str(), r.name.as_str()))
            .collect();
        if changed.len() > MAX_PATCHED_RESOURCES || !cached.catalogue.patch(tx, &self.sealer, &changed)? {
            return Ok(None);
        }
        cached.generation = generation;
        cached.token = rows.last().map_or(cached.token, |r| r.token);
        Ok(Some(rows.len() - 1))
    }
}
