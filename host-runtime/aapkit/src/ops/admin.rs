//! The admin listener (plain HTTP, loopback by default): `GET /metrics` (Prometheus text),
//! `GET /healthz`, and optionally static files (the web playground) from a directory.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::audit_sink::Clock;
use super::metrics::Metrics;
use super::OpsError;
use crate::server::Enforcer;
use aapkit_store::Store;

/// What the admin listener serves.
pub struct Admin {
    pub metrics: Arc<Metrics>,
    pub enforcer: Arc<dyn Enforcer>,
    pub store: Arc<Store>,
    pub clock: Clock,
    /// Files served under `/` (anything but /metrics and /healthz); `None` = 404.
    pub static_dir: Option<PathBuf>,
}

type Body = Full<Bytes>;

fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    r
}

impl Admin {
    /// The exposition, reading the client keys from the store.
    pub fn metrics_text(&self) -> String {
        let keys = match self.store.client_key_expiries() {
            Ok(k) => k,
            Err(e) => {
                eprintln!("aapkit: metrics: reading client keys failed: {e}");
                Vec::new()
            }
        };
        self.metrics.render(self.enforcer.filter_stats(), &keys, (self.clock)())
    }

    async fn handle(self: Arc<Self>, req: Request<hyper::body::Incoming>) -> Result<Response<Body>, Infallible> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n"));
        }
        Ok(match req.uri().path() {
            "/metrics" => {
                let me = self.clone();
                match tokio::task::spawn_blocking(move || me.metrics_text()).await {
                    Ok(body) => text(StatusCode::OK, super::metrics::CONTENT_TYPE, body),
                    Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", "metrics failed\n"),
                }
            }
            "/healthz" => text(StatusCode::OK, "text/plain", "ok\n"),
            // The playground lives under /playground/ (its pages use relative paths).
            "/" | "/playground" => redirect("/playground/"),
            path => match (&self.static_dir, path.strip_prefix("/playground")) {
                (Some(dir), Some(rest)) if rest.starts_with('/') => serve_file(dir, rest).await,
                _ => text(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
            },
        })
    }

    /// Serves until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
        loop {
            let (stream, _) = tokio::select! {
                a = listener.accept() => match a {
                    Ok(x) => x,
                    Err(_) => { tokio::time::sleep(std::time::Duration::from_millis(50)).await; continue; }
                },
                _ = shutdown.changed() => return,
            };
            let me = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| me.clone().handle(req));
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    }
}

/// Binds the admin address (a failure stops `serve` from starting: the operator asked for it).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, OpsError> {
    if !addr.ip().is_loopback() {
        eprintln!("aapkit: warning: the admin listener {addr} is not loopback; /metrics names client keys and AAPs");
    }
    TcpListener::bind(addr).await.map_err(|source| OpsError::AdminBind { addr, source })
}

/// A file below `dir` for a URL path; `..`, absolute and hidden components are refused.
pub fn static_path(dir: &Path, url_path: &str) -> Option<PathBuf> {
    let rel = url_path.trim_start_matches('/');
    let rel = if rel.is_empty() || rel.ends_with('/') { format!("{rel}index.html") } else { rel.to_owned() };
    let mut out = dir.to_path_buf();
    for c in Path::new(&rel).components() {
        match c {
            Component::Normal(part) if !part.to_string_lossy().starts_with('.') => out.push(part),
            _ => return None,
        }
    }
    Some(out)
}

fn redirect(to: &'static str) -> Response<Body> {
    let mut r = text(StatusCode::FOUND, "text/plain", "");
    r.headers_mut().insert(hyper::header::LOCATION, hyper::header::HeaderValue::from_static(to));
    r
}

/// The page runs wasm and nothing from elsewhere: the same policy as `web-demo/serve.mjs`.
const PLAYGROUND_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
                              img-src 'self' data:; connect-src 'self'";

async fn serve_file(dir: &Path, url_path: &str) -> Response<Body> {
    let Some(path) = static_path(dir, url_path) else {
        return text(StatusCode::NOT_FOUND, "text/plain", "not found\n");
    };
    let read_path = path.clone();
    match tokio::task::spawn_blocking(move || std::fs::read(read_path)).await {
        Ok(Ok(bytes)) => {
            let ct = match path.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js" | "mjs") => "text/javascript",
                Some("css") => "text/css",
                Some("wasm") => "application/wasm",
                Some("json") => "application/json",
                Some("svg") => "image/svg+xml",
                Some("png") => "image/png",
                _ => "application/octet-stream",
            };
            let mut r = text(StatusCode::OK, ct, bytes);
            r.headers_mut().insert(
                hyper::header::CONTENT_SECURITY_POLICY,
                hyper::header::HeaderValue::from_static(PLAYGROUND_CSP),
            );
            r
        }
        _ => text(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_paths_stay_inside() {
        let d = Path::new("/srv/www");
        assert_eq!(static_path(d, "/"), Some(PathBuf::from("/srv/www/index.html")));
        assert_eq!(static_path(d, "/pkg/a.wasm"), Some(PathBuf::from("/srv/www/pkg/a.wasm")));
        assert_eq!(static_path(d, "/../etc/passwd"), None);
        assert_eq!(static_path(d, "/a/../../x"), None);
        assert_eq!(static_path(d, "/.git/config"), None);
    }
}
