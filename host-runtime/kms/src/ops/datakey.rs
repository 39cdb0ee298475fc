//! GenerateDataKey and the data-key-pair operations: fresh material returned in the clear and
//! sealed under a symmetric key (initial version; primary version for the Advance variants).

use zeroize::Zeroizing;

use super::{Sealed, ALG_AES_GCM};
use crate::keyring::{KeyRecord, KeyRing, KeySpec};
use crate::material::{generate_material, pem_encode, public_key_der};
use crate::proto;
use crate::{InstanceApi, KmsError};

/// `NumberOfBytes` when the request leaves it out.
const DEFAULT_DATA_KEY_BYTES: i32 = 32;
const MAX_DATA_KEY_BYTES: i32 = 1024;

/// Key pair specs the service offers but this backend does not generate.
const UNIMPLEMENTED_PAIR_SPECS: [&str; 2] = ["EC_P256K", "EC_SM2"];

fn data_key_len(number_of_bytes: i32) -> Result<usize, KmsError> {
    let n = if number_of_bytes == 0 { DEFAULT_DATA_KEY_BYTES } else { number_of_bytes };
    if !(1..=MAX_DATA_KEY_BYTES).contains(&n) {
        return Err(KmsError::invalid(format!(
            "The NumberOfBytes must be between 1 and {MAX_DATA_KEY_BYTES}; got {number_of_bytes}."
        )));
    }
    usize::try_from(n).map_err(|_| KmsError::internal())
}

fn require_gcm_algorithm(alg: &str) -> Result<(), KmsError> {
    match alg {
        "" | ALG_AES_GCM => Ok(()),
        other => Err(KmsError::unsupported(format_args!(
            "Data keys are sealed with {ALG_AES_GCM} only; Algorithm \"{other}\" is not supported."
        ))),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyFormat {
    Pem,
    Der,
}

fn key_format(s: &str) -> Result<KeyFormat, KmsError> {
    match s {
        "" | "PEM" => Ok(KeyFormat::Pem),
        "DER" => Ok(KeyFormat::Der),
        other => Err(KmsError::invalid(format!("The KeyFormat \"{other}\" is invalid; use PEM or DER."))),
    }
}

fn pair_spec(s: &str) -> Result<KeySpec, KmsError> {
    if s.is_empty() {
        return Err(KmsError::missing("KeyPairSpec"));
    }
    if UNIMPLEMENTED_PAIR_SPECS.contains(&s) {
        return Err(KmsError::unsupported(format_args!("KeyPairSpec {s} is not supported by this instance.")));
    }
    match KeySpec::parse(s) {
        Some(spec) if !spec.is_symmetric() => Ok(spec),
        _ => Err(KmsError::invalid(format!("The KeyPairSpec \"{s}\" is invalid; use RSA_2048, RSA_3072 or EC_P256."))),
    }
}

/// A generated key pair, encoded as asked, with its private key sealed.
struct DataKeyPair {
    private_plaintext: Zeroizing<Vec<u8>>,
    sealed: Sealed,
    public_key: Vec<u8>,
}

impl<K: KeyRing> InstanceApi<K> {
    fn data_key(
        &self,
        key: &KeyRecord,
        version_id: &str,
        number_of_bytes: i32,
        aad: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, Sealed), KmsError> {
        let mut plaintext = Zeroizing::new(vec![0u8; data_key_len(number_of_bytes)?]);
        aws_lc_rs::rand::fill(&mut plaintext).map_err(|_| KmsError::internal())?;
        let sealed = self.seal(key, version_id, &plaintext, aad, None)?;
        Ok((plaintext, sealed))
    }

    fn data_key_pair(
        &self,
        key: &KeyRecord,
        version_id: &str,
        spec: &str,
        format: &str,
        aad: &[u8],
    ) -> Result<(KeySpec, DataKeyPair), KmsError> {
        let spec = pair_spec(spec)?;
        let format = key_format(format)?;
        let pkcs8 = generate_material(spec)?;
        let spki = public_key_der(spec, &pkcs8)?;
        let (private_plaintext, public_key) = match format {
            KeyFormat::Der => (pkcs8, spki),
            KeyFormat::Pem => (
                Zeroizing::new(pem_encode("PRIVATE KEY", &pkcs8).into_bytes()),
                pem_encode("PUBLIC KEY", &spki).into_bytes(),
            ),
        };
        let sealed = self.seal(key, version_id, &private_plaintext, aad, None)?;
        Ok((spec, DataKeyPair { private_plaintext, sealed, public_key }))
    }

    pub(crate) fn generate_data_key(
        &self,
        req: proto::GenerateDataKeyRequest,
    ) -> Result<proto::GenerateDataKeyResponse, KmsError> {
        require_gcm_algorithm(&req.algorithm)?;
        let key = self.symmetric_key("GenerateDataKey", &req.key_id)?;
        let (plaintext, sealed) = self.data_key(&key, &key.initial_version_id, req.number_of_bytes, &req.aad)?;
        Ok(proto::GenerateDataKeyResponse {
            key_id: key.key_id.clone(),
            iv: sealed.iv.to_vec(),
            plaintext: plaintext.to_vec(),
            ciphertext_blob: sealed.blob,
            algorithm: ALG_AES_GCM.to_owned(),
            ..Default::default()
        })
    }

    pub(crate) fn advance_generate_data_key(
        &self,
        req: proto::AdvanceGenerateDataKeyRequest,
    ) -> Result<proto::AdvanceGenerateDataKeyResponse, KmsError> {
        let key = self.symmetric_key("AdvanceGenerateDataKey", &req.key_id)?;
        let (plaintext, sealed) = self.data_key(&key, &key.primary_version_id, req.number_of_bytes, &req.aad)?;
        Ok(proto::AdvanceGenerateDataKeyResponse {
            key_id: key.key_id.clone(),
            iv: sealed.iv.to_vec(),
            plaintext: plaintext.to_vec(),
            ciphertext_blob: sealed.blob,
            algorithm: ALG_AES_GCM.to_owned(),
            key_version_id: key.primary_version_id.clone(),
            ..Default::default()
        })
    }

    pub(crate) fn generate_data_key_pair(
        &self,
        req: proto::GenerateDataKeyPairRequest,
    ) -> Result<proto::GenerateDataKeyPairResponse, KmsError> {
        require_gcm_algorithm(&req.algorithm)?;
        let key = self.symmetric_key("GenerateDataKeyPair", &req.key_id)?;
        let (spec, pair) =
            self.data_key_pair(&key, &key.initial_version_id, &req.key_pair_spec, &req.key_format, &req.aad)?;
        Ok(proto::GenerateDataKeyPairResponse {
            key_id: key.key_id.clone(),
            iv: pair.sealed.iv.to_vec(),
            key_pair_spec: spec.as_str().to_owned(),
            private_key_plaintext: pair.private_plaintext.to_vec(),
            private_key_ciphertext_blob: pair.sealed.blob,
            public_key: pair.public_key,
            algorithm: ALG_AES_GCM.to_owned(),
            ..Default::default()
        })
    }

    pub(crate) fn generate_data_key_pair_without_plaintext(
        &self,
        req: proto::GenerateDataKeyPairWithoutPlaintextRequest,
    ) -> Result<proto::GenerateDataKeyPairWithoutPlaintextResponse, KmsError> {
        require_gcm_algorithm(&req.algorithm)?;
        let key = self.symmetric_key("GenerateDataKeyPairWithoutPlaintext", &req.key_id)?;
        let (spec, pair) =
            self.data_key_pair(&key, &key.initial_version_id, &req.key_pair_spec, &req.key_format, &req.aad)?;
        Ok(proto::GenerateDataKeyPairWithoutPlaintextResponse {
            key_id: key.key_id.clone(),
            iv: pair.sealed.iv.to_vec(),
            key_pair_spec: spec.as_str().to_owned(),
            private_key_ciphertext_blob: pair.sealed.blob,
            public_key: pair.public_key,
            algorithm: ALG_AES_GCM.to_owned(),
            ..Default::default()
        })
    }

    pub(crate) fn advance_generate_data_key_pair(
        &self,
        req: proto::AdvanceGenerateDataKeyPairRequest,
    ) -> Result<proto::AdvanceGenerateDataKeyPairResponse, KmsError> {
        let key = self.symmetric_key("AdvanceGenerateDataKeyPair", &req.key_id)?;
        let (spec, pair) =
            self.data_key_pair(&key, &key.primary_version_id, &req.key_pair_spec, &req.key_format, &req.aad)?;
        Ok(proto::AdvanceGenerateDataKeyPairResponse {
            key_id: key.key_id.clone(),
            iv: pair.sealed.iv.to_vec(),
            key_pair_spec: spec.as_str().to_owned(),
            private_key_plaintext: pair.private_plaintext.to_vec(),
            private_key_ciphertext_blob: pair.sealed.blob,
            public_key: pair.public_key,
            algorithm: ALG_AES_GCM.to_owned(),
            key_version_id: key.primary_version_id.clone(),
            ..Default::default()
        })
    }

    pub(crate) fn advance_generate_data_key_pair_without_plaintext(
        &self,
        req: proto::AdvanceGenerateDataKeyPairWithoutPlaintextRequest,
    ) -> Result<proto::AdvanceGenerateDataKeyPairWithoutPlaintextResponse, KmsError> {
        let key = self.symmetric_key("AdvanceGenerateDataKeyPairWithoutPlaintext", &req.key_id)?;
        let (spec, pair) =
            self.data_key_pair(&key, &key.primary_version_id, &req.key_pair_spec, &req.key_format, &req.aad)?;
        Ok(proto::AdvanceGenerateDataKeyPairWithoutPlaintextResponse {
            key_id: key.key_id.clone(),
            iv: pair.sealed.iv.to_vec(),
            key_pair_spec: spec.as_str().to_owned(),
            private_key_ciphertext_blob: pair.sealed.blob,
            public_key: pair.public_key,
            algorithm: ALG_AES_GCM.to_owned(),
            key_version_id: key.primary_version_id.clone(),
            ..Default::default()
        })
    }
}
