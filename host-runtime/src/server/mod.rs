//! The HTTPS server: accepts connections, runs each request through [`http::Gateway`], reloads
//! the policy bundle when the control plane changes it, and shuts down gracefully.

pub mod enforcer;
pub mod http;
pub mod native;
pub mod preauth;
pub mod runtime;
pub mod snapshot;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::{rustls, TlsAcceptor};

pub use enforcer::{Caller, EnforceOutcome, EnforceRequest, Enforcer};
pub use http::{ApiFailure, ApiHandler, ApiOutput, Gateway, NoObserver, RequestObserver, RequestRecord};

/// How long in-flight connections get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound listener, ready to serve.
pub struct Server {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    gateway: Arc<Gateway>,
}

impl Server {
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        gateway: Arc<Gateway>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        Ok(Self { listener, tls, gateway })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` turns true, then lets open connections finish their request in
    /// flight (at most [`DRAIN_TIMEOUT`]).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let acceptor = self.tls.map(TlsAcceptor::from);
        let graceful = GracefulShutdown::new();
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
            let _ = stream.set_nodelay(true);
            let gateway = self.gateway.clone();
            let service = service_fn(move |req| gateway.clone().serve(peer, req));
            let builder = hyper::server::conn::http1::Builder::new();
            match &acceptor {
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        // A failed or slow handshake has nobody to answer to.
                        let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
                        else {
                            return;
                        };
                        let _ = watcher.watch(builder.serve_connection(TokioIo::new(tls), service)).await;
                    });
                }
                None => {
                    let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                }
            }
        }
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
        Ok(())
    }
}
