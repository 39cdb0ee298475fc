//! Facts of the request path that every enforcer shares: the filter in a proxy, the wasmtime host
//! and the native server read them from here, so they cannot drift apart.

/// The Instance API's body limit (reference §1.8): a larger body gets 413 with no error body.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Headers an enforcer sets on an allowed request for the upstream. Anything with this prefix
/// arriving from a client is dropped before the enforcer runs.
pub mod upstream_headers {
    pub const PREFIX: &str = "x-aapkit-";
    pub const AAP: &str = "x-aapkit-aap";
    pub const POLICY: &str = "x-aapkit-policy";
    pub const CLIENT_KEY: &str = "x-aapkit-client-key";
    /// The resolved resource (key id or secret name), so the upstream need not parse the body again.
    pub const RESOURCE: &str = "x-aapkit-resource";
    /// The QPS group of the request (`QpsGroup::name`).
    pub const QPS_GROUP: &str = "x-aapkit-qps-group";
    /// The key version the request named (a Decrypt blob's), when it named one: the upstream
    /// must use exactly this version.
    pub const KEY_VERSION: &str = "x-aapkit-key-version";
    /// For GetSecretValue: the secret's encryption key id the decision covered.
    pub const SECRET_KEY: &str = "x-aapkit-secret-key";
    /// `Gateway.Generation` of the bundle the decision was made under (absent when the bundle
    /// has none): the upstream acts only on a key ring of the same generation.
    pub const GENERATION: &str = "x-aapkit-generation";
}
