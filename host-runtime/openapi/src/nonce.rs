//! The replay window: a signed request is accepted once. Its `SignatureNonce` is remembered, per
//! caller (AccessKey, session or client key), until its timestamp leaves the 15-minute window (after
//! that the timestamp check refuses it anyway), so memory is bounded by the rate of signed requests,
//! and a hard cap turns a flood into `Throttling` instead of growth. Only requests whose signature
//! verified are recorded: a stranger cannot fill the cache or burn someone's nonces.
//!
//! Compact, because the shared gateway's data plane runs thousands of signed requests a second: an
//! entry is a 64-bit keyed hash of (caller, nonce) — SipHash under a per-process random key, so
//! nobody can aim a collision; a chance one (about 10⁻⁶ per window at millions of entries) refuses
//! one request as a replay, the safe side — filed in one-minute buckets by when it may be forgotten,
//! so expiry drops whole buckets instead of scanning. Sharded, so concurrent callers rarely share a
//! lock. About 16–32 bytes an entry.
//!
//! Per process, with an optional second stage shared by a cluster of gateways
//! ([`aapkit_store::SharedReplay`], PostgreSQL): a nonce new to this gateway is then also recorded
//! there, and refused if another gateway saw it. While the database cannot be reached the local
//! window alone decides (a replay to another gateway would pass for that time): refusing every
//! signed request during an outage would turn a database failure into a KMS outage. Such calls are
//! counted ([`NonceCache::shared_unavailable`]).

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Mutex;

use crate::OpenApiError;

/// Longest nonce accepted (the SDKs send 32 hex digits or a 36-character UUID).
pub const MAX_NONCE_LEN: usize = 128;

/// Width of a bucket, in seconds of `forget_after`.
const BUCKET_SECS: i64 = 60;
/// Shards (a power of two).
const SHARDS: usize = 16;

/// The entries are already uniformly distributed hashes: the set uses them as they are.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in rather than panic.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Entries = HashSet<u64, BuildHasherDefault<PassThrough>>;

#[derive(Default)]
struct Shard {
    /// Bucket number (`forget_after / BUCKET_SECS`) → the entries that may be forgotten after it ends.
    buckets: BTreeMap<i64, Entries>,
    len: usize,
}

impl Shard {
    /// Drops the buckets whose every entry may be forgotten at `now`.
    fn expire(&mut self, now: i64) {
        while let Some(entry) = self.buckets.first_entry() {
            if (entry.key() + 1) * BUCKET_SECS > now {
                break;
            }
            self.len -= entry.get().len();
            entry.remove();
        }
    }
}

pub struct NonceCache {
    shards: Vec<Mutex<Shard>>,
    keys: RandomState,
    /// Entries per shard at most.
    shard_capacity: usize,
    shared: Option<aapkit_store::SharedReplay>,
    shared_unavailable: std::sync::atomic::AtomicU64,
}

impl NonceCache {
    /// A cache of about `capacity` entries at most (split evenly over the shards).
    pub fn new(capacity: usize) -> Self {
        NonceCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            keys: RandomState::new(),
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
            shared: None,
            shared_unavailable: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Adds the cluster's shared window as a second stage.
    pub fn with_shared(mut self, shared: aapkit_store::SharedReplay) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Nonces accepted on the local window alone because the shared one could not be reached.
    pub fn shared_unavailable(&self) -> u64 {
        self.shared_unavailable.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn entry(&self, caller: &str, nonce: &str) -> u64 {
        let mut h = self.keys.build_hasher();
        h.write(caller.as_bytes());
        h.write_u8(0xff); // not UTF-8: separates the two strings unambiguously
        h.write(nonce.as_bytes());
        h.finish()
    }

    /// Records `nonce` of `caller`, to be kept until `forget_after`; refuses one seen before.
    pub fn check_and_record(&self, caller: &str, nonce: &str, forget_after: i64, now: i64) -> Result<(), OpenApiError> {
        let entry = self.entry(caller, nonce);
        // The low bits pick the shard; the set hashes the whole value.
        let shard = self.shards.get(entry as usize % SHARDS).ok_or(OpenApiError::Throttled)?;
        if let Some(shared) = &self.shared {
            {
                let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
                shard.expire(now);
                if shard.buckets.values().any(|b| b.contains(&entry)) {
                    return Err(OpenApiError::NonceUsed);
                }
            }
            // Not under the shard's lock: the database's answer takes a round trip.
            match shared.first_use(caller, nonce, forget_after, now) {
                Ok(true) => {}
                Ok(false) => return Err(OpenApiError::NonceUsed),
                Err(_) => {
                    self.shared_unavailable.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        shard.expire(now);
        // (Checked again: the same nonce may have raced in on this gateway meanwhile.)
        if shard.buckets.values().any(|b| b.contains(&entry)) {
            return Err(OpenApiError::NonceUsed);
        }
        if shard.len >= self.shard_capacity {
            return Err(OpenApiError::Throttled);
        }
        shard.buckets.entry(forget_after.div_euclid(BUCKET_SECS)).or_default().insert(entry);
        shard.len += 1;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_per_caller_within_its_window() {
        let c = NonceCache::new(1_000);
        c.check_and_record("AK1", "n", 1_000, 100).unwrap();
        assert!(matches!(c.check_and_record("AK1", "n", 1_000, 200), Err(OpenApiError::NonceUsed)));
        c.check_and_record("AK2", "n", 1_000, 200).unwrap();
        // The two strings are kept apart: ("AK1", "n2") is not ("AK1n", "2").
        c.check_and_record("AK1n", "2", 1_000, 200).unwrap();
        c.check_and_record("AK1", "n2", 1_000, 200).unwrap();
        // Past its window the entry is dead (the timestamp check refuses such a request first).
        c.check_and_record("AK1", "n", 3_000, 1_100).unwrap();
        assert!(matches!(c.check_and_record("AK1", "n", 3_000, 1_200), Err(OpenApiError::NonceUsed)));
    }

    #[test]
    fn a_full_cache_drops_expired_buckets_then_throttles() {
        // One entry per shard: fill every shard, then nothing more fits until a bucket expires.
        let c = NonceCache::new(SHARDS);
        let mut accepted = 0;
        let mut throttled = 0;
        for i in 0..(SHARDS * 8) {
            match c.check_and_record("A", &i.to_string(), 100, 0) {
                Ok(()) => accepted += 1,
                Err(OpenApiError::Throttled) => throttled += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(accepted <= SHARDS && throttled >= SHARDS * 7, "{accepted} accepted, {throttled} throttled");
        assert_eq!(c.len(), accepted);
        // Once the bucket holding them has passed, the shards are empty again.
        for i in 0..(SHARDS * 8) {
            let _ = c.check_and_record("B", &i.to_string(), 500, 200);
        }
        assert!(c.len() <= SHARDS);
        // Only "B" entries are left: every "A" one was dropped with its bucket.
        let fresh = (0..(SHARDS * 8)).filter(|i| c.check_and_record("B", &i.to_string(), 500, 200).is_ok()).count();
        assert_eq!(fresh, 0, "every B entry that was accepted is now a replay, the rest still do not fit");
    }

    #[test]
    fn many_entries_expire_by_bucket() {
        let c = NonceCache::new(1_000_000);
        for i in 0..100_000 {
            c.check_and_record("K", &format!("{i:032x}"), 900 + (i % 120), 0).unwrap();
        }
        assert_eq!(c.len(), 100_000);
        assert!(matches!(c.check_and_record("K", &format!("{:032x}", 77), 960, 10), Err(OpenApiError::NonceUsed)));
        // At 1,100 s every entry (forget_after ≤ 1,019, in buckets ending by 1,020) may go: each shard
        // drops its buckets when next touched.
        for i in 0..1_000 {
            c.check_and_record("K", &format!("later-{i}"), 2_000, 1_100).unwrap();
        }
        assert_eq!(c.len(), 1_000);
        c.check_and_record("K", &format!("{:032x}", 77), 2_000, 1_100).unwrap();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

        /// Against a naive map of strings: the same answers for any sequence of callers, nonces and
        /// times (an entry lives until the end of its one-minute bucket, in both).
        #[test]
        fn matches_a_naive_reference(
            ops in proptest::collection::vec((0u8..3, 0u8..6, 0i64..2_000, 0i64..120), 1..300)
        ) {
            let cache = NonceCache::new(1_000_000);
            let mut naive: std::collections::HashMap<(String, String), i64> = std::collections::HashMap::new();
            let mut now = 0i64;
            for (caller, nonce, window, step) in ops {
                now += step;
                let (caller, nonce) = (format!("K{caller}"), format!("n{nonce}"));
                let forget_after = now + window;
                let alive_until = |f: i64| (f.div_euclid(BUCKET_SECS) + 1) * BUCKET_SECS;
                let key = (caller.clone(), nonce.clone());
                let expected_replay = naive.get(&key).is_some_and(|f| alive_until(*f) > now);
                let got = cache.check_and_record(&caller, &nonce, forget_after, now);
                match got {
                    Err(OpenApiError::NonceUsed) => proptest::prop_assert!(expected_replay),
                    Ok(()) => {
                        proptest::prop_assert!(!expected_replay);
                        naive.insert(key, forget_after);
                    }
                    Err(e) => proptest::prop_assert!(false, "{e}"),
                }
            }
        }
    }

    /// Two gateways' windows over one PostgreSQL: a nonce spent on one is refused on the other;
    /// with the database stopped each still refuses its own replays.
    #[test]
    fn a_cluster_shares_the_window_through_postgres() {
        let pg = aapkit_testpg::PgCluster::start().unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
        let url = pg.create_database("replay").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let location = aapkit_store::StoreLocation::Postgres(url);
        let store =
            aapkit_store::Store::open_at_with_key(dir.path(), &location, &aapkit_store::MasterKey::generate().unwrap())
                .unwrap();
        let a = NonceCache::new(1_000).with_shared(store.shared_replay().unwrap().unwrap());
        let b = NonceCache::new(1_000).with_shared(store.shared_replay().unwrap().unwrap());
        let now = 1_700_000_000;
        a.check_and_record("LTAIk", "n-1", now + 900, now).unwrap();
        assert!(matches!(b.check_and_record("LTAIk", "n-1", now + 900, now), Err(OpenApiError::NonceUsed)));
        assert!(matches!(a.check_and_record("LTAIk", "n-1", now + 900, now), Err(OpenApiError::NonceUsed)));
        // Another caller's nonce of the same text is its own.
        b.check_and_record("LTAIother", "n-1", now + 900, now).unwrap();
        pg.stop_server().unwrap();
        a.check_and_record("LTAIk", "n-2", now + 900, now).unwrap();
        assert!(matches!(a.check_and_record("LTAIk", "n-2", now + 900, now), Err(OpenApiError::NonceUsed)));
        assert_eq!(a.shared_unavailable(), 1);
    }
}
