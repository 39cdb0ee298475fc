//! The Instance API entry point: decode the request, run the operation, encode the response.

use std::sync::Arc;

use prost::Message;

use super::cache::{KeyCache, ParsedKey};
use super::keyring::{KeyRecord, KeyRing, KeySpec};
use super::KmsError;
use crate::proto;
use policy_core::ErrorCode;

/// The KMS Instance API operations over a [`KeyRing`], with the native (aws-lc) crypto backend.
///
/// Authentication and authorization happen before this point (the filter); `handle` only serves
/// requests that were allowed.
pub struct InstanceApi<K: KeyRing> {
    pub(crate) keyring: K,
    pub(crate) cache: KeyCache,
}

/// Response messages carry the request id; one trait so the dispatcher can fill it in.
pub(crate) trait Response: Message {
    fn set_request_id(&mut self, id: String);
}

macro_rules! responses {
    ($($t:ident),* $(,)?) => {
        $(impl Response for proto::$t {
            fn set_request_id(&mut self, id: String) { self.request_id = id; }
        })*
    };
}

responses!(
    EncryptResponse,
    DecryptResponse,
    AdvanceEncryptResponse,
    AdvanceDecryptResponse,
    GenerateDataKeyResponse,
    AdvanceGenerateDataKeyResponse,
    GenerateDataKeyPairResponse,
    GenerateDataKeyPairWithoutPlaintextResponse,
    AdvanceGenerateDataKeyPairResponse,
    AdvanceGenerateDataKeyPairWithoutPlaintextResponse,
    SignResponse,
    VerifyResponse,
    GetPublicKeyResponse,
    GenerateRandomResponse,
    GetSecretValueResponse,
);

type Op<K, Req, Resp> = fn(&InstanceApi<K>, Req) -> Result<Resp, KmsError>;

impl<K: KeyRing> InstanceApi<K> {
    pub fn new(keyring: K) -> Self {
        InstanceApi { keyring, cache: KeyCache::default() }
    }

    pub fn keyring(&self) -> &K {
        &self.keyring
    }

    /// Drops all cached parsed keys. Call it when a key version is removed or replaced; state
    /// changes need no call (the state is read from the key ring on every request).
    pub fn invalidate(&self) {
        self.cache.clear();
    }

    /// How many parsed key versions are cached (for tests and metrics).
    pub fn cached_key_count(&self) -> usize {
        self.cache.len()
    }

    /// Runs one Instance API call: `api_name` is the `x-kms-apiname` header, `body` the protobuf
    /// request. Returns the encoded protobuf response with `RequestId` set to `request_id`.
    pub fn handle(&self, api_name: &str, body: &[u8], request_id: &str) -> Result<Vec<u8>, KmsError> {
        match api_name {
            "Encrypt" => self.run(body, request_id, Self::encrypt),
            "Decrypt" => self.run(body, request_id, Self::decrypt),
            "AdvanceEncrypt" => self.run(body, request_id, Self::advance_encrypt),
            "AdvanceDecrypt" => self.run(body, request_id, Self::advance_decrypt),
            "GenerateDataKey" => self.run(body, request_id, Self::generate_data_key),
            "AdvanceGenerateDataKey" => self.run(body, request_id, Self::advance_generate_data_key),
            "GenerateDataKeyPair" => self.run(body, request_id, Self::generate_data_key_pair),
            "GenerateDataKeyPairWithoutPlaintext" => {
                self.run(body, request_id, Self::generate_data_key_pair_without_plaintext)
            }
            "AdvanceGenerateDataKeyPair" => self.run(body, request_id, Self::advance_generate_data_key_pair),
            "AdvanceGenerateDataKeyPairWithoutPlaintext" => {
                self.run(body, request_id, Self::advance_generate_data_key_pair_without_plaintext)
            }
            "Sign" => self.run(body, request_id, Self::sign),
            "Verify" => self.run(body, request_id, Self::verify),
            "GetPublicKey" => self.run(body, request_id, Self::get_public_key),
            "GenerateRandom" => self.run(body, request_id, Self::generate_random),
            "GetSecretValue" => self.run(body, request_id, Self::get_secret_value),
            // Removed from the SDKs in 2023; the message is still in the descriptor.
            "Hmac" => Err(KmsError::unsupported("Hmac is not supported.")),
            other => Err(KmsError::new(ErrorCode::InvalidApiName, format!("The ApiName \"{other}\" is invalid."))),
        }
    }

    fn run<Req, Resp>(&self, body: &[u8], request_id: &str, op: Op<K, Req, Resp>) -> Result<Vec<u8>, KmsError>
    where
        Req: Message + Default,
        Resp: Response,
    {
        let req = Req::decode(body)
            .map_err(|e| KmsError::invalid(format!("The request body is not a valid protobuf message: {e}")))?;
        let mut resp = op(self, req)?;
        resp.set_request_id(request_id.to_owned());
        Ok(resp.encode_to_vec())
    }

    /// An existing key in state `Enabled`, by id or alias.
    pub(crate) fn enabled_key(&self, key_id: &str) -> Result<KeyRecord, KmsError> {
        if key_id.is_empty() {
            return Err(KmsError::missing("KeyId"));
        }
        let key = self.keyring.resolve_key(key_id)?.ok_or_else(KmsError::key_not_found)?;
        check_enabled(&key)?;
        Ok(key)
    }

    /// An enabled symmetric key, for an operation (`api`) that needs one.
    pub(crate) fn symmetric_key(&self, api: &str, key_id: &str) -> Result<KeyRecord, KmsError> {
        let key = self.enabled_key(key_id)?;
        if !key.spec.is_symmetric() {
            return Err(KmsError::wrong_key_type(api, key.spec));
        }
        Ok(key)
    }

    /// An enabled asymmetric key, for an operation (`api`) that needs one.
    pub(crate) fn asymmetric_key(&self, api: &str, key_id: &str) -> Result<KeyRecord, KmsError> {
        let key = self.enabled_key(key_id)?;
        if key.spec.is_symmetric() {
            return Err(KmsError::wrong_key_type(api, key.spec));
        }
        Ok(key)
    }

    /// The parsed (cached) key of one version of `key`.
    pub(crate) fn parsed(&self, key: &KeyRecord, version_id: &str) -> Result<Arc<ParsedKey>, KmsError> {
        // The key ring named this version as initial/primary or found the key by it: it must exist.
        let version = key.version(version_id).ok_or_else(KmsError::internal)?;
        self.cache.get(key.spec, version)
    }
}

pub(crate) fn check_enabled(key: &KeyRecord) -> Result<(), KmsError> {
    match KmsError::for_state(key.state) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `RSA_2048`/`RSA_3072`: the key specs with RSA operations.
pub(crate) fn is_rsa(spec: KeySpec) -> bool {
    matches!(spec, KeySpec::Rsa2048 | KeySpec::Rsa3072)
}
