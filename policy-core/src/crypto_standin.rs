//! TEMPORARY stand-in for `crypto/` (owned by the crypto helper) so this crate builds before
//! that lands. Same names and signatures; verifies nothing. Removed at the first merge of main
//! that brings the real module (lib.rs then goes back to a plain `mod crypto;`).

use core::fmt;

/// An RSA public key (stand-in: keeps the DER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    der: Vec<u8>,
}

/// Why a public key does not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyError(String);

impl fmt::Display for PublicKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PublicKeyError {}

impl RsaPublicKey {
    /// Loads DER (stand-in: any non-empty input).
    pub fn from_der(der: &[u8]) -> Result<RsaPublicKey, PublicKeyError> {
        if der.is_empty() {
            return Err(PublicKeyError("empty DER".into()));
        }
        Ok(RsaPublicKey { der: der.to_vec() })
    }

    /// Loads PEM CERTIFICATE / PUBLIC KEY / RSA PUBLIC KEY (stand-in: base64 body only).
    pub fn from_pem(pem: &str) -> Result<RsaPublicKey, PublicKeyError> {
        use base64::Engine as _;
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
        if !pem.contains("-----BEGIN ") {
            return Err(PublicKeyError("no PEM BEGIN line".into()));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| PublicKeyError(format!("PEM body is not base64: {e}")))?;
        RsaPublicKey::from_der(&der)
    }
}

/// RSASSA-PKCS1-v1_5 / SHA-256 verification.
pub trait SignatureVerifier {
    fn verify_pkcs1v15_sha256(&self, key: &RsaPublicKey, msg: &[u8], sig: &[u8]) -> bool;
}

/// Stand-in: rejects everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct PureRustVerifier;

impl SignatureVerifier for PureRustVerifier {
    fn verify_pkcs1v15_sha256(&self, _key: &RsaPublicKey, _msg: &[u8], _sig: &[u8]) -> bool {
        false
    }
}
