//! GenerateRandom and GetSecretValue.

use base64::Engine;

use crate::api::{check_enabled, mismatch, AuthorizedResource};
use crate::keyring::{KeyRing, SecretDataType};
use crate::proto;
use crate::{InstanceApi, KmsError};

const MAX_RANDOM_LEN: i32 = 1024;
const DEFAULT_STAGE: &str = "ACSCurrent";

impl<K: KeyRing> InstanceApi<K> {
    pub(crate) fn generate_random(
        &self,
        req: proto::GenerateRandomRequest,
    ) -> Result<proto::GenerateRandomResponse, KmsError> {
        if !(1..=MAX_RANDOM_LEN).contains(&req.length) {
            return Err(KmsError::invalid(format!(
                "The Length must be between 1 and {MAX_RANDOM_LEN}; got {}.",
                req.length
            )));
        }
        let mut random = vec![0u8; usize::try_from(req.length).map_err(|_| KmsError::internal())?];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| KmsError::internal())?;
        Ok(proto::GenerateRandomResponse { random, ..Default::default() })
    }

    /// A secret version by `VersionId`, else by `VersionStage` (default `ACSCurrent`). When both
    /// are given the version must carry the stage. The secret's encryption key must be enabled.
    pub(crate) fn get_secret_value(
        &self,
        req: proto::GetSecretValueRequest,
    ) -> Result<proto::GetSecretValueResponse, KmsError> {
        if req.secret_name.is_empty() {
            return Err(KmsError::missing("SecretName"));
        }
        let version_id = Some(req.version_id.as_str()).filter(|v| !v.is_empty());
        let stage = Some(req.version_stage.as_str()).filter(|s| !s.is_empty());
        // The key ring looks up by id when there is one, else by stage.
        let lookup_stage = if version_id.is_some() { None } else { Some(stage.unwrap_or(DEFAULT_STAGE)) };
        let secret = self
            .keyring
            .secret_value(&req.secret_name, version_id, lookup_stage)?
            .ok_or_else(KmsError::secret_not_found)?;
        if let (Some(_), Some(stage)) = (version_id, stage) {
            if !secret.stages.iter().any(|s| s == stage) {
                return Err(KmsError::secret_not_found());
            }
        }
        match &self.authorized {
            None => {}
            // The secret and its encryption key are the ones the decision covered; the key is
            // the decision's, never looked up again from the secret.
            Some(AuthorizedResource::Secret { name, key_id })
                if *name == secret.secret_name && *key_id == secret.encryption_key_id => {}
            Some(other) => {
                return Err(mismatch(format_args!(
                    "the decision allowed {other:?}, the call reads secret {} under key {}",
                    secret.secret_name, secret.encryption_key_id
                )))
            }
        }
        if !secret.encryption_key_id.is_empty() {
            let key = self.keyring.resolve_key(&secret.encryption_key_id)?.ok_or_else(KmsError::key_not_found)?;
            if key.key_id != secret.encryption_key_id {
                // An id that is also an alias name cannot happen (aliases start with `alias/`).
                return Err(KmsError::internal());
            }
            check_enabled(&key)?;
        }
        let secret_data = match secret.data_type {
            SecretDataType::Text => String::from_utf8(secret.data.to_vec()).map_err(|_| KmsError::internal())?,
            SecretDataType::Binary => base64::engine::general_purpose::STANDARD.encode(&*secret.data),
        };
        Ok(proto::GetSecretValueResponse {
            secret_name: secret.secret_name.clone(),
            secret_type: secret.secret_type.clone(),
            secret_data,
            secret_data_type: secret.data_type.as_str().to_owned(),
            version_stages: secret.stages.clone(),
            version_id: secret.version_id.clone(),
            create_time: secret.create_time.clone(),
            ..Default::default()
        })
    }
}
