//! The audit log of Instance API calls made with client keys. Rows arrive from the server in
//! batches through an [`AuditWriter`], a connection of its own so the request path never waits
//! for the control plane's lock, and never bump the control-plane generation (they are not
//! configuration). Retention ([`AuditWriter::prune`]) also removes old management events.

use std::collections::HashMap;
use std::path::Path;

use crate::db::{Conn, OwnedParam, Param, ParamValue, TxMode};
use crate::params;
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

fn audit_from_row(r: &crate::db::Row) -> Result<AuditCall, StoreError> {
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
    conn: Conn,
    /// The `INSERT` text for each chunk length met so far (at most [`INSERT_CHUNK`] of them),
    /// written once instead of once per batch.
    insert_sql: HashMap<usize, String>,
}

/// The `INSERT` of `rows` audit rows (13 parameters each). A denied call does not say its AAP
/// (the enforcer stops before naming it); the client key's record does, when the key exists.
fn insert_statement(rows: usize) -> String {
    use std::fmt::Write as _;
    let mut sql = format!("INSERT INTO audit_log({AUDIT_COLUMNS}) VALUES ");
    for n in 0..rows {
        let b = n * 13;
        if n > 0 {
            sql.push_str(", ");
        }
        let _ = write!(
            sql,
            "(?{}, ?{}, ?{}, COALESCE(NULLIF(CAST(?{} AS TEXT), ''), \
             (SELECT aap FROM client_keys WHERE id = ?{}), ''), \
             ?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 3,
            b + 5,
            b + 6,
            b + 7,
            b + 8,
            b + 9,
            b + 10,
            b + 11,
            b + 12,
            b + 13
        );
    }
    sql
}

/// Rows per `INSERT` statement: one round trip per chunk on PostgreSQL, well under either
/// engine's limit on bound parameters (13 per row).
const INSERT_CHUNK: usize = 256;

impl AuditWriter {
    /// Opens a writer on the existing store in `data_dir` (migrating the schema if needed). It never
    /// touches sealed data, so it needs no master key.
    pub fn open(data_dir: &Path) -> Result<AuditWriter, StoreError> {
        AuditWriter::open_at(data_dir, &crate::StoreLocation::Sqlite)
    }

    /// [`AuditWriter::open`] for the store at `location`.
    pub fn open_at(data_dir: &Path, location: &crate::StoreLocation) -> Result<AuditWriter, StoreError> {
        let mut conn = match location {
            crate::StoreLocation::Sqlite => {
                // No CREATE flag: the store (which creates the file owner-only) must exist already.
                let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | rusqlite::OpenFlags::SQLITE_OPEN_URI;
                let conn = rusqlite::Connection::open_with_flags(data_dir.join(DB_FILE), flags)?;
                conn.busy_timeout(BUSY_TIMEOUT)?;
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.pragma_update(None, "synchronous", "FULL")?;
                Conn::Sqlite(conn)
            }
            crate::StoreLocation::Postgres(url) => Conn::Postgres(Box::new(crate::db::PgConn::new(url)?)),
        };
        super::schema::migrate(&mut conn)?;
        Ok(AuditWriter { conn, insert_sql: HashMap::new() })
    }

    /// Inserts `rows` in one transaction (one fsync per batch). On PostgreSQL audit rows do not
    /// wait for configuration writers: they take no write lock.
    pub fn insert_calls(&mut self, rows: &[AuditCall]) -> Result<(), StoreError> {
        let Self { conn, insert_sql } = self;
        conn.run(TxMode::Append, |tx| {
            for chunk in rows.chunks(INSERT_CHUNK) {
                let sql = insert_sql.entry(chunk.len()).or_insert_with(|| insert_statement(chunk.len()));
                // The rows' own strings are bound (no copy per row).
                let mut values: Vec<ParamValue<'_>> = Vec::with_capacity(chunk.len() * 13);
                for r in chunk {
                    values.extend([
                        ParamValue::Int(r.time),
                        ParamValue::Text(&r.request_id),
                        ParamValue::Text(&r.access_key_id),
                        ParamValue::Text(&r.aap),
                        ParamValue::Text(&r.api),
                        ParamValue::Text(&r.resource),
                        ParamValue::Text(&r.source_ip),
                        ParamValue::Int(i64::from(r.allowed)),
                        ParamValue::Int(i64::from(r.http_status)),
                        ParamValue::Text(&r.error_code),
                        ParamValue::Int(i64::try_from(r.latency_us).unwrap_or(i64::MAX)),
                        ParamValue::Text(&r.policy),
                        ParamValue::Text(&r.detail),
                    ]);
                }
                let refs: Vec<&dyn Param> = values.iter().map(|v| v as &dyn Param).collect();
                tx.execute(sql, &refs)?;
            }
            Ok(())
        })
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

fn prune(conn: &mut Conn, before: i64) -> Result<PruneCounts, StoreError> {
    let mut counts = PruneCounts::default();
    for (table, slot) in [("audit_log", 0usize), ("mgmt_events", 1)] {
        loop {
            let n = conn.run(TxMode::Append, |tx| {
                tx.execute(
                    &format!(
                        "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE time < ?1 ORDER BY id LIMIT ?2)"
                    ),
                    params![before, PRUNE_CHUNK],
                )
            })?;
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
        let mut args: Vec<OwnedParam> = Vec::new();
        let mut add = |cond: &str, v: OwnedParam| {
            args.push(v);
            sql.push_str(&format!(" AND {cond} ?{}", args.len()));
        };
        if let Some(k) = &q.client_key {
            add("access_key_id =", OwnedParam::Text(k.clone()));
        }
        if let Some(a) = &q.aap {
            add("aap =", OwnedParam::Text(a.clone()));
        }
        if let Some(a) = &q.api {
            add("api =", OwnedParam::Text(a.clone()));
        }
        if let Some(allowed) = q.allowed {
            add("allowed =", OwnedParam::Int(i64::from(allowed)));
        }
        if let Some(t) = q.since {
            add("time >=", OwnedParam::Int(t));
        }
        if let Some(t) = q.until {
            add("time <", OwnedParam::Int(t));
        }
        args.push(OwnedParam::Int(i64::from(q.limit)));
        sql.push_str(&format!(" ORDER BY time DESC, id DESC LIMIT ?{}", args.len()));
        self.read(|tx| {
            let rows = tx.query_map(&sql, &args.iter().map(|a| a as &dyn Param).collect::<Vec<_>>(), audit_from_row)?;
            Ok(rows)
        })
    }

    /// The most recent call made with `client_key_id` whose signature verified, if the audit log
    /// has one (a request naming a key it does not hold says nothing about the key's use).
    pub fn client_key_last_call(&self, client_key_id: &str) -> Result<Option<AuditCall>, StoreError> {
        self.read(|tx| {
            tx.query_opt(
                &format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE access_key_id = ?1 AND authenticated = 1 \
                         ORDER BY time DESC, id DESC LIMIT 1"
                ),
                params![client_key_id],
                audit_from_row,
            )
        })
    }

    /// Deletes audit rows and management events older than `before` (expiry notices are kept:
    /// they are what stops a notice from firing twice).
    pub fn prune_audit(&self, before: i64) -> Result<PruneCounts, StoreError> {
        let mut conn = self.lock();
        prune(&mut conn, before)
    }
}
