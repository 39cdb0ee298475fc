//! The instance QPS quota (`docs/protocol.md#quotas`): one token bucket per operation group, shared by
//! every worker.
//!
//! A bucket holds at most one second's worth of calls (the group's QPS) and refills continuously
//! at QPS tokens per second, so a burst of up to QPS calls passes at once and the sustained rate is
//! held to QPS. A call that finds the bucket empty gets 429 `Rejected.Throttling`; the SDKs retry
//! it after their backoff (1 s by default).
//!
//! **Several gateways on one PostgreSQL** share the instance's quota ([`QuotaGate::clustered`]):
//! the bucket of each group lives in the database (refilled by the database server's clock), and
//! each gateway's [`lease_loop`] takes tokens from it in small leases (50 ms of the full rate)
//! whenever its local stock runs low. The request path only ever takes from the local stock, in
//! memory. While the database cannot be reached, each gateway falls back to a local bucket at the
//! quota divided by the gateways it last saw present, so the cluster stays near its quota without
//! the database; leasing resumes when it is back.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use policy_core::QpsGroup;

/// The slot of `g` in per-group arrays (the order of [`QpsGroup::ALL`]).
fn group_index(g: QpsGroup) -> usize {
    QpsGroup::ALL.iter().position(|x| *x == g).unwrap_or(0)
}

/// The group a `--qps-limit` names (case-insensitive).
fn parse_group(s: &str) -> Option<QpsGroup> {
    QpsGroup::ALL.into_iter().find(|g| g.name().eq_ignore_ascii_case(s))
}

/// The software key management instance specs Alibaba sells (QPS of the Symmetric group).
pub const SOFTWARE_SPECS: [u32; 5] = [1_000, 2_000, 4_000, 10_000, 20_000];

/// QPS limits per group; `None` = unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaSpec {
    limits: [Option<u32>; 6],
}

/// Why a quota setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaSpecError {
    #[error("unknown instance spec {0}: the software instance specs are 1000, 2000, 4000, 10000 and 20000")]
    UnknownSpec(u32),
    #[error("--qps-limit {0:?}: expected GROUP=QPS with GROUP one of Symmetric, Asymmetric, GetPublicKey, GetSecretValue, GenerateRandom, DataKeyPair and QPS a whole number ≥ 1")]
    BadLimit(String),
}

impl QuotaSpec {
    /// No limits.
    pub fn unlimited() -> QuotaSpec {
        QuotaSpec::default()
    }

    /// The software instance table of `docs/protocol.md#quotas` for `spec` (1000 … 20000).
    pub fn software(spec: u32) -> Result<QuotaSpec, QuotaSpecError> {
        // Symmetric, Asymmetric, GetPublicKey, GetSecretValue, GenerateRandom, DataKeyPair.
        let row: [u32; 6] = match spec {
            1_000 => [1_000, 200, 1_000, 500, 1_000, 1],
            2_000 => [2_000, 300, 2_000, 1_000, 2_000, 1],
            4_000 => [4_000, 500, 4_000, 2_000, 4_000, 1],
            10_000 => [10_000, 1_300, 10_000, 4_000, 10_000, 1],
            20_000 => [20_000, 2_500, 20_000, 4_000, 20_000, 1],
            other => return Err(QuotaSpecError::UnknownSpec(other)),
        };
        Ok(QuotaSpec { limits: row.map(Some) })
    }

    /// Sets one group's limit.
    pub fn with_limit(mut self, group: QpsGroup, qps: u32) -> QuotaSpec {
        if let Some(slot) = self.limits.get_mut(group_index(group)) {
            *slot = Some(qps);
        }
        self
    }

    /// Applies a `GROUP=QPS` override.
    pub fn with_override(self, text: &str) -> Result<QuotaSpec, QuotaSpecError> {
        let bad = || QuotaSpecError::BadLimit(text.to_owned());
        let (g, n) = text.split_once('=').ok_or_else(bad)?;
        let group = parse_group(g.trim()).ok_or_else(bad)?;
        let qps: u32 = n.trim().parse().map_err(|_| bad())?;
        if qps == 0 {
            return Err(bad());
        }
        Ok(self.with_limit(group, qps))
    }

    pub fn limit(&self, group: QpsGroup) -> Option<u32> {
        self.limits.get(group_index(group)).copied().flatten()
    }

    pub fn is_unlimited(&self) -> bool {
        self.limits.iter().all(Option::is_none)
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The shared gate: `try_acquire` takes one token of the call's group.
pub struct QuotaGate {
    spec: QuotaSpec,
    buckets: [Mutex<Bucket>; 6],
    /// Clustered: 0 while tokens come from leases (no local refill); n ≥ 1 while the database is
    /// unreachable and the buckets refill locally at 1/n of the quota.
    cluster: Option<AtomicU32>,
}

/// The leased stock a gateway keeps per group: 50 ms of the full rate, at least one token.
fn lease_target(limit: u32) -> u32 {
    (limit / 20).max(1)
}

impl QuotaGate {
    pub fn new(spec: QuotaSpec) -> QuotaGate {
        QuotaGate::new_at(spec, Instant::now())
    }

    /// A gate whose buckets are full at `start` (tests drive time explicitly).
    pub fn new_at(spec: QuotaSpec, start: Instant) -> QuotaGate {
        let bucket = |i: usize| {
            let cap = spec.limits.get(i).copied().flatten().unwrap_or(0);
            Mutex::new(Bucket { tokens: f64::from(cap), last: start })
        };
        QuotaGate { spec, buckets: [bucket(0), bucket(1), bucket(2), bucket(3), bucket(4), bucket(5)], cluster: None }
    }

    /// A gate whose tokens come from the cluster's shared buckets ([`lease_loop`]): empty until
    /// the first lease.
    pub fn clustered(spec: QuotaSpec) -> QuotaGate {
        let now = Instant::now();
        let bucket = || Mutex::new(Bucket { tokens: 0.0, last: now });
        QuotaGate {
            spec,
            buckets: [bucket(), bucket(), bucket(), bucket(), bucket(), bucket()],
            cluster: Some(AtomicU32::new(0)),
        }
    }

    /// Adds `n` leased tokens to `group`'s local stock.
    pub fn add_leased(&self, group: QpsGroup, n: u32) {
        if let Some(bucket) = self.buckets.get(group_index(group)) {
            bucket.lock().unwrap_or_else(|p| p.into_inner()).tokens += f64::from(n);
        }
    }

    /// The whole tokens `group` holds locally.
    pub fn stock(&self, group: QpsGroup) -> u32 {
        self.buckets
            .get(group_index(group))
            .map(|b| b.lock().unwrap_or_else(|p| p.into_inner()).tokens.max(0.0) as u32)
            .unwrap_or(0)
    }

    /// Clustered gates: `Some(n)` = the database is unreachable, refill locally at 1/n of the
    /// quota; `None` = back to leases.
    pub fn set_fallback(&self, gateways: Option<u32>, now: Instant) {
        let Some(state) = &self.cluster else {
            return;
        };
        let n = gateways.map_or(0, |n| n.max(1));
        if state.swap(n, Ordering::AcqRel) != n {
            // Local refill counts from now, not from the last leased call.
            for b in &self.buckets {
                b.lock().unwrap_or_else(|p| p.into_inner()).last = now;
            }
        }
    }

    pub fn spec(&self) -> &QuotaSpec {
        &self.spec
    }

    /// Takes a token for `group` now; `false` = over quota.
    pub fn try_acquire(&self, group: QpsGroup) -> bool {
        self.try_acquire_at(group, Instant::now())
    }

    /// Takes a token for `group` at `now` (monotonic; earlier instants than the last one count as
    /// no time passed).
    pub fn try_acquire_at(&self, group: QpsGroup, now: Instant) -> bool {
        let Some(limit) = self.spec.limit(group) else {
            return true;
        };
        let Some(bucket) = self.buckets.get(group_index(group)) else {
            return true;
        };
        let mut b = bucket.lock().unwrap_or_else(|p| p.into_inner());
        let share = self.cluster.as_ref().map(|c| c.load(Ordering::Acquire));
        if share != Some(0) {
            // Local refill: a single gateway, or a clustered one cut off from the database.
            let cap = f64::from(limit) / f64::from(share.unwrap_or(1).max(1));
            let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
            b.tokens = (b.tokens + elapsed * cap).min(cap.max(b.tokens));
        }
        b.last = b.last.max(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// How often a clustered gateway tops up its stocks.
pub const LEASE_INTERVAL: Duration = Duration::from_millis(20);

/// Keeps a clustered gate's stocks topped up from the cluster's buckets until `stop` returns
/// true; falls back to local refill while the database cannot be reached. Blocking: run it on a
/// thread of its own.
pub fn lease_loop(gate: &QuotaGate, leaser: &mut aapkit_store::QuotaLeaser, stop: impl Fn() -> bool) {
    let mut gateways = 1;
    let mut last_beat: Option<Instant> = None;
    let mut reported = false;
    while !stop() {
        let mut failed = false;
        if last_beat.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            match leaser.heartbeat() {
                Ok(n) => {
                    gateways = n;
                    last_beat = Some(Instant::now());
                }
                Err(_) => failed = true,
            }
        }
        if !failed {
            for group in QpsGroup::ALL {
                let Some(limit) = gate.spec.limit(group) else { continue };
                let target = lease_target(limit);
                let stock = gate.stock(group);
                if stock * 2 >= target {
                    continue;
                }
                match leaser.lease(group.name(), limit, target - stock) {
                    Ok(n) => gate.add_leased(group, n),
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
        }
        if failed {
            if !reported {
                eprintln!(
                    "aapkit: the store is unreachable: the QPS quota falls back to 1/{gateways} per gateway until it is back"
                );
                reported = true;
            }
            gate.set_fallback(Some(gateways), Instant::now());
            std::thread::sleep(Duration::from_millis(500));
        } else {
            if reported {
                eprintln!("aapkit: the store is back: the QPS quota is leased from the cluster again");
                reported = false;
            }
            gate.set_fallback(None, Instant::now());
            std::thread::sleep(LEASE_INTERVAL);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;

    #[test]
    fn software_table_and_overrides() {
        let s = QuotaSpec::software(1_000).unwrap();
        assert_eq!(s.limit(QpsGroup::Symmetric), Some(1_000));
        assert_eq!(s.limit(QpsGroup::Asymmetric), Some(200));
        assert_eq!(s.limit(QpsGroup::GetSecretValue), Some(500));
        assert_eq!(s.limit(QpsGroup::DataKeyPair), Some(1));
        assert_eq!(QuotaSpec::software(20_000).unwrap().limit(QpsGroup::GetSecretValue), Some(4_000));
        assert_eq!(QuotaSpec::software(3_000), Err(QuotaSpecError::UnknownSpec(3_000)));
        let o = QuotaSpec::unlimited().with_override("datakeypair=3").unwrap();
        assert_eq!(o.limit(QpsGroup::DataKeyPair), Some(3));
        assert_eq!(o.limit(QpsGroup::Symmetric), None);
        for bad in ["DataKeyPair", "Nope=3", "Symmetric=0", "Symmetric=-1", "Symmetric=x"] {
            assert!(QuotaSpec::unlimited().with_override(bad).is_err(), "{bad}");
        }
        assert!(QuotaSpec::unlimited().is_unlimited());
    }

    #[test]
    fn bucket_allows_a_second_of_burst_then_the_rate() {
        let t0 = Instant::now();
        let gate = QuotaGate::new_at(QuotaSpec::unlimited().with_limit(QpsGroup::Symmetric, 10), t0);
        let passed = (0..25).filter(|_| gate.try_acquire_at(QpsGroup::Symmetric, t0)).count();
        assert_eq!(passed, 10);
        // 100 ms later: one more token.
        let t1 = t0 + Duration::from_millis(100);
        assert!(gate.try_acquire_at(QpsGroup::Symmetric, t1));
        assert!(!gate.try_acquire_at(QpsGroup::Symmetric, t1));
        // Unlimited groups always pass; time going backwards adds nothing.
        assert!((0..1000).all(|_| gate.try_acquire_at(QpsGroup::GenerateRandom, t0)));
        assert!(!gate.try_acquire_at(QpsGroup::Symmetric, t0));
    }

    #[test]
    fn one_qps_group_needs_a_second_between_calls() {
        let t0 = Instant::now();
        let gate = QuotaGate::new_at(QuotaSpec::software(1_000).unwrap(), t0);
        assert!(gate.try_acquire_at(QpsGroup::DataKeyPair, t0));
        assert!(!gate.try_acquire_at(QpsGroup::DataKeyPair, t0 + Duration::from_millis(500)));
        assert!(gate.try_acquire_at(QpsGroup::DataKeyPair, t0 + Duration::from_millis(1_000)));
    }

    #[test]
    fn shared_across_threads() {
        let gate = std::sync::Arc::new(QuotaGate::new(QuotaSpec::unlimited().with_limit(QpsGroup::Asymmetric, 100)));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let g = gate.clone();
                std::thread::spawn(move || (0..100).filter(|_| g.try_acquire(QpsGroup::Asymmetric)).count())
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        // 100 at once plus whatever refilled while the threads ran (well under a second).
        assert!((100..200).contains(&total), "{total}");
    }
}
