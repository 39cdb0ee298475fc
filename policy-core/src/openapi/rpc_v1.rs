//! RPC signature v1 (`SignatureVersion=1.0`): the StringToSign shared by HMAC-SHA1 and
//! SHA256withRSA (`docs/protocol.md#openapi-signatures`).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::encode::push_percent_encoded;
use crate::{RsaPublicKey, SignatureVerifier};

/// `SignatureMethod` of an AccessKey-signed RPC v1 request.
pub const RPC_V1_HMAC_SHA1: &str = "HMAC-SHA1";
/// `SignatureMethod` of a client-key-signed RPC v1 request (with `SignatureType=PRIVATEKEY`).
pub const RPC_V1_SHA256_WITH_RSA: &str = "SHA256withRSA";
/// The only `SignatureVersion` of RPC v1.
pub const RPC_V1_SIGNATURE_VERSION: &str = "1.0";

/// RPC v1 (signature version 1.0): the StringToSign over the decoded parameters (query + form body
/// merged), `Signature` excluded, sorted by name (byte order; equal names by value).
///
/// `METHOD & %2F & enc(enc(n1)=enc(v1)&enc(n2)=enc(v2)…)` with `enc` = [`super::percent_encode`].
pub fn rpc_v1_string_to_sign(method: &str, params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params.iter().copied().filter(|(k, _)| *k != "Signature").collect();
    // `str` orders by bytes, which is the code-point order Python's `sorted` uses.
    sorted.sort_unstable();
    let mut canonical = String::new();
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            canonical.push('&');
        }
        push_percent_encoded(&mut canonical, k);
        canonical.push('=');
        push_percent_encoded(&mut canonical, v);
    }
    let mut out = String::with_capacity(method.len() + 5 + canonical.len() + canonical.len() / 2);
    out.push_str(method);
    out.push_str("&%2F&");
    push_percent_encoded(&mut out, &canonical);
    out
}

fn hmac_sha1(secret: &[u8], string_to_sign: &str) -> Option<Hmac<Sha1>> {
    // The key is the AccessKey secret followed by `&` (an empty token secret, from OAuth 1).
    let mut key = Vec::with_capacity(secret.len() + 1);
    key.extend_from_slice(secret);
    key.push(b'&');
    let mut mac = Hmac::<Sha1>::new_from_slice(&key).ok()?;
    mac.update(string_to_sign.as_bytes());
    Some(mac)
}

/// HMAC-SHA1 with key `secret + "&"`, compared in constant time with the base64 `signature`.
/// Malformed base64 or a wrong length is a mismatch.
pub fn verify_rpc_v1_hmac_sha1(secret: &[u8], string_to_sign: &str, signature_b64: &str) -> bool {
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(signature_b64) else {
        return false;
    };
    hmac_sha1(secret, string_to_sign).is_some_and(|mac| mac.verify_slice(&sig).is_ok())
}

/// The client's side of [`verify_rpc_v1_hmac_sha1`]: base64(HMAC-SHA1(secret + "&", string_to_sign)).
/// For tests, benchmarks and tools; the server only verifies.
pub fn sign_rpc_v1_hmac_sha1(secret: &[u8], string_to_sign: &str) -> String {
    let tag = hmac_sha1(secret, string_to_sign).map(|m| m.finalize().into_bytes().to_vec()).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(tag)
}

/// SHA256withRSA (RSASSA-PKCS1-v1_5 with SHA-256) over the StringToSign, with the client key's
/// public key, through the same verifier the Instance API uses. Malformed base64 is a mismatch.
pub fn verify_rpc_v1_sha256_with_rsa(
    verifier: &dyn SignatureVerifier,
    key: &RsaPublicKey,
    string_to_sign: &str,
    signature_b64: &str,
) -> bool {
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(signature_b64) else {
        return false;
    };
    verifier.verify_pkcs1v15_sha256(key, string_to_sign.as_bytes(), &sig)
}
