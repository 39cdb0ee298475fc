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
    pub(crate) cache: Arc<KeyCache>,
    /// `Some` on the server's request path: what the enforcer allowed, the only resource this
    /// call may use. `None` for direct library use (tests, tools), where the caller is trusted.
    pub(crate) authorized: Option<AuthorizedResource>,
    /// The key version whose material the call used (the `x-kms-migrationkeyversionid` response
    /// header); per call on the server's path.
    used_version: std::sync::Mutex<Option<String>>,
}

/// What an enforcer allowed, in the form the handler executes it: the resource resolved when the
/// decision was made, and the configuration generation it was made under.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Authorized {
    /// `Gateway.Generation` of the bundle the decision was made under (`None`: the bundle had none).
    pub generation: Option<u64>,
    pub resource: AuthorizedResource,
}

/// The resource of an allowed call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AuthorizedResource {
    /// Nothing: enough for GenerateRandom only.
    #[default]
    None,
    /// A key (aliases resolved), and the key version when the request named one (a blob's).
    Key { key_id: String, version_id: Option<String> },
    /// A secret and the encryption key the decision covered.
    Secret { name: String, key_id: String },
}

/// The parsed-key cache, shared by the per-request [`InstanceApi`] views of one server.
#[derive(Clone, Default)]
pub struct SharedKeyCache(Arc<KeyCache>);

impl SharedKeyCache {
    /// Drops all cached parsed keys (a key version was removed or replaced).
    pub fn clear(&self) {
        self.0.clear();
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }
}

/// What serving an allowed call costs, known before it runs: from the API and the key the decision
/// resolved. The server runs quick calls where they were decided, the others on its work pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallCost {
    /// Microseconds, nothing to wait for: AES-256-GCM keys, secrets, randomness, and calls that
    /// fail before any crypto (an unknown key, an unknown API).
    Quick,
    /// Up to milliseconds: any call on an asymmetric key (RSA private-key operations, a first
    /// use that parses the key).
    Asymmetric,
    /// Hundreds of milliseconds: key-pair generation (GenerateDataKeyPair and its variants).
    KeyPairGeneration,
}

/// The [`CallCost`] of `api_name` on `resource` in `keyring`.
pub fn call_cost<K: KeyRing + ?Sized>(keyring: &K, api_name: &str, resource: &AuthorizedResource) -> CallCost {
    use policy_core::{Api, QpsGroup};
    let Some(api) = Api::from_name(api_name) else { return CallCost::Quick };
    if api.qps_group(None) == QpsGroup::DataKeyPair {
        return CallCost::KeyPairGeneration;
    }
    let key_id = match resource {
        AuthorizedResource::Key { key_id, .. } | AuthorizedResource::Secret { key_id, .. } => key_id,
        AuthorizedResource::None => return CallCost::Quick,
    };
    match keyring.resolve_key(key_id) {
        Ok(Some(key)) if !key.spec.is_symmetric() => CallCost::Asymmetric,
        _ => CallCost::Quick,
    }
}

/// A decision and the key ring it is acted on do not agree: a server fault, never the caller's.
pub(crate) fn mismatch(what: std::fmt::Arguments<'_>) -> KmsError {
    eprintln!("aapkit: refusing a call whose decision and key ring disagree: {what}");
    KmsError::internal()
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
        InstanceApi { keyring, cache: Arc::default(), authorized: None, used_version: Default::default() }
    }

    /// The view one allowed request runs through: only `authorized` may be used, on `keyring`
    /// (the snapshot the decision was made in); parsed keys come from `cache`.
    pub fn authorized(keyring: K, cache: &SharedKeyCache, authorized: AuthorizedResource) -> Self {
        InstanceApi {
            keyring,
            cache: Arc::clone(&cache.0),
            authorized: Some(authorized),
            used_version: Default::default(),
        }
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

    /// An existing key in state `Enabled`, by id or alias. On the server's path it is the key the
    /// decision named, and the request's reference must name that same key in this key ring.
    pub(crate) fn enabled_key(&self, key_id: &str) -> Result<Arc<KeyRecord>, KmsError> {
        if key_id.is_empty() {
            return Err(KmsError::missing("KeyId"));
        }
        let key = match &self.authorized {
            None => self.keyring.resolve_key(key_id)?.ok_or_else(KmsError::key_not_found)?,
            Some(AuthorizedResource::Key { key_id: allowed, .. }) => {
                // By id, never by the alias: the alias may point elsewhere by now.
                let key = self.keyring.resolve_key(allowed)?.filter(|k| k.key_id == *allowed);
                let named = self.keyring.resolve_key(key_id)?;
                match (key, named) {
                    (Some(key), Some(named)) if named.key_id == key.key_id => key,
                    _ => {
                        return Err(mismatch(format_args!(
                            "the decision allowed {allowed}, the request names {key_id}"
                        )))
                    }
                }
            }
            Some(other) => return Err(mismatch(format_args!("a key call was allowed for {other:?}"))),
        };
        check_enabled(&key)?;
        Ok(key)
    }

    /// The key that owns a blob's key version, when the request named no KeyId. On the server's
    /// path the version must be the one the decision was made on, and belong to its key.
    pub(crate) fn key_of_version(&self, version_id: &str) -> Result<Arc<KeyRecord>, KmsError> {
        let key = self.keyring.key_by_version(version_id)?;
        match &self.authorized {
            None => key.ok_or_else(KmsError::key_not_found),
            Some(AuthorizedResource::Key { key_id, version_id: Some(allowed) })
                if allowed == version_id && key.as_ref().is_some_and(|k| k.key_id == *key_id) =>
            {
                key.ok_or_else(KmsError::internal)
            }
            Some(other) => {
                Err(mismatch(format_args!("the decision allowed {other:?}, the blob names version {version_id}")))
            }
        }
    }

    /// An enabled symmetric key, for an operation (`api`) that needs one.
    pub(crate) fn symmetric_key(&self, api: &str, key_id: &str) -> Result<Arc<KeyRecord>, KmsError> {
        let key = self.enabled_key(key_id)?;
        if !key.spec.is_symmetric() {
            return Err(KmsError::wrong_key_type(api, key.spec));
        }
        Ok(key)
    }

    /// An enabled asymmetric key, for an operation (`api`) that needs one.
    pub(crate) fn asymmetric_key(&self, api: &str, key_id: &str) -> Result<Arc<KeyRecord>, KmsError> {
        let key = self.enabled_key(key_id)?;
        if key.spec.is_symmetric() {
            return Err(KmsError::wrong_key_type(api, key.spec));
        }
        Ok(key)
    }

    /// The parsed (cached) key of one version of `key`.
    /// Every use of key material goes through here: on the server's path it is the last check
    /// that the key (and the version, when the decision named one) is the authorized one.
    pub(crate) fn parsed(&self, key: &KeyRecord, version_id: &str) -> Result<Arc<ParsedKey>, KmsError> {
        match &self.authorized {
            None => {}
            Some(AuthorizedResource::Key { key_id, version_id: allowed })
                if *key_id == key.key_id && allowed.as_ref().is_none_or(|v| v == version_id) => {}
            Some(other) => {
                return Err(mismatch(format_args!(
                    "the decision allowed {other:?}, the call uses {} version {version_id}",
                    key.key_id
                )))
            }
        }
        // The key ring named this version as initial/primary or found the key by it: it must exist.
        let version = key.version(version_id).ok_or_else(KmsError::internal)?;
        let parsed = self.cache.get(key.spec, version)?;
        *self.used_version.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(version_id.to_owned());
        Ok(parsed)
    }

    /// [`InstanceApi::handle`], also returning the key version the call used (none for
    /// GenerateRandom and GetSecretValue): what the gateway reports in `x-kms-migrationkeyversionid`.
    pub fn handle_reporting(
        &self,
        api_name: &str,
        body: &[u8],
        request_id: &str,
    ) -> Result<(Vec<u8>, Option<String>), KmsError> {
        *self.used_version.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        let out = self.handle(api_name, body, request_id)?;
        let used = self.used_version.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        Ok((out, used))
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
