//! TEMPORARY stand-in for `crate::kms::material::generate_material` (being written by the
//! "hostdata" helper); removed when that lands.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use zeroize::Zeroizing;

use super::StoreError;
use crate::kms::keyring::KeySpec;

/// Fresh key material: 32 random bytes for AES, PKCS#8 DER for RSA and EC keys.
pub(crate) fn generate_material(spec: KeySpec) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let fail = |what: &str| {
        StoreError::Crypto(format!(
            "generating {} key material failed ({what})",
            spec.as_str()
        ))
    };
    match spec {
        KeySpec::AliyunAes256 => {
            let mut k = Zeroizing::new(vec![0u8; 32]);
            aws_lc_rs::rand::fill(&mut k[..]).map_err(|_| fail("random"))?;
            Ok(k)
        }
        KeySpec::Rsa2048 | KeySpec::Rsa3072 => {
            let size = if spec == KeySpec::Rsa2048 {
                KeySize::Rsa2048
            } else {
                KeySize::Rsa3072
            };
            let kp = RsaKeyPair::generate(size).map_err(|_| fail("generate"))?;
            let der = kp.as_der().map_err(|_| fail("encode"))?;
            Ok(Zeroizing::new(der.as_ref().to_vec()))
        }
        KeySpec::EcP256 => {
            let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
                .map_err(|_| fail("generate"))?;
            let doc = kp.to_pkcs8v1().map_err(|_| fail("encode"))?;
            Ok(Zeroizing::new(doc.as_ref().to_vec()))
        }
    }
}
