//! The operations records of the store: the audit log of Instance API calls made with client keys,
//! the management events of the control plane, and the client-key expiry notices.
//!
//! - Management events are written by [`Store::write`] in the transaction of the change they
//!   describe: a change without its event cannot commit, and an event without its change cannot exist.
//!   Before/after images are the `describe` views, which never hold key material, secret values or
//!   private keys (client-key records also leave out the public key, which the bundle has).
//! - Audit rows arrive from the server in batches through an [`AuditWriter`], a connection of its
//!   own so the request path never waits for the control plane's lock, and never bump the
//!   control-plane generation (they are not configuration).

use std::path::Path;

use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;
use serde_json::Value;

use super::access;
use super::keys;
use super::secrets;
use super::time::format_time;
use super::{Store, StoreError, BUSY_TIMEOUT, DB_FILE};

// ---------------------------------------------------------------------------------------------
// Management events

/// The kinds of control-plane resources whose changes are recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceType {
    Key,
    Alias,
    Secret,
    NetworkRule,
    Policy,
    Aap,
    ClientKey,
}

impl ResourceType {
    pub const ALL: [ResourceType; 7] = [
        ResourceType::Key,
        ResourceType::Alias,
        ResourceType::Secret,
        ResourceType::NetworkRule,
        ResourceType::Policy,
        ResourceType::Aap,
        ResourceType::ClientKey,
    ];

    /// The name used in events and on the command line (the CLI's subcommand names).
    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceType::Key => "key",
            ResourceType::Alias => "alias",
            ResourceType::Secret => "secret",
            ResourceType::NetworkRule => "network-rule",
            ResourceType::Policy => "policy",
            ResourceType::Aap => "aap",
            ResourceType::ClientKey => "client-key",
        }
    }

    pub fn parse(s: &str) -> Option<ResourceType> {
        ResourceType::ALL.iter().copied().find(|t| t.as_str() == s)
    }
}

/// What a control-plane write does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Create => "Create",
            Action::Update => "Update",
            Action::Delete => "Delete",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        [Action::Create, Action::Update, Action::Delete].into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s))
    }
}

/// The change a [`Store::write`] makes: every control-plane write names one.
pub(crate) struct Change<'a> {
    pub resource_type: ResourceType,
    /// The name as the caller gave it (a key may be named by an alias; the event records the key id).
    pub name: &'a str,
    pub action: Action,
    /// Alibaba's API name, e.g. `CreatePolicy`.
    pub operation: &'static str,
}

impl<'a> Change<'a> {
    pub fn new(resource_type: ResourceType, name: &'a str, action: Action, operation: &'static str) -> Self {
        Change { resource_type, name, action, operation }
    }
}

/// A recorded management event.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ManagementEvent {
    pub event_id: i64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub resource_type: String,
    pub resource_name: String,
    pub operation: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Who is making control-plane changes: `AAPKIT_ACTOR`, else the OS user.
pub fn default_actor() -> String {
    if let Some(a) = std::env::var("AAPKIT_ACTOR").ok().filter(|a| !a.trim().is_empty()) {
        return a.trim().to_owned();
    }
    for var in ["USER", "LOGNAME"] {
        if let Some(u) = std::env::var(var).ok().filter(|u| !u.is_empty()) {
            return u;
        }
    }
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata("/proc/self") {
        Ok(m) => format!("uid:{}", m.uid()),
        Err(_) => "unknown".to_owned(),
    }
}

/// The describe view of one resource as JSON, with the resource's canonical name; `None` when it
/// does not exist. Never holds secret material (see the module comment).
pub(crate) fn snapshot(
    tx: &Transaction<'_>,
    resource_type: ResourceType,
    name: &str,
) -> Result<Option<(String, Value)>, StoreError> {
    let to_value =
        |v: Result<Value, serde_json::Error>| v.map_err(|e| StoreError::Corrupt(format!("event image: {e}")));
    Ok(match resource_type {
        ResourceType::Key => match keys::find_key(tx, name)? {
            Some(row) => {
                let info = keys::info(tx, &row)?;
                Some((row.id, to_value(serde_json::to_value(info))?))
            }
            None => None,
        },
        ResourceType::Alias => tx
            .query_row("SELECT key_id, created FROM aliases WHERE name = ?1", params![name], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?
            .map(|(key_id, created)| {
                (
                    name.to_owned(),
                    serde_json::json!({ "AliasName": name, "KeyId": key_id, "CreationDate": format_time(created) }),
                )
            }),
        ResourceType::Secret => {
            if secrets::secret_names(tx)?.iter().any(|n| n == name) {
                Some((name.to_owned(), to_value(serde_json::to_value(secrets::describe(tx, name)?))?))
            } else {
                None
            }
        }
        ResourceType::NetworkRule => match access::network_rule(tx, name) {
            Ok(r) => Some((name.to_owned(), to_value(serde_json::to_value(r))?)),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
        ResourceType::Policy => match access::policy(tx, name) {
            Ok(p) => Some((name.to_owned(), to_value(serde_json::to_value(p))?)),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
        ResourceType::Aap => match access::aap(tx, name) {
            Ok(a) => Some((name.to_owned(), to_value(serde_json::to_value(a))?)),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
        ResourceType::ClientKey => match access::client_key(tx, name) {
            Ok(k) => {
                let mut v = to_value(serde_json::to_value(k))?;
                if let Some(o) = v.as_object_mut() {
                    // Public, but bulky; the bundle export has it.
                    o.remove("PublicKeyData");
                    o.remove("DaysToExpiry");
                }
                Some((name.to_owned(), v))
            }
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
    })
}

pub(crate) fn insert_event(
    tx: &Transaction<'_>,
    actor: &str,
    change: &Change<'_>,
    before: Option<(String, Value)>,
    after: Option<(String, Value)>,
    time: i64,
) -> Result<(), StoreError> {
    let name = after.as_ref().or(before.as_ref()).map(|(n, _)| n.clone()).unwrap_or_else(|| change.name.to_owned());
    let json = |v: Option<(String, Value)>| v.map(|(_, v)| v.to_string());
    tx.execute(
        "INSERT INTO mgmt_events(time, actor, action, resource_type, resource_name, operation, before, after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            time,
            actor,
            change.action.as_str(),
            change.resource_type.as_str(),
            name,
            change.operation,
            json(before),
            json(after)
        ],
    )?;
    Ok(())
}

/// Filters of `aapkit audit events`; `None` matches everything.
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    pub resource_type: Option<ResourceType>,
    pub resource_name: Option<String>,
    pub action: Option<Action>,
    pub actor: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: u32,
}

// ---------------------------------------------------------------------------------------------
// Audit log of Instance API calls

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

fn ser_time<S: serde::Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
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

// ---------------------------------------------------------------------------------------------
// Client-key expiry notices

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

fn notice_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ExpiryNotice> {
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

// ---------------------------------------------------------------------------------------------
// Store operations

impl Store {
    /// Runs `f` in an immediate transaction that neither bumps the generation nor records a
    /// management event: operations data (notices), not configuration.
    fn write_ops_data<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

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

    /// Management events matching `q`, newest first.
    pub fn query_events(&self, q: &EventQuery) -> Result<Vec<ManagementEvent>, StoreError> {
        let mut sql = String::from(
            "SELECT id, time, actor, action, resource_type, resource_name, operation, before, after FROM mgmt_events WHERE 1=1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut add = |cond: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&format!(" AND {cond} ?{}", args.len()));
        };
        if let Some(t) = q.resource_type {
            add("resource_type =", t.as_str().to_owned().into());
        }
        if let Some(n) = &q.resource_name {
            add("resource_name =", n.clone().into());
        }
        if let Some(a) = q.action {
            add("action =", a.as_str().to_owned().into());
        }
        if let Some(a) = &q.actor {
            add("actor =", a.clone().into());
        }
        if let Some(t) = q.since {
            add("time >=", t.into());
        }
        if let Some(t) = q.until {
            add("time <", t.into());
        }
        args.push(i64::from(q.limit).into());
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", args.len()));
        self.read(|tx| {
            let mut stmt = tx.prepare(&sql)?;
            let raw = stmt
                .query_map(params_from_iter(args.iter()), |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, Option<String>>(7)?,
                        r.get::<_, Option<String>>(8)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let parse = |s: Option<String>| -> Result<Option<Value>, StoreError> {
                s.map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("event image: {e}"))))
                    .transpose()
            };
            raw.into_iter()
                .map(|(id, time, actor, action, rt, name, op, before, after)| {
                    Ok(ManagementEvent {
                        event_id: id,
                        time: format_time(time),
                        actor,
                        action,
                        resource_type: rt,
                        resource_name: name,
                        operation: op,
                        before: parse(before)?,
                        after: parse(after)?,
                    })
                })
                .collect()
        })
    }

    /// Deletes audit rows and management events older than `before` (expiry notices are kept:
    /// they are what stops a notice from firing twice).
    pub fn prune_audit(&self, before: i64) -> Result<PruneCounts, StoreError> {
        let mut conn = self.lock();
        prune(&mut conn, before)
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
                    "INSERT OR IGNORE INTO expiry_notices({NOTICE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
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
            let mut stmt = tx.prepare(&format!(
                "SELECT {NOTICE_COLUMNS} FROM expiry_notices WHERE ?1 IS NULL OR client_key_id = ?1
                 ORDER BY notified_at DESC, threshold_days ASC"
            ))?;
            let rows = stmt.query_map(params![client_key_id], notice_from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Notices whose webhook delivery is still pending (e.g. the server stopped mid-retry).
    pub fn pending_notices(&self) -> Result<Vec<ExpiryNotice>, StoreError> {
        Ok(self.list_expiry_notices(None)?.into_iter().filter(|n| n.delivery == DELIVERY_PENDING).collect())
    }
}
