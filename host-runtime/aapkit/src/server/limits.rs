//! What one connection or one request may hold: timeouts, the connection cap, the budget of
//! request-body bytes buffered at once, and the bounded pool that runs enforcement and crypto.
//!
//! Every limit fails closed: a connection that does not make progress in time is closed, a request
//! that cannot get body budget or a worker slot is answered `Rejected.Throttling` (429, which the
//! SDKs retry with backoff) rather than queued without bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::pool::{PoolConfig, WorkPool};

/// Connection and request limits of `aapkit serve` (see docs/operations.md, "Connection limits").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// From connection start (after TLS) or the end of the previous response until a request's
    /// header block is complete.
    pub header_read_timeout: Duration,
    /// From the end of the header block until the whole body has arrived (a deadline, not a rate:
    /// at the default 30 s a 3 MiB body needs about 100 KiB/s).
    pub body_timeout: Duration,
    /// A keep-alive connection with no request in flight is closed after this long.
    pub idle_timeout: Duration,
    /// A TLS handshake that does not finish in this time is dropped.
    pub tls_handshake_timeout: Duration,
    /// Open connections at most; the next ones are accepted and closed at once.
    pub max_connections: usize,
    /// Request-body bytes buffered across all requests at once. A request reserves its
    /// Content-Length (or the 3 MiB maximum when the length is not announced) before its body is read.
    pub max_buffered_body_bytes: usize,
    /// How long a request waits for body budget before it is refused with 429.
    pub body_budget_wait: Duration,
    /// An oversize body (over 3 MiB) is read and thrown away up to this many bytes so the client
    /// sees the 413 rather than a reset; beyond it the connection is closed without reading.
    pub oversize_drain_bytes: u64,
    /// Slow enforcement and crypto run on this pool, not on the connection threads.
    pub pool: PoolConfig,
    /// Threads that own connections (TLS, HTTP, and the requests served where they are read):
    /// each runs a single-threaded async runtime and keeps a connection from accept to close.
    pub io_threads: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_buffered_body_bytes: 32 << 20,
            body_budget_wait: Duration::from_secs(1),
            oversize_drain_bytes: 8 << 20,
            pool: PoolConfig::default(),
            io_threads: super::pool::cores(),
        }
    }
}

/// The shared state the request path consults: the body budget and the work pool.
pub struct RequestLimits {
    pub body_timeout: Duration,
    pub oversize_drain_bytes: u64,
    budget: Arc<Budget>,
    budget_wait: Duration,
    pub pool: WorkPool,
}

/// Body bytes reserved by requests in flight. Not a FIFO semaphore on purpose: a small request
/// must not queue behind a 3 MiB one waiting for room.
struct Budget {
    used: AtomicUsize,
    total: usize,
    freed: Notify,
}

impl Budget {
    fn try_reserve(self: &Arc<Self>, n: usize) -> Option<BodyReservation> {
        let mut used = self.used.load(Ordering::Acquire);
        loop {
            let next = used.checked_add(n).filter(|&u| u <= self.total)?;
            match self.used.compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(BodyReservation { budget: self.clone(), bytes: n }),
                Err(now) => used = now,
            }
        }
    }
}

/// Body budget held by one request; given back when dropped.
pub struct BodyReservation {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Drop for BodyReservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
        self.budget.freed.notify_waiters();
    }
}

/// A request could not get body budget in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many request bodies are being received at once")]
pub struct BudgetExhausted;

impl RequestLimits {
    pub fn new(limits: &ServerLimits) -> Self {
        // A budget below one maximal body would refuse every large request for ever.
        let total = limits.max_buffered_body_bytes.max(policy_core::gateway::MAX_BODY_BYTES);
        Self {
            body_timeout: limits.body_timeout,
            oversize_drain_bytes: limits.oversize_drain_bytes,
            budget: Arc::new(Budget { used: AtomicUsize::new(0), total, freed: Notify::new() }),
            budget_wait: limits.body_budget_wait,
            pool: WorkPool::new(&limits.pool),
        }
    }

    /// Reserves `bytes` of body budget (held until the permit drops), waiting at most the
    /// configured time.
    pub async fn reserve_body(&self, bytes: usize) -> Result<BodyReservation, BudgetExhausted> {
        let n = bytes.min(self.budget.total);
        let deadline = tokio::time::Instant::now() + self.budget_wait;
        loop {
            // Registered before the attempt, so a release in between is not missed.
            let freed = self.budget.freed.notified();
            if let Some(r) = self.budget.try_reserve(n) {
                return Ok(r);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(BudgetExhausted);
            }
        }
    }

    /// Body bytes not reserved right now (for tests and metrics).
    pub fn body_budget_available(&self) -> usize {
        self.budget.total.saturating_sub(self.budget.used.load(Ordering::Acquire))
    }
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self::new(&ServerLimits::default())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn limits(budget_mib: usize, wait_ms: u64) -> RequestLimits {
        RequestLimits::new(&ServerLimits {
            max_buffered_body_bytes: budget_mib << 20,
            body_budget_wait: Duration::from_millis(wait_ms),
            ..ServerLimits::default()
        })
    }

    #[tokio::test]
    async fn budget_is_bounded_and_small_requests_pass_a_waiting_large_one() {
        let l = Arc::new(limits(4, 300));
        let big = l.reserve_body(3 << 20).await.unwrap();
        assert_eq!(l.body_budget_available(), 1 << 20);
        // A second large body waits, then is refused.
        let l2 = l.clone();
        let waiting = tokio::spawn(async move { l2.reserve_body(3 << 20).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Meanwhile a small one is not queued behind it.
        let small = l.reserve_body(1000).await.unwrap();
        drop(small);
        assert_eq!(waiting.await.unwrap(), Err(BudgetExhausted));
        drop(big);
        assert_eq!(l.body_budget_available(), 4 << 20);
    }

    #[tokio::test]
    async fn a_waiter_gets_budget_released_while_it_waits() {
        let l = Arc::new(limits(3, 2000));
        let big = l.reserve_body(3 << 20).await.unwrap();
        let l2 = l.clone();
        let waiting = tokio::spawn(async move { l2.reserve_body(2 << 20).await.map(|r| r.bytes) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(big);
        assert_eq!(waiting.await.unwrap(), Ok(2 << 20));
    }
}
