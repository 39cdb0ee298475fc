//! `aapkit store migrate`: copies a store (a single-node SQLite deployment) into another (an empty
//! PostgreSQL database), then proves the copy by row counts and a checksum per table.
//!
//! Rows are copied as stored: sealed key material, secret values and credentials stay sealed
//! (their additional data names the row, which keeps its id), so the target needs the same master
//! key and nothing is ever unsealed on the way. The source is read in one transaction, a
//! consistent snapshot even while its gateway keeps serving; the target is written in one
//! transaction, so a failed copy leaves it empty.

use aws_lc_rs::digest;
use serde::Serialize;

use crate::db::{self, OwnedParam, Param, ParamValue, TxMode, Value};
use crate::params;
use crate::{Store, StoreError};

/// The tables a store holds, parents before children, each with its columns and a total order.
/// `key_versions` is ordered (and copied) in insertion order, which the target's `rowid` keeps.
const TABLES: &[(&str, &str, &str)] = &[
    ("keys", "id, spec, state, description, created, deletion_date, initial_version, primary_version, key_usage", "id"),
    ("key_versions", "id, key_id, created, sealed", "rowid"),
    ("aliases", "name, key_id, created", "name"),
    ("secrets", "name, encryption_key_id, secret_type, description, created, planned_delete_time", "name"),
    ("secret_versions", "secret_name, version_id, data_type, created, seq, sealed", "secret_name, version_id"),
    ("secret_stages", "secret_name, stage, version_id", "secret_name, stage"),
    ("network_rules", "name, type, source_private_ip, description, created", "name"),
    ("policies", "name, kms_instance, permissions, resources, description, created", "name"),
    ("policy_network_rules", "policy, rule, position", "policy, rule"),
    ("aaps", "name, authentication_method, description, created", "name"),
    ("aap_policies", "aap, policy, position", "aap, policy"),
    ("client_keys", "id, aap, algorithm, public_key_pem, not_before, not_after, created", "id"),
    ("access_keys", "id, sealed, status, description, created", "id"),
    (
        "ram_roles",
        "name, role_id, aap, oidc_provider, oidc_issuer, oidc_audiences, oidc_subject, oidc_jwks_file, \
         oidc_jwks_url, uri_token_sha256, max_session_duration, description, created",
        "name",
    ),
    ("sts_sessions", "id, role, session_name, sealed_secret, sealed_token, expires, created", "id"),
    (
        "audit_log",
        "id, time, request_id, access_key_id, aap, api, resource, source_ip, allowed, status, error_code, \
         latency_us, policy, authenticated, detail",
        "id",
    ),
    ("mgmt_events", "id, time, actor, action, resource_type, resource_name, operation, before, after", "id"),
    (
        "expiry_notices",
        "client_key_id, aap, threshold_days, not_after, days_left, notified_at, delivery, attempts, last_error",
        "client_key_id, threshold_days",
    ),
];

/// Tables whose ids the target must continue after the copied ones (PostgreSQL identities).
const IDENTITY_TABLES: &[&str] = &["audit_log", "mgmt_events"];

/// Rows per insert statement.
const COPY_CHUNK: usize = 200;

/// One table's fingerprint: its row count and the SHA-256 of its rows in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDigest {
    pub table: String,
    pub rows: u64,
    pub sha256: String,
}

/// What a migration copied and verified.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MigrationReport {
    pub tables: Vec<TableDigest>,
    /// The target's configuration generation after the copy (past the source's, so gateways
    /// already watching the target reload).
    pub generation: u64,
    pub account_id: String,
}

fn bind(v: &Value) -> ParamValue<'_> {
    match v {
        Value::Null => ParamValue::Null,
        Value::Int(i) => ParamValue::Int(*i),
        // No copied column holds a REAL; keep the bits rather than fail.
        Value::Real(f) => ParamValue::Int(f.to_bits() as i64),
        Value::Text(s) => ParamValue::Text(s),
        Value::Blob(b) => ParamValue::Blob(b),
    }
}

/// Feeds one value to a digest unambiguously (a kind tag, then a length-prefixed payload), so the
/// same rows give the same digest on either engine.
fn feed(ctx: &mut digest::Context, v: &Value) {
    let (tag, bytes): (u8, Vec<u8>) = match v {
        Value::Null => (0, Vec::new()),
        Value::Int(i) => (1, i.to_be_bytes().to_vec()),
        Value::Real(f) => (2, f.to_bits().to_be_bytes().to_vec()),
        Value::Text(s) => (3, s.as_bytes().to_vec()),
        Value::Blob(b) => (4, b.clone()),
    };
    ctx.update(&[tag]);
    ctx.update(&(bytes.len() as u64).to_be_bytes());
    ctx.update(&bytes);
}

type TableRows = Vec<Vec<Value>>;

/// Every table's rows in order, and the generation, in the caller's transaction.
fn read_tables(tx: &db::Tx<'_>) -> Result<(Vec<TableRows>, u64), StoreError> {
    let mut tables = Vec::with_capacity(TABLES.len());
    for (table, columns, order) in TABLES {
        tables.push(tx.query_map(&format!("SELECT {columns} FROM {table} ORDER BY {order}"), params![], |r| {
            Ok(r.values().to_vec())
        })?);
    }
    Ok((tables, crate::read_generation(tx)?))
}

fn digests(tables: &[TableRows]) -> Vec<TableDigest> {
    TABLES
        .iter()
        .zip(tables)
        .map(|((table, _, _), rows)| {
            let mut ctx = digest::Context::new(&digest::SHA256);
            for row in rows {
                for v in row {
                    feed(&mut ctx, v);
                }
            }
            TableDigest {
                table: (*table).to_owned(),
                rows: rows.len() as u64,
                sha256: hex::encode(ctx.finish().as_ref()),
            }
        })
        .collect()
}

impl Store {
    /// Row counts and checksums of every table (one consistent snapshot).
    pub fn table_digests(&self) -> Result<Vec<TableDigest>, StoreError> {
        Ok(digests(&self.read(read_tables)?.0))
    }

    /// Copies everything this store holds into `target`, which must be empty (freshly created),
    /// then compares both stores' digests. `target` must have been opened with the same master
    /// key (its open checked it).
    pub fn copy_into(&self, target: &Store) -> Result<MigrationReport, StoreError> {
        let source_account = self.account()?;
        let (tables, source_generation) = self.read(read_tables)?;
        let generation = target.lock().run(TxMode::Write, |tx| {
            for (table, _, _) in TABLES {
                let n: i64 = tx.query_row(&format!("SELECT COUNT(*) FROM {table}"), params![], |r| r.get(0))?;
                if n > 0 {
                    return Err(StoreError::InvalidState(format!(
                        "the target store is not empty ({table} has {n} rows): migrate into a new database"
                    )));
                }
            }
            for ((table, columns, _), rows) in TABLES.iter().zip(&tables) {
                let width = columns.split(',').count();
                for chunk in rows.chunks(COPY_CHUNK) {
                    let mut sql = format!("INSERT INTO {table}({columns}) VALUES ");
                    let mut values: Vec<ParamValue<'_>> = Vec::with_capacity(chunk.len() * width);
                    for (n, row) in chunk.iter().enumerate() {
                        if n > 0 {
                            sql.push_str(", ");
                        }
                        let marks: Vec<String> = (1..=width).map(|c| format!("?{}", n * width + c)).collect();
                        sql.push('(');
                        sql.push_str(&marks.join(", "));
                        sql.push(')');
                        values.extend(row.iter().map(bind));
                    }
                    let refs: Vec<&dyn Param> = values.iter().map(|v| v as &dyn Param).collect();
                    tx.execute(&sql, &refs)?;
                }
            }
            if tx.engine() == db::Engine::Postgres {
                for table in IDENTITY_TABLES {
                    tx.execute(
                        &format!(
                            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                             COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                        ),
                        params![],
                    )?;
                }
            }
            // The copy is the source's account (ARNs name it), and a generation past both stores'.
            db::meta_set(tx, "account_id", &OwnedParam::Text(source_account.account_id.clone()))?;
            db::meta_set(tx, "region_id", &OwnedParam::Text(source_account.region_id.clone()))?;
            let target_generation = crate::read_generation(tx)?;
            let next = source_generation.max(target_generation) + 1;
            db::meta_set(tx, "generation", &OwnedParam::Int(i64::try_from(next).unwrap_or(i64::MAX)))?;
            // The copy wrote the key catalogue outside `Store::write`: a gateway already watching the
            // target must read it again, not keep the (empty) one it holds.
            crate::set_catalogue_generation(tx, next)?;
            tx.notify_generation(next)?;
            Ok(next)
        })?;
        // The source's snapshot against what the target now holds, read back.
        let source = digests(&tables);
        let copied = target.table_digests()?;
        if source != copied {
            let differ: Vec<&str> =
                source.iter().zip(&copied).filter(|(a, b)| a != b).map(|(a, _)| a.table.as_str()).collect();
            return Err(StoreError::Corrupt(format!("the copy differs from the source in {differ:?}")));
        }
        Ok(MigrationReport { tables: copied, generation, account_id: source_account.account_id })
    }
}
