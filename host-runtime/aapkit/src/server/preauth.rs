//! The pre-authentication rate limit: a source address that keeps failing authentication is
//! refused (`Rejected.Throttling` 429) before its requests reach the enforcer.
//!
//! Each address (IPv4 by address, IPv6 by /64, since one host easily holds a whole /64) has a
//! token bucket of *authentication failures*: every request that ends without a verified
//! signature takes a token, and while the bucket is empty every request from the address is
//! refused up front, so an unauthenticated flood costs a table lookup and a small response.
//! Signed requests that verify take no token: a busy legitimate client is never slowed, and the
//! official SDK's own retries on `Rejected.Throttling` (up to 4, 1 s apart) find a refilled
//! bucket unless the address keeps failing.
//!
//! Memory is bounded: only addresses that failed get an entry, in a fixed number of shards of a
//! fixed capacity; a full shard first drops entries whose bucket has refilled (they are the same
//! as no entry), then the one idle longest. Keyed by the TCP peer: behind a proxy every client
//! shares the proxy's address, so raise the limit or turn it off there (`--preauth-rate 0`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The limit's settings (`aapkit serve --preauth-rate/--preauth-burst/--preauth-table`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PreAuthConfig {
    /// Failures per second an address may sustain; 0 turns the limit off.
    pub rate_per_sec: f64,
    /// Failures an address may have in a burst (the bucket's size).
    pub burst: u32,
    /// Addresses tracked at most.
    pub table_entries: usize,
}

pub const DEFAULT_RATE_PER_SEC: f64 = 10.0;
pub const DEFAULT_BURST: u32 = 100;
pub const DEFAULT_TABLE_ENTRIES: usize = 16_384;

impl Default for PreAuthConfig {
    fn default() -> Self {
        PreAuthConfig { rate_per_sec: DEFAULT_RATE_PER_SEC, burst: DEFAULT_BURST, table_entries: DEFAULT_TABLE_ENTRIES }
    }
}

impl PreAuthConfig {
    /// The limiter, or `None` when the configuration turns it off.
    pub fn build(&self) -> Option<PreAuthLimiter> {
        (self.rate_per_sec > 0.0 && self.burst > 0 && self.table_entries > 0).then(|| PreAuthLimiter::new(*self))
    }
}

/// The `serve` flags of the limit.
#[derive(clap::Args, Debug, Clone)]
pub struct PreAuthArgs {
    /// Authentication failures per second one source address (IPv6: one /64) may sustain before
    /// its requests are refused with Rejected.Throttling before authentication; 0 = no limit.
    #[arg(long, default_value_t = DEFAULT_RATE_PER_SEC, value_name = "PER_SEC", env = "AAPKIT_PREAUTH_RATE",
          value_parser = parse_rate)]
    pub preauth_rate: f64,
    /// Authentication failures one source address may have in a burst.
    #[arg(long, default_value_t = DEFAULT_BURST, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub preauth_burst: u32,
    /// Source addresses the limit tracks at most (bounded memory; the longest idle is forgotten).
    #[arg(long, default_value_t = DEFAULT_TABLE_ENTRIES, value_name = "N")]
    pub preauth_table: usize,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(r),
        _ => Err(format!("`{s}` is not a rate: give failures per second, a number >= 0 (0 = no limit)")),
    }
}

impl PreAuthArgs {
    pub fn config(&self) -> PreAuthConfig {
        PreAuthConfig { rate_per_sec: self.preauth_rate, burst: self.preauth_burst, table_entries: self.preauth_table }
    }
}

const SHARDS: usize = 16;

/// An address, reduced to what the limit is per: IPv4 address or IPv6 /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Source {
    V4(u32),
    V6Net(u64),
}

impl Source {
    fn of(ip: IpAddr) -> Source {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Source::V4(u32::from(v4)),
            IpAddr::V6(v6) => Source::V6Net((u128::from(v6) >> 64) as u64),
        }
    }

    fn shard(&self) -> usize {
        // A cheap mix; the shard only spreads lock contention, it is no security boundary.
        let x = match *self {
            Source::V4(a) => u64::from(a),
            Source::V6Net(n) => n ^ (n >> 29),
        };
        (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The per-address failure buckets (see the module comment).
pub struct PreAuthLimiter {
    config: PreAuthConfig,
    per_shard: usize,
    shards: [Mutex<HashMap<Source, Bucket>>; SHARDS],
    refused: AtomicU64,
}

impl PreAuthLimiter {
    pub fn new(config: PreAuthConfig) -> PreAuthLimiter {
        let per_shard = config.table_entries.div_ceil(SHARDS).max(1);
        PreAuthLimiter {
            config,
            per_shard,
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            refused: AtomicU64::new(0),
        }
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.config.rate_per_sec).min(f64::from(self.config.burst));
        b.updated = now;
    }

    fn shard(&self, s: Source) -> std::sync::MutexGuard<'_, HashMap<Source, Bucket>> {
        self.shards[s.shard() % SHARDS].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// May a request from `ip` go on to the enforcer? (Takes no token.)
    pub fn admit(&self, ip: IpAddr) -> bool {
        self.admit_at(ip, Instant::now())
    }

    pub fn admit_at(&self, ip: IpAddr, now: Instant) -> bool {
        let s = Source::of(ip);
        let mut shard = self.shard(s);
        let ok = match shard.get_mut(&s) {
            None => true,
            Some(b) => {
                self.refill(b, now);
                b.tokens >= 1.0
            }
        };
        if !ok {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// A request from `ip` ended without a verified signature: take a token.
    pub fn charge(&self, ip: IpAddr) {
        self.charge_at(ip, Instant::now());
    }

    pub fn charge_at(&self, ip: IpAddr, now: Instant) {
        let s = Source::of(ip);
        let mut shard = self.shard(s);
        if !shard.contains_key(&s) && shard.len() >= self.per_shard {
            self.evict(&mut shard, now);
        }
        let full = Bucket { tokens: f64::from(self.config.burst), updated: now };
        let b = shard.entry(s).or_insert(full);
        self.refill(b, now);
        b.tokens = (b.tokens - 1.0).max(0.0);
    }

    fn evict(&self, shard: &mut HashMap<Source, Bucket>, now: Instant) {
        let burst = f64::from(self.config.burst);
        shard.retain(|_, b| {
            let mut b = *b;
            self.refill(&mut b, now);
            b.tokens < burst
        });
        if shard.len() >= self.per_shard {
            if let Some(oldest) = shard.iter().min_by_key(|(_, b)| b.updated).map(|(k, _)| *k) {
                shard.remove(&oldest);
            }
        }
    }

    /// Requests refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Addresses tracked now.
    pub fn tracked(&self) -> usize {
        self.shards.iter().map(|m| m.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()).sum()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limiter(rate: f64, burst: u32, entries: usize) -> PreAuthLimiter {
        PreAuthConfig { rate_per_sec: rate, burst, table_entries: entries }.build().unwrap()
    }

    #[test]
    fn refuses_the_address_after_its_burst_and_not_another() {
        let l = limiter(1.0, 5, 64);
        let t = Instant::now();
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        for _ in 0..5 {
            assert!(l.admit_at(a, t));
            l.charge_at(a, t);
        }
        assert!(!l.admit_at(a, t), "the 6th failure from one address is refused");
        assert!(l.admit_at(b, t), "another address is not");
        assert_eq!(l.refused(), 1);
        // One second later one more failure is allowed.
        assert!(l.admit_at(a, t + Duration::from_secs(1)));
    }

    #[test]
    fn ipv6_is_limited_per_64() {
        let l = limiter(1.0, 2, 64);
        let t = Instant::now();
        l.charge_at(ip("2001:db8:1:2::1"), t);
        l.charge_at(ip("2001:db8:1:2:ffff::9"), t);
        assert!(!l.admit_at(ip("2001:db8:1:2::77"), t), "same /64");
        assert!(l.admit_at(ip("2001:db8:1:3::1"), t), "another /64");
        // IPv4-mapped IPv6 is the IPv4 address.
        l.charge_at(ip("::ffff:198.51.100.7"), t);
        l.charge_at(ip("198.51.100.7"), t);
        assert!(!l.admit_at(ip("198.51.100.7"), t));
    }

    #[test]
    fn the_table_stays_bounded_under_many_addresses() {
        let l = limiter(1.0, 3, 64);
        let t = Instant::now();
        for i in 0..10_000u32 {
            l.charge_at(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i)), t);
        }
        assert!(l.tracked() <= 64 + SHARDS, "{}", l.tracked());
        // A recent offender is still tracked.
        let x = ip("203.0.113.9");
        for _ in 0..3 {
            l.charge_at(x, t + Duration::from_millis(10));
        }
        assert!(!l.admit_at(x, t + Duration::from_millis(10)));
    }

    #[test]
    fn zero_rate_is_off() {
        assert!(PreAuthConfig { rate_per_sec: 0.0, ..PreAuthConfig::default() }.build().is_none());
        assert!(PreAuthConfig::default().build().is_some());
    }
}
