//! The account the KMS OpenAPI serves (an id and a region, like an Alibaba Cloud account) and its
//! AccessKeys: the OpenAPI's credentials.
//!
//! - The account is made once, by the first open of the database (`aapkit init`, or the first
//!   open after an upgrade of a data directory made before accounts existed: it then gets the
//!   default region [`DEFAULT_REGION_ID`]). Its id and region never change afterwards.
//! - AccessKey secrets come from the OS CSPRNG and are sealed with the master key like key
//!   material, bound to their id ([`crate::seal::access_key_aad`]). Only [`Store::create_access_key`]
//!   hands a secret out in the clear (once), and [`Store::access_key_credential`] to the OpenAPI's
//!   signature check. Event images hold [`AccessKeyInfo`], which has no secret.
//! - The OpenAPI looks a credential up on every request: the unsealed credentials are cached per
//!   generation (every write bumps it), so a request costs one generation read and a map lookup,
//!   and a disabled or deleted key stops working with the write that changed it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::db::{self, Conn, Tx, TxMode};
use crate::params;
use serde::Serialize;
use zeroize::Zeroizing;

use super::seal::access_key_aad;
use super::time::{format_time, now};
use super::{read_generation, validate, Store, StoreError};
use crate::change::{Action, Change, ResourceType};

/// The region of an account made without one (Alibaba's default region).
pub const DEFAULT_REGION_ID: &str = "cn-hangzhou";
/// `Status` of a usable AccessKey.
pub const ACCESS_KEY_ENABLED: &str = "Enabled";
/// `Status` of an AccessKey that is kept but refused.
pub const ACCESS_KEY_DISABLED: &str = "Disabled";

pub(crate) const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const ACCESS_KEY_ID_PREFIX: &str = "LTAI";
const ACCESS_KEY_ID_RANDOM_LEN: usize = 20;
const ACCESS_KEY_SECRET_LEN: usize = 30;
const ACCOUNT_ID_LEN: usize = 16;

/// The account: who owns every resource of this data directory.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Account {
    /// 16 decimal digits, like an Alibaba Cloud UID.
    pub account_id: String,
    /// e.g. `cn-hangzhou`.
    pub region_id: String,
}

impl Account {
    /// `acs:kms:<region>:<account>:key/<key id>` (DescribeKey's `Arn`).
    pub fn key_arn(&self, key_id: &str) -> String {
        format!("acs:kms:{}:{}:key/{key_id}", self.region_id, self.account_id)
    }

    /// `acs:kms:<region>:<account>:secret/<name>` (DescribeSecret's `Arn`).
    pub fn secret_arn(&self, secret_name: &str) -> String {
        format!("acs:kms:{}:{}:secret/{secret_name}", self.region_id, self.account_id)
    }
}

/// An AccessKey as listed and described: never its secret.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyInfo {
    /// `LTAI` and 20 letters or digits.
    pub access_key_id: String,
    /// `Enabled` or `Disabled`.
    pub status: String,
    pub description: String,
    pub create_time: String,
}

/// A new AccessKey with its secret: the only time the secret leaves the store in the clear.
pub struct NewAccessKey {
    pub info: AccessKeyInfo,
    /// 30 letters or digits.
    pub secret: Zeroizing<String>,
}

impl std::fmt::Debug for NewAccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccessKey").field("info", &self.info).field("secret", &"(not shown)").finish()
    }
}

/// What the OpenAPI's signature check needs: the id, the secret, and whether it may be used.
#[derive(Clone)]
pub struct AccessKeyCredential {
    pub id: String,
    pub secret: Zeroizing<String>,
    pub enabled: bool,
}

impl std::fmt::Debug for AccessKeyCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyCredential")
            .field("id", &self.id)
            .field("secret", &"(not shown)")
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// Every AccessKey's credential, by id.
type Credentials = HashMap<String, AccessKeyCredential>;

/// The unsealed credentials of one generation.
#[derive(Default)]
pub(crate) struct CredentialCache(Mutex<Option<(u64, Arc<Credentials>)>>);

/// `n` characters of `alphabet`, uniformly, from the OS CSPRNG (rejection sampling: no modulo bias).
pub(crate) fn random_chars(alphabet: &[u8], n: usize) -> Result<Zeroizing<String>, StoreError> {
    let len = alphabet.len();
    // The largest multiple of `len` that fits a byte: bytes at or above it are redrawn.
    let limit = 256 - 256 % len;
    let mut out = Zeroizing::new(String::with_capacity(n));
    let mut buf = Zeroizing::new([0u8; 64]);
    while out.len() < n {
        aws_lc_rs::rand::fill(&mut buf[..]).map_err(|_| StoreError::Crypto("random generator failed".into()))?;
        for &b in buf.iter() {
            if out.len() == n {
                break;
            }
            if usize::from(b) < limit {
                if let Some(&c) = alphabet.get(usize::from(b) % len) {
                    out.push(char::from(c));
                }
            }
        }
    }
    Ok(out)
}

fn new_account_id() -> Result<String, StoreError> {
    // No leading zero, so the id reads as the 16-digit number it looks like.
    let first = random_chars(b"123456789", 1)?;
    let rest = random_chars(b"0123456789", ACCOUNT_ID_LEN - 1)?;
    Ok(format!("{}{}", first.as_str(), rest.as_str()))
}

fn new_access_key_id() -> Result<String, StoreError> {
    Ok(format!("{ACCESS_KEY_ID_PREFIX}{}", random_chars(ALNUM, ACCESS_KEY_ID_RANDOM_LEN)?.as_str()))
}

/// Makes the account if the database has none (region `region_id`, else [`DEFAULT_REGION_ID`]).
/// With an account already there, a `region_id` other than its region is refused: the region of
/// an account never changes (ARNs and the SDK's endpoint name it).
pub(crate) fn ensure_account(conn: &mut Conn, region_id: Option<&str>) -> Result<Account, StoreError> {
    if let Some(r) = region_id {
        validate::region_id(r)?;
    }
    conn.run(TxMode::Write, |tx| ensure_account_in(tx, region_id))
}

fn ensure_account_in(tx: &Tx<'_>, region_id: Option<&str>) -> Result<Account, StoreError> {
    let existing = (meta_text(tx, "account_id")?, meta_text(tx, "region_id")?);
    let account = match existing {
        (Some(account_id), Some(region)) => {
            if let Some(r) = region_id {
                if r != region {
                    return Err(StoreError::invalid(
                        "RegionId",
                        r,
                        format!(
                            "the account {account_id} is in region {region}; the region of an account cannot change"
                        ),
                    ));
                }
            }
            Account { account_id, region_id: region }
        }
        (None, None) => {
            let account =
                Account { account_id: new_account_id()?, region_id: region_id.unwrap_or(DEFAULT_REGION_ID).to_owned() };
            db::meta_set(tx, "account_id", &account.account_id)?;
            db::meta_set(tx, "region_id", &account.region_id)?;
            account
        }
        _ => return Err(StoreError::Corrupt("the account is half recorded (account_id or region_id missing)".into())),
    };
    Ok(account)
}

fn meta_text(tx: &Tx<'_>, name: &str) -> Result<Option<String>, StoreError> {
    db::meta_text(tx, name)
}

pub(crate) fn read_account(tx: &Tx<'_>) -> Result<Account, StoreError> {
    match (meta_text(tx, "account_id")?, meta_text(tx, "region_id")?) {
        (Some(account_id), Some(region_id)) => Ok(Account { account_id, region_id }),
        _ => Err(StoreError::Corrupt("the database has no account".into())),
    }
}

pub(crate) fn access_key_info(tx: &Tx<'_>, id: &str) -> Result<Option<AccessKeyInfo>, StoreError> {
    tx.query_opt("SELECT id, status, description, created FROM access_keys WHERE id = ?1", params![id], |r| {
        Ok(AccessKeyInfo {
            access_key_id: r.get(0)?,
            status: r.get(1)?,
            description: r.get(2)?,
            create_time: format_time(r.get(3)?),
        })
    })
}

fn require_access_key(tx: &Tx<'_>, id: &str) -> Result<AccessKeyInfo, StoreError> {
    access_key_info(tx, id)?.ok_or_else(|| StoreError::not_found("access key", id))
}

impl Store {
    /// The account this data directory serves.
    pub fn account(&self) -> Result<Account, StoreError> {
        self.read(read_account)
    }

    /// CreateAccessKey: a new Enabled key; the secret is returned here and never again.
    pub fn create_access_key(&self, description: &str) -> Result<NewAccessKey, StoreError> {
        validate::description(description)?;
        let id = new_access_key_id()?;
        let secret = random_chars(ALNUM, ACCESS_KEY_SECRET_LEN)?;
        let sealed = self.sealer.seal(&access_key_aad(&id), secret.as_bytes())?;
        let info = self.write(Change::new(ResourceType::AccessKey, &id, Action::Create, "CreateAccessKey"), |tx| {
            tx.execute(
                "INSERT INTO access_keys(id, sealed, status, description, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, sealed, ACCESS_KEY_ENABLED, description, now()],
            )?;
            require_access_key(tx, &id)
        })?;
        Ok(NewAccessKey { info, secret })
    }

    /// ListAccessKeys (oldest first; never a secret).
    pub fn list_access_keys(&self) -> Result<Vec<AccessKeyInfo>, StoreError> {
        self.read(|tx| {
            let rows = tx.query_map(
                "SELECT id, status, description, created FROM access_keys ORDER BY created, id",
                params![],
                |r| {
                    Ok(AccessKeyInfo {
                        access_key_id: r.get(0)?,
                        status: r.get(1)?,
                        description: r.get(2)?,
                        create_time: format_time(r.get(3)?),
                    })
                },
            )?;
            Ok(rows)
        })
    }

    /// UpdateAccessKey Status: `Enabled` or `Disabled` (idempotent).
    pub fn set_access_key_enabled(&self, id: &str, enabled: bool) -> Result<AccessKeyInfo, StoreError> {
        let operation = if enabled { "EnableAccessKey" } else { "DisableAccessKey" };
        self.write(Change::new(ResourceType::AccessKey, id, Action::Update, operation), |tx| {
            require_access_key(tx, id)?;
            let status = if enabled { ACCESS_KEY_ENABLED } else { ACCESS_KEY_DISABLED };
            tx.execute("UPDATE access_keys SET status = ?1 WHERE id = ?2", params![status, id])?;
            require_access_key(tx, id)
        })
    }

    /// DeleteAccessKey. Deleting the last (enabled) key is allowed: the CLI, which needs no
    /// AccessKey, is always a way back (`aapkit access-key create`).
    pub fn delete_access_key(&self, id: &str) -> Result<(), StoreError> {
        self.write(Change::new(ResourceType::AccessKey, id, Action::Delete, "DeleteAccessKey"), |tx| {
            // secure_delete zeroes the sealed secret's cells.
            let n = tx.execute("DELETE FROM access_keys WHERE id = ?1", params![id])?;
            if n == 0 {
                return Err(StoreError::not_found("access key", id));
            }
            Ok(())
        })
    }

    /// The credential of AccessKey `id` for signature checks (per request: cached per generation).
    /// An unknown id is [`StoreError::NotFound`] (kind `access key`); a disabled key is returned
    /// with `enabled: false`, for the caller to refuse.
    pub fn access_key_credential(&self, id: &str) -> Result<AccessKeyCredential, StoreError> {
        let current = self.cache_generation()?;
        let cached = {
            let cache = self.credentials.0.lock().unwrap_or_else(|p| p.into_inner());
            cache.as_ref().filter(|(g, _)| *g == current).map(|(_, m)| Arc::clone(m))
        };
        let map = match cached {
            Some(m) => m,
            None => {
                let (g, m) = self.read(|tx| Ok((read_generation(tx)?, Arc::new(self.load_credentials(tx)?))))?;
                let mut cache = self.credentials.0.lock().unwrap_or_else(|p| p.into_inner());
                // Keep the newest of two racing loads.
                if cache.as_ref().is_none_or(|(cg, _)| *cg <= g) {
                    *cache = Some((g, Arc::clone(&m)));
                }
                m
            }
        };
        map.get(id).cloned().ok_or_else(|| StoreError::not_found("access key", id))
    }

    fn load_credentials(&self, tx: &Tx<'_>) -> Result<Credentials, StoreError> {
        let rows = tx.query_map("SELECT id, sealed, status FROM access_keys", params![], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, String>(2)?))
        })?;
        let mut out = HashMap::with_capacity(rows.len());
        for (id, blob, status) in rows {
            let plain = self.sealer.open(&access_key_aad(&id), &blob)?;
            let secret = Zeroizing::new(
                std::str::from_utf8(&plain)
                    .map_err(|_| StoreError::Corrupt(format!("access key {id}: the secret is not UTF-8")))?
                    .to_owned(),
            );
            let enabled = match status.as_str() {
                ACCESS_KEY_ENABLED => true,
                ACCESS_KEY_DISABLED => false,
                other => return Err(StoreError::Corrupt(format!("access key {id}: status {other:?}"))),
            };
            out.insert(id.clone(), AccessKeyCredential { id, secret, enabled });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn generated_ids_have_alibabas_shapes() {
        for _ in 0..50 {
            let id = new_access_key_id().unwrap();
            assert_eq!(id.len(), 24);
            assert!(id.starts_with("LTAI") && id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
            let s = random_chars(ALNUM, ACCESS_KEY_SECRET_LEN).unwrap();
            assert_eq!(s.len(), 30);
            assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
            let a = new_account_id().unwrap();
            assert_eq!(a.len(), 16);
            assert!(a.bytes().all(|b| b.is_ascii_digit()) && !a.starts_with('0'), "{a}");
        }
        // Every character of the alphabet turns up: the sampling reaches all of it.
        let many = random_chars(ALNUM, 20_000).unwrap();
        assert!(ALNUM.iter().all(|c| many.as_bytes().contains(c)));
    }
}
