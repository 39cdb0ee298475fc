//! The HTTPS server: accepts connections, runs each request through [`http::Gateway`], reloads
//! the policy bundle when the control plane changes it, and shuts down gracefully.

pub mod body;
pub mod enforcer;
pub mod filter_enforcer;
pub mod foreign;
pub mod http;
mod io_threads;
pub mod limits;
pub mod native;
pub mod openapi_door;
pub mod pool;
pub mod preauth;
pub mod quota;
pub mod snapshot;
pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::{rustls, TlsAcceptor};

pub use enforcer::{Caller, EnforceOutcome, EnforceRequest, Enforcer};
pub use http::{ApiFailure, ApiHandler, ApiOutput, Gateway, NoObserver, RequestObserver, RequestRecord};
pub use limits::ServerLimits;

/// How long in-flight connections get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// hyper's per-connection read buffer at most (its minimum is 8 KiB; the default, about
/// 400 KiB, times a thousand connections would be most of the memory).
const CONN_READ_BUFFER_MAX: usize = 64 << 10;

/// The listen address could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("binding {addr}: {source}")]
pub struct BindError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// What a listener serves: the Instance API ([`Gateway`]) or the KMS OpenAPI
/// ([`openapi_door::OpenApiDoor`]). Connection handling (TLS, timeouts, the connection cap) is
/// the [`Server`]'s and the same for both.
pub trait Door: Send + Sync + 'static {
    /// Answers one request; never fails (every failure is a response in the door's format).
    fn serve(
        self: Arc<Self>,
        peer: SocketAddr,
        req: Request<Incoming>,
    ) -> impl Future<Output = Response<Full<Bytes>>> + Send;
}

impl Door for Gateway {
    async fn serve(self: Arc<Self>, peer: SocketAddr, req: Request<Incoming>) -> Response<Full<Bytes>> {
        match Gateway::serve(self, peer, req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        }
    }
}

/// A bound listener, ready to serve.
pub struct Server<D: Door = Gateway> {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    door: Arc<D>,
    limits: ServerLimits,
}

impl<D: Door> Server<D> {
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        door: Arc<D>,
    ) -> Result<Self, BindError> {
        let listener = TcpListener::bind(addr).await.map_err(|source| BindError { addr, source })?;
        Ok(Self { listener, tls, door, limits: ServerLimits::default() })
    }

    /// The connection limits (timeouts, connection cap); the defaults otherwise.
    pub fn with_limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` turns true, then lets open connections finish their request in
    /// flight (at most [`DRAIN_TIMEOUT`]).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
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
            // A backstop only (see conn_guard): hyper's timer covers idle and header time together.
            .header_read_timeout(limits.header_read_timeout.saturating_add(limits.idle_timeout))
            .max_buf_size(CONN_READ_BUFFER_MAX);
        let mut refused: u64 = 0;
        let port = self.listener.local_addr().map_or(0, |a| a.port());
        let io_threads = io_threads::IoThreads::start(limits.io_threads, port);
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
            let door = self.door.clone();
            let act = activity.clone();
            let service = service_fn(move |req| {
                let busy = act.begin();
                let door = door.clone();
                async move {
                    let resp = Door::serve(door, peer, req).await;
                    drop(busy);
                    Ok::<_, Infallible>(resp)
                }
            });
            let builder = builder.clone();
            let watcher = graceful.watcher();
            let acceptor = acceptor.clone();
            let (handshake_timeout, header_timeout, idle_timeout) =
                (limits.tls_handshake_timeout, limits.header_read_timeout, limits.idle_timeout);
            // The connection moves to its I/O thread's own reactor (`from_std` there).
            let stream = match stream.into_std() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("aapkit: handing over a connection failed: {e}");
                    continue;
                }
            };
            io_threads.spawn(async move {
                let _slot = slot;
                let stream = match tokio::net::TcpStream::from_std(stream) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("aapkit: taking over a connection on its thread failed: {e}");
                        return;
                    }
                };
                match acceptor {
                    Some(acceptor) => {
                        // A failed or slow handshake has nobody to answer to.
                        let Ok(Ok(tls)) = tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await else {
                            return;
                        };
                        activity.restart();
                        let io = conn_guard::Watched { inner: tls, activity: activity.clone() };
                        let conn = watcher.watch(builder.serve_connection(TokioIo::new(io), service));
                        tokio::select! {
                            _ = conn => {}
                            () = activity.expired(header_timeout, idle_timeout) => {}
                        }
                    }
                    None => {
                        let io = conn_guard::Watched { inner: stream, activity: activity.clone() };
                        let conn = watcher.watch(builder.serve_connection(TokioIo::new(io), service));
                        tokio::select! {
                            _ = conn => {}
                            () = activity.expired(header_timeout, idle_timeout) => {}
                        }
                    }
                }
            });
        }
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
        // Connections still open past the drain are dropped with their threads' runtimes.
        drop(io_threads);
    }
}

mod conn_guard {
    //! The header and keep-alive idle timeouts, per connection, with Go's meaning: a request's
    //! header block must be complete within the header timeout from its first byte (for the first
    //! request: from the connection's start), and a connection with no request in flight and no
    //! new bytes is closed after the idle timeout. hyper has one timer that starts at the end of
    //! the previous response (idle and header time together), so it only serves as a backstop.

    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::time::Instant;

    struct State {
        in_flight: usize,
        last_done: Instant,
        /// When the header block being read began, if one is being read.
        header_started: Option<Instant>,
    }

    pub struct Activity {
        state: Mutex<State>,
        /// Wakes the watchdog when the state changes (its deadline may have moved).
        changed: tokio::sync::Notify,
    }

    impl Activity {
        pub fn new() -> Self {
            let now = Instant::now();
            Self {
                state: Mutex::new(State { in_flight: 0, last_done: now, header_started: Some(now) }),
                changed: tokio::sync::Notify::new(),
            }
        }

        fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
            match self.state.lock() {
                Ok(mut g) => f(&mut g),
                Err(p) => f(&mut p.into_inner()),
            }
        }

        /// Changes the state and wakes the watchdog.
        fn update(&self, f: impl FnOnce(&mut State)) {
            self.with(f);
            self.changed.notify_one();
        }

        /// The first request's header clock starts now (after the TLS handshake).
        pub fn restart(&self) {
            self.update(|s| s.header_started = Some(Instant::now()));
        }

        fn on_bytes(&self) {
            // Only the first bytes of a new request matter (no lock-free fast path needed: one
            // uncontended lock per read).
            let started = self.with(|s| {
                let start = s.in_flight == 0 && s.header_started.is_none();
                if start {
                    s.header_started = Some(Instant::now());
                }
                start
            });
            if started {
                self.changed.notify_one();
            }
        }

        pub fn begin(self: &Arc<Self>) -> Busy {
            self.update(|s| {
                s.in_flight += 1;
                s.header_started = None;
            });
            Busy(self.clone())
        }

        /// Completes when the connection has overrun its header or idle timeout.
        pub async fn expired(&self, header: Duration, idle: Duration) {
            loop {
                let deadline = self.with(|s| match (s.in_flight, s.header_started) {
                    // A request's own time is bounded by the body timeout and the work pool.
                    (1.., _) => None,
                    (0, Some(started)) => Some(started + header),
                    (0, None) => Some(s.last_done + idle),
                });
                match deadline {
                    Some(d) if Instant::now() >= d => return,
                    Some(d) => {
                        tokio::select! {
                            () = tokio::time::sleep_until(d) => {}
                            () = self.changed.notified() => {}
                        }
                    }
                    None => self.changed.notified().await,
                }
            }
        }
    }

    /// Marks a request in flight until dropped.
    pub struct Busy(Arc<Activity>);

    impl Drop for Busy {
        fn drop(&mut self) {
            self.0.update(|s| {
                s.in_flight = s.in_flight.saturating_sub(1);
                s.last_done = Instant::now();
            });
        }
    }

    /// The connection's stream, noting when bytes arrive (the start of a header block).
    pub struct Watched<S> {
        pub inner: S,
        pub activity: Arc<Activity>,
    }

    impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let before = buf.filled().len();
            let r = Pin::new(&mut self.inner).poll_read(cx, buf);
            if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
                self.activity.on_bytes();
            }
            r
        }
    }

    impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.inner).poll_write(cx, buf)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
        }
        fn is_write_vectored(&self) -> bool {
            self.inner.is_write_vectored()
        }
    }
}
