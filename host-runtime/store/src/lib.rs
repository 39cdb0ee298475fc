//! The embedded store: one SQLite database in the data directory (`<data-dir>/aapkit.db`).
//!
//! - Durable: WAL journal with `synchronous=FULL`, so a write is on disk before it is acknowledged.
//! - Shared: the server process reads while CLI processes write; `busy_timeout` makes them wait
//!   for each other instead of failing.
//! - Sealed: key material and secret values are AES-256-GCM encrypted under the master key
//!   ([`seal`]), each bound to its row.
//! - Observable: every control-plane write bumps `generation` in the same transaction; the server
//!   polls [`Store::generation`] and reloads when it changes. A write of keys, aliases or secrets
//!   also sets `catalogue_generation` to its generation, so a reload after any other change can
//!   skip the key catalogue ([`Store::config_snapshot_since`]).
//! - Destroyable: `secure_delete` is on for the store's connection, so SQLite overwrites deleted
//!   content (cells and freed pages) with zeros; [`Store::purge_deleted_keys`] then truncates the WAL,
//!   so destroyed key material is left in neither file.
//! - Created only by `aapkit init` ([`Store::init`]): [`Store::open`] refuses a directory without a
//!   database instead of silently making one.

mod access;
mod account;
mod audit_log;
mod catalogue;
mod change;
mod changelog;
mod cluster;
#[doc(hidden)]
pub mod db;
mod error;
mod events;
mod export;
mod keyring;
mod keys;
mod migrate;
mod notices;
mod ram_roles;
mod schema;
pub mod seal;
mod secrets;
mod time;
pub mod validate;

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use db::{Conn, Tx, TxMode};
pub use db::{Engine, GENERATION_CHANNEL};

/// The value type of a secret version (`SecretDataType`), re-exported for the store's callers.
pub use aapkit_kms::keyring::SecretDataType;
pub use access::{
    days_to_expiry, default_client_key_window, parse_access_control_rules, AapInfo, AapInput, AapUpdate,
    AccessControlRules, ClientKeyInfo, CreatedClientKey, NetworkRuleInfo, NetworkRuleInput, NetworkRuleUpdate,
    NewClientKey, PolicyInfo, PolicyInput, PolicyUpdate,
};
pub use account::{
    AccessKeyCredential, AccessKeyInfo, Account, NewAccessKey, ACCESS_KEY_DISABLED, ACCESS_KEY_ENABLED,
    DEFAULT_REGION_ID,
};
pub use audit_log::{AuditCall, AuditQuery, AuditWriter, PruneCounts};
pub use catalogue::CatalogueRead;
pub use change::{Action, ResourceType};
pub use changelog::AccessRead;
pub use cluster::{ChangeListener, Leadership, QuotaLeaser, SharedReplay, GATEWAY_PRESENCE};
pub use error::StoreError;
pub use events::{EventQuery, ManagementEvent};
pub use keyring::ConfigRead;
pub use keys::{
    AliasInfo, KeyInfo, KeyInput, KeyVersionInfo, PurgeReport, KEY_ORIGIN, KEY_USAGE_ENCRYPT, KEY_USAGE_SIGN,
    PROTECTION_LEVEL,
};
pub use migrate::{MigrationReport, TableDigest};
pub use notices::{
    ClientKeyExpiry, ExpiryNotice, DELIVERY_DELIVERED, DELIVERY_FAILED, DELIVERY_NONE, DELIVERY_PENDING,
    DELIVERY_SUPERSEDED,
};
pub use ram_roles::{
    oidc_provider_arn, role_arn, subject_matches, validate_role_name, validate_session_name, CreatedRamRole,
    JwksSource, OidcTrust, OidcTrustInfo, RamRoleInfo, RamRoleInput, SessionCredential, DEFAULT_DURATION_SECONDS,
    DEFAULT_MAX_SESSION_DURATION, MAX_LIVE_SESSIONS_PER_ROLE, MAX_OIDC_AUDIENCES, MAX_SESSION_DURATION_RANGE,
    MIN_DURATION_SECONDS, STS_ACCESS_KEY_ID_PREFIX,
};
pub use schema::SCHEMA_VERSION;
pub use seal::{MasterKey, MasterKeySource, MASTER_KEY_ENV, MASTER_KEY_FILE};
pub use secrets::{
    SecretDeletionInfo, SecretInfo, SecretValueInput, SecretVersionInfo, DEFAULT_RECOVERY_WINDOW_DAYS,
    RECOVERY_WINDOW_DAYS, STAGE_CURRENT, STAGE_PREVIOUS,
};
pub use time::{format_time, parse_time};

/// The actor management events name when the embedder names none ([`Store::with_actor`]).
pub const DEFAULT_ACTOR: &str = "aapkit";

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "aapkit.db";

/// How long a statement waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An open store. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Store {
    conn: Mutex<Conn>,
    location: StoreLocation,
    /// Shared with a dry run's copy ([`Store::dry_run_copy`]).
    sealer: std::sync::Arc<seal::Sealer>,
    data_dir: PathBuf,
    cache: keyring::SnapshotCache,
    /// The access part of the last configuration read, patched from the change log ([`changelog`]).
    access: changelog::AccessCache,
    /// The key catalogue of the last configuration read, patched from the change log ([`catalogue`]).
    catalogue: catalogue::CatalogueCache,
    /// The unsealed AccessKey credentials of one generation (the OpenAPI's per-request lookup).
    credentials: account::CredentialCache,
    /// The unsealed STS session credentials of one generation, filled on lookup.
    sessions: ram_roles::SessionCache,
    /// Who the management events name ([`Store::with_actor`], [`Store::set_actor`]; the CLI passes
    /// `cli:<OS user>` or `AAPKIT_ACTOR`, the OpenAPI the caller's AccessKeyId).
    actor: String,
    /// Set during [`Store::dry_run`]: writes are rolled back after the bundle is captured.
    dry_run: Option<DryRun>,
    /// PostgreSQL: the generation last read, and when ([`Store::cache_generation`]).
    generation_hint: Mutex<Option<(u64, std::time::Instant)>>,
    /// Commits of configuration changes through this handle and the handles sharing it
    /// ([`Store::sharing_commits_of`]): what a SQLite gateway's [`ChangeListener`] waits on.
    commits: std::sync::Arc<cluster::CommitSignal>,
}

/// How long the per-request caches (AccessKeys, sessions, the key ring) trust a generation read
/// from PostgreSQL before reading it again: a change committed on another gateway reaches the
/// caches within this (the snapshot the enforcer uses is reloaded separately, on notification).
const GENERATION_HINT_TTL: std::time::Duration = std::time::Duration::from_millis(200);

/// What a dry run keeps of its rolled-back write.
struct DryRun {
    scope: String,
    after: Mutex<Option<policy_core::Bundle>>,
}

/// Where a store's database lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// `<data-dir>/aapkit.db`: the embedded default.
    Sqlite,
    /// A PostgreSQL database shared by several gateways (`postgres://…` or `postgresql://…`).
    Postgres(String),
}

impl StoreLocation {
    /// `sqlite` (or empty) for the data directory's database; a `postgres://` or `postgresql://`
    /// URL for PostgreSQL.
    pub fn parse(spec: &str) -> Result<StoreLocation, StoreError> {
        let spec = spec.trim();
        if spec.is_empty() || spec == "sqlite" {
            Ok(StoreLocation::Sqlite)
        } else if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            // Parsed now so that a typo fails before anything is opened.
            db::PgConn::new(spec)?;
            Ok(StoreLocation::Postgres(spec.to_owned()))
        } else {
            Err(StoreError::invalid("store", db::redact_url(spec), "expected `sqlite` or a postgres:// URL"))
        }
    }

    /// For messages: the engine and where, without a password.
    pub fn describe(&self, data_dir: &Path) -> String {
        match self {
            StoreLocation::Sqlite => format!("sqlite:{}", data_dir.join(DB_FILE).display()),
            StoreLocation::Postgres(url) => db::redact_url(url),
        }
    }
}

impl Store {
    /// Opens the store of an initialised data directory, with the master key from `key`.
    /// Creates nothing: a directory without a database is [`StoreError::NotInitialised`] (only
    /// [`Store::init`] creates).
    pub fn open(data_dir: &Path, key: &MasterKeySource) -> Result<Store, StoreError> {
        Store::open_at(data_dir, &StoreLocation::Sqlite, key)
    }

    /// [`Store::open`] with the database at `location` (the data directory still holds the master
    /// key file, when that is where the key comes from).
    pub fn open_at(data_dir: &Path, location: &StoreLocation, key: &MasterKeySource) -> Result<Store, StoreError> {
        match location {
            StoreLocation::Sqlite => {
                if !data_dir.join(DB_FILE).is_file() {
                    return Err(StoreError::NotInitialised { dir: data_dir.to_owned() });
                }
                let master = MasterKey::load(data_dir, key)?;
                Store::open_with_key(data_dir, &master)
            }
            StoreLocation::Postgres(url) => {
                let master = MasterKey::load(data_dir, key)?;
                let mut conn = Conn::Postgres(Box::new(db::PgConn::new(url)?));
                if !has_schema(&mut conn)? {
                    return Err(StoreError::NotInitialisedAt { location: db::redact_url(url) });
                }
                Store::open_conn(conn, location.clone(), data_dir, &master, None)
            }
        }
    }

    /// Creates (or opens) the store in `data_dir`: the directory (0700), the master key file when
    /// `key` is the file, and the database with its account (region [`DEFAULT_REGION_ID`] when
    /// new). What `aapkit init` runs.
    pub fn init(data_dir: &Path, key: &MasterKeySource) -> Result<Store, StoreError> {
        Store::init_in_region(data_dir, key, None)
    }

    /// [`Store::init`] with the account's region: a new account gets `region_id`; an existing one
    /// must already be in it (the region never changes; `InvalidParameter` `RegionId` otherwise).
    pub fn init_in_region(
        data_dir: &Path,
        key: &MasterKeySource,
        region_id: Option<&str>,
    ) -> Result<Store, StoreError> {
        Store::init_at(data_dir, &StoreLocation::Sqlite, key, region_id)
    }

    /// [`Store::init_in_region`] with the database at `location`.
    pub fn init_at(
        data_dir: &Path,
        location: &StoreLocation,
        key: &MasterKeySource,
        region_id: Option<&str>,
    ) -> Result<Store, StoreError> {
        if let Some(r) = region_id {
            // Before anything is created on disk.
            validate::region_id(r)?;
        }
        create_data_dir(data_dir)?;
        let master = MasterKey::load_or_create(data_dir, key)?;
        match location {
            StoreLocation::Sqlite => Store::open_inner(data_dir, &master, region_id),
            StoreLocation::Postgres(url) => {
                let conn = Conn::Postgres(Box::new(db::PgConn::new(url)?));
                Store::open_conn(conn, location.clone(), data_dir, &master, region_id)
            }
        }
    }

    /// Opens the store with an explicit master key, creating the directory and database if needed
    /// (tests, tools, [`Store::init`]).
    pub fn open_with_key(data_dir: &Path, master: &MasterKey) -> Result<Store, StoreError> {
        Store::open_inner(data_dir, master, None)
    }

    /// [`Store::open_with_key`] at `location`, creating the schema if needed (tests, tools).
    pub fn open_at_with_key(
        data_dir: &Path,
        location: &StoreLocation,
        master: &MasterKey,
    ) -> Result<Store, StoreError> {
        match location {
            StoreLocation::Sqlite => Store::open_inner(data_dir, master, None),
            StoreLocation::Postgres(url) => {
                let conn = Conn::Postgres(Box::new(db::PgConn::new(url)?));
                Store::open_conn(conn, location.clone(), data_dir, master, None)
            }
        }
    }

    fn open_inner(data_dir: &Path, master: &MasterKey, region_id: Option<&str>) -> Result<Store, StoreError> {
        create_data_dir(data_dir)?;
        let db_path = data_dir.join(DB_FILE);
        // Create the file owner-only before SQLite does; SQLite gives its -wal/-shm files the same mode.
        if let Err(e) = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&db_path) {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(StoreError::io(&db_path, e));
            }
        }
        let conn = Conn::Sqlite(open_connection(&db_path)?);
        Store::open_conn(conn, StoreLocation::Sqlite, data_dir, master, region_id)
    }

    /// Migrates the schema, checks the master key against the database and makes sure the account
    /// exists.
    fn open_conn(
        mut conn: Conn,
        location: StoreLocation,
        data_dir: &Path,
        master: &MasterKey,
        region_id: Option<&str>,
    ) -> Result<Store, StoreError> {
        schema::migrate(&mut conn)?;
        let sealer = seal::Sealer::new(master)?;
        check_master_key(&mut conn, &sealer)?;
        // A database made before accounts existed gets one here, on its first open.
        account::ensure_account(&mut conn, region_id)?;
        Ok(Store::with_connection(conn, location, std::sync::Arc::new(sealer), data_dir))
    }

    fn with_connection(
        conn: Conn,
        location: StoreLocation,
        sealer: std::sync::Arc<seal::Sealer>,
        data_dir: &Path,
    ) -> Store {
        Store {
            conn: Mutex::new(conn),
            location,
            sealer,
            data_dir: data_dir.to_owned(),
            cache: keyring::SnapshotCache::default(),
            access: changelog::AccessCache::default(),
            catalogue: catalogue::CatalogueCache::default(),
            credentials: account::CredentialCache::default(),
            sessions: ram_roles::SessionCache::default(),
            actor: DEFAULT_ACTOR.to_owned(),
            dry_run: None,
            generation_hint: Mutex::new(None),
            commits: std::sync::Arc::default(),
        }
    }

    /// This handle, announcing its commits to the listeners of `other` too (and hearing of
    /// `other`'s): for the handles of one process on one database, so that a change made through
    /// the management API reaches the process's reload loop at once, not at its next poll.
    pub fn sharing_commits_of(mut self, other: &Store) -> Store {
        self.commits = std::sync::Arc::clone(&other.commits);
        self
    }

    /// Where this store's database is.
    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// Which engine holds this store.
    pub fn engine(&self) -> Engine {
        match self.location {
            StoreLocation::Sqlite => Engine::Sqlite,
            StoreLocation::Postgres(_) => Engine::Postgres,
        }
    }

    /// Runs `change` on this handle with every write rolled back instead of committed, and
    /// returns its result with the bundle for `scope` as it would be after the change (read inside
    /// the change's own transaction): a dry run. A change that writes nothing gives today's bundle.
    pub fn dry_run<T>(
        &mut self,
        scope: &str,
        change: impl FnOnce(&Store) -> Result<T, StoreError>,
    ) -> Result<(T, policy_core::Bundle), StoreError> {
        self.dry_run = Some(DryRun { scope: scope.to_owned(), after: Mutex::new(None) });
        let out = change(self);
        let captured = self.dry_run.take().and_then(|d| d.after.into_inner().unwrap_or_else(|p| p.into_inner()));
        let out = out?;
        let bundle = match captured {
            Some(b) => b,
            None => self.export_bundle(scope)?,
        };
        Ok((out, bundle))
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Names `actor` in the management events of this handle's writes.
    pub fn with_actor(mut self, actor: impl Into<String>) -> Store {
        self.actor = actor.into();
        self
    }

    /// Names `actor` in the management events of this handle's writes from now on (the OpenAPI
    /// sets the caller's AccessKeyId before each call on its management handle).
    pub fn set_actor(&mut self, actor: impl Into<String>) {
        self.actor = actor.into();
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The control-plane generation: bumped by every committed write. Cheap; poll it.
    pub fn generation(&self) -> Result<u64, StoreError> {
        self.read(read_generation)
    }

    /// The generation the per-request caches are keyed by. SQLite: read every time (a local file).
    /// PostgreSQL: read at most every [`GENERATION_HINT_TTL`], and while the server cannot be
    /// reached the last one read is used, so the caches keep serving what they hold (fail closed:
    /// whatever is not cached fails with [`StoreError::Unavailable`]).
    pub(crate) fn cache_generation(&self) -> Result<u64, StoreError> {
        if self.engine() == Engine::Sqlite {
            return self.generation();
        }
        let hint = *self.generation_hint.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, at)) = hint {
            if at.elapsed() < GENERATION_HINT_TTL {
                return Ok(g);
            }
        }
        match self.generation() {
            Ok(g) => {
                *self.generation_hint.lock().unwrap_or_else(|p| p.into_inner()) = Some((g, std::time::Instant::now()));
                Ok(g)
            }
            Err(StoreError::Unavailable(why)) => hint.map(|(g, _)| g).ok_or(StoreError::Unavailable(why)),
            Err(e) => Err(e),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Conn> {
        // A panic while holding the lock leaves the connection usable (the transaction rolls back).
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in a write transaction (excluding every other writer, on every gateway), records
    /// the management event of `change` (before/after images) in it, bumps the generation,
    /// notifies the other gateways and commits. Every control-plane write goes through here, so
    /// none escapes the event log.
    fn write<T>(
        &self,
        change: change::Change<'_>,
        f: impl FnOnce(&Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self.engine() {
            Engine::Sqlite => self.write_now(change, f),
            Engine::Postgres => db::blocking(|| self.write_now(change, f)),
        }
    }

    fn write_now<T>(
        &self,
        change: change::Change<'_>,
        f: impl FnOnce(&Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let out = (|| {
            let tx = conn.transaction(TxMode::Write)?;
            let before = events::snapshot(&tx, change.resource_type, change.name)?;
            let out = f(&tx)?;
            let after = events::snapshot(&tx, change.resource_type, change.name)?;
            let name = events::insert_event(&tx, &self.actor, &change, before, after, time::now())?;
            let generation = db::bump_generation(&tx)?;
            changelog::record(&tx, generation, change.resource_type, &name)?;
            if change.resource_type.touches_catalogue() {
                // Readers that hold the catalogue of an older value read it again
                // (`config_snapshot_since`); every other write leaves it, so they can skip it.
                set_catalogue_generation(&tx, generation)?;
            }
            if let Some(dry) = &self.dry_run {
                // The configuration as the change leaves it, then the transaction is dropped: rolled back.
                let bundle = export::build(&tx, &dry.scope, None)?;
                *dry.after.lock().unwrap_or_else(|p| p.into_inner()) = Some(bundle);
                return Ok(out);
            }
            tx.notify_generation(generation)?;
            tx.commit()?;
            // This handle's own write is seen by its caches at once.
            *self.generation_hint.lock().unwrap_or_else(|p| p.into_inner()) = None;
            self.commits.announce();
            Ok(out)
        })();
        if out.is_err() {
            conn.reset_if_broken();
        }
        out
    }

    /// Runs `f` in a write transaction that is not a configuration change (no event, no new
    /// generation): sessions, notices, pruning.
    fn write_plain<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.lock().run(TxMode::Write, f)
    }

    /// Leaves no image of deleted rows behind where the engine allows it: SQLite checkpoints the
    /// WAL into the database and truncates it to zero bytes (false when a reader kept it from
    /// completing; the data is then still zeroed in the newest page images); PostgreSQL vacuums the
    /// tables that held key material and secret values, so their dead tuples' space is reclaimed.
    fn truncate_wal(&self) -> Result<bool, StoreError> {
        let mut conn = self.lock();
        match &mut *conn {
            Conn::Sqlite(c) => {
                let busy: i64 = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
                Ok(busy == 0)
            }
            Conn::Postgres(pg) => db::blocking(|| {
                pg.client()?.batch_execute("VACUUM key_versions, secret_versions, access_keys, sts_sessions")?;
                Ok(true)
            }),
        }
    }

    /// Runs `f` in a read transaction (a consistent snapshot across several queries).
    fn read<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.lock().run(TxMode::Read, f)
    }
}

fn read_generation(tx: &Tx<'_>) -> Result<u64, StoreError> {
    let g = db::meta_int(tx, "generation")?.ok_or_else(|| StoreError::Corrupt("no generation".into()))?;
    u64::try_from(g).map_err(|_| StoreError::Corrupt(format!("negative generation {g}")))
}

/// The name in `meta` of the generation of the last committed change to the key catalogue (keys,
/// aliases, key versions, secrets and their versions and stages).
pub(crate) const CATALOGUE_GENERATION: &str = "catalogue_generation";

/// The generation of the last committed change to the key catalogue; `None` on a store that has
/// not recorded one (a database from before the record, or one whose row was removed): the caller
/// must then read the catalogue, never assume it unchanged.
fn read_catalogue_generation(tx: &Tx<'_>) -> Result<Option<u64>, StoreError> {
    match db::meta_int(tx, CATALOGUE_GENERATION)? {
        None => Ok(None),
        Some(g) => {
            u64::try_from(g).map(Some).map_err(|_| StoreError::Corrupt(format!("negative catalogue generation {g}")))
        }
    }
}

/// Records that the catalogue changed at `generation` (in the transaction of the change; creates
/// the row on a database that has none).
pub(crate) fn set_catalogue_generation(tx: &Tx<'_>, generation: u64) -> Result<(), StoreError> {
    let g = i64::try_from(generation).map_err(|_| StoreError::Corrupt(format!("generation {generation}")))?;
    db::meta_set(tx, CATALOGUE_GENERATION, &g)
}

/// Whether the database has aapkit's schema (PostgreSQL: `aapkit init` has run against it).
fn has_schema(conn: &mut Conn) -> Result<bool, StoreError> {
    conn.run(TxMode::Read, schema::has_schema)
}

/// The database connection with the store's settings, migrated to the current schema.
fn open_connection(db_path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(db_path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A reload reads the whole access configuration (12 MB of certificates at 10,000 client
    // keys): with SQLite's default 2 MiB page cache every page came from the kernel again on every
    // reload. The cache only grows as pages are read; a negative size is in KiB.
    conn.pragma_update(None, "cache_size", -32_768)?;
    // Deleted key material and secret values are overwritten with zeros, not left in free
    // space or free pages (the purge relies on it).
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(conn)
}

fn create_data_dir(dir: &Path) -> Result<(), StoreError> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| StoreError::io(dir, e))
}

/// The first open seals a known value; later opens must unseal it, which tells a wrong master key
/// apart from data corruption before any real data is touched.
fn check_master_key(conn: &mut Conn, sealer: &seal::Sealer) -> Result<(), StoreError> {
    conn.run(TxMode::Write, |tx| {
        match db::meta_blob(tx, "master_check")? {
            Some(blob) => {
                let ok = sealer
                    .open(seal::MASTER_CHECK_AAD, &blob)
                    .is_ok_and(|p| p.as_slice() == seal::MASTER_CHECK_PLAINTEXT);
                if !ok {
                    return Err(StoreError::MasterKey(
                        "this is not the master key the database was created with (check AAPKIT_MASTER_KEY or master.key)"
                            .into(),
                    ));
                }
            }
            None => {
                let blob = sealer.seal(seal::MASTER_CHECK_AAD, seal::MASTER_CHECK_PLAINTEXT)?;
                db::meta_set(tx, "master_check", &blob)?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests;
