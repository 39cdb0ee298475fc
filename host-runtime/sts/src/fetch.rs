//! Fetching a JWKS URL (feature `fetch`): one `GET` over HTTP/1.1 (hyper's client, tokio-rustls for
//! `https://`), the whole exchange under a deadline, the body under a size cap, status 200 only, no
//! redirects. The host decides when to call it and caches the text (`JwksProvider` is
//! synchronous; it must not fetch on the request path).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::oidc::MAX_JWKS_BYTES;

/// Limits of one fetch.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// Connect, TLS handshake, request and body, all together.
    pub timeout: Duration,
    pub max_bytes: usize,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits { timeout: Duration::from_secs(5), max_bytes: MAX_JWKS_BYTES }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}: expected an http:// or https:// URL with a host")]
    BadUrl(String),
    #[error("{0}: an https:// URL needs a TLS configuration")]
    NoTls(String),
    #[error("{url}: timed out after {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: the body is larger than {max} bytes")]
    TooLarge { url: String, max: usize },
    #[error("{0}: the body is not UTF-8")]
    NotText(String),
}

struct Target {
    https: bool,
    host: String,
    port: u16,
    path_and_query: String,
}

fn parse_url(url: &str) -> Result<Target, FetchError> {
    let bad = || FetchError::BadUrl(url.chars().take(200).collect());
    let (https, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(r), _) => (true, r),
        (None, Some(r)) => (false, r),
        _ => return Err(bad()),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    let default_port = if https { 443 } else { 80 };
    // `[v6]:port`, `[v6]`, `host:port`, `host`.
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => default_port,
            None => return Err(bad()),
        };
        (h.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad())?),
            None => (authority.to_owned(), default_port),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let path_and_query = if path.starts_with('?') { format!("/{path}") } else { path.to_owned() };
    Ok(Target { https, host, port, path_and_query })
}

/// GETs `url` and returns the body as text. `tls` is required for `https://` (the host chooses the
/// roots it trusts).
pub async fn fetch_jwks(
    url: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
    limits: FetchLimits,
) -> Result<String, FetchError> {
    let target = parse_url(url)?;
    match tokio::time::timeout(limits.timeout, fetch_inner(url, &target, tls, limits.max_bytes)).await {
        Ok(r) => r,
        Err(_) => Err(FetchError::Timeout { url: url.to_owned(), timeout: limits.timeout }),
    }
}

async fn fetch_inner(
    url: &str,
    t: &Target,
    tls: Option<Arc<rustls::ClientConfig>>,
    max_bytes: usize,
) -> Result<String, FetchError> {
    let transport = |e: &dyn std::fmt::Display| FetchError::Transport { url: url.to_owned(), reason: e.to_string() };
    if t.https && tls.is_none() {
        return Err(FetchError::NoTls(url.to_owned()));
    }
    let tcp = tokio::net::TcpStream::connect((t.host.as_str(), t.port)).await.map_err(|e| transport(&e))?;
    let host_header =
        if t.port == if t.https { 443 } else { 80 } { t.host.clone() } else { format!("{}:{}", t.host, t.port) };
    let req = hyper::Request::get(t.path_and_query.as_str())
        .header(hyper::header::HOST, host_header)
        .header(hyper::header::ACCEPT, "application/json")
        .header(hyper::header::USER_AGENT, "aapkit-sts")
        .body(Empty::<Bytes>::new())
        .map_err(|e| transport(&e))?;
    let resp = if t.https {
        let config = tls.ok_or_else(|| FetchError::NoTls(url.to_owned()))?;
        let name = ServerName::try_from(t.host.clone()).map_err(|e| transport(&e))?;
        let stream = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(|e| transport(&e))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| transport(&e))?;
        tokio::spawn(conn);
        sender.send_request(req).await.map_err(|e| transport(&e))?
    } else {
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(|e| transport(&e))?;
        tokio::spawn(conn);
        sender.send_request(req).await.map_err(|e| transport(&e))?
    };
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(FetchError::Status { url: url.to_owned(), status });
    }
    let body = Limited::new(resp.into_body(), max_bytes)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                FetchError::TooLarge { url: url.to_owned(), max: max_bytes }
            } else {
                transport(&e)
            }
        })?
        .to_bytes();
    String::from_utf8(body.to_vec()).map_err(|_| FetchError::NotText(url.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn urls() {
        let t = parse_url("https://oidc.example/c1/keys?x=1").unwrap();
        assert!(t.https && t.host == "oidc.example" && t.port == 443 && t.path_and_query == "/c1/keys?x=1");
        let t = parse_url("http://127.0.0.1:8080").unwrap();
        assert!(!t.https && t.host == "127.0.0.1" && t.port == 8080 && t.path_and_query == "/");
        let t = parse_url("http://[::1]:9/k").unwrap();
        assert!(t.host == "::1" && t.port == 9);
        for bad in ["ftp://x/", "http://", "http://:80/", "https://u@h/", "http://h:port/", "http://h/ a", "file:///x"]
        {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    /// A one-shot server answering `response` (after `delay`), returning its URL.
    async fn serve_once(response: Vec<u8>, delay: Duration) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            tokio::time::sleep(delay).await;
            let _ = s.write_all(&response).await;
            let _ = s.shutdown().await;
        });
        format!("http://{addr}/keys")
    }

    fn http(status: &str, body: &str) -> Vec<u8> {
        format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).into_bytes()
    }

    #[tokio::test]
    async fn fetches_with_status_size_and_time_limits() {
        let limits = FetchLimits { timeout: Duration::from_millis(500), max_bytes: 64 };
        let url = serve_once(http("200 OK", r#"{"keys":[]}"#), Duration::ZERO).await;
        assert_eq!(fetch_jwks(&url, None, limits).await.unwrap(), r#"{"keys":[]}"#);
        let url = serve_once(http("404 Not Found", "no"), Duration::ZERO).await;
        assert!(matches!(fetch_jwks(&url, None, limits).await, Err(FetchError::Status { status: 404, .. })));
        let url = serve_once(http("200 OK", &"x".repeat(65)), Duration::ZERO).await;
        assert!(matches!(fetch_jwks(&url, None, limits).await, Err(FetchError::TooLarge { max: 64, .. })));
        let url = serve_once(http("200 OK", "{}"), Duration::from_secs(3)).await;
        assert!(matches!(fetch_jwks(&url, None, limits).await, Err(FetchError::Timeout { .. })));
        let url = serve_once(http("302 Found", ""), Duration::ZERO).await;
        assert!(matches!(fetch_jwks(&url, None, limits).await, Err(FetchError::Status { status: 302, .. })));
        assert!(matches!(fetch_jwks("https://127.0.0.1:1/k", None, limits).await, Err(FetchError::NoTls(_))));
        // Nobody listening.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        assert!(matches!(
            fetch_jwks(&format!("http://{closed}/k"), None, limits).await,
            Err(FetchError::Transport { .. })
        ));
    }
}
