//! Client-key expiry notices: one row per key and threshold, so a notice fires once, and its
//! webhook delivery state. Operations data, not configuration: writes do not bump the generation.

use crate::db::Tx;
use crate::params;
use serde::Serialize;

use crate::access;
use crate::time::ser_time;
use crate::{Store, StoreError};

/// One expiry notice (one per client key and threshold).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ExpiryNotice {
    pub client_key_id: String,
    pub aap_name: String,
    pub threshold_days: i64,
    #[serde(serialize_with = "ser_time")]
    pub not_after: i64,
    pub days_to_expiry: i64,
    #[serde(serialize_with = "ser_time")]
    pub notified_at: i64,
    /// `None` (no webhook), `Pending`, `Delivered`, `Failed`, or `Superseded` (a tighter threshold
    /// was reached first, so this one was recorded but not announced).
    pub delivery: String,
    pub delivery_attempts: i64,
    pub last_error: String,
}

pub const DELIVERY_NONE: &str = "None";
pub const DELIVERY_PENDING: &str = "Pending";
pub const DELIVERY_DELIVERED: &str = "Delivered";
pub const DELIVERY_FAILED: &str = "Failed";
pub const DELIVERY_SUPERSEDED: &str = "Superseded";

const NOTICE_COLUMNS: &str =
    "client_key_id, aap, threshold_days, not_after, days_left, notified_at, delivery, attempts, last_error";

fn notice_from_row(r: &crate::db::Row) -> Result<ExpiryNotice, StoreError> {
    Ok(ExpiryNotice {
        client_key_id: r.get(0)?,
        aap_name: r.get(1)?,
        threshold_days: r.get(2)?,
        not_after: r.get(3)?,
        days_to_expiry: r.get(4)?,
        notified_at: r.get(5)?,
        delivery: r.get(6)?,
        delivery_attempts: r.get(7)?,
        last_error: r.get(8)?,
    })
}

/// A client key's record as the expiry checker needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientKeyExpiry {
    pub client_key_id: String,
    pub aap_name: String,
    pub not_after: i64,
}

impl Store {
    /// Runs `f` in an immediate transaction that neither bumps the generation nor records a
    /// management event: operations data (notices), not configuration.
    fn write_ops_data<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.write_plain(f)
    }

    /// Every client key with its NotAfter (for the expiry checker).
    pub fn client_key_expiries(&self) -> Result<Vec<ClientKeyExpiry>, StoreError> {
        self.read(|tx| {
            Ok(access::client_key_rows(tx, None)?
                .into_iter()
                .map(|k| ClientKeyExpiry { client_key_id: k.id, aap_name: k.aap, not_after: k.not_after })
                .collect())
        })
    }

    /// Records a notice unless one exists for this key and threshold. Returns whether it was new.
    pub fn record_expiry_notice(&self, n: &ExpiryNotice) -> Result<bool, StoreError> {
        self.write_ops_data(|tx| {
            let inserted = tx.execute(
                &format!(
                    "INSERT INTO expiry_notices({NOTICE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT DO NOTHING"
                ),
                params![
                    n.client_key_id,
                    n.aap_name,
                    n.threshold_days,
                    n.not_after,
                    n.days_to_expiry,
                    n.notified_at,
                    n.delivery,
                    n.delivery_attempts,
                    n.last_error
                ],
            )?;
            Ok(inserted == 1)
        })
    }

    /// Records one webhook delivery attempt of a notice.
    pub fn record_notice_delivery(
        &self,
        client_key_id: &str,
        threshold_days: i64,
        state: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        self.write_ops_data(|tx| {
            tx.execute(
                "UPDATE expiry_notices SET delivery = ?1, attempts = attempts + 1, last_error = ?2
                 WHERE client_key_id = ?3 AND threshold_days = ?4",
                params![state, error, client_key_id, threshold_days],
            )?;
            Ok(())
        })
    }

    /// Expiry notices, newest first; of one client key or all.
    pub fn list_expiry_notices(&self, client_key_id: Option<&str>) -> Result<Vec<ExpiryNotice>, StoreError> {
        self.read(|tx| {
            let rows = tx.query_map(
                &format!(
                    "SELECT {NOTICE_COLUMNS} FROM expiry_notices WHERE CAST(?1 AS TEXT) IS NULL OR client_key_id = ?1
                 ORDER BY notified_at DESC, threshold_days ASC"
                ),
                params![client_key_id],
                notice_from_row,
            )?;
            Ok(rows)
        })
    }

    /// Notices whose webhook delivery is still pending (e.g. the server stopped mid-retry).
    pub fn pending_notices(&self) -> Result<Vec<ExpiryNotice>, StoreError> {
        Ok(self.list_expiry_notices(None)?.into_iter().filter(|n| n.delivery == DELIVERY_PENDING).collect())
    }
}
