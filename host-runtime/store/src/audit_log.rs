//! The audit log of Instance API calls made with client keys. Rows arrive from the server in
//! batches through an [`AuditWriter`], a connection of its own so the request path never waits
//! for the control plane's lock, and never bump the control-plane generation (they are not
//! configuration). Retention ([`AuditWriter::prune`]) also removes old management events.

use std::path::Path;

use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::time::ser_time;
use crate::{Store, StoreError, BUSY_TIMEOUT, DB_FILE};

/// One Instance API call made with a client key.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AuditCall {
    /// Seconds since the epoch (the server's clock when the request arrived).
    #[serde(serialize_with = "ser_time")]
    pub time: i64,
    pub request_id: String,
    /// The client key id the call was signed with (`x-kms-acccesskeyid`), Alibaba's field name.
    pub access_key_id: String,
    pub aap: String,
    pub api: String,
    /// `key/<KeyId>` or `secret/<SecretName>` (aliases and ciphertext blobs resolved when the key is
    /// known), empty for GenerateRandom or when the request named none.
    pub resource: String,
    pub source_ip: String,
    /// `Allow` (the call reached the Instance API) or `Deny` (refused by the enforcer or the quota).
    #[serde(rename = "Decision", serialize_with = "ser_decision")]
    pub allowed: bool,
    pub http_status: u16,
    /// Empty on success.
    pub error_code: String,
    pub latency_us: u64,
    /// The policy that allowed the call.
    pub policy: String,
    /// For a deny, what the caller was not told: the per-policy trace of a policy deny.
    pub detail: String,
}

fn ser_decision<S: serde::Serializer>(a: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if *a { "Allow" } else { "Deny" })
}

/// Filters of `aapkit audit query`; `None` matches everything. Results are newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub client_key: Option<String>,
    pub aap: Option<String>,
    pub api: Option<String>,
    pub allowed: Option<bool>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: u32,
}

const AUDIT_COLUMNS: &str = "time, request_id, access_key_id, aap, api, resource, source_ip, allowed, status, \
     error_code, latency_us, policy, detail";

fn audit_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditCall> {
    Ok(AuditCall {
        time: r.get(0)?,
        request_id: r.get(1)?,
        access_key_id: r.get(2)?,
        aap: r.get(3)?,
        api: r.get(4)?,
        resource: r.get(5)?,
        source_ip: r.get(6)?,
        allowed: r.get::<_, i64>(7)? != 0,
        http_status: u16::try_from(r.get::<_, i64>(8)?).unwrap_or(0),
        error_code: r.get(9)?,
        latency_us: u64::try_from(r.get::<_, i64>(10)?).unwrap_or(0),
        policy: r.get(11)?,
        detail: r.get(12)?,
    })
}

/// The audit store's writer: a connection of its own (see the module comment).
pub struct AuditWriter {
    conn: Connection,
}

impl AuditWriter {
    /// Opens a writer on the existing store in `data_dir` (migrating the schema if needed). It never
    /// touches sealed data, so it needs no master key.
    pub fn open(data_dir: &Path) -> Result<AuditWriter, StoreError> {
        // No CREATE flag: the store (which creates the file owner-only) must exist already.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let mut conn = Connection::open_with_flags(data_dir.join(DB_FILE), flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        super::schema::migrate(&mut conn)?;
        Ok(AuditWriter { conn })
    }

    /// Inserts `rows` in one transaction (one fsync per batch).
    pub fn insert_calls(&mut self, rows: &[AuditCall]) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            // A denied call does not say its AAP (the enforcer stops before naming it); the client
            // key's record does, when the key exists.
            let mut stmt = tx.prepare_cached(&format!(
                "INSERT INTO audit_log({AUDIT_COLUMNS}) VALUES (?1, ?2, ?3,
                 COALESCE(NULLIF(?4, ''), (SELECT aap FROM client_keys WHERE id = ?3), ''),
                 ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))?;
            for r in rows {
                stmt.execute(params![
                    r.time,
                    r.request_id,
                    r.access_key_id,
                    r.aap,
                    r.api,
                    r.resource,
                    r.source_ip,
                    i64::from(r.allowed),
                    i64::from(r.http_status),
                    r.error_code,
                    i64::try_from(r.latency_us).unwrap_or(i64::MAX),
                    r.policy,
                    r.detail
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes audit rows and management events older than `before` (see [`prune`]).
    pub fn prune(&mut self, before: i64) -> Result<PruneCounts, StoreError> {
        prune(&mut self.conn, before)
    }
}

/// How many records a prune removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PruneCounts {
    pub audit_rows: u64,
    pub management_events: u64,
}

/// Rows per delete transaction, so a large prune never holds the write lock for long.
const PRUNE_CHUNK: i64 = 5_000;

fn prune(conn: &mut Connection, before: i64) -> Result<PruneCounts, StoreError> {
    let mut counts = PruneCounts::default();
    for (table, slot) in [("audit_log", 0usize), ("mgmt_events", 1)] {
        loop {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                &format!(
                    "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE time < ?1 ORDER BY id LIMIT ?2)"
                ),
                params![before, PRUNE_CHUNK],
            )?;
            tx.commit()?;
            let n = n as u64;
            if slot == 0 {
                counts.audit_rows += n;
            } else {
                counts.management_events += n;
            }
            if n < PRUNE_CHUNK as u64 {
                break;
            }
        }
    }
    Ok(counts)
}

impl Store {
    /// Audit rows matching `q`, newest first.
    pub fn query_audit(&self, q: &AuditQuery) -> Result<Vec<AuditCall>, StoreError> {
        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut add = |cond: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&format!(" AND {cond} ?{}", args.len()));
        };
        if let Some(k) = &q.client_key {
            add("access_key_id =", k.clone().into());
        }
        if let Some(a) = &q.aap {
            add("aap =", a.clone().into());
        }
        if let Some(a) = &q.api {
            add("api =", a.clone().into());
        }
        if let Some(allowed) = q.allowed {
            add("allowed =", i64::from(allowed).into());
        }
        if let Some(t) = q.since {
            add("time >=", t.into());
        }
        if let Some(t) = q.until {
            add("time <", t.into());
        }
        args.push(i64::from(q.limit).into());
        sql.push_str(&format!(" ORDER BY time DESC, id DESC LIMIT ?{}", args.len()));
        self.read(|tx| {
            let mut stmt = tx.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(args.iter()), audit_from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// The most recent call made with `client_key_id` whose signature verified, if the audit log
    /// has one (a request naming a key it does not hold says nothing about the key's use).
    pub fn client_key_last_call(&self, client_key_id: &str) -> Result<Option<AuditCall>, StoreError> {
        self.read(|tx| {
            Ok(tx
                .query_row(
                    &format!(
                        "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE access_key_id = ?1 AND authenticated = 1 \
                         ORDER BY time DESC, id DESC LIMIT 1"
                    ),
                    params![client_key_id],
                    audit_from_row,
                )
                .optional()?)
        })
    }

    /// Deletes audit rows and management events older than `before` (expiry notices are kept:
    /// they are what stops a notice from firing twice).
    pub fn prune_audit(&self, before: i64) -> Result<PruneCounts, StoreError> {
        let mut conn = self.lock();
        prune(&mut conn, before)
    }
}
