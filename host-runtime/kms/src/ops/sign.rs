//! Sign, Verify and GetPublicKey on asymmetric keys (initial version).
//!
//! Both message types end in a SHA-256 digest: `RAW` hashes `Message` here, `DIGEST` takes the
//! caller's 32-byte `Digest`. Signatures are RSASSA-PSS (salt length 32) or PKCS#1 v1.5 for RSA
//! keys and DER-encoded ECDSA for EC_P256.

use aws_lc_rs::digest::{self, Digest, SHA256, SHA256_OUTPUT_LEN};
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256};

use crate::api::is_rsa;
use crate::cache::ParsedKey;
use crate::keyring::{KeyRecord, KeyRing, KeySpec};
use crate::material::pem_encode;
use crate::proto;
use crate::{InstanceApi, KmsError};

#[derive(Clone, Copy, PartialEq, Eq)]
enum SignAlg {
    RsaPssSha256,
    RsaPkcs1Sha256,
    EcdsaSha256,
}

impl SignAlg {
    fn as_str(self) -> &'static str {
        match self {
            SignAlg::RsaPssSha256 => "RSA_PSS_SHA_256",
            SignAlg::RsaPkcs1Sha256 => "RSA_PKCS1_SHA_256",
            SignAlg::EcdsaSha256 => "ECDSA_SHA_256",
        }
    }

    /// The algorithm named by the request, checked against the key.
    fn for_key(s: &str, spec: KeySpec) -> Result<SignAlg, KmsError> {
        let alg = match s {
            "" => return Err(KmsError::missing("Algorithm")),
            "RSA_PSS_SHA_256" => SignAlg::RsaPssSha256,
            "RSA_PKCS1_SHA_256" => SignAlg::RsaPkcs1Sha256,
            "ECDSA_SHA_256" => SignAlg::EcdsaSha256,
            "SM2DSA" => return Err(KmsError::unsupported("Algorithm SM2DSA is not supported by this instance.")),
            other => return Err(KmsError::invalid(format!("The Algorithm \"{other}\" is invalid."))),
        };
        let fits = if alg == SignAlg::EcdsaSha256 { spec == KeySpec::EcP256 } else { is_rsa(spec) };
        if !fits {
            return Err(KmsError::unsupported(format_args!(
                "Algorithm {} does not apply to {} keys.",
                alg.as_str(),
                spec.as_str()
            )));
        }
        Ok(alg)
    }
}

/// The SHA-256 digest to sign or verify, and the message type to echo.
fn signing_digest(message_type: &str, message: &[u8], digest: &[u8]) -> Result<(Digest, &'static str), KmsError> {
    // Older SDKs send only `Digest` and no MessageType: treat that as DIGEST.
    let digest_mode = match message_type {
        "RAW" => false,
        "DIGEST" => true,
        "" => message.is_empty() && !digest.is_empty(),
        other => return Err(KmsError::invalid(format!("The MessageType \"{other}\" is invalid; use RAW or DIGEST."))),
    };
    if digest_mode {
        // The current SDKs send the digest in `Message` (MessageType DIGEST); older ones used the
        // `Digest` field. Either is accepted, not both.
        let digest = match (message.is_empty(), digest.is_empty()) {
            (false, true) => message,
            (true, false) => digest,
            (false, false) => {
                return Err(KmsError::invalid("MessageType DIGEST takes the digest in Message or in Digest, not both."))
            }
            (true, true) => return Err(KmsError::missing("Message")),
        };
        let d = Digest::import_less_safe(digest, &SHA256).map_err(|_| {
            KmsError::invalid(format!(
                "The Digest must be a {SHA256_OUTPUT_LEN}-byte SHA-256 digest; got {} bytes.",
                digest.len()
            ))
        })?;
        Ok((d, "DIGEST"))
    } else {
        if !digest.is_empty() {
            return Err(KmsError::invalid("MessageType RAW takes Message, not Digest."));
        }
        if message.is_empty() {
            return Err(KmsError::missing("Message"));
        }
        Ok((digest::digest(&SHA256, message), "RAW"))
    }
}

impl<K: KeyRing> InstanceApi<K> {
    fn signing_key(
        &self,
        api: &str,
        key_id: &str,
    ) -> Result<(std::sync::Arc<KeyRecord>, std::sync::Arc<ParsedKey>), KmsError> {
        let key = self.asymmetric_key(api, key_id)?;
        let parsed = self.parsed(&key, &key.initial_version_id)?;
        Ok((key, parsed))
    }

    pub(crate) fn sign(&self, req: proto::SignRequest) -> Result<proto::SignResponse, KmsError> {
        let (key, parsed) = self.signing_key("Sign", &req.key_id)?;
        let alg = SignAlg::for_key(&req.algorithm, key.spec)?;
        let (digest, message_type) = signing_digest(&req.message_type, &req.message, &req.digest)?;
        let signature = match (&*parsed, alg) {
            (ParsedKey::Rsa(rsa), SignAlg::RsaPssSha256 | SignAlg::RsaPkcs1Sha256) => {
                let padding = if alg == SignAlg::RsaPssSha256 { &RSA_PSS_SHA256 } else { &RSA_PKCS1_SHA256 };
                let mut sig = vec![0u8; rsa.sign.public_modulus_len()];
                rsa.sign.sign_digest(padding, &digest, &mut sig).map_err(|_| KmsError::internal())?;
                sig
            }
            (ParsedKey::Ec(ec), SignAlg::EcdsaSha256) => {
                ec.sign.sign_digest(&digest).map_err(|_| KmsError::internal())?.as_ref().to_vec()
            }
            _ => return Err(KmsError::internal()),
        };
        Ok(proto::SignResponse {
            key_id: key.key_id.clone(),
            signature,
            algorithm: alg.as_str().to_owned(),
            message_type: message_type.to_owned(),
            ..Default::default()
        })
    }

    /// A signature that does not verify is `Value: false`, never an error.
    pub(crate) fn verify(&self, req: proto::VerifyRequest) -> Result<proto::VerifyResponse, KmsError> {
        let (key, parsed) = self.signing_key("Verify", &req.key_id)?;
        let alg = SignAlg::for_key(&req.algorithm, key.spec)?;
        let (digest, message_type) = signing_digest(&req.message_type, &req.message, &req.digest)?;
        if req.signature.is_empty() {
            return Err(KmsError::missing("Signature"));
        }
        let public = match (&*parsed, alg) {
            (ParsedKey::Rsa(rsa), SignAlg::RsaPssSha256) => &rsa.verify_pss,
            (ParsedKey::Rsa(rsa), SignAlg::RsaPkcs1Sha256) => &rsa.verify_pkcs1,
            (ParsedKey::Ec(ec), SignAlg::EcdsaSha256) => &ec.verify,
            _ => return Err(KmsError::internal()),
        };
        let value = public.verify_digest_sig(&digest, &req.signature).is_ok();
        Ok(proto::VerifyResponse {
            key_id: key.key_id.clone(),
            value,
            algorithm: alg.as_str().to_owned(),
            message_type: message_type.to_owned(),
            ..Default::default()
        })
    }

    pub(crate) fn get_public_key(
        &self,
        req: proto::GetPublicKeyRequest,
    ) -> Result<proto::GetPublicKeyResponse, KmsError> {
        let (key, parsed) = self.signing_key("GetPublicKey", &req.key_id)?;
        let spki = match &*parsed {
            ParsedKey::Rsa(rsa) => &rsa.spki,
            ParsedKey::Ec(ec) => &ec.spki,
            ParsedKey::Aes(_) => return Err(KmsError::internal()),
        };
        Ok(proto::GetPublicKeyResponse {
            key_id: key.key_id.clone(),
            public_key: pem_encode("PUBLIC KEY", spki),
            ..Default::default()
        })
    }
}
