//! Encrypt, Decrypt, AdvanceEncrypt, AdvanceDecrypt, and the AES-GCM blob primitives they share
//! with the data-key operations.
//!
//! Symmetric ciphertexts are the self-describing blob of `policy_core::blob` (key-version id, IV,
//! ciphertext and tag), so Decrypt needs nothing but the blob. Encrypt uses the key's initial
//! version, the Advance operations its primary (newest) version; Decrypt and AdvanceDecrypt accept
//! a blob of any version of the key.
//!
//! A blob that fails authentication (wrong Aad, tampered bytes) is answered with 400
//! `InvalidParameter` "The CiphertextBlob is invalid or the Aad does not match." — the two cases
//! are indistinguishable by design of GCM.

use aws_lc_rs::aead::{Aad, Nonce, NONCE_LEN};
use aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256;
use zeroize::Zeroizing;

use crate::api::{check_enabled, is_rsa};
use crate::cache::ParsedKey;
use std::sync::Arc;

use crate::keyring::{KeyRecord, KeyRing};
use crate::proto;
use crate::{InstanceApi, KmsError};
use policy_core::blob;

pub(crate) const ALG_AES_GCM: &str = "AES_GCM";
pub(crate) const ALG_RSA_OAEP: &str = "RSAES_OAEP_SHA_256";

/// Algorithms the service names but this backend does not implement (HSM-only or other curves).
const UNIMPLEMENTED_CIPHERS: [&str; 6] =
    ["AES_CBC", "AES_ECB", "SM4_GCM", "SM4_CBC", "SM2PKE", "ECIES_DH_SHA_1_XOR_HMAC"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum CipherAlg {
    AesGcm,
    RsaOaepSha256,
}

/// The `Algorithm` of an Encrypt/Decrypt request; `None` when absent.
fn cipher_alg(s: &str) -> Result<Option<CipherAlg>, KmsError> {
    match s {
        "" => Ok(None),
        ALG_AES_GCM => Ok(Some(CipherAlg::AesGcm)),
        ALG_RSA_OAEP => Ok(Some(CipherAlg::RsaOaepSha256)),
        s if UNIMPLEMENTED_CIPHERS.contains(&s) => {
            Err(KmsError::unsupported(format_args!("Algorithm {s} is not supported by this instance.")))
        }
        s => Err(KmsError::invalid(format!("The Algorithm \"{s}\" is invalid."))),
    }
}

/// Symmetric operations accept only AES-GCM (the default).
fn require_gcm(api: &str, alg: &str) -> Result<(), KmsError> {
    match cipher_alg(alg)? {
        None | Some(CipherAlg::AesGcm) => Ok(()),
        Some(CipherAlg::RsaOaepSha256) => {
            Err(KmsError::unsupported(format_args!("{api} with Algorithm {ALG_RSA_OAEP} needs an RSA key.")))
        }
    }
}

fn require_no_padding(padding_mode: &str) -> Result<(), KmsError> {
    if padding_mode.is_empty() {
        Ok(())
    } else {
        Err(KmsError::invalid("PaddingMode applies to AES_CBC and AES_ECB only; AES_GCM takes none."))
    }
}

/// A caller-chosen IV (allowed by the API) or `None` for a random one.
fn gcm_iv(iv: &[u8]) -> Result<Option<[u8; NONCE_LEN]>, KmsError> {
    if iv.is_empty() {
        return Ok(None);
    }
    <[u8; NONCE_LEN]>::try_from(iv)
        .map(Some)
        .map_err(|_| KmsError::invalid(format!("The Iv must be {NONCE_LEN} bytes for AES_GCM; got {}.", iv.len())))
}

/// The output of a symmetric seal.
pub(crate) struct Sealed {
    pub blob: Vec<u8>,
    pub iv: [u8; NONCE_LEN],
}

/// An opened symmetric ciphertext: the key, the version used and the plaintext.
type Opened = (Arc<KeyRecord>, String, Zeroizing<Vec<u8>>);

fn bad_blob() -> KmsError {
    KmsError::invalid("The CiphertextBlob is invalid or the Aad does not match.")
}

impl<K: KeyRing> InstanceApi<K> {
    /// AES-256-GCM under one version of a symmetric key, as a self-describing blob.
    pub(crate) fn seal(
        &self,
        key: &KeyRecord,
        version_id: &str,
        plaintext: &[u8],
        aad: &[u8],
        iv: Option<[u8; NONCE_LEN]>,
    ) -> Result<Sealed, KmsError> {
        let vid: &[u8; blob::KEY_VERSION_ID_LEN] =
            version_id.as_bytes().try_into().map_err(|_| KmsError::internal())?;
        let parsed = self.parsed(key, version_id)?;
        let ParsedKey::Aes(aes) = &*parsed else { return Err(KmsError::internal()) };
        let iv = match iv {
            Some(iv) => iv,
            None => {
                let mut iv = [0u8; NONCE_LEN];
                aws_lc_rs::rand::fill(&mut iv).map_err(|_| KmsError::internal())?;
                iv
            }
        };
        let mut buf = Vec::with_capacity(plaintext.len() + blob::TAG_LEN);
        buf.extend_from_slice(plaintext);
        aes.seal_in_place_append_tag(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut buf)
            .map_err(|_| KmsError::internal())?;
        Ok(Sealed { blob: blob::encode_symmetric(vid, &iv, &buf), iv })
    }

    /// Opens a symmetric blob. `known` is the key the request named (already checked to be an
    /// enabled symmetric key); it must own the blob's version. Without it the blob names the key.
    /// Returns the key, the version id and the plaintext.
    pub(crate) fn open(
        &self,
        known: Option<Arc<KeyRecord>>,
        ciphertext_blob: &[u8],
        aad: &[u8],
        iv: &[u8],
    ) -> Result<Opened, KmsError> {
        if ciphertext_blob.is_empty() {
            return Err(KmsError::missing("CiphertextBlob"));
        }
        let parsed_blob = match blob::parse_symmetric(ciphertext_blob) {
            Ok(b) => b,
            Err(e) => match self.header_form_version(known.as_ref()) {
                Some(version) => return self.open_header_form(version, ciphertext_blob, aad, iv),
                None => return Err(KmsError::invalid(format!("The CiphertextBlob is invalid: {e}."))),
            },
        };
        if !iv.is_empty() && iv != parsed_blob.iv.as_slice() {
            return Err(KmsError::invalid("The Iv does not match the IV in the CiphertextBlob."));
        }
        let vid = parsed_blob.key_version_id;
        let key = match known {
            Some(key) if key.version(vid).is_some() => key,
            Some(_) => {
                return Err(KmsError::invalid("The CiphertextBlob was not encrypted under the specified KeyId."))
            }
            None => {
                let key = self.key_of_version(vid)?;
                check_enabled(&key)?;
                key
            }
        };
        // A symmetric blob that names an asymmetric key's version was not made by us (or was
        // altered): the caller's input is wrong, not the service.
        if !key.spec.is_symmetric() {
            return Err(bad_blob());
        }
        let parsed = self.parsed(&key, vid)?;
        let ParsedKey::Aes(aes) = &*parsed else { return Err(KmsError::internal()) };
        let mut buf = Zeroizing::new(parsed_blob.ciphertext_and_tag.to_vec());
        let len = aes
            .open_in_place(Nonce::assume_unique_for_key(*parsed_blob.iv), Aad::from(aad), &mut buf)
            .map_err(|_| bad_blob())?
            .len();
        buf.truncate(len);
        let vid = vid.to_owned();
        Ok((key, vid, buf))
    }

    /// Decrypt's older form (the transfer SDK): the key version is in the signed
    /// `x-kms-migrationkeyversionid` header, `Iv` and the bare ciphertext in the body. The decision
    /// was made on that header's version, so on the server's path it is the authorized version of a
    /// blob-only Decrypt whose blob is not a self-describing one. Direct library calls have no
    /// header and no such form.
    fn header_form_version(&self, known: Option<&Arc<KeyRecord>>) -> Option<String> {
        match (&self.authorized, known) {
            (Some(crate::AuthorizedResource::Key { version_id: Some(v), .. }), None) => Some(v.clone()),
            _ => None,
        }
    }

    fn open_header_form(
        &self,
        version_id: String,
        ciphertext: &[u8],
        aad: &[u8],
        iv: &[u8],
    ) -> Result<Opened, KmsError> {
        let iv: [u8; NONCE_LEN] = iv.try_into().map_err(|_| {
            KmsError::invalid(format!("The Iv must be {NONCE_LEN} bytes with x-kms-migrationkeyversionid."))
        })?;
        if ciphertext.len() < blob::TAG_LEN {
            return Err(bad_blob());
        }
        let key = self.key_of_version(&version_id)?;
        check_enabled(&key)?;
        if !key.spec.is_symmetric() {
            return Err(bad_blob());
        }
        let parsed = self.parsed(&key, &version_id)?;
        let ParsedKey::Aes(aes) = &*parsed else { return Err(KmsError::internal()) };
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let len = aes
            .open_in_place(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut buf)
            .map_err(|_| bad_blob())?
            .len();
        buf.truncate(len);
        Ok((key, version_id, buf))
    }

    pub(crate) fn encrypt(&self, req: proto::EncryptRequest) -> Result<proto::EncryptResponse, KmsError> {
        let alg = cipher_alg(&req.algorithm)?;
        let key = self.enabled_key(&req.key_id)?;
        if key.spec.is_symmetric() {
            require_gcm("Encrypt", &req.algorithm)?;
            require_no_padding(&req.padding_mode)?;
            let sealed = self.seal(&key, &key.initial_version_id, &req.plaintext, &req.aad, gcm_iv(&req.iv)?)?;
            return Ok(proto::EncryptResponse {
                key_id: key.key_id.clone(),
                ciphertext_blob: sealed.blob,
                iv: sealed.iv.to_vec(),
                algorithm: ALG_AES_GCM.to_owned(),
                ..Default::default()
            });
        }
        self.require_rsa_oaep("Encrypt", &key, alg, &req.aad, &req.iv, &req.padding_mode)?;
        let parsed = self.parsed(&key, &key.initial_version_id)?;
        let ParsedKey::Rsa(rsa) = &*parsed else { return Err(KmsError::internal()) };
        let max = rsa.encrypt.max_plaintext_size(&OAEP_SHA256_MGF1SHA256);
        if req.plaintext.len() > max {
            return Err(KmsError::invalid(format!(
                "The Plaintext is {} bytes; {} with {ALG_RSA_OAEP} takes at most {max}.",
                req.plaintext.len(),
                key.spec.as_str()
            )));
        }
        let mut out = vec![0u8; rsa.encrypt.ciphertext_size()];
        let len = rsa
            .encrypt
            .encrypt(&OAEP_SHA256_MGF1SHA256, &req.plaintext, &mut out, None)
            .map_err(|_| KmsError::internal())?
            .len();
        out.truncate(len);
        Ok(proto::EncryptResponse {
            key_id: key.key_id.clone(),
            ciphertext_blob: out,
            algorithm: ALG_RSA_OAEP.to_owned(),
            ..Default::default()
        })
    }

    pub(crate) fn decrypt(&self, req: proto::DecryptRequest) -> Result<proto::DecryptResponse, KmsError> {
        let alg = cipher_alg(&req.algorithm)?;
        // An asymmetric KeyId means an RSA ciphertext; otherwise the blob names its key.
        let known = if req.key_id.is_empty() {
            None
        } else {
            let key = self.enabled_key(&req.key_id)?;
            if !key.spec.is_symmetric() {
                return self.rsa_decrypt(key, alg, req);
            }
            Some(key)
        };
        require_gcm("Decrypt", &req.algorithm)?;
        require_no_padding(&req.padding_mode)?;
        let (key, _, plaintext) = self.open(known, &req.ciphertext_blob, &req.aad, &req.iv)?;
        Ok(proto::DecryptResponse {
            key_id: key.key_id.clone(),
            plaintext: plaintext.to_vec(),
            algorithm: ALG_AES_GCM.to_owned(),
            ..Default::default()
        })
    }

    fn rsa_decrypt(
        &self,
        key: Arc<KeyRecord>,
        alg: Option<CipherAlg>,
        req: proto::DecryptRequest,
    ) -> Result<proto::DecryptResponse, KmsError> {
        self.require_rsa_oaep("Decrypt", &key, alg, &req.aad, &req.iv, &req.padding_mode)?;
        if req.ciphertext_blob.is_empty() {
            return Err(KmsError::missing("CiphertextBlob"));
        }
        let parsed = self.parsed(&key, &key.initial_version_id)?;
        let ParsedKey::Rsa(rsa) = &*parsed else { return Err(KmsError::internal()) };
        if req.ciphertext_blob.len() != rsa.decrypt.key_size_bytes() {
            return Err(KmsError::invalid(format!(
                "The CiphertextBlob is {} bytes; an {} ciphertext is {}.",
                req.ciphertext_blob.len(),
                key.spec.as_str(),
                rsa.decrypt.key_size_bytes()
            )));
        }
        let mut out = Zeroizing::new(vec![0u8; rsa.decrypt.min_output_size()]);
        let len = rsa
            .decrypt
            .decrypt(&OAEP_SHA256_MGF1SHA256, &req.ciphertext_blob, &mut out, None)
            .map_err(|_| KmsError::invalid("The CiphertextBlob is invalid."))?
            .len();
        out.truncate(len);
        Ok(proto::DecryptResponse {
            key_id: key.key_id.clone(),
            plaintext: out.to_vec(),
            algorithm: ALG_RSA_OAEP.to_owned(),
            ..Default::default()
        })
    }

    /// Encrypt/Decrypt with an asymmetric key: RSA keys with `RSAES_OAEP_SHA_256` only, and none
    /// of the GCM-only fields (silently ignoring an Aad would drop a binding the caller asked for).
    fn require_rsa_oaep(
        &self,
        api: &str,
        key: &KeyRecord,
        alg: Option<CipherAlg>,
        aad: &[u8],
        iv: &[u8],
        padding_mode: &str,
    ) -> Result<(), KmsError> {
        if !is_rsa(key.spec) {
            return Err(KmsError::unsupported(format_args!(
                "{api} is not supported for {} keys (ECIES is not implemented).",
                key.spec.as_str()
            )));
        }
        match alg {
            Some(CipherAlg::RsaOaepSha256) => {}
            Some(CipherAlg::AesGcm) => {
                return Err(KmsError::unsupported(format_args!(
                    "{api} with Algorithm {ALG_AES_GCM} needs a symmetric key; the key is {}.",
                    key.spec.as_str()
                )))
            }
            None => {
                return Err(KmsError::invalid(format!(
                    "{api} with an {} key needs Algorithm {ALG_RSA_OAEP}.",
                    key.spec.as_str()
                )))
            }
        }
        if !aad.is_empty() || !iv.is_empty() || !padding_mode.is_empty() {
            return Err(KmsError::invalid(format!("Aad, Iv and PaddingMode do not apply to {ALG_RSA_OAEP}.")));
        }
        Ok(())
    }

    pub(crate) fn advance_encrypt(
        &self,
        req: proto::AdvanceEncryptRequest,
    ) -> Result<proto::AdvanceEncryptResponse, KmsError> {
        require_gcm("AdvanceEncrypt", &req.algorithm)?;
        let key = self.symmetric_key("AdvanceEncrypt", &req.key_id)?;
        require_no_padding(&req.padding_mode)?;
        let sealed = self.seal(&key, &key.primary_version_id, &req.plaintext, &req.aad, gcm_iv(&req.iv)?)?;
        Ok(proto::AdvanceEncryptResponse {
            key_id: key.key_id.clone(),
            ciphertext_blob: sealed.blob,
            iv: sealed.iv.to_vec(),
            algorithm: ALG_AES_GCM.to_owned(),
            key_version_id: key.primary_version_id.clone(),
            ..Default::default()
        })
    }

    pub(crate) fn advance_decrypt(
        &self,
        req: proto::AdvanceDecryptRequest,
    ) -> Result<proto::AdvanceDecryptResponse, KmsError> {
        require_gcm("AdvanceDecrypt", &req.algorithm)?;
        let known = match req.key_id.as_str() {
            "" => None,
            id => Some(self.symmetric_key("AdvanceDecrypt", id)?),
        };
        require_no_padding(&req.padding_mode)?;
        let (key, key_version_id, plaintext) = self.open(known, &req.ciphertext_blob, &req.aad, &req.iv)?;
        Ok(proto::AdvanceDecryptResponse {
            key_id: key.key_id.clone(),
            plaintext: plaintext.to_vec(),
            algorithm: ALG_AES_GCM.to_owned(),
            key_version_id,
            ..Default::default()
        })
    }
}
