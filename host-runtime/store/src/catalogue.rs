//! The key catalogue a configuration read hands out: the request path's key ring (material
//! unsealed) and the bundle's `Keys` and `Secrets`, both made from one [`Catalogue`]. A store
//! handle keeps the catalogue it read last, and a reload after a change to keys, aliases or secrets
//! reads again only the ones the change log names ([`crate::changelog`]): at 100,000 keys a whole
//! read, every key version unsealed, takes about a second.
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
use crate::keys::KeyRow;
use crate::keys::{aliases_by_key, aliases_of, all_keys, deletion_due, find_key, sealed_versions_of, versions_by_key};
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
    /// The bundle's `Keys` and `Secrets`.
    pub keys: Vec<Key>,
    pub secrets: Vec<Secret>,
}

/// The live key catalogue. Records are shared with the rings made from it, so keeping it costs
/// its maps, not a second copy of the material.
#[derive(Default)]
pub(crate) struct Catalogue {
    /// Live keys (not past their deletion window) by id.
    keys: HashMap<String, LiveKey>,
    /// Every alias row, `alias/<name>` to key id. One naming a key not live is in neither output.
    aliases: BTreeMap<String, String>,
    /// Live secrets (not pending deletion) by name.
    secrets: BTreeMap<String, LiveSecret>,
}

struct LiveKey {
    /// Creation time: the bundle lists keys by (created, id).
    created: i64,
    record: Arc<KeyRecord>,
}

struct LiveSecret {
    key_id: String,
    /// Oldest first.
    versions: Vec<Arc<SecretVersionRecord>>,
}

impl Catalogue {
    /// Every live key (material unsealed), alias and live secret version.
    pub(crate) fn read(tx: &Tx<'_>, sealer: &Sealer) -> Result<Catalogue, StoreError> {
        let mut sealed = versions_by_key(tx, true)?;
        let mut keys = HashMap::new();
        for row in all_keys(tx)? {
            let versions = sealed.remove(&row.id).unwrap_or_default();
            keys.insert(row.id.clone(), live_key(sealer, row, versions)?);
        }
        let mut aliases = BTreeMap::new();
        for (key_id, names) in aliases_by_key(tx)? {
            for name in names {
                aliases.insert(name, key_id.clone());
            }
        }
        let mut secrets = BTreeMap::new();
        for name in live_secret_names(tx)? {
            if let Some(secret) = read_secret(tx, sealer, &name)? {
                secrets.insert(name, secret);
            }
        }
        Ok(Catalogue { keys, aliases, secrets })
    }

    pub(crate) fn parts(&self) -> CatalogueParts {
        let (keys, secrets) = self.bundle_entries();
        CatalogueParts { ring: self.ring(), keys, secrets }
    }

    /// The request path's key ring.
    pub(crate) fn ring(&self) -> IndexedKeyRing {
        IndexedKeyRing::from_shared(
            self.keys.values().map(|k| Arc::clone(&k.record)),
            self.aliases.iter().map(|(alias, key)| (alias.clone(), key.clone())),
            self.secrets.values().flat_map(|s| s.versions.iter().cloned()),
        )
    }

    /// The bundle's `Keys` (by creation time, then id) and `Secrets` (by name; a secret whose key
    /// is no longer live leaves it: the bundle must not name a key it does not list).
    fn bundle_entries(&self) -> (Vec<Key>, Vec<Secret>) {
        let mut aliases: HashMap<&str, Vec<String>> = HashMap::new();
        for (alias, key_id) in &self.aliases {
            aliases.entry(key_id.as_str()).or_default().push(alias.clone());
        }
        let mut live: Vec<&LiveKey> = self.keys.values().collect();
        live.sort_unstable_by(|a, b| (a.created, &a.record.key_id).cmp(&(b.created, &b.record.key_id)));
        let keys = live
            .into_iter()
            .map(|k| {
                let r = &k.record;
                Key {
                    key_id: r.key_id.clone(),
                    aliases: aliases.remove(r.key_id.as_str()).unwrap_or_default(),
                    key_spec: r.spec.as_str().to_owned(),
                    key_state: r.state,
                    key_versions: r.versions.iter().map(|v| v.version_id.clone()).collect(),
                }
            })
            .collect();
        let secrets = self
            .secrets
            .iter()
            .filter(|(_, s)| self.keys.contains_key(&s.key_id))
            .map(|(name, s)| Secret { secret_name: name.clone(), encryption_key_id: s.key_id.clone() })
            .collect();
        (keys, secrets)
    }

    /// Reads again the resources `changed` names; `false` when it cannot (a kind outside the
    /// catalogue is skipped).
    fn patch(&mut self, tx: &Tx<'_>, sealer: &Sealer, changed: &BTreeSet<(&str, &str)>) -> Result<bool, StoreError> {
        for &(kind, name) in changed {
            match ResourceType::parse(kind) {
                Some(ResourceType::Key) => {
                    match find_key(tx, name)? {
                        Some(row) => {
                            let versions = sealed_versions_of(tx, &row.id)?;
                            self.keys.insert(row.id.clone(), live_key(sealer, row, versions)?);
                        }
                        None => {
                            self.keys.remove(name);
                        }
                    }
                    // A purge removes the key's aliases in the same write.
                    let now_named: BTreeSet<String> = aliases_of(tx, name)?.into_iter().collect();
                    self.aliases.retain(|alias, key| key != name || now_named.contains(alias));
                    for alias in now_named {
                        self.aliases.insert(alias, name.to_owned());
                    }
                }
                Some(ResourceType::Alias) => {
                    let key: Option<String> =
                        tx.query_opt("SELECT key_id FROM aliases WHERE name = ?1", params![name], |r| r.get(0))?;
                    match key {
                        Some(key) => self.aliases.insert(name.to_owned(), key),
                        None => self.aliases.remove(name),
                    };
                }
                Some(ResourceType::Secret) => match read_secret(tx, sealer, name)? {
                    Some(secret) => {
                        self.secrets.insert(name.to_owned(), secret);
                    }
                    None => {
                        self.secrets.remove(name);
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
                held(self.keys.values().map(|k| k.record.versions.len()).sum()),
                held(self.aliases.len()),
                held(self.secrets.len()),
                held(self.secrets.values().map(|s| s.versions.len()).sum()),
            ))
    }
}

fn live_key(sealer: &Sealer, row: KeyRow, sealed: Vec<(String, Vec<u8>)>) -> Result<LiveKey, StoreError> {
    let mut versions = Vec::with_capacity(sealed.len());
    for (version_id, blob) in sealed {
        let material = sealer.open(&key_version_aad(&row.id, &version_id), &blob)?;
        versions.push(KeyVersionRecord { version_id, material });
    }
    Ok(LiveKey {
        created: row.created,
        record: Arc::new(KeyRecord {
            key_id: row.id,
            spec: row.spec,
            state: row.state,
            initial_version_id: row.initial_version,
            primary_version_id: row.primary_version,
            versions,
        }),
    })
}

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
    Ok(Some(LiveSecret { key_id, versions }))
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
