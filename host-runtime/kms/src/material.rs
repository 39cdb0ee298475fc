//! Key material: generation for `key create`, and public keys derived from stored private keys.
//!
//! Symmetric material is the raw 32-byte AES key; asymmetric material is a PKCS#8 DER private key.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::Engine;
use zeroize::Zeroizing;

use super::keyring::KeySpec;
use super::KmsError;

/// Length of an `Aliyun_AES_256` key.
pub const AES_KEY_LEN: usize = 32;

/// Fresh key material for a new key (version) of `spec`.
pub fn generate_material(spec: KeySpec) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    match spec {
        KeySpec::AliyunAes256 => {
            let mut key = Zeroizing::new(vec![0u8; AES_KEY_LEN]);
            aws_lc_rs::rand::fill(&mut key).map_err(|_| KmsError::internal())?;
            Ok(key)
        }
        KeySpec::Rsa2048 | KeySpec::Rsa3072 => {
            let size = if spec == KeySpec::Rsa2048 { KeySize::Rsa2048 } else { KeySize::Rsa3072 };
            let pair = RsaKeyPair::generate(size).map_err(|_| KmsError::internal())?;
            let der: Pkcs8V1Der<'_> = pair.as_der().map_err(|_| KmsError::internal())?;
            Ok(Zeroizing::new(der.as_ref().to_vec()))
        }
        KeySpec::EcP256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).map_err(|_| KmsError::internal())?;
            let doc = pair.to_pkcs8v1().map_err(|_| KmsError::internal())?;
            Ok(Zeroizing::new(doc.as_ref().to_vec()))
        }
    }
}

/// The SubjectPublicKeyInfo DER of an asymmetric key's PKCS#8 material.
pub fn public_key_der(spec: KeySpec, material: &[u8]) -> Result<Vec<u8>, KmsError> {
    let spki: PublicKeyX509Der<'_> = match spec {
        KeySpec::AliyunAes256 => return Err(KmsError::wrong_key_type("GetPublicKey", spec)),
        KeySpec::Rsa2048 | KeySpec::Rsa3072 => {
            let pair = RsaKeyPair::from_pkcs8(material).map_err(|_| KmsError::internal())?;
            pair.public_key().as_der().map_err(|_| KmsError::internal())?
        }
        KeySpec::EcP256 => {
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, material)
                .map_err(|_| KmsError::internal())?;
            pair.public_key().as_der().map_err(|_| KmsError::internal())?
        }
    };
    Ok(spki.as_ref().to_vec())
}

/// The SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`) of an asymmetric key's material.
pub fn public_key_pem(spec: KeySpec, material: &[u8]) -> Result<String, KmsError> {
    Ok(pem_encode("PUBLIC KEY", &public_key_der(spec, material)?))
}

/// RFC 7468 text encoding: base64 in 64-column lines between BEGIN/END lines, ending in a newline.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    // base64 output is ASCII, so every 64-byte chunk is valid UTF-8.
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pem_lines_are_64_columns() {
        let pem = pem_encode("PUBLIC KEY", &[7u8; 100]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines.first().copied(), Some("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(lines.last().copied(), Some("-----END PUBLIC KEY-----"));
        assert_eq!(lines.get(1).map(|l| l.len()), Some(64));
        assert!(pem.ends_with('\n'));
    }

    #[test]
    fn generated_material_has_expected_shape() {
        assert_eq!(generate_material(KeySpec::AliyunAes256).unwrap().len(), AES_KEY_LEN);
        for spec in [KeySpec::Rsa2048, KeySpec::EcP256] {
            let m = generate_material(spec).unwrap();
            assert!(public_key_pem(spec, &m).unwrap().starts_with("-----BEGIN PUBLIC KEY-----\n"));
        }
        assert!(public_key_pem(KeySpec::AliyunAes256, &[0; 32]).is_err());
    }
}
