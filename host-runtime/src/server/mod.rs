//! The HTTPS server: accepts connections, runs each request through [`http::Gateway`], reloads
//! the policy bundle when the control plane changes it, and shuts down gracefully.

pub mod enforcer;
pub mod http;
pub mod limits;
pub mod native;
pub mod pool;
pub mod runtime;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::{rustls, TlsAcceptor};

pub use enforcer::{Caller, EnforceOutcome, EnforceRequest, Enforcer};
pub use http::{ApiFailure, ApiHandler, Gateway, NoObserver, RequestObserver, RequestRecord};
pub use limits::ServerLimits;

/// How long in-flight connections get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// hyper's per-connection read buffer at most (its minimum is 8 KiB; the default, about
/// 400 KiB, times a thousand connections would be most of the memory).
const CONN_READ_BUFFER_MAX: usize = 64 << 10;

/// A bound listener, ready to serve.
pub struct Server {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    gateway: Arc<Gateway>,
    limits: ServerLimits,
}

impl Server {
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        gateway: Arc<Gateway>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        Ok(Self { listener, tls, gateway, limits: ServerLimits::default() })
    }

    /// The connection limits (timeouts, connection cap); the defaults otherwise.
    pub fn with_limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` turns true, then lets open connections finish their request in
    /// flight (at most [`DRAIN_TIMEOUT`]).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let acceptor = self.tls.map(TlsAcceptor::from);
        let graceful = GracefulShutdown::new();
        let limits = self.limits;
        // Accept-then-close when full (rather than stop accepting): a refused client learns at once
        // and can retry elsewhere, and the kernel's backlog does not fill with connections nobody
        // will serve for minutes.
        let open = Arc::new(Semaphore::new(limits.max_connections.clamp(1, Semaphore::MAX_PERMITS)));
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(CONN_READ_BUFFER_MAX);
        let mut refused: u64 = 0;
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        eprintln!("aapkit: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shutdown.changed() => break,
            };
            let Ok(slot) = open.clone().try_acquire_owned() else {
                refused += 1;
                if refused.is_power_of_two() {
                    eprintln!(
                        "aapkit: {} connections open (--max-connections); refused {refused} so far",
                        limits.max_connections
                    );
                }
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let activity = Arc::new(conn_guard::Activity::new());
            let gateway = self.gateway.clone();
            let act = activity.clone();
            let service = service_fn(move |req| {
                let busy = act.begin();
                let gateway = gateway.clone();
                async move {
                    let resp = gateway.serve(peer, req).await;
                    drop(busy);
                    resp
                }
            });
            let builder = builder.clone();
            let watcher = graceful.watcher();
            let acceptor = acceptor.clone();
            let (handshake_timeout, idle_timeout) = (limits.tls_handshake_timeout, limits.idle_timeout);
            tokio::spawn(async move {
                let _slot = slot;
                match acceptor {
                    Some(acceptor) => {
                        // A failed or slow handshake has nobody to answer to.
                        let Ok(Ok(tls)) = tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
                        else {
                            return;
                        };
                        let conn = watcher.watch(builder.serve_connection(TokioIo::new(tls), service));
                        tokio::select! {
                            _ = conn => {}
                            () = activity.idle_expired(idle_timeout) => {}
                        }
                    }
                    None => {
                        let conn = watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
                        tokio::select! {
                            _ = conn => {}
                            () = activity.idle_expired(idle_timeout) => {}
                        }
                    }
                }
            });
        }
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
        Ok(())
    }
}

mod conn_guard {
    //! The keep-alive idle timeout: hyper has none of its own, so each connection task watches
    //! when its last request finished and drops the connection once it has been idle too long.

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;

    use tokio::time::Instant;

    pub struct Activity {
        in_flight: AtomicUsize,
        last_done: Mutex<Instant>,
    }

    impl Activity {
        pub fn new() -> Self {
            Self { in_flight: AtomicUsize::new(0), last_done: Mutex::new(Instant::now()) }
        }

        pub fn begin(self: &std::sync::Arc<Self>) -> Busy {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            Busy(self.clone())
        }

        /// Completes once no request has been in flight for `idle`.
        pub async fn idle_expired(&self, idle: Duration) {
            loop {
                let last = self.last_done.lock().map(|t| *t).unwrap_or_else(|p| *p.into_inner());
                if self.in_flight.load(Ordering::SeqCst) == 0 {
                    let deadline = last + idle;
                    if Instant::now() >= deadline {
                        return;
                    }
                    tokio::time::sleep_until(deadline).await;
                } else {
                    // A request is being served; look again later (a request's own time is bounded
                    // by the body timeout and the work pool, not by this).
                    tokio::time::sleep(idle.min(Duration::from_secs(1))).await;
                }
            }
        }
    }

    /// Marks a request in flight until dropped.
    pub struct Busy(std::sync::Arc<Activity>);

    impl Drop for Busy {
        fn drop(&mut self) {
            if let Ok(mut t) = self.0.last_done.lock() {
                *t = Instant::now();
            }
            self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
