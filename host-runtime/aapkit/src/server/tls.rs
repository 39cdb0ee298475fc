//! rustls server configuration from the PEM files `aapkit init` writes.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

pub fn server_config(cert_pem: &Path, key_pem: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
        .with_context(|| format!("reading server certificate {}", cert_pem.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing server certificate {}", cert_pem.display()))?;
    if certs.is_empty() {
        bail!("no certificate found in {}", cert_pem.display());
    }
    let key = PrivateKeyDer::from_pem_file(key_pem)
        .with_context(|| format!("reading server private key {}", key_pem.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("server certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
