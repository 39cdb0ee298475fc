//! PEM armor (RFC 7468), strict: one block, no headers, standard padded base64.

use base64::Engine as _;

use super::error::PublicKeyError;

const BEGIN: &str = "-----BEGIN ";
const END: &str = "-----END ";
const DASHES: &str = "-----";

/// What a PEM block holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PemKind {
    Certificate,
    /// SubjectPublicKeyInfo.
    PublicKey,
    /// PKCS#1 RSAPublicKey.
    RsaPublicKey,
}

/// Finds the single PEM block in `text` (text around it, like openssl's "Bag Attributes", is
/// ignored) and returns its kind and decoded DER.
pub(crate) fn decode(text: &str) -> Result<(PemKind, Vec<u8>), PublicKeyError> {
    let start = text.find(BEGIN).ok_or(PublicKeyError::NoPemBlock)?;
    let after_begin = text.get(start + BEGIN.len()..).unwrap_or_default();
    let label_len = after_begin.find(DASHES).ok_or(PublicKeyError::NoPemBlock)?;
    let label = after_begin.get(..label_len).unwrap_or_default();
    if label.contains('\n') {
        return Err(PublicKeyError::NoPemBlock);
    }
    let body_and_rest = after_begin.get(label_len + DASHES.len()..).unwrap_or_default();
    let end_line = format!("{END}{label}{DASHES}");
    let body_len =
        body_and_rest.find(&end_line).ok_or_else(|| PublicKeyError::UnterminatedPem { label: label.to_owned() })?;
    let body = body_and_rest.get(..body_len).unwrap_or_default();
    let rest = body_and_rest.get(body_len + end_line.len()..).unwrap_or_default();
    if rest.contains(BEGIN) {
        return Err(PublicKeyError::MultiplePemBlocks);
    }

    let kind = match label {
        "CERTIFICATE" => PemKind::Certificate,
        "PUBLIC KEY" => PemKind::PublicKey,
        "RSA PUBLIC KEY" => PemKind::RsaPublicKey,
        l if l.ends_with("PRIVATE KEY") => return Err(PublicKeyError::PrivateKeyPem { label: l.to_owned() }),
        l => return Err(PublicKeyError::UnsupportedPemLabel { label: l.to_owned() }),
    };
    if body.contains(':') {
        return Err(PublicKeyError::PemHeaders);
    }
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der =
        base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()).map_err(|_| PublicKeyError::PemBase64)?;
    Ok((kind, der))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_the_block_among_text() {
        let text =
            "Bag Attributes\n  localKeyID: 01\n-----BEGIN PUBLIC KEY-----\nAAEC\nAw==\n-----END PUBLIC KEY-----\n";
        assert_eq!(decode(text).unwrap(), (PemKind::PublicKey, vec![0, 1, 2, 3]));
    }

    #[test]
    fn refuses_what_is_not_one_public_block() {
        assert_eq!(decode("hello"), Err(PublicKeyError::NoPemBlock));
        assert!(matches!(
            decode("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----"),
            Err(PublicKeyError::PrivateKeyPem { .. })
        ));
        assert!(matches!(decode("-----BEGIN CERTIFICATE-----\nAA==\n"), Err(PublicKeyError::UnterminatedPem { .. })));
        assert_eq!(
            decode("-----BEGIN CERTIFICATE-----\nAA=\n-----END CERTIFICATE-----"),
            Err(PublicKeyError::PemBase64)
        );
        let two = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n\
                   -----BEGIN RSA PRIVATE KEY-----\nAA==\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(decode(two), Err(PublicKeyError::MultiplePemBlocks));
        assert_eq!(
            decode("-----BEGIN RSA PUBLIC KEY-----\nProc-Type: 4,ENCRYPTED\n\nAA==\n-----END RSA PUBLIC KEY-----"),
            Err(PublicKeyError::PemHeaders)
        );
    }
}
