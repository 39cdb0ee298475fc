//! JWKS for AssumeRoleWithOIDC: files are read when a token is verified; URLs are fetched off the
//! request path by [`refresh_loop`] (at start, every [`REFRESH_INTERVAL`], and soon after a role
//! asks for a URL not fetched yet) and served from memory, so a slow or dead issuer never holds a
//! request. `https://` issuers are verified against the Mozilla roots (webpki-roots).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aapkit_store::{JwksSource, Store};
use aapkit_sts::fetch::{fetch_jwks, FetchLimits};
use aapkit_sts::{FileJwks, JwksProvider, StsError};
use tokio::sync::{watch, Notify};
use tokio_rustls::rustls;

/// How often every role's JWKS URL is fetched again (issuers rotate keys with overlap).
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(300);

/// The JWKS texts fetched so far, by URL, and a wake-up for the refresher.
#[derive(Default)]
pub struct JwksCache {
    texts: RwLock<HashMap<String, String>>,
    wanted: Notify,
}

/// The [`JwksProvider`] of `serve`: files from disk, URLs from [`JwksCache`].
pub struct CachedJwks(pub Arc<JwksCache>);

impl JwksProvider for CachedJwks {
    fn jwks(&self, source: &JwksSource) -> Result<String, StsError> {
        match source {
            JwksSource::File(_) => FileJwks.jwks(source),
            JwksSource::Url(url) => {
                let texts = self.0.texts.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                match texts.get(url) {
                    Some(text) => Ok(text.clone()),
                    None => {
                        self.0.wanted.notify_one();
                        Err(StsError::JwksUnavailable(format!("{url}: not fetched yet; retry in a few seconds")))
                    }
                }
            }
        }
    }
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth())
}

/// Fetches the JWKS URL of every OIDC role now, then on every tick or wake-up, until shutdown.
/// A failed fetch keeps the previous text (and is logged).
pub async fn refresh_loop(store: Arc<Store>, cache: Arc<JwksCache>, mut shutdown: watch::Receiver<bool>) {
    let tls = tls_config();
    loop {
        let urls: Vec<String> = match store.list_ram_roles() {
            Ok(roles) => roles
                .iter()
                .filter_map(|r| r.oidc.as_ref().and_then(|t| t.jwks()))
                .filter_map(|s| match s {
                    JwksSource::Url(u) => Some(u),
                    JwksSource::File(_) => None,
                })
                .collect(),
            Err(e) => {
                eprintln!("aapkit: jwks refresh: listing RAM roles: {e}");
                Vec::new()
            }
        };
        for url in urls {
            match fetch_jwks(&url, Some(tls.clone()), FetchLimits::default()).await {
                Ok(text) => {
                    cache.texts.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(url, text);
                }
                Err(e) => eprintln!("aapkit: jwks refresh: {e}"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(REFRESH_INTERVAL) => {}
            () = cache.wanted.notified() => {
                // Coalesce a burst of misses; never hammer an issuer.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ = shutdown.changed() => return,
        }
    }
}
