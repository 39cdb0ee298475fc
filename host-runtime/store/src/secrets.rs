//! Secrets and their versions. Values are sealed; stages move like Alibaba's PutSecretValue
//! (the new version takes `ACSCurrent`, the old current one becomes `ACSPrevious`).

use crate::db::Tx;
use crate::params;
use serde::Serialize;
use zeroize::Zeroizing;

use super::keys::require_key;
use super::seal::secret_version_aad;
use super::time::{format_time, now};
use super::{validate, Store, StoreError};
use crate::change::{Action, Change, ResourceType};
use aapkit_kms::keyring::{KeyState, SecretDataType};

pub const STAGE_CURRENT: &str = "ACSCurrent";
pub const STAGE_PREVIOUS: &str = "ACSPrevious";
/// SecretType of secrets created here (Alibaba's generic secrets).
pub const SECRET_TYPE: &str = "Generic";

/// A value to store: the bytes (UTF-8 for `text`), its type, and optionally a version id and stages.
pub struct SecretValueInput {
    pub data: Zeroizing<Vec<u8>>,
    pub data_type: SecretDataType,
    /// Generated (a UUID) when absent.
    pub version_id: Option<String>,
    /// Defaults to `[ACSCurrent]`.
    pub version_stages: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct SecretVersionInfo {
    pub version_id: String,
    pub version_stages: Vec<String>,
    pub secret_data_type: String,
    pub create_time: String,
}

/// DescribeSecret's view (no value).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct SecretInfo {
    pub secret_name: String,
    pub encryption_key_id: String,
    pub secret_type: String,
    pub description: String,
    pub create_time: String,
    pub versions: Vec<SecretVersionInfo>,
    /// When a DeleteSecret's recovery window ends (absent unless deletion is pending). A secret
    /// pending deletion cannot be read through the gateway nor changed; RestoreSecret cancels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned_delete_time: Option<String>,
}

/// DeleteSecret's answer.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct SecretDeletionInfo {
    pub secret_name: String,
    /// The end of the recovery window; with ForceDeleteWithoutRecovery, the time it was destroyed.
    pub planned_delete_time: String,
}

/// RecoveryWindowInDays of DeleteSecret.
pub const RECOVERY_WINDOW_DAYS: std::ops::RangeInclusive<i64> = 7..=30;
/// RecoveryWindowInDays when none is given.
pub const DEFAULT_RECOVERY_WINDOW_DAYS: i64 = 30;

pub(crate) fn parse_data_type(s: &str) -> Option<SecretDataType> {
    match s {
        "text" => Some(SecretDataType::Text),
        "binary" => Some(SecretDataType::Binary),
        _ => None,
    }
}

fn check_value(v: &SecretValueInput) -> Result<(String, Vec<String>), StoreError> {
    if v.data.is_empty() {
        return Err(StoreError::MissingParameter("SecretData"));
    }
    if v.data.len() > validate::MAX_SECRET_BYTES {
        return Err(StoreError::invalid(
            "SecretData",
            format!("({} bytes)", v.data.len()),
            format!("a secret value holds at most {} bytes", validate::MAX_SECRET_BYTES),
        ));
    }
    if v.data_type == SecretDataType::Text && std::str::from_utf8(&v.data).is_err() {
        return Err(StoreError::invalid("SecretData", "(not shown)", "text secrets must be UTF-8; use binary"));
    }
    let version_id = match &v.version_id {
        Some(id) => {
            validate::version_label("VersionId", id)?;
            id.clone()
        }
        None => uuid::Uuid::new_v4().hyphenated().to_string(),
    };
    let mut stages: Vec<String> = Vec::new();
    for s in &v.version_stages {
        validate::version_label("VersionStages", s)?;
        if !stages.contains(s) {
            stages.push(s.clone());
        }
    }
    if stages.is_empty() {
        stages.push(STAGE_CURRENT.to_owned());
    }
    Ok((version_id, stages))
}

/// The key a secret is encrypted under must be a live, enabled, symmetric key.
fn check_encryption_key(tx: &Tx<'_>, key: &str) -> Result<String, StoreError> {
    let row = require_key(tx, key)?;
    if !row.spec.is_symmetric() {
        return Err(StoreError::invalid(
            "EncryptionKeyId",
            key,
            format!("{} is not a symmetric key", row.spec.as_str()),
        ));
    }
    if row.state != KeyState::Enabled {
        return Err(StoreError::invalid("EncryptionKeyId", key, format!("the key is {}", row.state.name())));
    }
    Ok(row.id)
}

impl Store {
    /// CreateSecret with its first value.
    pub fn create_secret(
        &self,
        name: &str,
        encryption_key: &str,
        description: &str,
        value: SecretValueInput,
    ) -> Result<SecretInfo, StoreError> {
        validate::secret_name(name)?;
        validate::description(description)?;
        let (version_id, stages) = check_value(&value)?;
        let sealed = self.sealer.seal(&secret_version_aad(name, &version_id), &value.data)?;
        self.write(Change::new(ResourceType::Secret, name, Action::Create, "CreateSecret"), |tx| {
            if secret_exists(tx, name)? {
                return Err(StoreError::AlreadyExists { kind: "secret", name: name.to_owned() });
            }
            let key_id = check_encryption_key(tx, encryption_key)?;
            tx.execute(
                "INSERT INTO secrets(name, encryption_key_id, secret_type, description, created)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, key_id, SECRET_TYPE, description, now()],
            )?;
            insert_version(tx, name, &version_id, value.data_type, &stages, &sealed)?;
            describe(tx, name)
        })
    }

    /// PutSecretValue: a new version; its stages (default `ACSCurrent`) move to it.
    pub fn put_secret_value(&self, name: &str, value: SecretValueInput) -> Result<SecretVersionInfo, StoreError> {
        validate::secret_name(name)?;
        let (version_id, stages) = check_value(&value)?;
        let sealed = self.sealer.seal(&secret_version_aad(name, &version_id), &value.data)?;
        self.write(Change::new(ResourceType::Secret, name, Action::Update, "PutSecretValue"), |tx| {
            require_changeable(tx, name)?;
            let taken: bool = tx
                .query_opt(
                    "SELECT 1 FROM secret_versions WHERE secret_name = ?1 AND version_id = ?2",
                    params![name, version_id],
                    |_| Ok(()),
                )?
                .is_some();
            if taken {
                return Err(StoreError::AlreadyExists { kind: "secret version", name: format!("{name}/{version_id}") });
            }
            insert_version(tx, name, &version_id, value.data_type, &stages, &sealed)?;
            describe(tx, name)?
                .versions
                .into_iter()
                .find(|v| v.version_id == version_id)
                .ok_or_else(|| StoreError::Corrupt(format!("secret {name}: version {version_id} vanished")))
        })
    }

    /// DeleteSecret. With `force` (ForceDeleteWithoutRecovery) every version is destroyed now and
    /// the name is free again; otherwise the secret is pending deletion for `recovery_window_days`
    /// (7 to 30, default 30): unreadable at the gateway, unchangeable, restorable by
    /// [`Store::restore_secret`], destroyed by the purge ([`Store::purge_deleted_keys`]) after.
    pub fn delete_secret(
        &self,
        name: &str,
        recovery_window_days: Option<i64>,
        force: bool,
    ) -> Result<SecretDeletionInfo, StoreError> {
        validate::secret_name(name)?;
        if let Some(d) = recovery_window_days {
            if force {
                return Err(StoreError::invalid(
                    "RecoveryWindowInDays",
                    d.to_string(),
                    "cannot be combined with ForceDeleteWithoutRecovery=true",
                ));
            }
            if !RECOVERY_WINDOW_DAYS.contains(&d) {
                return Err(StoreError::invalid("RecoveryWindowInDays", d.to_string(), "must be 7 to 30 days"));
            }
        }
        self.write(Change::new(ResourceType::Secret, name, Action::Delete, "DeleteSecret"), |tx| {
            let planned = planned_delete_time(tx, name)?.ok_or_else(|| StoreError::not_found("secret", name))?;
            let t = now();
            if force {
                destroy(tx, name)?;
                return Ok(SecretDeletionInfo { secret_name: name.to_owned(), planned_delete_time: format_time(t) });
            }
            if let Some(when) = planned {
                return Err(StoreError::InvalidState(format!(
                    "the secret {name} is already pending deletion (until {}); RestoreSecret cancels it",
                    format_time(when)
                )));
            }
            let when = t + recovery_window_days.unwrap_or(DEFAULT_RECOVERY_WINDOW_DAYS) * 86_400;
            tx.execute("UPDATE secrets SET planned_delete_time = ?1 WHERE name = ?2", params![when, name])?;
            Ok(SecretDeletionInfo { secret_name: name.to_owned(), planned_delete_time: format_time(when) })
        })
    }

    /// RestoreSecret: cancels a pending deletion.
    pub fn restore_secret(&self, name: &str) -> Result<SecretInfo, StoreError> {
        validate::secret_name(name)?;
        self.write(Change::new(ResourceType::Secret, name, Action::Update, "RestoreSecret"), |tx| {
            match planned_delete_time(tx, name)? {
                None => return Err(StoreError::not_found("secret", name)),
                Some(None) => {
                    return Err(StoreError::InvalidState(format!("the secret {name} is not pending deletion")))
                }
                Some(Some(_)) => {}
            }
            tx.execute("UPDATE secrets SET planned_delete_time = NULL WHERE name = ?1", params![name])?;
            describe(tx, name)
        })
    }

    /// ListSecretVersionIds: versions oldest first. A version with no stage is deprecated and
    /// left out unless `include_deprecated`.
    pub fn list_secret_version_ids(
        &self,
        name: &str,
        include_deprecated: bool,
    ) -> Result<Vec<SecretVersionInfo>, StoreError> {
        self.read(|tx| {
            if !secret_exists(tx, name)? {
                return Err(StoreError::not_found("secret", name));
            }
            let versions = describe(tx, name)?.versions;
            Ok(versions.into_iter().filter(|v| include_deprecated || !v.version_stages.is_empty()).collect())
        })
    }

    /// UpdateSecretVersionStage: moves `stage` from `remove_from` to `move_to`, or removes it
    /// (`move_to` absent), or attaches it (`remove_from` absent; only when no other version has
    /// it). `ACSCurrent` cannot be removed without being moved, and moving it makes the version
    /// it leaves `ACSPrevious` (as PutSecretValue does).
    pub fn update_secret_version_stage(
        &self,
        name: &str,
        stage: &str,
        remove_from: Option<&str>,
        move_to: Option<&str>,
    ) -> Result<SecretInfo, StoreError> {
        validate::secret_name(name)?;
        if stage.is_empty() {
            return Err(StoreError::MissingParameter("VersionStage"));
        }
        validate::version_label("VersionStage", stage)?;
        if let Some(r) = remove_from {
            validate::version_label("RemoveFromVersion", r)?;
        }
        if let Some(m) = move_to {
            validate::version_label("MoveToVersion", m)?;
        }
        if remove_from.is_none() && move_to.is_none() {
            return Err(StoreError::MissingParameter("RemoveFromVersion or MoveToVersion"));
        }
        if stage == STAGE_CURRENT && move_to.is_none() {
            return Err(StoreError::invalid(
                "VersionStage",
                stage,
                "ACSCurrent cannot be removed without being moved; give MoveToVersion",
            ));
        }
        self.write(Change::new(ResourceType::Secret, name, Action::Update, "UpdateSecretVersionStage"), |tx| {
            require_changeable(tx, name)?;
            let holder: Option<String> = tx
                .query_opt(
                    "SELECT version_id FROM secret_stages WHERE secret_name = ?1 AND stage = ?2",
                    params![name, stage],
                    |r| r.get(0),
                )
                ?;
            if let Some(r) = remove_from {
                if !version_exists(tx, name, r)? {
                    return Err(StoreError::invalid("RemoveFromVersion", r, "the secret has no such version"));
                }
                if holder.as_deref() != Some(r) {
                    return Err(StoreError::invalid(
                        "RemoveFromVersion",
                        r,
                        format!("the stage {stage} is not attached to this version"),
                    ));
                }
            }
            match move_to {
                Some(m) => {
                    if !version_exists(tx, name, m)? {
                        return Err(StoreError::invalid("MoveToVersion", m, "the secret has no such version"));
                    }
                    if let Some(h) = holder.as_deref().filter(|h| *h != m) {
                        if remove_from.is_none() {
                            return Err(StoreError::invalid(
                                "RemoveFromVersion",
                                "",
                                format!("the stage {stage} is attached to version {h}; name it in RemoveFromVersion to move it"),
                            ));
                        }
                        if stage == STAGE_CURRENT {
                            set_stage(tx, name, STAGE_PREVIOUS, h)?;
                        }
                    }
                    set_stage(tx, name, stage, m)?;
                }
                None => {
                    tx.execute(
                        "DELETE FROM secret_stages WHERE secret_name = ?1 AND stage = ?2",
                        params![name, stage],
                    )?;
                }
            }
            describe(tx, name)
        })
    }

    /// Destroys every secret whose recovery window ended at or before `now` (one `PurgeSecret`
    /// event each). Part of [`Store::purge_deleted_keys`].
    pub(crate) fn purge_deleted_secrets(&self, now: i64) -> Result<Vec<String>, StoreError> {
        let due: Vec<String> = self.read(|tx| {
            let names: Vec<String> = tx.query_map(
                "SELECT name FROM secrets WHERE planned_delete_time IS NOT NULL AND planned_delete_time <= ?1 ORDER BY name", params![now], |r| r.get(0))?;
            Ok(names)
        })?;
        let mut purged = Vec::new();
        for name in due {
            let done = self.write(Change::new(ResourceType::Secret, &name, Action::Delete, "PurgeSecret"), |tx| {
                // Checked again under the write lock: a RestoreSecret may have won the race.
                match planned_delete_time(tx, &name)? {
                    Some(Some(t)) if t <= now => destroy(tx, &name),
                    _ => Err(StoreError::InvalidState(format!("the secret {name} is no longer due for deletion"))),
                }
            });
            match done {
                Ok(()) => purged.push(name),
                Err(StoreError::InvalidState(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(purged)
    }

    /// ListSecrets (no values).
    pub fn list_secrets(&self) -> Result<Vec<SecretInfo>, StoreError> {
        self.read(|tx| {
            let names = secret_names(tx)?;
            names.iter().map(|n| describe(tx, n)).collect()
        })
    }

    /// DescribeSecret (no value).
    pub fn describe_secret(&self, name: &str) -> Result<SecretInfo, StoreError> {
        self.read(|tx| {
            if !secret_exists(tx, name)? {
                return Err(StoreError::not_found("secret", name));
            }
            describe(tx, name)
        })
    }
}

fn secret_exists(tx: &Tx<'_>, name: &str) -> Result<bool, StoreError> {
    Ok(tx.query_opt("SELECT 1 FROM secrets WHERE name = ?1", params![name], |_| Ok(()))?.is_some())
}

/// `None`: no such secret; `Some(None)`: live; `Some(Some(t))`: pending deletion until `t`.
fn planned_delete_time(tx: &Tx<'_>, name: &str) -> Result<Option<Option<i64>>, StoreError> {
    tx.query_opt("SELECT planned_delete_time FROM secrets WHERE name = ?1", params![name], |r| r.get(0))
}

/// The secret exists and is not pending deletion.
fn require_changeable(tx: &Tx<'_>, name: &str) -> Result<(), StoreError> {
    match planned_delete_time(tx, name)? {
        None => Err(StoreError::not_found("secret", name)),
        Some(Some(t)) => Err(StoreError::InvalidState(format!(
            "the secret {name} is pending deletion (until {}); RestoreSecret it first",
            format_time(t)
        ))),
        Some(None) => Ok(()),
    }
}

fn version_exists(tx: &Tx<'_>, name: &str, version_id: &str) -> Result<bool, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM secret_versions WHERE secret_name = ?1 AND version_id = ?2",
            params![name, version_id],
            |_| Ok(()),
        )?
        .is_some())
}

/// Deletes the secret and every sealed version (zeroed on disk by `secure_delete`).
fn destroy(tx: &Tx<'_>, name: &str) -> Result<(), StoreError> {
    tx.execute("DELETE FROM secret_stages WHERE secret_name = ?1", params![name])?;
    tx.execute("DELETE FROM secret_versions WHERE secret_name = ?1", params![name])?;
    tx.execute("DELETE FROM secrets WHERE name = ?1", params![name])?;
    Ok(())
}

/// Secrets not pending deletion: what the gateway may serve and the bundle lists.
pub(crate) fn live_secret_names(tx: &Tx<'_>) -> Result<Vec<String>, StoreError> {
    let names: Vec<String> =
        tx.query_map("SELECT name FROM secrets WHERE planned_delete_time IS NULL ORDER BY name", params![], |r| {
            r.get(0)
        })?;
    Ok(names)
}

pub(crate) fn secret_names(tx: &Tx<'_>) -> Result<Vec<String>, StoreError> {
    let names: Vec<String> = tx.query_map("SELECT name FROM secrets ORDER BY name", params![], |r| r.get(0))?;
    Ok(names)
}

fn insert_version(
    tx: &Tx<'_>,
    name: &str,
    version_id: &str,
    data_type: SecretDataType,
    stages: &[String],
    sealed: &[u8],
) -> Result<(), StoreError> {
    let seq: i64 = tx.query_row(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM secret_versions WHERE secret_name = ?1",
        params![name],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO secret_versions(secret_name, version_id, data_type, created, seq, sealed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![name, version_id, data_type.as_str(), now(), seq, sealed],
    )?;
    if stages.iter().any(|s| s == STAGE_CURRENT) {
        let old: Option<String> = tx.query_opt(
            "SELECT version_id FROM secret_stages WHERE secret_name = ?1 AND stage = ?2",
            params![name, STAGE_CURRENT],
            |r| r.get(0),
        )?;
        if let Some(old) = old {
            set_stage(tx, name, STAGE_PREVIOUS, &old)?;
        }
    }
    for s in stages {
        set_stage(tx, name, s, version_id)?;
    }
    Ok(())
}

fn set_stage(tx: &Tx<'_>, name: &str, stage: &str, version_id: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO secret_stages(secret_name, stage, version_id) VALUES (?1, ?2, ?3)
         ON CONFLICT(secret_name, stage) DO UPDATE SET version_id = excluded.version_id",
        params![name, stage, version_id],
    )?;
    Ok(())
}

/// Stages of one version, `ACSCurrent` and `ACSPrevious` first.
pub(crate) fn stages_of(tx: &Tx<'_>, name: &str, version_id: &str) -> Result<Vec<String>, StoreError> {
    let stages: Vec<String> = tx.query_map(
        "SELECT stage FROM secret_stages WHERE secret_name = ?1 AND version_id = ?2
         ORDER BY CASE stage WHEN 'ACSCurrent' THEN 0 WHEN 'ACSPrevious' THEN 1 ELSE 2 END, stage",
        params![name, version_id],
        |r| r.get(0),
    )?;
    Ok(stages)
}

pub(crate) fn describe(tx: &Tx<'_>, name: &str) -> Result<SecretInfo, StoreError> {
    let (key_id, secret_type, description, created, planned): (String, String, String, i64, Option<i64>) = tx
        .query_row(
        "SELECT encryption_key_id, secret_type, description, created, planned_delete_time FROM secrets WHERE name = ?1",
        params![name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )?;
    let rows = tx.query_map(
        "SELECT version_id, data_type, created FROM secret_versions WHERE secret_name = ?1 ORDER BY seq",
        params![name],
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)),
    )?;
    let mut versions = Vec::with_capacity(rows.len());
    for (version_id, data_type, vcreated) in rows {
        versions.push(SecretVersionInfo {
            version_stages: stages_of(tx, name, &version_id)?,
            version_id,
            secret_data_type: data_type,
            create_time: format_time(vcreated),
        });
    }
    Ok(SecretInfo {
        secret_name: name.to_owned(),
        encryption_key_id: key_id,
        secret_type,
        description,
        create_time: format_time(created),
        versions,
        planned_delete_time: planned.map(format_time),
    })
}
