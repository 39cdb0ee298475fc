//! The HTTPS server: accepts connections, runs each request through [`http::Gateway`], reloads
//! the policy bundle when the control plane changes it, and shuts down gracefully.

pub mod enforcer;
pub mod http;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::{rustls, TlsAcceptor};

pub use enforcer::{Caller, EnforceOutcome, EnforceRequest, Enforcer};
pub use http::{ApiFailure, ApiHandler, Gateway, NoObserver, RequestObserver, RequestRecord};

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

    /// Serves until `shutdown` turns true, then drains open connections.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let acceptor = self.tls.map(TlsAcceptor::from);
        let (conn_done_tx, mut conn_done_rx) = tokio::sync::mpsc::channel::<()>(1);
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
            let acceptor = acceptor.clone();
            let mut conn_shutdown = shutdown.clone();
            let done = conn_done_tx.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| gateway.clone().serve(peer, req));
                let builder = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    Some(acceptor) => {
                        let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => tls,
                            _ => return, // failed or slow handshake: nothing to answer
                        };
                        let conn = builder.serve_connection(TokioIo::new(tls), service);
                        serve_until_shutdown(conn, &mut conn_shutdown).await;
                    }
                    None => {
                        let conn = builder.serve_connection(TokioIo::new(stream), service);
                        serve_until_shutdown(conn, &mut conn_shutdown).await;
                    }
                }
                drop(done);
            });
        }
        drop(conn_done_tx);
        // Every connection task holds a sender; recv() returns None once all have finished.
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, conn_done_rx.recv()).await;
        Ok(())
    }
}

async fn serve_until_shutdown<I, S>(conn: hyper::server::conn::http1::Connection<I, S>, shutdown: &mut watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.changed() => {
            // Finish the request in flight, then close.
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
