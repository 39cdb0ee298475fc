//! The replay window: a signed request is accepted once. Its `SignatureNonce` is remembered, per
//! AccessKey, until its timestamp leaves the 15-minute window (after that the timestamp check
//! refuses it anyway), so memory is bounded by the rate of signed requests, and a hard cap turns a
//! flood into `Throttling` instead of growth. Only requests whose signature verified are recorded:
//! a stranger cannot fill the cache or burn someone's nonces.
//!
//! Per process: a cluster of gateways shares it through the store (the scale-out issue).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::OpenApiError;

/// Longest nonce accepted (the SDKs send 32 hex digits or a 36-character UUID).
pub const MAX_NONCE_LEN: usize = 128;

pub struct NonceCache {
    /// (AccessKeyId, nonce) → the time after which the entry may be forgotten.
    seen: Mutex<HashMap<(String, String), i64>>,
    capacity: usize,
}

impl NonceCache {
    pub fn new(capacity: usize) -> Self {
        NonceCache { seen: Mutex::new(HashMap::new()), capacity }
    }

    /// Records `nonce` of `access_key_id`, to be kept until `forget_after`; refuses one seen before.
    pub fn check_and_record(
        &self,
        access_key_id: &str,
        nonce: &str,
        forget_after: i64,
        now: i64,
    ) -> Result<(), OpenApiError> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let key = (access_key_id.to_owned(), nonce.to_owned());
        if let Some(until) = seen.get(&key) {
            if *until >= now {
                return Err(OpenApiError::NonceUsed);
            }
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, until| *until >= now);
            if seen.len() >= self.capacity {
                return Err(OpenApiError::Throttled);
            }
        }
        seen.insert(key, forget_after);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).len()
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
    fn a_nonce_is_accepted_once_per_access_key_within_its_window() {
        let c = NonceCache::new(10);
        c.check_and_record("AK1", "n", 1_000, 100).unwrap();
        assert!(matches!(c.check_and_record("AK1", "n", 1_000, 200), Err(OpenApiError::NonceUsed)));
        c.check_and_record("AK2", "n", 1_000, 200).unwrap();
        // Past its window the entry is dead (the timestamp check refuses such a request first).
        c.check_and_record("AK1", "n", 3_000, 1_001).unwrap();
    }

    #[test]
    fn a_full_cache_evicts_expired_entries_then_throttles() {
        let c = NonceCache::new(2);
        c.check_and_record("A", "1", 10, 0).unwrap();
        c.check_and_record("A", "2", 100, 0).unwrap();
        c.check_and_record("A", "3", 100, 50).unwrap(); // "1" expired and was evicted
        assert_eq!(c.len(), 2);
        assert!(matches!(c.check_and_record("A", "4", 100, 50), Err(OpenApiError::Throttled)));
    }
}
