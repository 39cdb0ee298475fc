//! rustls server configuration from the PEM files `aapkit init` writes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

/// Why the server's TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading server certificate {}: {source}", path.display())]
    Certificate { path: PathBuf, source: pem::Error },
    #[error("no certificate found in {}", .0.display())]
    NoCertificate(PathBuf),
    #[error("reading server private key {}: {source}", path.display())]
    PrivateKey { path: PathBuf, source: pem::Error },
    #[error("TLS protocol versions: {0}")]
    Versions(rustls::Error),
    #[error("server certificate and key do not match: {0}")]
    KeyMismatch(rustls::Error),
}

pub fn server_config(cert_pem: &Path, key_pem: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_error = |source| TlsError::Certificate { path: cert_pem.to_owned(), source };
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert_pem).map_err(cert_error)?.collect::<Result<_, _>>().map_err(cert_error)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(cert_pem.to_owned()));
    }
    let key = PrivateKeyDer::from_pem_file(key_pem)
        .map_err(|source| TlsError::PrivateKey { path: key_pem.to_owned(), source })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Versions)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(TlsError::KeyMismatch)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
