//! Facts of the request path that every enforcer shares: the filter in a proxy, the wasmtime host
//! and the native server read them from here, so they cannot drift apart.

/// The Instance API's body limit (`docs/protocol.md#request-limits`): a larger body gets 413 with
/// no error body.
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

/// Properties the filter sets on a denied request with `proxy_set_property`, for the proxy's
/// own records and never for the client: in Envoy they are filter state `wasm.<name>` (readable in
/// access logs as `%FILTER_STATE(wasm.aapkit.client_key:PLAIN)%`); the aapkit host reads them into
/// the audit log.
pub mod deny_properties {
    /// The client key id, set only when the request's signature verified.
    pub const CLIENT_KEY: &str = "aapkit.client_key";
    /// The operator's message: for a policy deny, the per-policy trace the caller is not told.
    pub const DETAIL: &str = "aapkit.deny_detail";
}
