//! Certificates and PKCS#12: client-key files, the private CA and the gateway's server certificate.
//!
//! - [`client_key`]: `CreateClientKey` material (RSA-2048 key, self-signed certificate, PKCS#12
//!   protected by the caller's password, the `ClientKeyContent` JSON the SDKs load).
//! - [`pkcs12`]: the PKCS#12 writer in the one layout every KMS SDK loads, and a reader.
//! - [`ca`]: `aapkit init` material: a private CA and a server certificate for rustls.
//!
//! DER and PKCS#12 are encoded here (`der`, `x509`, `pbe`); primitives come from aws-lc-rs
//! (RSA, ECDSA, randomness) and RustCrypto (the legacy PBE ciphers, SHA-1, HMAC).

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
    Ok(x509::parse(certificate_der)?.spki.to_vec())
}

/// The contents of the first PEM block labelled `label` (e.g. `"CERTIFICATE"`).
pub fn decode_pem(pem: &str, label: &str) -> Result<Vec<u8>, PkiError> {
    der::pem_decode(pem, label)
}

/// PEM armour (64-column lines, as OpenSSL writes it).
pub fn encode_pem(label: &str, der: &[u8]) -> String {
    der::pem(label, der)
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
