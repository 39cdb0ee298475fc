//! Keys, key versions and aliases.

use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

use super::seal::key_version_aad;
use super::time::now as now_wall;
use super::time::{format_time, now};
use super::{validate, Store, StoreError};
use crate::change::{Action, Change, ResourceType};
use aapkit_kms::keyring::{KeySpec, KeyState};

/// DescribeKey's view of a key (no material).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct KeyInfo {
    pub key_id: String,
    pub key_spec: String,
    pub key_state: String,
    pub description: String,
    pub creation_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_date: Option<String>,
    /// The version Encrypt uses.
    pub initial_key_version: String,
    /// The newest version (Advance operations).
    pub primary_key_version: String,
    /// All version ids, oldest first.
    pub key_versions: Vec<String>,
    pub aliases: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AliasInfo {
    pub alias_name: String,
    pub key_id: String,
    pub creation_date: String,
}

/// A `keys` row.
#[derive(Clone, Debug)]
pub(crate) struct KeyRow {
    pub id: String,
    pub spec: KeySpec,
    pub state: KeyState,
    pub description: String,
    pub created: i64,
    pub deletion_date: Option<i64>,
    pub initial_version: String,
    pub primary_version: String,
}

impl KeyRow {
    /// A key whose pending window has run out is gone: every read treats it as absent.
    pub fn is_deleted(&self, now: i64) -> bool {
        self.state == KeyState::PendingDeletion && self.deletion_date.is_some_and(|d| d <= now)
    }
}

const KEY_COLUMNS: &str = "id, spec, state, description, created, deletion_date, initial_version, primary_version";

fn key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(KeyRow, String, String)> {
    let spec: String = r.get(1)?;
    let state: String = r.get(2)?;
    Ok((
        KeyRow {
            id: r.get(0)?,
            spec: KeySpec::AliyunAes256,
            state: KeyState::Enabled,
            description: r.get(3)?,
            created: r.get(4)?,
            deletion_date: r.get(5)?,
            initial_version: r.get(6)?,
            primary_version: r.get(7)?,
        },
        spec,
        state,
    ))
}

fn finish_row((mut row, spec, state): (KeyRow, String, String)) -> Result<KeyRow, StoreError> {
    row.spec = KeySpec::parse(&spec).ok_or_else(|| StoreError::Corrupt(format!("key {}: spec {spec:?}", row.id)))?;
    row.state =
        KeyState::from_name(&state).ok_or_else(|| StoreError::Corrupt(format!("key {}: state {state:?}", row.id)))?;
    Ok(row)
}

/// The live key with this id or alias, if any.
pub(crate) fn find_key(tx: &Transaction<'_>, id_or_alias: &str) -> Result<Option<KeyRow>, StoreError> {
    let id: String = if id_or_alias.starts_with("alias/") {
        match tx
            .query_row("SELECT key_id FROM aliases WHERE name = ?1", params![id_or_alias], |r| r.get(0))
            .optional()?
        {
            Some(id) => id,
            None => return Ok(None),
        }
    } else {
        id_or_alias.to_owned()
    };
    let raw =
        tx.query_row(&format!("SELECT {KEY_COLUMNS} FROM keys WHERE id = ?1"), params![id], key_from_row).optional()?;
    match raw {
        Some(raw) => {
            let row = finish_row(raw)?;
            Ok(if row.is_deleted(now()) { None } else { Some(row) })
        }
        None => Ok(None),
    }
}

pub(crate) fn require_key(tx: &Transaction<'_>, id_or_alias: &str) -> Result<KeyRow, StoreError> {
    if id_or_alias.is_empty() {
        return Err(StoreError::MissingParameter("KeyId"));
    }
    let kind = if id_or_alias.starts_with("alias/") { "alias" } else { "key" };
    find_key(tx, id_or_alias)?.ok_or_else(|| StoreError::not_found(kind, id_or_alias))
}

/// All live keys, oldest first.
pub(crate) fn all_keys(tx: &Transaction<'_>) -> Result<Vec<KeyRow>, StoreError> {
    let mut stmt = tx.prepare(&format!("SELECT {KEY_COLUMNS} FROM keys ORDER BY created, id"))?;
    let rows = stmt.query_map([], key_from_row)?;
    let t = now();
    let mut out = Vec::new();
    for raw in rows {
        let row = finish_row(raw?)?;
        if !row.is_deleted(t) {
            out.push(row);
        }
    }
    Ok(out)
}

pub(crate) fn version_ids(tx: &Transaction<'_>, key_id: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = tx.prepare("SELECT id FROM key_versions WHERE key_id = ?1 ORDER BY created, rowid")?;
    let ids = stmt.query_map(params![key_id], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(ids)
}

pub(crate) fn aliases_of(tx: &Transaction<'_>, key_id: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = tx.prepare("SELECT name FROM aliases WHERE key_id = ?1 ORDER BY name")?;
    let names = stmt.query_map(params![key_id], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(names)
}

pub(crate) fn info(tx: &Transaction<'_>, row: &KeyRow) -> Result<KeyInfo, StoreError> {
    Ok(KeyInfo {
        key_id: row.id.clone(),
        key_spec: row.spec.as_str().to_owned(),
        key_state: row.state.name().to_owned(),
        description: row.description.clone(),
        creation_date: format_time(row.created),
        delete_date: row.deletion_date.map(format_time),
        initial_key_version: row.initial_version.clone(),
        primary_key_version: row.primary_version.clone(),
        key_versions: version_ids(tx, &row.id)?,
        aliases: aliases_of(tx, &row.id)?,
    })
}

/// Fresh key material (the native crypto backend's generator).
fn generate_material(spec: KeySpec) -> Result<zeroize::Zeroizing<Vec<u8>>, StoreError> {
    aapkit_kms::material::generate_material(spec)
        .map_err(|e| StoreError::Crypto(format!("generating {} key material: {e}", spec.as_str())))
}

/// What one [`Store::purge_deleted_keys`] run destroyed.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct PurgeReport {
    /// Keys whose material was destroyed in this run.
    pub purged_keys: Vec<String>,
    /// Key versions (sealed material rows) removed.
    pub destroyed_key_versions: usize,
    /// Whether the WAL was checkpointed and truncated to zero bytes. False when another connection
    /// kept it busy; the material is already zeroed in the pages, and the next run retries.
    pub wal_truncated: bool,
}

fn new_version_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

impl Store {
    /// CreateKey. `spec` defaults to `Aliyun_AES_256`.
    pub fn create_key(&self, spec: Option<&str>, description: &str) -> Result<KeyInfo, StoreError> {
        let spec_name = spec.unwrap_or("Aliyun_AES_256");
        let spec = KeySpec::parse(spec_name).ok_or_else(|| {
            StoreError::invalid("KeySpec", spec_name, "expected Aliyun_AES_256, RSA_2048, RSA_3072 or EC_P256")
        })?;
        validate::description(description)?;
        let key_id = format!("key-{}", uuid::Uuid::new_v4().simple());
        let version_id = new_version_id();
        // Generate outside the write lock: RSA generation can take a while.
        let material = generate_material(spec)?;
        let sealed = self.sealer.seal(&key_version_aad(&key_id, &version_id), &material)?;
        let created = now();
        self.write(Change::new(ResourceType::Key, &key_id, Action::Create, "CreateKey"), |tx| {
            tx.execute(
                &format!("INSERT INTO keys({KEY_COLUMNS}) VALUES (?1, ?2, 'Enabled', ?3, ?4, NULL, ?5, ?5)"),
                params![key_id, spec.as_str(), description, created, version_id],
            )?;
            tx.execute(
                "INSERT INTO key_versions(id, key_id, created, sealed) VALUES (?1, ?2, ?3, ?4)",
                params![version_id, key_id, created, sealed],
            )?;
            let row = require_key(tx, &key_id)?;
            info(tx, &row)
        })
    }

    /// ListKeys (live keys, oldest first).
    pub fn list_keys(&self) -> Result<Vec<KeyInfo>, StoreError> {
        self.read(|tx| all_keys(tx)?.iter().map(|row| info(tx, row)).collect())
    }

    /// DescribeKey, by key id or alias.
    pub fn describe_key(&self, id_or_alias: &str) -> Result<KeyInfo, StoreError> {
        self.read(|tx| info(tx, &require_key(tx, id_or_alias)?))
    }

    /// DisableKey. Idempotent on a disabled key; refused while deletion is pending.
    pub fn disable_key(&self, id_or_alias: &str) -> Result<KeyInfo, StoreError> {
        self.set_state(id_or_alias, "DisableKey", |row| match row.state {
            KeyState::Enabled | KeyState::Disabled => Ok(KeyState::Disabled),
            s => Err(StoreError::InvalidState(format!(
                "the key {} is {}; only Enabled keys can be disabled",
                row.id,
                s.name()
            ))),
        })
    }

    /// EnableKey. Idempotent on an enabled key; refused while deletion is pending.
    pub fn enable_key(&self, id_or_alias: &str) -> Result<KeyInfo, StoreError> {
        self.set_state(id_or_alias, "EnableKey", |row| match row.state {
            KeyState::Enabled | KeyState::Disabled => Ok(KeyState::Enabled),
            KeyState::PendingDeletion => Err(StoreError::InvalidState(format!(
                "the key {} is pending deletion; cancel the deletion first",
                row.id
            ))),
            s => Err(StoreError::InvalidState(format!("the key {} is {}", row.id, s.name()))),
        })
    }

    fn set_state(
        &self,
        id_or_alias: &str,
        operation: &'static str,
        next: impl FnOnce(&KeyRow) -> Result<KeyState, StoreError>,
    ) -> Result<KeyInfo, StoreError> {
        self.write(Change::new(ResourceType::Key, id_or_alias, Action::Update, operation), |tx| {
            let row = require_key(tx, id_or_alias)?;
            let state = next(&row)?;
            tx.execute("UPDATE keys SET state = ?1 WHERE id = ?2", params![state.name(), row.id])?;
            info(tx, &require_key(tx, &row.id)?)
        })
    }

    /// ScheduleKeyDeletion: the key becomes PendingDeletion and disappears after `pending_window_days`.
    pub fn schedule_key_deletion(&self, id_or_alias: &str, pending_window_days: i64) -> Result<KeyInfo, StoreError> {
        if !validate::PENDING_WINDOW_DAYS.contains(&pending_window_days) {
            return Err(StoreError::invalid(
                "PendingWindowInDays",
                pending_window_days.to_string(),
                "must be 7 to 366 days",
            ));
        }
        self.write(Change::new(ResourceType::Key, id_or_alias, Action::Update, "ScheduleKeyDeletion"), |tx| {
            let row = require_key(tx, id_or_alias)?;
            if row.state == KeyState::PendingDeletion {
                return Err(StoreError::InvalidState(format!("the key {} is already pending deletion", row.id)));
            }
            let when = now() + pending_window_days * 86_400;
            tx.execute(
                "UPDATE keys SET state = 'PendingDeletion', deletion_date = ?1 WHERE id = ?2",
                params![when, row.id],
            )?;
            info(tx, &require_key(tx, &row.id)?)
        })
    }

    /// CancelKeyDeletion: back to Enabled.
    pub fn cancel_key_deletion(&self, id_or_alias: &str) -> Result<KeyInfo, StoreError> {
        self.write(Change::new(ResourceType::Key, id_or_alias, Action::Update, "CancelKeyDeletion"), |tx| {
            let row = require_key(tx, id_or_alias)?;
            if row.state != KeyState::PendingDeletion {
                return Err(StoreError::InvalidState(format!(
                    "the key {} is {}, not PendingDeletion",
                    row.id,
                    row.state.name()
                )));
            }
            tx.execute("UPDATE keys SET state = 'Enabled', deletion_date = NULL WHERE id = ?1", params![row.id])?;
            info(tx, &require_key(tx, &row.id)?)
        })
    }

    /// CreateKeyVersion: a new primary version (symmetric, Enabled keys only). Old versions stay
    /// usable for decryption.
    pub fn rotate_key(&self, id_or_alias: &str) -> Result<KeyInfo, StoreError> {
        let spec = self.describe_key(id_or_alias)?.key_spec;
        let spec = KeySpec::parse(&spec).ok_or_else(|| StoreError::Corrupt(format!("key spec {spec:?}")))?;
        if !spec.is_symmetric() {
            return Err(StoreError::InvalidState(format!(
                "the key {id_or_alias} is {}; only symmetric keys can be rotated",
                spec.as_str()
            )));
        }
        let material = generate_material(spec)?;
        let version_id = new_version_id();
        self.write(Change::new(ResourceType::Key, id_or_alias, Action::Update, "CreateKeyVersion"), |tx| {
            let row = require_key(tx, id_or_alias)?;
            if row.state != KeyState::Enabled {
                return Err(StoreError::InvalidState(format!(
                    "the key {} is {}; only Enabled keys can be rotated",
                    row.id,
                    row.state.name()
                )));
            }
            let sealed = self.sealer.seal(&key_version_aad(&row.id, &version_id), &material)?;
            let created = now().max(row.created);
            tx.execute(
                "INSERT INTO key_versions(id, key_id, created, sealed) VALUES (?1, ?2, ?3, ?4)",
                params![version_id, row.id, created, sealed],
            )?;
            tx.execute("UPDATE keys SET primary_version = ?1 WHERE id = ?2", params![version_id, row.id])?;
            info(tx, &require_key(tx, &row.id)?)
        })
    }

    /// Destroys the material of every key whose deletion window ended at or before `now`: its
    /// versions' sealed rows are deleted (zeroed on disk by `secure_delete`) and its aliases removed;
    /// the `keys` row stays as a tombstone (id, spec, dates, no material) so secrets that name the
    /// key keep a valid reference, and every read already treats it as absent (KeyNotFound). One
    /// management event (`PurgeKey`) per key. Afterwards the WAL is checkpointed and truncated so
    /// no older page image with the material survives in `aapkit.db-wal`.
    ///
    /// `now` is passed in (the server's clock, or the CLI's `--now`), never read here.
    pub fn purge_deleted_keys(&self, now: i64) -> Result<PurgeReport, StoreError> {
        let due: Vec<String> = self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT id FROM keys k WHERE state = 'PendingDeletion' AND deletion_date <= ?1
                 AND EXISTS (SELECT 1 FROM key_versions v WHERE v.key_id = k.id) ORDER BY id",
            )?;
            let ids = stmt.query_map(params![now], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
            Ok(ids)
        })?;
        let mut report = PurgeReport::default();
        for id in due {
            let destroyed = self.write(Change::new(ResourceType::Key, &id, Action::Delete, "PurgeKey"), |tx| {
                // Checked again under the write lock: a CancelKeyDeletion may have won the race.
                let still_due = tx
                    .query_row(
                        "SELECT 1 FROM keys WHERE id = ?1 AND state = 'PendingDeletion' AND deletion_date <= ?2",
                        params![id, now],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if !still_due {
                    return Err(StoreError::InvalidState(format!("the key {id} is no longer due for deletion")));
                }
                let n = tx.execute("DELETE FROM key_versions WHERE key_id = ?1", params![id])?;
                tx.execute("DELETE FROM aliases WHERE key_id = ?1", params![id])?;
                // The material is gone now: the tombstone must read as deleted from now on, even
                // when `now` was a clock moved ahead of the wall clock.
                tx.execute(
                    "UPDATE keys SET deletion_date = MIN(deletion_date, ?2) WHERE id = ?1",
                    params![id, now_wall()],
                )?;
                Ok(n)
            });
            match destroyed {
                Ok(n) => {
                    report.destroyed_key_versions += n;
                    report.purged_keys.push(id);
                }
                Err(StoreError::InvalidState(_)) => {}
                Err(e) => return Err(e),
            }
        }
        report.wal_truncated = self.truncate_wal()?;
        Ok(report)
    }

    /// CreateAlias: `alias/<name>` → key. Alias names are unique.
    pub fn create_alias(&self, alias: &str, key_id: &str) -> Result<AliasInfo, StoreError> {
        validate::alias_name(alias)?;
        self.write(Change::new(ResourceType::Alias, alias, Action::Create, "CreateAlias"), |tx| {
            let row = require_key(tx, key_id)?;
            let existing: Option<String> =
                tx.query_row("SELECT key_id FROM aliases WHERE name = ?1", params![alias], |r| r.get(0)).optional()?;
            if let Some(old) = existing {
                // An alias left behind by a key whose deletion completed is free again.
                if find_key(tx, &old)?.is_some() {
                    return Err(StoreError::AlreadyExists { kind: "alias", name: alias.to_owned() });
                }
                tx.execute("DELETE FROM aliases WHERE name = ?1", params![alias])?;
            }
            let created = now();
            tx.execute(
                "INSERT INTO aliases(name, key_id, created) VALUES (?1, ?2, ?3)",
                params![alias, row.id, created],
            )?;
            Ok(AliasInfo { alias_name: alias.to_owned(), key_id: row.id, creation_date: format_time(created) })
        })
    }

    /// DeleteAlias.
    pub fn delete_alias(&self, alias: &str) -> Result<(), StoreError> {
        self.write(Change::new(ResourceType::Alias, alias, Action::Delete, "DeleteAlias"), |tx| {
            let n = tx.execute("DELETE FROM aliases WHERE name = ?1", params![alias])?;
            if n == 0 {
                return Err(StoreError::not_found("alias", alias));
            }
            Ok(())
        })
    }

    /// ListAliases, optionally of one key (by id or alias).
    pub fn list_aliases(&self, key: Option<&str>) -> Result<Vec<AliasInfo>, StoreError> {
        self.read(|tx| {
            let only = key.map(|k| require_key(tx, k).map(|r| r.id)).transpose()?;
            let mut stmt = tx.prepare("SELECT name, key_id, created FROM aliases ORDER BY name")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut out = Vec::new();
            for (name, key_id, created) in rows {
                if only.as_ref().is_some_and(|o| *o != key_id) || find_key(tx, &key_id)?.is_none() {
                    continue;
                }
                out.push(AliasInfo { alias_name: name, key_id, creation_date: format_time(created) });
            }
            Ok(out)
        })
    }
}
