//! The threads that own connections: one single-threaded tokio runtime each, as many as the cores
//! by default. The accept loop hands each connection to the next thread, where it stays until it
//! closes: its socket is polled by that thread's own epoll, its timers by that thread's own timer
//! wheel, and its requests run there (or on the work pool, for slow work).
//!
//! Why not tokio's multi-threaded scheduler, which the gateway used before: with work stealing,
//! every wake-up of a connection's task can move it to another worker, and idle workers are woken
//! (a futex and a context switch) to look for work. Per request that cost about a tenth of the
//! gateway's CPU on two cores (BENCHMARKS.md, "Connections stay on one thread", issue 16). The
//! price is balance: a thread that holds busy keep-alive connections cannot lend them to an idle
//! one. Connections are dealt round-robin, and slow work (asymmetric keys, key-pair generation,
//! a filter VM loading a configuration) runs on the bounded work pool, not on these threads; what a
//! connection's thread does per request takes microseconds (a filter VM that overruns its 50 ms
//! short budget there is replaced, and the next requests under that configuration go to the pool).
//! Envoy and nginx make the same trade-off: a worker owns its connections.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// The running threads; dropping this stops them (their connections are dropped with them).
pub(super) struct IoThreads {
    threads: Vec<IoThread>,
    next: AtomicUsize,
}

struct IoThread {
    runtime: Handle,
    /// Dropped (or sent) to stop the thread.
    _stop: oneshot::Sender<()>,
}

impl IoThreads {
    /// Starts `count` threads (at least one), named `aapkit:<port>/<i>` after the listener's port
    /// so that `top -H` tells the gateway's from the KMS endpoint's. A thread that cannot be
    /// started is left out and logged; with none at all, connections run on the caller's runtime.
    pub(super) fn start(count: usize, port: u16) -> IoThreads {
        let mut threads = Vec::with_capacity(count.max(1));
        for i in 0..count.max(1) {
            // Linux keeps 15 bytes of a thread's name: "aapkit:65535/99" fits; longer ones are cut.
            match start_one(format!("aapkit:{port}/{i}")) {
                Ok(t) => threads.push(t),
                Err(e) => eprintln!("aapkit: starting connection thread {i} failed: {e}"),
            }
        }
        IoThreads { threads, next: AtomicUsize::new(0) }
    }

    /// Runs a connection's future on the next thread (round-robin).
    pub(super) fn spawn<F: Future<Output = ()> + Send + 'static>(&self, connection: F) {
        if self.threads.is_empty() {
            tokio::spawn(connection);
            return;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len();
        if let Some(t) = self.threads.get(i) {
            t.runtime.spawn(connection);
        }
    }
}

fn start_one(name: String) -> std::io::Result<IoThread> {
    let runtime = Builder::new_current_thread().enable_all().build()?;
    let handle = runtime.handle().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    std::thread::Builder::new().name(name).spawn(move || {
        // Returns when the sender is dropped; dropping the runtime then drops what still runs on it.
        let _ = runtime.block_on(stopped);
    })?;
    Ok(IoThread { runtime: handle, _stop: stop })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn connections_are_dealt_round_robin_and_stay_on_their_thread() {
        let threads = IoThreads::start(2, 8443);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut done = Vec::new();
        for _ in 0..4 {
            let (tx, rx) = oneshot::channel();
            let seen = seen.clone();
            threads.spawn(async move {
                let before = std::thread::current().name().map(str::to_owned);
                tokio::task::yield_now().await;
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                let after = std::thread::current().name().map(str::to_owned);
                seen.lock().unwrap().push((before, after));
                let _ = tx.send(());
            });
            done.push(rx);
        }
        for rx in done {
            rx.await.unwrap();
        }
        let seen = seen.lock().unwrap();
        assert!(seen.iter().all(|(before, after)| before == after), "{seen:?}");
        let names: HashSet<_> = seen.iter().filter_map(|(b, _)| b.clone()).collect();
        assert_eq!(names, HashSet::from(["aapkit:8443/0".to_owned(), "aapkit:8443/1".to_owned()]));
    }

    #[tokio::test]
    async fn dropping_the_threads_drops_what_runs_on_them() {
        let threads = IoThreads::start(1, 8443);
        let (dropped_tx, dropped_rx) = oneshot::channel::<()>();
        threads.spawn(async move {
            let _guard = dropped_tx; // dropped with the task
            std::future::pending::<()>().await;
        });
        drop(threads);
        let waited = tokio::time::timeout(std::time::Duration::from_secs(5), dropped_rx).await;
        assert!(matches!(waited, Ok(Err(_))), "the task was not dropped: {waited:?}");
    }
}
