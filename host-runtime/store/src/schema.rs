//! The database schema and its migrations.
//!
//! `meta.schema_version` records how many entries of [`MIGRATIONS`] have run. A new schema change is
//! a new entry at the end; entries are never edited once released.
//!
//! PostgreSQL has the same tables, columns, keys and steps in [`PG_MIGRATIONS`] (one entry per
//! SQLite entry, so a version number means the same layout on both), in its own types: `BIGINT` for
//! SQLite's `INTEGER`, `BYTEA` for `BLOB`, identity columns for SQLite's implicit row ids, and a
//! `meta` table with one typed column per kind of value. A step added to one list is added to the
//! other in the same commit (a test compares the two layouts).

use super::db::{self, Conn, Engine, TxMode};
use super::StoreError;

/// Each step moves the SQLite schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the initial layout.
    r#"
    CREATE TABLE meta (
        name  TEXT PRIMARY KEY,
        value ANY NOT NULL
    ) STRICT;

    CREATE TABLE keys (
        id               TEXT PRIMARY KEY,
        spec             TEXT NOT NULL,
        state            TEXT NOT NULL,
        description      TEXT NOT NULL DEFAULT '',
        created          INTEGER NOT NULL,
        deletion_date    INTEGER,
        initial_version  TEXT NOT NULL,
        primary_version  TEXT NOT NULL
    ) STRICT;

    CREATE TABLE key_versions (
        id       TEXT PRIMARY KEY,
        key_id   TEXT NOT NULL REFERENCES keys(id),
        created  INTEGER NOT NULL,
        sealed   BLOB NOT NULL
    ) STRICT;
    CREATE INDEX key_versions_by_key ON key_versions(key_id, created);

    CREATE TABLE aliases (
        name     TEXT PRIMARY KEY,
        key_id   TEXT NOT NULL REFERENCES keys(id),
        created  INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX aliases_by_key ON aliases(key_id);

    CREATE TABLE secrets (
        name               TEXT PRIMARY KEY,
        encryption_key_id  TEXT NOT NULL REFERENCES keys(id),
        secret_type        TEXT NOT NULL,
        description        TEXT NOT NULL DEFAULT '',
        created            INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE secret_versions (
        secret_name  TEXT NOT NULL REFERENCES secrets(name),
        version_id   TEXT NOT NULL,
        data_type    TEXT NOT NULL,
        created      INTEGER NOT NULL,
        seq          INTEGER NOT NULL,
        sealed       BLOB NOT NULL,
        PRIMARY KEY (secret_name, version_id)
    ) STRICT;

    -- A stage labels at most one version of a secret.
    CREATE TABLE secret_stages (
        secret_name  TEXT NOT NULL,
        stage        TEXT NOT NULL,
        version_id   TEXT NOT NULL,
        PRIMARY KEY (secret_name, stage),
        FOREIGN KEY (secret_name, version_id) REFERENCES secret_versions(secret_name, version_id)
    ) STRICT;

    CREATE TABLE network_rules (
        name               TEXT PRIMARY KEY,
        type               TEXT NOT NULL,
        source_private_ip  TEXT NOT NULL,   -- JSON array
        description        TEXT NOT NULL DEFAULT '',
        created            INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE policies (
        name          TEXT PRIMARY KEY,
        kms_instance  TEXT NOT NULL,
        permissions   TEXT NOT NULL,        -- JSON array
        resources     TEXT NOT NULL,        -- JSON array
        description   TEXT NOT NULL DEFAULT '',
        created       INTEGER NOT NULL
    ) STRICT;

    -- AccessControlRules.NetworkRules, in order; the foreign key makes deleting a used rule fail.
    CREATE TABLE policy_network_rules (
        policy     TEXT NOT NULL REFERENCES policies(name) ON DELETE CASCADE,
        rule       TEXT NOT NULL REFERENCES network_rules(name),
        position   INTEGER NOT NULL,
        PRIMARY KEY (policy, rule)
    ) STRICT;
    CREATE INDEX policy_network_rules_by_rule ON policy_network_rules(rule);

    CREATE TABLE aaps (
        name                   TEXT PRIMARY KEY,
        authentication_method  TEXT NOT NULL,
        description            TEXT NOT NULL DEFAULT '',
        created                INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE aap_policies (
        aap       TEXT NOT NULL REFERENCES aaps(name) ON DELETE CASCADE,
        policy    TEXT NOT NULL REFERENCES policies(name),
        position  INTEGER NOT NULL,
        PRIMARY KEY (aap, policy)
    ) STRICT;
    CREATE INDEX aap_policies_by_policy ON aap_policies(policy);

    -- Public records only: the private half of a client key is never stored.
    CREATE TABLE client_keys (
        id               TEXT PRIMARY KEY,
        aap              TEXT NOT NULL REFERENCES aaps(name),
        algorithm        TEXT NOT NULL,
        public_key_pem   TEXT NOT NULL,
        not_before       INTEGER NOT NULL,
        not_after        INTEGER NOT NULL,
        created          INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX client_keys_by_aap ON client_keys(aap);

    INSERT INTO meta(name, value) VALUES ('generation', 0);
    "#,
    // 2: operations records (store/audit.rs): the audit log of Instance API calls, management
    // events, client-key expiry notices.
    r#"
    CREATE TABLE audit_log (
        id             INTEGER PRIMARY KEY,
        time           INTEGER NOT NULL,
        request_id     TEXT NOT NULL,
        access_key_id  TEXT NOT NULL,
        aap            TEXT NOT NULL,
        api            TEXT NOT NULL,
        resource       TEXT NOT NULL,
        source_ip      TEXT NOT NULL,
        allowed        INTEGER NOT NULL,
        status         INTEGER NOT NULL,
        error_code     TEXT NOT NULL,
        latency_us     INTEGER NOT NULL,
        policy         TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_log_by_time ON audit_log(time);
    CREATE INDEX audit_log_by_key ON audit_log(access_key_id, time);

    -- Written in the transaction of the change; images hold no secret material.
    CREATE TABLE mgmt_events (
        id             INTEGER PRIMARY KEY,
        time           INTEGER NOT NULL,
        actor          TEXT NOT NULL,
        action         TEXT NOT NULL,
        resource_type  TEXT NOT NULL,
        resource_name  TEXT NOT NULL,
        operation      TEXT NOT NULL,
        before         TEXT,
        after          TEXT
    ) STRICT;
    CREATE INDEX mgmt_events_by_time ON mgmt_events(time);
    CREATE INDEX mgmt_events_by_resource ON mgmt_events(resource_type, resource_name);

    -- One row per client key and threshold: what keeps a notice from firing twice.
    CREATE TABLE expiry_notices (
        client_key_id   TEXT NOT NULL,
        aap             TEXT NOT NULL,
        threshold_days  INTEGER NOT NULL,
        not_after       INTEGER NOT NULL,
        days_left       INTEGER NOT NULL,
        notified_at     INTEGER NOT NULL,
        delivery        TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (client_key_id, threshold_days)
    ) STRICT;
    "#,
    // 3: the audit log names a client key only for a verified signature (issue 10 §4). Rows
    // written before may name a key the caller did not hold: only their allowed calls were
    // verified. `detail` keeps the operator's account of a deny (the per-policy trace) that the
    // caller is not told.
    r#"
    ALTER TABLE audit_log ADD COLUMN authenticated INTEGER NOT NULL DEFAULT 1;
    UPDATE audit_log SET authenticated = allowed;
    ALTER TABLE audit_log ADD COLUMN detail TEXT NOT NULL DEFAULT '';
    "#,
    // 4: the KMS OpenAPI (issue 12). AccessKeys, their secrets sealed like key material; a key's
    // KeyUsage (keys made before could only be used as their spec allows: EC keys sign, the
    // others encrypt); a secret's scheduled deletion. The account (id, region) lives in `meta`,
    // written by the first open after this step (`account.rs`).
    r#"
    CREATE TABLE access_keys (
        id           TEXT PRIMARY KEY,
        sealed       BLOB NOT NULL,
        status       TEXT NOT NULL,
        description  TEXT NOT NULL DEFAULT '',
        created      INTEGER NOT NULL
    ) STRICT;

    ALTER TABLE keys ADD COLUMN key_usage TEXT NOT NULL DEFAULT 'ENCRYPT/DECRYPT';
    UPDATE keys SET key_usage = 'SIGN/VERIFY' WHERE spec = 'EC_P256';

    ALTER TABLE secrets ADD COLUMN planned_delete_time INTEGER;
    "#,
    // 5: RAM roles and their STS sessions (issue 13). A role is bound to one RAMRole AAP; its
    // trust is an OIDC issuer and/or a credentials-URI token (only its SHA-256 is kept). A
    // session's AccessKeySecret and SecurityToken are sealed like AccessKey secrets; deleting
    // the role deletes its sessions (the cascade is the revocation).
    r#"
    CREATE TABLE ram_roles (
        name                  TEXT PRIMARY KEY,
        role_id               TEXT NOT NULL UNIQUE,
        aap                   TEXT NOT NULL REFERENCES aaps(name),
        oidc_provider         TEXT,
        oidc_issuer           TEXT,
        oidc_audiences        TEXT,           -- JSON array
        oidc_subject          TEXT,           -- exact, or `prefix*`
        oidc_jwks_file        TEXT,
        oidc_jwks_url         TEXT,
        uri_token_sha256      BLOB,
        max_session_duration  INTEGER NOT NULL,
        description           TEXT NOT NULL DEFAULT '',
        created               INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX ram_roles_by_aap ON ram_roles(aap);

    CREATE TABLE sts_sessions (
        id              TEXT PRIMARY KEY,
        role            TEXT NOT NULL REFERENCES ram_roles(name) ON DELETE CASCADE,
        session_name    TEXT NOT NULL,
        sealed_secret   BLOB NOT NULL,
        sealed_token    BLOB NOT NULL,
        expires         INTEGER NOT NULL,
        created         INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX sts_sessions_by_role ON sts_sessions(role);
    CREATE INDEX sts_sessions_by_expiry ON sts_sessions(expires);
    "#,
    // 6: scale-out (issue 14). The cluster's QPS quota: one token bucket per operation group,
    // refilled by the database server's clock, from which gateways lease tokens; the gateways
    // present (for the rate each falls back to when the database is unreachable); the shared
    // replay window. Used on PostgreSQL; a single SQLite gateway keeps these in memory.
    r#"
    CREATE TABLE quota_buckets (
        grp         TEXT PRIMARY KEY,
        tokens      REAL NOT NULL,
        updated_us  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE quota_gateways (
        gateway_id  TEXT PRIMARY KEY,
        seen_us     INTEGER NOT NULL
    ) STRICT;

    -- The KMS endpoint's replay window shared by the gateways: a truncated SHA-256 of (caller,
    -- nonce), kept until the request's timestamp leaves the window.
    CREATE TABLE replay_nonces (
        digest        BLOB PRIMARY KEY,
        forget_after  INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX replay_nonces_by_expiry ON replay_nonces(forget_after);
    "#,
    // 7: reloads that skip an unchanged key catalogue (`Store::config_snapshot_since`).
    // `catalogue_generation` is the generation of the last change to keys, aliases, key versions,
    // secrets, secret versions or stages (`Store::write` moves it with such a change). Started at
    // the current generation: no catalogue change can be newer, and no reader holds an older value
    // of a record that did not exist. Both kept if present (a database wound back past this step). A
    // binary from before this step refuses the database (its schema is newer), so none keeps
    // writing the catalogue without moving the record. The index finds keys whose deletion window
    // has ended without a write (`keys::deletion_due`), which a reload must not skip.
    r#"
    INSERT INTO meta(name, value) SELECT 'catalogue_generation', value FROM meta WHERE name = 'generation'
        ON CONFLICT(name) DO NOTHING;
    CREATE INDEX IF NOT EXISTS keys_by_deletion ON keys(state, deletion_date);
    "#,
    // 8: reloads that read only the access rows that changed (`changelog`). One row per committed
    // change from here on, naming the resource it changed, with a random token that tells this
    // history's row of a generation from another's (a database restored from a backup and written
    // again). A reader whose generation has no row here reads everything. Kept if present (a database
    // wound back past this step).
    r#"
    CREATE TABLE IF NOT EXISTS config_changes (
        generation     INTEGER PRIMARY KEY,
        resource_type  TEXT NOT NULL,
        name           TEXT NOT NULL,
        token          INTEGER NOT NULL
    ) STRICT;
    "#,
];

/// The PostgreSQL steps, one per entry of [`MIGRATIONS`].
pub(crate) const PG_MIGRATIONS: &[&str] = &[
    // 1
    r#"
    CREATE TABLE meta (
        name        TEXT PRIMARY KEY,
        int_value   BIGINT,
        text_value  TEXT,
        blob_value  BYTEA
    );

    CREATE TABLE keys (
        id               TEXT PRIMARY KEY,
        spec             TEXT NOT NULL,
        state            TEXT NOT NULL,
        description      TEXT NOT NULL DEFAULT '',
        created          BIGINT NOT NULL,
        deletion_date    BIGINT,
        initial_version  TEXT NOT NULL,
        primary_version  TEXT NOT NULL
    );

    -- `rowid`: SQLite's implicit insertion order, which versions created in one second sort by.
    CREATE TABLE key_versions (
        id       TEXT PRIMARY KEY,
        key_id   TEXT NOT NULL REFERENCES keys(id),
        created  BIGINT NOT NULL,
        sealed   BYTEA NOT NULL,
        rowid    BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE
    );
    CREATE INDEX key_versions_by_key ON key_versions(key_id, created);

    CREATE TABLE aliases (
        name     TEXT PRIMARY KEY,
        key_id   TEXT NOT NULL REFERENCES keys(id),
        created  BIGINT NOT NULL
    );
    CREATE INDEX aliases_by_key ON aliases(key_id);

    CREATE TABLE secrets (
        name               TEXT PRIMARY KEY,
        encryption_key_id  TEXT NOT NULL REFERENCES keys(id),
        secret_type        TEXT NOT NULL,
        description        TEXT NOT NULL DEFAULT '',
        created            BIGINT NOT NULL
    );

    CREATE TABLE secret_versions (
        secret_name  TEXT NOT NULL REFERENCES secrets(name),
        version_id   TEXT NOT NULL,
        data_type    TEXT NOT NULL,
        created      BIGINT NOT NULL,
        seq          BIGINT NOT NULL,
        sealed       BYTEA NOT NULL,
        PRIMARY KEY (secret_name, version_id)
    );

    CREATE TABLE secret_stages (
        secret_name  TEXT NOT NULL,
        stage        TEXT NOT NULL,
        version_id   TEXT NOT NULL,
        PRIMARY KEY (secret_name, stage),
        FOREIGN KEY (secret_name, version_id) REFERENCES secret_versions(secret_name, version_id)
    );

    CREATE TABLE network_rules (
        name               TEXT PRIMARY KEY,
        type               TEXT NOT NULL,
        source_private_ip  TEXT NOT NULL,
        description        TEXT NOT NULL DEFAULT '',
        created            BIGINT NOT NULL
    );

    CREATE TABLE policies (
        name          TEXT PRIMARY KEY,
        kms_instance  TEXT NOT NULL,
        permissions   TEXT NOT NULL,
        resources     TEXT NOT NULL,
        description   TEXT NOT NULL DEFAULT '',
        created       BIGINT NOT NULL
    );

    CREATE TABLE policy_network_rules (
        policy     TEXT NOT NULL REFERENCES policies(name) ON DELETE CASCADE,
        rule       TEXT NOT NULL REFERENCES network_rules(name),
        position   BIGINT NOT NULL,
        PRIMARY KEY (policy, rule)
    );
    CREATE INDEX policy_network_rules_by_rule ON policy_network_rules(rule);

    CREATE TABLE aaps (
        name                   TEXT PRIMARY KEY,
        authentication_method  TEXT NOT NULL,
        description            TEXT NOT NULL DEFAULT '',
        created                BIGINT NOT NULL
    );

    CREATE TABLE aap_policies (
        aap       TEXT NOT NULL REFERENCES aaps(name) ON DELETE CASCADE,
        policy    TEXT NOT NULL REFERENCES policies(name),
        position  BIGINT NOT NULL,
        PRIMARY KEY (aap, policy)
    );
    CREATE INDEX aap_policies_by_policy ON aap_policies(policy);

    CREATE TABLE client_keys (
        id               TEXT PRIMARY KEY,
        aap              TEXT NOT NULL REFERENCES aaps(name),
        algorithm        TEXT NOT NULL,
        public_key_pem   TEXT NOT NULL,
        not_before       BIGINT NOT NULL,
        not_after        BIGINT NOT NULL,
        created          BIGINT NOT NULL
    );
    CREATE INDEX client_keys_by_aap ON client_keys(aap);

    INSERT INTO meta(name, int_value) VALUES ('generation', 0);
    "#,
    // 2
    r#"
    CREATE TABLE audit_log (
        id             BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        time           BIGINT NOT NULL,
        request_id     TEXT NOT NULL,
        access_key_id  TEXT NOT NULL,
        aap            TEXT NOT NULL,
        api            TEXT NOT NULL,
        resource       TEXT NOT NULL,
        source_ip      TEXT NOT NULL,
        allowed        BIGINT NOT NULL,
        status         BIGINT NOT NULL,
        error_code     TEXT NOT NULL,
        latency_us     BIGINT NOT NULL,
        policy         TEXT NOT NULL
    );
    CREATE INDEX audit_log_by_time ON audit_log(time);
    CREATE INDEX audit_log_by_key ON audit_log(access_key_id, time);

    CREATE TABLE mgmt_events (
        id             BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        time           BIGINT NOT NULL,
        actor          TEXT NOT NULL,
        action         TEXT NOT NULL,
        resource_type  TEXT NOT NULL,
        resource_name  TEXT NOT NULL,
        operation      TEXT NOT NULL,
        before         TEXT,
        after          TEXT
    );
    CREATE INDEX mgmt_events_by_time ON mgmt_events(time);
    CREATE INDEX mgmt_events_by_resource ON mgmt_events(resource_type, resource_name);

    CREATE TABLE expiry_notices (
        client_key_id   TEXT NOT NULL,
        aap             TEXT NOT NULL,
        threshold_days  BIGINT NOT NULL,
        not_after       BIGINT NOT NULL,
        days_left       BIGINT NOT NULL,
        notified_at     BIGINT NOT NULL,
        delivery        TEXT NOT NULL,
        attempts        BIGINT NOT NULL DEFAULT 0,
        last_error      TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (client_key_id, threshold_days)
    );
    "#,
    // 3
    r#"
    ALTER TABLE audit_log ADD COLUMN authenticated BIGINT NOT NULL DEFAULT 1;
    UPDATE audit_log SET authenticated = allowed;
    ALTER TABLE audit_log ADD COLUMN detail TEXT NOT NULL DEFAULT '';
    "#,
    // 4
    r#"
    CREATE TABLE access_keys (
        id           TEXT PRIMARY KEY,
        sealed       BYTEA NOT NULL,
        status       TEXT NOT NULL,
        description  TEXT NOT NULL DEFAULT '',
        created      BIGINT NOT NULL
    );

    ALTER TABLE keys ADD COLUMN key_usage TEXT NOT NULL DEFAULT 'ENCRYPT/DECRYPT';
    UPDATE keys SET key_usage = 'SIGN/VERIFY' WHERE spec = 'EC_P256';

    ALTER TABLE secrets ADD COLUMN planned_delete_time BIGINT;
    "#,
    // 5
    r#"
    CREATE TABLE ram_roles (
        name                  TEXT PRIMARY KEY,
        role_id               TEXT NOT NULL UNIQUE,
        aap                   TEXT NOT NULL REFERENCES aaps(name),
        oidc_provider         TEXT,
        oidc_issuer           TEXT,
        oidc_audiences        TEXT,
        oidc_subject          TEXT,
        oidc_jwks_file        TEXT,
        oidc_jwks_url         TEXT,
        uri_token_sha256      BYTEA,
        max_session_duration  BIGINT NOT NULL,
        description           TEXT NOT NULL DEFAULT '',
        created               BIGINT NOT NULL
    );
    CREATE INDEX ram_roles_by_aap ON ram_roles(aap);

    CREATE TABLE sts_sessions (
        id              TEXT PRIMARY KEY,
        role            TEXT NOT NULL REFERENCES ram_roles(name) ON DELETE CASCADE,
        session_name    TEXT NOT NULL,
        sealed_secret   BYTEA NOT NULL,
        sealed_token    BYTEA NOT NULL,
        expires         BIGINT NOT NULL,
        created         BIGINT NOT NULL
    );
    CREATE INDEX sts_sessions_by_role ON sts_sessions(role);
    CREATE INDEX sts_sessions_by_expiry ON sts_sessions(expires);
    "#,
    // 6
    r#"
    CREATE TABLE quota_buckets (
        grp         TEXT PRIMARY KEY,
        tokens      DOUBLE PRECISION NOT NULL,
        updated_us  BIGINT NOT NULL
    );

    CREATE TABLE quota_gateways (
        gateway_id  TEXT PRIMARY KEY,
        seen_us     BIGINT NOT NULL
    );

    CREATE TABLE replay_nonces (
        digest        BYTEA PRIMARY KEY,
        forget_after  BIGINT NOT NULL
    );
    CREATE INDEX replay_nonces_by_expiry ON replay_nonces(forget_after);
    "#,
    // 7
    r#"
    INSERT INTO meta(name, int_value) SELECT 'catalogue_generation', int_value FROM meta WHERE name = 'generation'
        ON CONFLICT (name) DO NOTHING;
    CREATE INDEX IF NOT EXISTS keys_by_deletion ON keys(state, deletion_date);
    "#,
    // 8
    r#"
    CREATE TABLE IF NOT EXISTS config_changes (
        generation     BIGINT PRIMARY KEY,
        resource_type  TEXT NOT NULL,
        name           TEXT NOT NULL,
        token          BIGINT NOT NULL
    );
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`], in one transaction. On PostgreSQL the migration
/// runs under a session-level advisory lock, so gateways starting together migrate once: the
/// others wait, then find the schema current.
pub(crate) fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
    match conn.engine() {
        Engine::Sqlite => migrate_now(conn),
        Engine::Postgres => db::blocking(|| migrate_now(conn)),
    }
}

/// Whether the database has the store's schema (its `meta` table), read in `tx`.
pub(crate) fn has_schema(tx: &db::Tx<'_>) -> Result<bool, StoreError> {
    let sql = match tx.engine() {
        Engine::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
        Engine::Postgres => "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'meta'",
    };
    let n: i64 = tx.query_row(sql, crate::params![], |r| r.get(0))?;
    Ok(n > 0)
}

fn migrate_now(conn: &mut Conn) -> Result<(), StoreError> {
    let steps = match conn.engine() {
        Engine::Sqlite => MIGRATIONS,
        Engine::Postgres => PG_MIGRATIONS,
    };
    if let Conn::Postgres(pg) = conn {
        pg.client()?.execute("SELECT pg_advisory_lock($1)", &[&db::MIGRATE_LOCK])?;
    }
    let out = conn.run(TxMode::Write, |tx| {
        let current = if has_schema(tx)? { db::meta_int(tx, "schema_version")?.unwrap_or(0) } else { 0 };
        if current > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew { found: current, supported: SCHEMA_VERSION });
        }
        for step in steps.iter().skip(usize::try_from(current).unwrap_or(0)) {
            tx.execute_batch(step)?;
        }
        if current < SCHEMA_VERSION {
            db::meta_set(tx, "schema_version", &SCHEMA_VERSION)?;
        }
        Ok(())
    });
    if let Conn::Postgres(pg) = conn {
        // A session lock outlives a failed transaction: release it either way (a broken connection
        // releases it with the session).
        if let Ok(client) = pg.client() {
            let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&db::MIGRATE_LOCK]);
        }
    }
    out
}
