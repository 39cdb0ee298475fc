//! A bounded pool for the blocking work of a request: the enforcer (a wasm call with a deadline,
//! an RSA signature check) and the Instance API handler (crypto, RSA/EC key generation).
//!
//! Running that on the async workers let four RSA-3072 key-pair generations stall every other
//! client's Encrypt for seconds (issue 10 §3). Here each job runs on tokio's blocking threads
//! under two bounds: `workers` jobs run at once and at most `queue` more wait; beyond that the
//! caller gets [`PoolError::Full`] at once (the gateway answers 429 `Rejected.Throttling`, which the
//! SDKs retry). Expensive jobs (key-pair generation) additionally hold one of `heavy_workers` slots,
//! with their own short queue, so they can never occupy every worker.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Sizes of the work pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Jobs running at once (all classes).
    pub workers: usize,
    /// Jobs waiting for a worker at most; more are refused.
    pub queue: usize,
    /// Expensive jobs running at once (a subset of `workers`).
    pub heavy_workers: usize,
    /// Expensive jobs waiting at most.
    pub heavy_queue: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        let cores = cores();
        Self {
            workers: (cores * 2).max(4),
            queue: 1024,
            // Half the cores at most: the other half keeps serving cheap calls.
            heavy_workers: (cores / 2).max(1),
            heavy_queue: 64,
        }
    }
}

/// The cores this process may use (2 when the system does not say): the default of every
/// per-core size of the server.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(2)
}

/// How costly a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkClass {
    /// Known to take microseconds with nothing to wait for (a decision that needs no filter
    /// configuration loaded, a call on an AES key or a secret): runs where it is, on the async
    /// worker, since a hand-off to the pool and back costs more than the work (issue 16). Given
    /// to [`WorkPool::run`], it runs as [`WorkClass::Light`].
    Quick,
    /// Enforcement that may run to the filter's deadline, and crypto up to a few milliseconds.
    Light,
    /// Key-pair generation (RSA-3072 takes hundreds of milliseconds).
    Heavy,
}

/// Where an allowed Instance API call is served, from what the handler says it costs.
impl From<aapkit_kms::CallCost> for WorkClass {
    fn from(cost: aapkit_kms::CallCost) -> WorkClass {
        match cost {
            aapkit_kms::CallCost::Quick => WorkClass::Quick,
            aapkit_kms::CallCost::Asymmetric => WorkClass::Light,
            aapkit_kms::CallCost::KeyPairGeneration => WorkClass::Heavy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// Every worker is busy and the queue is full.
    #[error("the gateway is busy: every worker is in use and the queue is full")]
    Full,
    /// The job panicked or the runtime is shutting down.
    #[error("the job did not complete")]
    Failed,
}

pub struct WorkPool {
    admit: Arc<Semaphore>,
    run: Arc<Semaphore>,
    heavy_admit: Arc<Semaphore>,
    heavy_run: Arc<Semaphore>,
}

impl WorkPool {
    pub fn new(cfg: &PoolConfig) -> Self {
        let workers = cfg.workers.max(1);
        let heavy = cfg.heavy_workers.clamp(1, workers);
        let cap = |n: usize| n.min(Semaphore::MAX_PERMITS);
        Self {
            admit: Arc::new(Semaphore::new(cap(workers.saturating_add(cfg.queue)))),
            run: Arc::new(Semaphore::new(cap(workers))),
            heavy_admit: Arc::new(Semaphore::new(cap(heavy.saturating_add(cfg.heavy_queue)))),
            heavy_run: Arc::new(Semaphore::new(cap(heavy))),
        }
    }

    /// Runs `job` on a blocking thread once a slot is free; refuses at once when the queue is full.
    /// The slots stay taken until the job returns, even if the caller stops waiting (a job on a
    /// blocking thread cannot be cancelled), so the bounds hold for threads, not just futures.
    pub async fn run<T, F>(&self, class: WorkClass, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let admitted = self.admit.clone().try_acquire_owned().map_err(|_| PoolError::Full)?;
        let heavy = match class {
            WorkClass::Quick | WorkClass::Light => None,
            WorkClass::Heavy => {
                let admitted = self.heavy_admit.clone().try_acquire_owned().map_err(|_| PoolError::Full)?;
                let slot = self.heavy_run.clone().acquire_owned().await.map_err(|_| PoolError::Failed)?;
                Some((admitted, slot))
            }
        };
        let slot = self.run.clone().acquire_owned().await.map_err(|_| PoolError::Failed)?;
        tokio::task::spawn_blocking(move || {
            let _held = (admitted, heavy, slot);
            job()
        })
        .await
        .map_err(|_| PoolError::Failed)
    }
}

impl Default for WorkPool {
    fn default() -> Self {
        Self::new(&PoolConfig::default())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn key_pair_generation_is_the_heavy_class() {
        use aapkit_kms::CallCost;
        assert_eq!(WorkClass::from(CallCost::KeyPairGeneration), WorkClass::Heavy);
        assert_eq!(WorkClass::from(CallCost::Asymmetric), WorkClass::Light);
        assert_eq!(WorkClass::from(CallCost::Quick), WorkClass::Quick);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_queue_is_refused_not_queued() {
        let pool = Arc::new(WorkPool::new(&PoolConfig { workers: 1, queue: 1, heavy_workers: 1, heavy_queue: 0 }));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let p = pool.clone();
        let r = rx.clone();
        let running = tokio::spawn(async move {
            p.run(WorkClass::Light, move || {
                let _ = r.lock().map(|g| g.recv());
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let p = pool.clone();
        let waiting = tokio::spawn(async move { p.run(WorkClass::Light, || 7).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.run(WorkClass::Light, || 1).await, Err(PoolError::Full));
        tx.send(()).unwrap();
        assert_eq!(running.await.unwrap(), Ok(()));
        assert_eq!(waiting.await.unwrap(), Ok(7));
        assert_eq!(pool.run(WorkClass::Light, || 2).await, Ok(2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn heavy_jobs_never_take_every_worker() {
        let pool = Arc::new(WorkPool::new(&PoolConfig { workers: 3, queue: 8, heavy_workers: 1, heavy_queue: 8 }));
        let heavy_now = Arc::new(AtomicUsize::new(0));
        let heavy_max = Arc::new(AtomicUsize::new(0));
        let mut jobs = Vec::new();
        for _ in 0..4 {
            let (p, now, max) = (pool.clone(), heavy_now.clone(), heavy_max.clone());
            jobs.push(tokio::spawn(async move {
                p.run(WorkClass::Heavy, move || {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                    now.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        // While key pairs are being generated a light job still gets a worker at once.
        let t0 = std::time::Instant::now();
        assert_eq!(pool.run(WorkClass::Light, || 5).await, Ok(5));
        assert!(t0.elapsed() < Duration::from_millis(80), "light job waited {:?}", t0.elapsed());
        for j in jobs {
            assert_eq!(j.await.unwrap(), Ok(()));
        }
        assert_eq!(heavy_max.load(Ordering::SeqCst), 1);
    }
}
