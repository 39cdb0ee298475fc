//! The two database engines behind one small interface: SQLite (the embedded default, one file in
//! the data directory) and PostgreSQL (the shared store of several gateways).
//!
//! The store's modules write their SQL once, in the subset both engines accept (`?N` placeholders,
//! `ON CONFLICT`, `COALESCE`, `CAST(? AS TEXT)`), and run it through [`Tx`]. What differs is kept
//! here and in `schema.rs`: placeholder syntax, the `meta` table's typed columns, how a write
//! transaction excludes other writers, and how the server learns about a commit.
//!
//! Written by hand rather than with an ORM or `sqlx`: the store runs synchronously on blocking
//! threads (like its rusqlite code always did), the SQL is already written and reviewed, and all an
//! adapter needs is to bind four value kinds and read them back.
//!
//! - **Writers exclude each other** on both engines: SQLite's `BEGIN IMMEDIATE`, PostgreSQL's
//!   transaction-scoped advisory lock [`WRITE_LOCK`]. Every control-plane write is therefore
//!   serialised cluster-wide, as it was in one SQLite file, so check-then-write code stays correct.
//! - **Reads see one snapshot**: PostgreSQL read transactions are `REPEATABLE READ READ ONLY`.
//! - **A lost PostgreSQL connection** is re-opened by the next transaction; while the server cannot
//!   be reached every call fails with [`StoreError::Unavailable`], which callers show as such.

use std::cell::RefCell;
use std::time::Duration;

use postgres::types::{IsNull, ToSql, Type};

use super::StoreError;

/// The advisory lock key every PostgreSQL write transaction takes (`pg_advisory_xact_lock`):
/// "aapkitWR" in ASCII.
pub(crate) const WRITE_LOCK: i64 = 0x6161_706b_6974_5752;
/// The advisory lock key schema migrations take (session-scoped, around the migration).
pub(crate) const MIGRATE_LOCK: i64 = 0x6161_706b_6974_4d47;
/// The channel a PostgreSQL commit that changes the configuration notifies.
pub const GENERATION_CHANNEL: &str = "aapkit_generation";

/// How long to wait for the server when (re)connecting.
const PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a statement waits for a lock held by another gateway before failing (SQLite's
/// busy timeout plays this part in the embedded store).
const PG_LOCK_TIMEOUT_MS: u32 = 10_000;
/// Beyond this a statement is cancelled: no store call can hang a gateway's worker forever.
const PG_STATEMENT_TIMEOUT_MS: u32 = 60_000;

/// Which engine a connection talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A value bound to a statement.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ParamValue<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// Anything that can be bound as a parameter ([`params!`](crate::params)).
pub(crate) trait Param {
    fn value(&self) -> ParamValue<'_>;
}

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> ParamValue<'_> {
                // Counts and times never reach i64::MAX; saturate rather than wrap if one did.
                ParamValue::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_param!(i64, i32, u32, u64, usize, u8, u16, i16);

impl Param for bool {
    fn value(&self) -> ParamValue<'_> {
        ParamValue::Int(i64::from(*self))
    }
}
impl Param for str {
    fn value(&self) -> ParamValue<'_> {
        ParamValue::Text(self)
    }
}
impl Param for String {
    fn value(&self) -> ParamValue<'_> {
        ParamValue::Text(self)
    }
}
impl Param for [u8] {
    fn value(&self) -> ParamValue<'_> {
        ParamValue::Blob(self)
    }
}
impl Param for Vec<u8> {
    fn value(&self) -> ParamValue<'_> {
        ParamValue::Blob(self)
    }
}
impl<const N: usize> Param for [u8; N] {
    fn value(&self) -> ParamValue<'_> {
        ParamValue::Blob(self)
    }
}
impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> ParamValue<'_> {
        (**self).value()
    }
}
impl<T: Param> Param for Option<T> {
    fn value(&self) -> ParamValue<'_> {
        match self {
            Some(v) => v.value(),
            None => ParamValue::Null,
        }
    }
}
impl Param for ParamValue<'_> {
    fn value(&self) -> ParamValue<'_> {
        *self
    }
}

/// An owned parameter (queries assembled at run time).
#[derive(Clone, Debug)]
pub(crate) enum OwnedParam {
    Int(i64),
    Text(String),
}
impl Param for OwnedParam {
    fn value(&self) -> ParamValue<'_> {
        match self {
            OwnedParam::Int(v) => ParamValue::Int(*v),
            OwnedParam::Text(s) => ParamValue::Text(s),
        }
    }
}

/// `params![a, b, …]`: the parameters of one statement, bound to `?1`, `?2`, … in order.
#[macro_export]
#[doc(hidden)]
macro_rules! params {
    () => { &[] as &[&dyn $crate::db::Param] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::db::Param),+] as &[&dyn $crate::db::Param] };
}

/// One column value of a result row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A result row, read out of the engine.
#[derive(Debug)]
pub(crate) struct Row {
    values: Vec<Value>,
}

impl Row {
    /// Every column, in order.
    pub(crate) fn values(&self) -> &[Value] {
        &self.values
    }

    /// Column `i` as `T`; a type mismatch is a corrupt record.
    pub(crate) fn get<I: ColumnIndex, T: FromValue>(&self, i: I) -> Result<T, StoreError> {
        let i = i.index();
        let v = self.values.get(i).ok_or_else(|| StoreError::Corrupt(format!("no column {i} in the result")))?;
        T::from_value(v).ok_or_else(|| StoreError::Corrupt(format!("column {i} holds an unexpected {v:?}")))
    }
}

/// A column position (`usize` only: a literal `0` infers to it, as with rusqlite).
pub(crate) trait ColumnIndex {
    fn index(self) -> usize;
}
impl ColumnIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// Conversion of a column value to a Rust type.
pub(crate) trait FromValue: Sized {
    fn from_value(v: &Value) -> Option<Self>;
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: &Value) -> Option<Self> {
                match v {
                    Value::Int(i) => <$t>::try_from(*i).ok(),
                    _ => None,
                }
            }
        }
    )*};
}
int_from_value!(i64, i32, u32, u64, usize, u8, u16, i16);

impl FromValue for bool {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(*i != 0),
            _ => None,
        }
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}
impl FromValue for f64 {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Real(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}
impl FromValue for Value {
    fn from_value(v: &Value) -> Option<Self> {
        Some(v.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// Connections

/// What a transaction is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxMode {
    /// Writes: excludes every other writer until commit or rollback.
    Write,
    /// Reads: one consistent snapshot.
    Read,
    /// Appends to logs (audit rows, pruning): excludes other writers on SQLite (it has one
    /// writer), none on PostgreSQL.
    Append,
}

/// A connection to either engine.
pub(crate) enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<PgConn>),
}

/// A PostgreSQL connection that re-opens itself after the server went away.
pub(crate) struct PgConn {
    config: postgres::Config,
    client: Option<postgres::Client>,
    /// When the client last answered: an idle connection is checked before use, so a server
    /// restart while it sat unused costs no failed call.
    last_used: std::time::Instant,
    /// Statements prepared on this connection, by their SQL: a statement is parsed and planned
    /// once per connection, not once per call (the audit writer's batch insert, the snapshot's
    /// queries).
    statements: std::collections::HashMap<String, postgres::Statement>,
}

/// Prepared statements kept per connection; past it the cache starts over (queries assembled at
/// run time, e.g. audit filters, would otherwise grow it without bound).
const PG_STATEMENT_CACHE: usize = 128;

/// A connection idle longer than this is checked (an empty query) before its next transaction.
const PG_IDLE_CHECK: Duration = Duration::from_secs(5);

impl PgConn {
    /// Parses `url`; connects on first use (or now, with [`PgConn::client`]).
    pub(crate) fn new(url: &str) -> Result<PgConn, StoreError> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::invalid("store", redact_url(url), format!("not a PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(PG_CONNECT_TIMEOUT);
        }
        config.keepalives(true).keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("aapkit");
        }
        Ok(PgConn {
            config,
            client: None,
            last_used: std::time::Instant::now(),
            statements: std::collections::HashMap::new(),
        })
    }

    /// The open client, connecting first when there is none or the last one was closed.
    pub(crate) fn client(&mut self) -> Result<&mut postgres::Client, StoreError> {
        if self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.client = None;
        }
        if self.last_used.elapsed() > PG_IDLE_CHECK {
            if let Some(mut c) = self.client.take() {
                if c.is_valid(PG_CONNECT_TIMEOUT).is_ok() {
                    self.client = Some(c);
                }
            }
        }
        self.last_used = std::time::Instant::now();
        if self.client.is_none() {
            // Statements belong to the connection they were prepared on.
            self.statements.clear();
            let mut client = self.config.connect(postgres::NoTls).map_err(|e| unavailable(&e))?;
            client
                .batch_execute(&format!(
                    "SET lock_timeout = {PG_LOCK_TIMEOUT_MS}; SET statement_timeout = {PG_STATEMENT_TIMEOUT_MS}"
                ))
                .map_err(StoreError::from)?;
            self.client = Some(client);
        }
        self.client.as_mut().ok_or_else(|| StoreError::Unavailable("no connection".into()))
    }

    /// Forgets the client after a failure that may have broken it.
    pub(crate) fn reset_if_broken(&mut self) {
        if self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.client = None;
        }
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // Closing the client blocks on its runtime: not from inside an async worker.
        if let Some(client) = self.client.take() {
            blocking(move || drop(client));
        }
    }
}

/// Runs `f`, which uses the synchronous PostgreSQL client (it blocks on a runtime of its own),
/// outside the async worker context it may be called from (the server's start, background
/// tasks): tokio refuses to block a worker on another runtime, so the worker hands its other
/// tasks off for the duration (`block_in_place`). Anywhere else it simply calls `f`.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// `url` without its password, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &userinfo[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn unavailable(e: &postgres::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl Conn {
    pub(crate) fn engine(&self) -> Engine {
        match self {
            Conn::Sqlite(_) => Engine::Sqlite,
            Conn::Postgres(_) => Engine::Postgres,
        }
    }

    /// After a failure: a PostgreSQL connection that broke is re-opened by the next call.
    pub(crate) fn reset_if_broken(&mut self) {
        if let Conn::Postgres(p) = self {
            p.reset_if_broken();
        }
    }

    /// Starts a transaction of `mode`.
    pub(crate) fn transaction(&mut self, mode: TxMode) -> Result<Tx<'_>, StoreError> {
        match self {
            Conn::Sqlite(c) => {
                let behavior = match mode {
                    TxMode::Write | TxMode::Append => rusqlite::TransactionBehavior::Immediate,
                    TxMode::Read => rusqlite::TransactionBehavior::Deferred,
                };
                Ok(Tx { inner: TxInner::Sqlite(c.transaction_with_behavior(behavior)?) })
            }
            Conn::Postgres(p) => {
                p.client()?;
                let PgConn { client: Some(client), statements, .. } = &mut **p else {
                    return Err(StoreError::Unavailable("no connection".into()));
                };
                let tx = match mode {
                    TxMode::Write => {
                        let mut tx = client.transaction()?;
                        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
                        tx
                    }
                    TxMode::Append => client.transaction()?,
                    TxMode::Read => client
                        .build_transaction()
                        .isolation_level(postgres::IsolationLevel::RepeatableRead)
                        .read_only(true)
                        .start()?,
                };
                Ok(Tx { inner: TxInner::Postgres(RefCell::new(Some(tx)), RefCell::new(statements)) })
            }
        }
    }

    /// Runs `f` in a transaction of `mode` and commits; a failure rolls back. A PostgreSQL
    /// connection broken on the way is re-opened by the next call.
    pub(crate) fn run<T>(
        &mut self,
        mode: TxMode,
        f: impl FnOnce(&Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let engine = self.engine();
        let work = || {
            let out = (|| {
                let tx = self.transaction(mode)?;
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            })();
            if out.is_err() {
                self.reset_if_broken();
            }
            out
        };
        match engine {
            Engine::Sqlite => work(),
            Engine::Postgres => blocking(work),
        }
    }
}

/// An open transaction on either engine; dropped without [`Tx::commit`], it rolls back.
pub(crate) struct Tx<'a> {
    inner: TxInner<'a>,
}

enum TxInner<'a> {
    Sqlite(rusqlite::Transaction<'a>),
    /// `None` once committed. A `RefCell` because the store's functions share `&Tx`.
    Postgres(
        RefCell<Option<postgres::Transaction<'a>>>,
        RefCell<&'a mut std::collections::HashMap<String, postgres::Statement>>,
    ),
}

impl<'a> Tx<'a> {
    pub(crate) fn engine(&self) -> Engine {
        match &self.inner {
            TxInner::Sqlite(_) => Engine::Sqlite,
            TxInner::Postgres(..) => Engine::Postgres,
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize, StoreError> {
        match &self.inner {
            TxInner::Sqlite(tx) => {
                let mut stmt = tx.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(params.iter().map(|p| SqliteParam(p.value()))))?)
            }
            TxInner::Postgres(cell, cache) => {
                let values: Vec<PgParam<'_>> = params.iter().map(|p| PgParam(p.value())).collect();
                let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                let mut guard = cell.borrow_mut();
                let tx = guard.as_mut().ok_or_else(finished)?;
                let statement = prepared(tx, &mut cache.borrow_mut(), sql)?;
                let n = tx.execute(&statement, &refs)?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    /// Runs several `;`-separated statements without parameters (schema steps).
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<(), StoreError> {
        match &self.inner {
            TxInner::Sqlite(tx) => Ok(tx.execute_batch(sql)?),
            TxInner::Postgres(cell, _) => {
                let mut guard = cell.borrow_mut();
                let tx = guard.as_mut().ok_or_else(finished)?;
                Ok(tx.batch_execute(sql)?)
            }
        }
    }

    /// Every row of a query, each turned into `T` by `f`.
    pub(crate) fn query_map<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        match &self.inner {
            TxInner::Sqlite(tx) => {
                let mut stmt = tx.prepare_cached(sql)?;
                let columns = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(params.iter().map(|p| SqliteParam(p.value()))))?;
                while let Some(r) = rows.next()? {
                    let mut values = Vec::with_capacity(columns);
                    for i in 0..columns {
                        values.push(sqlite_value(r.get_ref(i)?)?);
                    }
                    out.push(f(&Row { values })?);
                }
            }
            TxInner::Postgres(cell, cache) => {
                let values: Vec<PgParam<'_>> = params.iter().map(|p| PgParam(p.value())).collect();
                let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                let rows = {
                    let mut guard = cell.borrow_mut();
                    let tx = guard.as_mut().ok_or_else(finished)?;
                    let statement = prepared(tx, &mut cache.borrow_mut(), sql)?;
                    tx.query(&statement, &refs)?
                };
                for r in &rows {
                    out.push(f(&postgres_row(r)?)?);
                }
            }
        }
        Ok(out)
    }

    /// The first row of a query, if any.
    pub(crate) fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut f = Some(f);
        let mut first = None;
        // Queries used here return at most a few rows (`LIMIT 1`, primary keys).
        let rows = self.query_map(sql, params, |r| {
            if first.is_none() {
                if let Some(f) = f.take() {
                    first = Some(f(r)?);
                }
            }
            Ok(())
        })?;
        drop(rows);
        Ok(first)
    }

    /// The one row a query must return (an aggregate, a row known to exist).
    pub(crate) fn query_row<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.query_opt(sql, params, f)?.ok_or_else(|| StoreError::Corrupt(format!("no row for: {sql}")))
    }

    /// Commits.
    pub(crate) fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(tx) => Ok(tx.commit()?),
            TxInner::Postgres(cell, _) => {
                let tx = cell.into_inner().ok_or_else(finished)?;
                Ok(tx.commit()?)
            }
        }
    }

    /// Tells the other gateways the configuration changed (PostgreSQL: delivered at commit).
    pub(crate) fn notify_generation(&self, generation: u64) -> Result<(), StoreError> {
        if self.engine() == Engine::Postgres {
            self.execute("SELECT pg_notify(?1, ?2)", params![GENERATION_CHANNEL, generation.to_string()])?;
        }
        Ok(())
    }
}

/// The statement for `sql` (in the store's `?N` form) on this connection, prepared once.
fn prepared(
    tx: &mut postgres::Transaction<'_>,
    cache: &mut std::collections::HashMap<String, postgres::Statement>,
    sql: &str,
) -> Result<postgres::Statement, StoreError> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let statement = tx.prepare(&postgres_sql(sql))?;
    if cache.len() >= PG_STATEMENT_CACHE {
        cache.clear();
    }
    cache.insert(sql.to_owned(), statement.clone());
    Ok(statement)
}

fn finished() -> StoreError {
    StoreError::Corrupt("the transaction has already ended".into())
}

// ---------------------------------------------------------------------------------------------
// `meta`: name → one integer, text or blob. SQLite keeps one dynamically typed column; PostgreSQL
// one typed column per kind.

pub(crate) fn meta_int(tx: &Tx<'_>, name: &str) -> Result<Option<i64>, StoreError> {
    let sql = match tx.engine() {
        Engine::Sqlite => "SELECT value FROM meta WHERE name = ?1",
        Engine::Postgres => "SELECT int_value FROM meta WHERE name = ?1",
    };
    tx.query_opt(sql, params![name], |r| r.get(0))
}

pub(crate) fn meta_text(tx: &Tx<'_>, name: &str) -> Result<Option<String>, StoreError> {
    let sql = match tx.engine() {
        Engine::Sqlite => "SELECT value FROM meta WHERE name = ?1",
        Engine::Postgres => "SELECT text_value FROM meta WHERE name = ?1",
    };
    tx.query_opt(sql, params![name], |r| r.get(0))
}

pub(crate) fn meta_blob(tx: &Tx<'_>, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let sql = match tx.engine() {
        Engine::Sqlite => "SELECT value FROM meta WHERE name = ?1",
        Engine::Postgres => "SELECT blob_value FROM meta WHERE name = ?1",
    };
    tx.query_opt(sql, params![name], |r| r.get(0))
}

/// Sets `name` to `value` (an integer, text or blob parameter).
pub(crate) fn meta_set(tx: &Tx<'_>, name: &str, value: &dyn Param) -> Result<(), StoreError> {
    let column = match (tx.engine(), value.value()) {
        (Engine::Sqlite, _) => "value",
        (Engine::Postgres, ParamValue::Int(_)) => "int_value",
        (Engine::Postgres, ParamValue::Text(_)) => "text_value",
        (Engine::Postgres, ParamValue::Blob(_) | ParamValue::Null) => "blob_value",
    };
    tx.execute(
        &format!(
            "INSERT INTO meta(name, {column}) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET {column} = excluded.{column}"
        ),
        params![name, value],
    )?;
    Ok(())
}

/// Adds one to the configuration generation and returns the new value.
pub(crate) fn bump_generation(tx: &Tx<'_>) -> Result<u64, StoreError> {
    let column = match tx.engine() {
        Engine::Sqlite => "value",
        Engine::Postgres => "int_value",
    };
    tx.execute(&format!("UPDATE meta SET {column} = {column} + 1 WHERE name = 'generation'"), params![])?;
    let g = meta_int(tx, "generation")?.ok_or_else(|| StoreError::Corrupt("no generation".into()))?;
    u64::try_from(g).map_err(|_| StoreError::Corrupt(format!("negative generation {g}")))
}

// ---------------------------------------------------------------------------------------------
// SQLite binding

struct SqliteParam<'a>(ParamValue<'a>);

impl rusqlite::ToSql for SqliteParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self.0 {
            ParamValue::Null => ValueRef::Null,
            ParamValue::Int(i) => ValueRef::Integer(i),
            ParamValue::Text(s) => ValueRef::Text(s.as_bytes()),
            ParamValue::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> Result<Value, StoreError> {
    use rusqlite::types::ValueRef;
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(
            String::from_utf8(t.to_vec()).map_err(|_| StoreError::Corrupt("text column is not UTF-8".into()))?,
        ),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    })
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL binding

/// `?N` → `$N`, and a bare `?` → the next `$N`, outside quoted strings.
pub(crate) fn postgres_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut in_quote = false;
    let mut next = 1u32;
    while let Some(c) = chars.next() {
        if c == '\'' {
            in_quote = !in_quote;
            out.push(c);
            continue;
        }
        if c == '?' && !in_quote {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            out.push('$');
            if digits.is_empty() {
                out.push_str(&next.to_string());
                next += 1;
            } else {
                out.push_str(&digits);
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// A parameter that fits whatever column type PostgreSQL inferred for its placeholder (the
/// schema's integers are `BIGINT`, but literals and functions may ask for `INT4`).
#[derive(Debug)]
struct PgParam<'a>(ParamValue<'a>);

impl ToSql for PgParam<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            ParamValue::Null => Ok(IsNull::Yes),
            ParamValue::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                Type::BOOL => (v != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => v.to_string().as_str().to_sql(ty, out),
                _ => Err(format!("an integer cannot be bound to a {ty} parameter").into()),
            },
            ParamValue::Text(s) => s.to_sql(ty, out),
            ParamValue::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn postgres_row(r: &postgres::Row) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(r.len());
    for (i, column) in r.columns().iter().enumerate() {
        let v = match *column.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map_or(Value::Null, Value::Int),
            Type::INT4 => r.try_get::<_, Option<i32>>(i)?.map_or(Value::Null, |v| Value::Int(i64::from(v))),
            Type::INT2 => r.try_get::<_, Option<i16>>(i)?.map_or(Value::Null, |v| Value::Int(i64::from(v))),
            Type::BOOL => r.try_get::<_, Option<bool>>(i)?.map_or(Value::Null, |v| Value::Int(i64::from(v))),
            Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map_or(Value::Null, Value::Real),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => {
                r.try_get::<_, Option<String>>(i)?.map_or(Value::Null, Value::Text)
            }
            Type::BYTEA => r.try_get::<_, Option<Vec<u8>>>(i)?.map_or(Value::Null, Value::Blob),
            Type::VOID => Value::Null,
            ref other => {
                return Err(StoreError::Corrupt(format!("column {} has the unexpected type {other}", column.name())))
            }
        };
        values.push(v);
    }
    Ok(Row { values })
}
