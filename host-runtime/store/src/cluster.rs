//! What several gateways on one PostgreSQL coordinate through it, each on a connection of its
//! own (never the store's, whose writes may wait for the write lock):
//!
//! - [`ChangeListener`]: `LISTEN` for committed configuration changes, so every gateway reloads
//!   within moments of a commit made anywhere (the generation poll stays as the fallback).
//! - [`Leadership`]: one gateway at a time runs the cluster's periodic duties (expiry notices,
//!   the deletion purge), by a session-level advisory lock. The lock dies with its connection, so
//!   a leader that crashes or loses the server hands over at the next attempt of another gateway.
//! - [`QuotaLeaser`]: the instance's QPS quota as one token bucket per group in a table, refilled
//!   by the server's clock; gateways take tokens in small leases, so the request path only ever
//!   touches local memory.
//!
//! On SQLite (one gateway) there is nothing to coordinate: always the leader, no leaser, and the
//! listener hears only the commits of the process's own handles that share them
//! ([`Store::sharing_commits_of`]).

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use fallible_iterator::FallibleIterator;

use crate::db::{self, PgConn};
use crate::{Store, StoreError, StoreLocation};

/// Commits counted for the listeners of one process ([`Store::sharing_commits_of`]).
#[derive(Default)]
pub(crate) struct CommitSignal {
    commits: Mutex<u64>,
    changed: Condvar,
}

impl CommitSignal {
    pub(crate) fn announce(&self) {
        *self.commits.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.changed.notify_all();
    }

    fn count(&self) -> u64 {
        *self.commits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks up to `timeout` for a count other than `seen`; the count then.
    fn wait_past(&self, seen: u64, timeout: Duration) -> u64 {
        let guard = self.commits.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) =
            self.changed.wait_timeout_while(guard, timeout, |count| *count == seen).unwrap_or_else(|p| p.into_inner());
        *guard
    }
}

/// Waits for configuration changes: on PostgreSQL those committed by any gateway (`LISTEN`); on
/// SQLite those committed through the handles of this process that share commits
/// ([`Store::sharing_commits_of`]). Other writers (the CLI, another process) are found by the
/// reload loop's generation poll.
pub struct ChangeListener {
    inner: Listening,
}

enum Listening {
    Postgres { conn: Box<PgConn>, listening: bool },
    InProcess { commits: Arc<CommitSignal>, seen: u64 },
}

impl ChangeListener {
    /// Blocks up to `timeout` for a change; `Ok(true)` when one (or several) was committed. A
    /// PostgreSQL connection lost on the way is `Err` and is re-opened (and `LISTEN` re-issued)
    /// by the next call; changes committed in between are found by the generation poll.
    pub fn wait(&mut self, timeout: Duration) -> Result<bool, StoreError> {
        match &mut self.inner {
            Listening::Postgres { conn, listening } => {
                let out = db::blocking(|| Self::wait_postgres(conn, listening, timeout));
                if out.is_err() {
                    *listening = false;
                    conn.reset_if_broken();
                }
                out
            }
            Listening::InProcess { commits, seen } => {
                let now = commits.wait_past(*seen, timeout);
                let changed = now != *seen;
                *seen = now;
                Ok(changed)
            }
        }
    }

    fn wait_postgres(conn: &mut PgConn, listening: &mut bool, timeout: Duration) -> Result<bool, StoreError> {
        let client = conn.client()?;
        if !*listening || client.is_closed() {
            client.batch_execute(&format!("LISTEN {}", db::GENERATION_CHANNEL))?;
            *listening = true;
        }
        let got = {
            let mut notifications = client.notifications();
            let mut waiting = notifications.timeout_iter(timeout);
            let got = waiting.next()?.is_some();
            drop(waiting);
            if got {
                // Several commits in a burst make one reload.
                let mut pending = notifications.iter();
                while pending.next()?.is_some() {}
            }
            got
        };
        if !got && client.is_closed() {
            return Err(StoreError::Unavailable("the listening connection closed".into()));
        }
        Ok(got)
    }
}

/// The advisory lock key of a leadership role: "aapkitLD" plus the role's hash.
fn leadership_key(role: &str) -> i64 {
    // FNV-1a: stable across builds and platforms (std's hashers are not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in role.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_be_bytes((0x6161_706b_0000_0000u64 | (h & 0xffff_ffff)).to_be_bytes())
}

/// One gateway's claim to a cluster-wide duty.
pub struct Leadership {
    key: i64,
    /// `None` on SQLite: the only gateway always leads.
    conn: Option<Box<PgConn>>,
    held: bool,
}

impl Leadership {
    /// Whether this gateway leads now: keeps a lock it holds, else tries to take it (never waits).
    /// `Err` when the server cannot be reached: not the leader until it can be.
    pub fn try_lead(&mut self) -> Result<bool, StoreError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(true);
        };
        let key = self.key;
        let held = self.held;
        let out = db::blocking(|| {
            let client = conn.client()?;
            if held {
                // Still the same session, so still the lock's holder.
                client.simple_query("SELECT 1")?;
                return Ok(true);
            }
            let row = client.query_one("SELECT pg_try_advisory_lock($1)", &[&key])?;
            Ok(row.try_get::<_, bool>(0)?)
        });
        match out {
            Ok(held) => self.held = held,
            Err(_) => {
                // A new session will have to take the lock again.
                self.held = false;
                conn.reset_if_broken();
            }
        }
        out
    }
}

/// Takes QPS tokens from the cluster's shared buckets.
pub struct QuotaLeaser {
    conn: Box<PgConn>,
    gateway_id: String,
}

/// How long a gateway counts as present after its last lease round (the fallback rate divides
/// the quota by the gateways present).
pub const GATEWAY_PRESENCE: Duration = Duration::from_secs(5);

impl QuotaLeaser {
    /// Takes up to `want` whole tokens of `group`'s bucket, which holds at most `rate` tokens
    /// and refills at `rate` per second of the server's clock. Returns the tokens granted.
    pub fn lease(&mut self, group: &str, rate: u32, want: u32) -> Result<u32, StoreError> {
        let out = db::blocking(|| {
            let client = self.conn.client()?;
            let rate = i64::from(rate);
            let want = i64::from(want);
            // One statement: the bucket row is locked, refilled for the time since its last
            // lease, and debited, so concurrent leases never grant the same tokens twice.
            let row = client.query_one(
                "WITH now AS (SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT AS us),
                 ensure AS (
                     INSERT INTO quota_buckets(grp, tokens, updated_us) SELECT $1, $2::DOUBLE PRECISION, us FROM now
                     ON CONFLICT (grp) DO NOTHING
                 ),
                 cur AS (
                     SELECT LEAST($2::DOUBLE PRECISION,
                                  b.tokens + GREATEST(0, now.us - b.updated_us) * $2::DOUBLE PRECISION / 1000000.0) AS avail,
                            now.us AS us
                     FROM quota_buckets b, now WHERE b.grp = $1 FOR UPDATE OF b
                 )
                 UPDATE quota_buckets SET
                     tokens = cur.avail - LEAST(FLOOR(cur.avail), $3::DOUBLE PRECISION),
                     updated_us = cur.us
                 FROM cur WHERE grp = $1
                 RETURNING LEAST(FLOOR(cur.avail), $3::DOUBLE PRECISION)::BIGINT",
                &[&group, &rate, &want],
            );
            match row {
                Ok(r) => Ok(u32::try_from(r.try_get::<_, i64>(0)?).unwrap_or(0)),
                Err(e) => Err(StoreError::from(e)),
            }
        });
        if out.is_err() {
            self.conn.reset_if_broken();
        }
        out
    }

    /// Records this gateway as present and returns how many gateways are (itself included).
    pub fn heartbeat(&mut self) -> Result<u32, StoreError> {
        let presence_us = i64::try_from(GATEWAY_PRESENCE.as_micros()).unwrap_or(i64::MAX);
        let out = db::blocking(|| {
            let client = self.conn.client()?;
            let row = client.query_one(
                "WITH now AS (SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT AS us),
                 beat AS (
                     INSERT INTO quota_gateways(gateway_id, seen_us) SELECT $1, us FROM now
                     ON CONFLICT (gateway_id) DO UPDATE SET seen_us = excluded.seen_us
                 )
                 SELECT COUNT(*) FROM quota_gateways, now WHERE seen_us > now.us - $2 AND gateway_id <> $1",
                &[&self.gateway_id, &presence_us],
            );
            let present = match row {
                Ok(r) => u32::try_from(r.try_get::<_, i64>(0)?).unwrap_or(0).saturating_add(1),
                Err(e) => return Err(StoreError::from(e)),
            };
            // Each gateway start has an id of its own: forget those gone for an hour.
            client.execute(
                "DELETE FROM quota_gateways
                 WHERE seen_us < (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT - 3600000000",
                &[],
            )?;
            Ok(present)
        });
        if out.is_err() {
            self.conn.reset_if_broken();
        }
        out
    }
}

/// The replay window of the KMS endpoint, shared by the gateways of a cluster: a signed request
/// replayed to another gateway is refused there too. Each gateway keeps its own window in memory
/// in front of this one (the common case, a replay to the same gateway, never reaches the
/// database).
pub struct SharedReplay {
    conn: std::sync::Mutex<Box<PgConn>>,
    calls: std::sync::atomic::AtomicU64,
}

/// Expired entries are deleted every this many calls.
const REPLAY_PRUNE_EVERY: u64 = 4_096;

impl SharedReplay {
    /// Records `nonce` of `caller` until `forget_after`; `Ok(false)` when some gateway recorded
    /// it before. `Err` when the database cannot be reached: the caller decides.
    pub fn first_use(&self, caller: &str, nonce: &str, forget_after: i64, now: i64) -> Result<bool, StoreError> {
        use aws_lc_rs::digest;
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(caller.as_bytes());
        ctx.update(&[0xff]); // not UTF-8: separates the two strings unambiguously
        ctx.update(nonce.as_bytes());
        let hash = ctx.finish();
        let key = hash.as_ref().get(..16).unwrap_or_default().to_vec();
        let prune = self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed).is_multiple_of(REPLAY_PRUNE_EVERY);
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let out = db::blocking(|| {
            let client = conn.client()?;
            if prune {
                client.execute("DELETE FROM replay_nonces WHERE forget_after < $1", &[&now])?;
            }
            let n = client.execute(
                "INSERT INTO replay_nonces(digest, forget_after) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&key, &forget_after],
            )?;
            Ok(n == 1)
        });
        if out.is_err() {
            conn.reset_if_broken();
        }
        out
    }
}

impl Store {
    /// The cluster's shared replay window; `None` on SQLite (one gateway: its own window is all).
    pub fn shared_replay(&self) -> Result<Option<SharedReplay>, StoreError> {
        match &self.location {
            StoreLocation::Sqlite => Ok(None),
            StoreLocation::Postgres(url) => Ok(Some(SharedReplay {
                conn: std::sync::Mutex::new(Box::new(PgConn::new(url)?)),
                calls: std::sync::atomic::AtomicU64::new(0),
            })),
        }
    }

    /// A listener for changes committed by any gateway (PostgreSQL), or on SQLite through the
    /// handles of this process that share commits with this one (see [`ChangeListener`]). Always
    /// `Some` today; `None` stays for an engine that cannot tell.
    pub fn change_listener(&self) -> Result<Option<ChangeListener>, StoreError> {
        let inner = match &self.location {
            StoreLocation::Sqlite => {
                Listening::InProcess { commits: Arc::clone(&self.commits), seen: self.commits.count() }
            }
            StoreLocation::Postgres(url) => Listening::Postgres { conn: Box::new(PgConn::new(url)?), listening: false },
        };
        Ok(Some(ChangeListener { inner }))
    }

    /// This gateway's claim to the duty `role` (e.g. `expiry-notices`).
    pub fn leadership(&self, role: &str) -> Result<Leadership, StoreError> {
        let conn = match &self.location {
            StoreLocation::Sqlite => None,
            StoreLocation::Postgres(url) => Some(Box::new(PgConn::new(url)?)),
        };
        Ok(Leadership { key: leadership_key(role), conn, held: false })
    }

    /// The cluster quota's leaser for the gateway `gateway_id`; `None` on SQLite (one gateway
    /// keeps its quota in memory).
    pub fn quota_leaser(&self, gateway_id: &str) -> Result<Option<QuotaLeaser>, StoreError> {
        match &self.location {
            StoreLocation::Sqlite => Ok(None),
            StoreLocation::Postgres(url) => {
                Ok(Some(QuotaLeaser { conn: Box::new(PgConn::new(url)?), gateway_id: gateway_id.to_owned() }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn leadership_keys_differ_by_role_and_are_stable() {
        let a = super::leadership_key("expiry-notices");
        assert_eq!(a, super::leadership_key("expiry-notices"));
        assert_ne!(a, super::leadership_key("deletion-purge"));
        assert_ne!(a, crate::db::WRITE_LOCK);
    }
}
