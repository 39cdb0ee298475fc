//! Store errors, and their Alibaba error codes (the one place they are mapped).

use std::path::PathBuf;

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A named resource does not exist.
    #[error("the {kind} \"{name}\" does not exist")]
    NotFound { kind: &'static str, name: String },
    /// A create would overwrite an existing resource.
    #[error("the {kind} \"{name}\" already exists")]
    AlreadyExists { kind: &'static str, name: String },
    /// A parameter is malformed or out of range.
    #[error("invalid {param} \"{value}\": {reason}")]
    InvalidParameter { param: &'static str, value: String, reason: String },
    /// A required parameter is absent.
    #[error("missing required parameter {0}")]
    MissingParameter(&'static str),
    /// Deleting something other resources still refer to.
    #[error("the {kind} \"{name}\" is in use by {used_by}; detach it first")]
    InUse { kind: &'static str, name: String, used_by: String },
    /// A per-resource limit would be exceeded.
    #[error("{0}")]
    LimitExceeded(String),
    /// The operation does not apply in the resource's current state.
    #[error("{0}")]
    InvalidState(String),
    /// The master key is missing, malformed, too widely readable, or not this database's key.
    #[error("master key: {0}")]
    MasterKey(String),
    /// A sealed blob failed to open (tampered, swapped, or sealed under another key).
    #[error("cannot unseal {0}: the data was modified or sealed under a different master key")]
    Unseal(String),
    /// Randomness or key generation failed.
    #[error("crypto failure: {0}")]
    Crypto(String),
    /// The database was written by a newer aapkit.
    #[error("database schema version {found} is newer than this aapkit supports ({supported}); upgrade aapkit")]
    SchemaTooNew { found: i64, supported: i64 },
    /// A feature whose implementation has not landed yet.
    #[error("{0} is not wired yet")]
    NotWired(&'static str),
    /// The data directory has no database: `aapkit init` has not run there.
    #[error("{} is not an initialised data directory (no {}); run `aapkit --data-dir {} init` first", dir.display(), super::DB_FILE, dir.display())]
    NotInitialised { dir: PathBuf },
    /// The PostgreSQL database has no aapkit schema: `aapkit init` has not run against it.
    #[error("{location} has no aapkit store; run `aapkit --store <url> init` first")]
    NotInitialisedAt { location: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// PostgreSQL refused a statement.
    #[error("database: {0}")]
    Postgres(postgres::Error),
    /// The shared store (PostgreSQL) cannot be reached: serving goes on with the configuration in
    /// force, writes are refused until it is back.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The Alibaba-style error code (`Code` in `--json` output).
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound { kind, .. } if *kind == "key" || *kind == "alias" => "Forbidden.KeyNotFound",
            StoreError::NotFound { .. } => "Forbidden.ResourceNotFound",
            StoreError::AlreadyExists { .. } => "Rejected.ResourceExist",
            StoreError::InvalidParameter { .. } => "InvalidParameter",
            StoreError::MissingParameter(_) => "MissingParameter",
            StoreError::InUse { .. } => "Rejected.ResourceInUse",
            StoreError::LimitExceeded(_) => "Rejected.LimitExceeded",
            StoreError::InvalidState(_) => "Rejected.UnexpectedState",
            StoreError::NotWired(_) => "UnsupportedOperation",
            StoreError::NotInitialised { .. } | StoreError::NotInitialisedAt { .. } => "Rejected.UnexpectedState",
            StoreError::Unavailable(_) => "ServiceUnavailableTemporary",
            StoreError::MasterKey(_)
            | StoreError::Unseal(_)
            | StoreError::Crypto(_)
            | StoreError::SchemaTooNew { .. }
            | StoreError::Io { .. }
            | StoreError::Db(_)
            | StoreError::Postgres(_)
            | StoreError::Corrupt(_) => "InternalFailure",
        }
    }

    pub fn invalid(param: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        StoreError::InvalidParameter { param, value: value.into(), reason: reason.into() }
    }

    pub fn not_found(kind: &'static str, name: impl Into<String>) -> Self {
        StoreError::NotFound { kind, name: name.into() }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io { path: path.into(), source }
    }
}

impl From<postgres::Error> for StoreError {
    /// A lost connection, a server shutting down or refusing connections is
    /// [`StoreError::Unavailable`]; anything the server said about a statement stays an error of it.
    fn from(e: postgres::Error) -> StoreError {
        use postgres::error::SqlState;
        const DOWN: [SqlState; 7] = [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::CONNECTION_FAILURE,
            SqlState::CONNECTION_EXCEPTION,
            SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
            SqlState::TOO_MANY_CONNECTIONS,
        ];
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io || e.code().is_some_and(|c| DOWN.contains(c)) {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Postgres(e)
        }
    }
}
