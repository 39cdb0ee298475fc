//! Parsed aws-lc keys, cached per key version.
//!
//! Parsing a PKCS#8 RSA key costs far more than using it, and even AES key setup is worth
//! skipping on the hot path. Entries are keyed by key-version id. A version's material never
//! changes, and every request looks its key up in the [`KeyRing`](super::KeyRing) first (state,
//! existence), so a stale entry can only be reached through a version the key ring still returns.
//! [`KeyCache::clear`] drops everything, e.g. when a version is deleted.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, ParsedPublicKey, RsaKeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_ASN1,
    ECDSA_P256_SHA256_ASN1_SIGNING, RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256,
};

use super::keyring::{KeySpec, KeyVersionRecord};
use super::KmsError;

/// Bound on the number of cached versions; past it the cache starts over.
const MAX_ENTRIES: usize = 4096;

pub(crate) struct RsaKeys {
    pub sign: RsaKeyPair,
    pub decrypt: OaepPrivateDecryptingKey,
    pub encrypt: OaepPublicEncryptingKey,
    pub verify_pss: ParsedPublicKey,
    pub verify_pkcs1: ParsedPublicKey,
    /// SubjectPublicKeyInfo DER.
    pub spki: Vec<u8>,
}

pub(crate) struct EcKeys {
    pub sign: EcdsaKeyPair,
    pub verify: ParsedPublicKey,
    pub spki: Vec<u8>,
}

pub(crate) enum ParsedKey {
    Aes(LessSafeKey),
    Rsa(Box<RsaKeys>),
    Ec(Box<EcKeys>),
}

/// Stored material that does not parse is a server fault, not the caller's.
fn bad<E>(_: E) -> KmsError {
    KmsError::internal()
}

impl ParsedKey {
    fn parse(spec: KeySpec, material: &[u8]) -> Result<ParsedKey, KmsError> {
        Ok(match spec {
            KeySpec::AliyunAes256 => {
                ParsedKey::Aes(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, material).map_err(bad)?))
            }
            KeySpec::Rsa2048 | KeySpec::Rsa3072 => {
                let sign = RsaKeyPair::from_pkcs8(material).map_err(bad)?;
                let private = PrivateDecryptingKey::from_pkcs8(material).map_err(bad)?;
                let public = private.public_key();
                let spki: PublicKeyX509Der<'_> = public.as_der().map_err(bad)?;
                let spki = spki.as_ref().to_vec();
                let verify_pss = UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, &spki).parse().map_err(bad)?;
                let verify_pkcs1 = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &spki).parse().map_err(bad)?;
                ParsedKey::Rsa(Box::new(RsaKeys {
                    sign,
                    decrypt: OaepPrivateDecryptingKey::new(private).map_err(bad)?,
                    encrypt: OaepPublicEncryptingKey::new(public).map_err(bad)?,
                    verify_pss,
                    verify_pkcs1,
                    spki,
                }))
            }
            KeySpec::EcP256 => {
                let sign = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, material).map_err(bad)?;
                let spki: PublicKeyX509Der<'_> = sign.public_key().as_der().map_err(bad)?;
                let spki = spki.as_ref().to_vec();
                let verify = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &spki).parse().map_err(bad)?;
                ParsedKey::Ec(Box::new(EcKeys { sign, verify, spki }))
            }
        })
    }

    fn matches(&self, spec: KeySpec) -> bool {
        match self {
            ParsedKey::Aes(_) => spec == KeySpec::AliyunAes256,
            ParsedKey::Rsa(k) => {
                let bits = k.encrypt.key_size_bits();
                (spec == KeySpec::Rsa2048 && bits == 2048) || (spec == KeySpec::Rsa3072 && bits == 3072)
            }
            ParsedKey::Ec(_) => spec == KeySpec::EcP256,
        }
    }
}

#[derive(Default)]
pub(crate) struct KeyCache {
    map: RwLock<HashMap<String, Arc<ParsedKey>>>,
}

impl KeyCache {
    /// The parsed key of `version`, parsing and caching it on first use.
    pub fn get(&self, spec: KeySpec, version: &KeyVersionRecord) -> Result<Arc<ParsedKey>, KmsError> {
        {
            // A poisoned lock only means another thread panicked mid-insert; the map is still sound.
            let map = self.map.read().unwrap_or_else(|e| e.into_inner());
            if let Some(k) = map.get(version.version_id.as_str()) {
                if k.matches(spec) {
                    return Ok(Arc::clone(k));
                }
            }
        }
        let parsed = ParsedKey::parse(spec, &version.material)?;
        if !parsed.matches(spec) {
            return Err(KmsError::internal());
        }
        let parsed = Arc::new(parsed);
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(version.version_id.clone(), Arc::clone(&parsed));
        Ok(parsed)
    }

    pub fn clear(&self) {
        self.map.write().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}
