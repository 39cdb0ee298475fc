//! A minimal webhook client: HTTP/1.1 POST of a JSON document to an `http://` URL, with retries
//! and exponential backoff. (https is not offered: put a relay in front, or terminate TLS locally.)

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Uri;
use hyper_util::rt::TokioIo;

/// Where and how to deliver.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub url: Uri,
    /// Attempts in all (the first one included).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub first_backoff: Duration,
    /// Time allowed for one attempt (connect, send, response head).
    pub timeout: Duration,
}

/// Why a webhook URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlError {
    #[error("--expiry-webhook {0:?}: not a URL")]
    Invalid(String),
    #[error("--expiry-webhook {0:?}: only http:// URLs are supported (put a relay in front for https)")]
    Scheme(String),
    #[error("--expiry-webhook {0:?}: the URL has no host")]
    NoHost(String),
}

impl WebhookConfig {
    /// Checks and parses `url` with the default retry settings (5 attempts, 1 s doubling, 10 s each).
    pub fn parse(url: &str) -> Result<WebhookConfig, WebhookUrlError> {
        let uri: Uri = url.parse().map_err(|_| WebhookUrlError::Invalid(url.to_owned()))?;
        if uri.scheme_str() != Some("http") {
            return Err(WebhookUrlError::Scheme(url.to_owned()));
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(WebhookUrlError::NoHost(url.to_owned()));
        }
        Ok(WebhookConfig {
            url: uri,
            max_attempts: 5,
            first_backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        })
    }

    /// The wait before attempt `n` (2-based: the first attempt does not wait).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(2).min(16);
        self.first_backoff.saturating_mul(1u32 << doublings)
    }
}

/// Why one POST failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no answer within {} s", .0.as_secs())]
    Timeout(Duration),
    #[error("connecting to {host}:{port}: {source}")]
    Connect { host: String, port: u16, source: std::io::Error },
    #[error("HTTP handshake: {0}")]
    Handshake(hyper::Error),
    #[error("building the request: {0}")]
    Request(hyper::http::Error),
    #[error("sending: {0}")]
    Send(hyper::Error),
    #[error("HTTP {0}")]
    Status(hyper::StatusCode),
}

/// One POST; `Ok` on a 2xx answer.
pub async fn post_json(cfg: &WebhookConfig, body: &str) -> Result<(), WebhookError> {
    tokio::time::timeout(cfg.timeout, post_once(&cfg.url, body))
        .await
        .map_err(|_| WebhookError::Timeout(cfg.timeout))?
}

async fn post_once(url: &Uri, body: &str) -> Result<(), WebhookError> {
    let host = url.host().unwrap_or_default();
    let port = url.port_u16().unwrap_or(80);
    // `[::1]` in a URI is `::1` for the resolver.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = tokio::net::TcpStream::connect((bare, port)).await.map_err(|source| WebhookError::Connect {
        host: host.to_owned(),
        port,
        source,
    })?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(WebhookError::Handshake)?;
    tokio::spawn(conn);
    let path = url.path_and_query().map_or("/", |p| p.as_str());
    let authority = url.authority().map_or(host, |a| a.as_str());
    let req = hyper::Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, concat!("aapkit/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(Bytes::from(body.to_owned())))
        .map_err(WebhookError::Request)?;
    let resp = sender.send_request(req).await.map_err(WebhookError::Send)?;
    let status = resp.status();
    let _ = resp.into_body().collect().await;
    if status.is_success() {
        Ok(())
    } else {
        Err(WebhookError::Status(status))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn url_rules_and_backoff() {
        let c = WebhookConfig::parse("http://127.0.0.1:9000/hook?x=1").unwrap();
        assert_eq!(c.url.port_u16(), Some(9000));
        assert_eq!(c.backoff(2), Duration::from_secs(1));
        assert_eq!(c.backoff(3), Duration::from_secs(2));
        assert_eq!(c.backoff(5), Duration::from_secs(8));
        assert!(matches!(WebhookConfig::parse("https://example.com/"), Err(WebhookUrlError::Scheme(_))));
        assert!(matches!(WebhookConfig::parse("not a url"), Err(WebhookUrlError::Invalid(_))));
        assert!(WebhookConfig::parse("ftp://x/").is_err());
    }
}
