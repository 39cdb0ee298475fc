//! Certificates and PKCS#12: client-key files, the private CA and the gateway's server certificate.
//!
//! - [`client_key`]: `CreateClientKey` material (RSA-2048 key, self-signed certificate, PKCS#12
//!   protected by the caller's password, the `ClientKeyContent` JSON the SDKs load).
//! - [`pkcs12`]: the PKCS#12 writer in the one layout every KMS SDK loads, and a reader.
//! - [`ca`]: `aapkit init` material: a private CA and a server certificate for rustls.
//!
//! Certificates are built by rcgen and read back with yasna (`x509`); PEM is read by
//! rustls-pki-types. PKCS#12 is encoded here (`pkcs12`, `pbe`, `der`) because no crate writes the
//! legacy layout the SDKs load. Primitives come from aws-lc-rs (RSA, ECDSA, SHA-1, HMAC,
//! randomness) and RustCrypto (the legacy PBE ciphers 3DES and RC2, in CBC mode).

pub mod ca;
pub mod client_key;
pub mod pkcs12;

mod der;
mod oid;
mod pbe;
mod x509;

pub use ca::{create_ca, issue_server_cert, write_init_files, CaMaterial, InitFiles, ServerCert};
pub use client_key::{default_not_after, generate, validate_password, GeneratedClientKey};

use std::path::PathBuf;

/// The SubjectPublicKeyInfo (DER) of an X.509 certificate, e.g. a client key's `PublicKeyData`.
pub fn certificate_public_key(certificate_der: &[u8]) -> Result<Vec<u8>, PkiError> {
    Ok(x509::read(certificate_der)?.spki)
}

/// The contents of the first PEM block labelled `label`, one of the labels rustls-pki-types knows
/// (`CERTIFICATE`, `PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`, `PUBLIC KEY`, ...).
pub fn decode_pem(pem: &str, label: &str) -> Result<Vec<u8>, PkiError> {
    use rustls_pki_types::pem::{PemObject as _, SectionKind};
    let kind = SectionKind::try_from(label.as_bytes())
        .map_err(|()| PkiError::InvalidArgument(format!("unknown PEM label {label:?}")))?;
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem.as_bytes()) {
        let (found, der) = section.map_err(|e| PkiError::InvalidArgument(format!("PEM block {label:?}: {e}")))?;
        if found == kind {
            return Ok(der);
        }
    }
    Err(PkiError::InvalidArgument(format!("no PEM block {label:?} found")))
}

/// PEM armour with 64-column base64 lines, as OpenSSL writes it. Written here because
/// rustls-pki-types only decodes, and the `pem` crate (rcgen's) leaves unwiped copies of keys.
pub fn encode_pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    // Private keys pass through here: the intermediate base64 is wiped, and `out` is sized so it
    // never reallocates (callers wrap it in `Zeroizing`).
    let b64 = zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Everything that can go wrong in this module. Messages name the rule or structure at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// The client-key password breaks a rule of `CreateClientKey` (the message names the rule).
    #[error("invalid client key password: {0}")]
    InvalidPassword(&'static str),
    /// A caller-supplied argument is unusable (validity window, names, addresses).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The PKCS#12 MAC did not verify: wrong password or altered file.
    #[error("mac verify failure: the password is wrong or the PKCS#12 data is corrupted")]
    MacVerifyFailure,
    /// A PBE-encrypted part did not decrypt (bad padding): wrong password or altered file.
    #[error("decryption failure: the password is wrong or the PKCS#12 data is corrupted")]
    DecryptionFailure,
    /// The DER is not what the structure requires.
    #[error("malformed {0}")]
    Malformed(String),
    /// Well-formed, but uses something this implementation does not handle.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A cryptographic primitive failed (key generation, signing); not caused by input.
    #[error("crypto failure: {0}")]
    Crypto(&'static str),
    /// `write_init_files` found a file it must not overwrite.
    #[error("{} already exists (use --force to overwrite)", .0.display())]
    AlreadyExists(PathBuf),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
