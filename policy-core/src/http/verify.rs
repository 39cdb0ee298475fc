//! Verification of a signed Instance API request, in the server's order of checks
//! (see `docs/bundle-format.md`, "Request verification").

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::string_to_sign::{HttpRequestView, SignedHeaders};
use crate::catalogue::Api;
use crate::compiled::{CKey, CompiledBundle};
use crate::crypto::SignatureVerifier;
use crate::decide::DenyReason;
use crate::time::{parse_rfc1123, UnixTime};

/// The only `x-kms-apiversion`.
pub const API_VERSION: &str = "dkms-gcs-0.2";
/// The only `x-kms-signaturemethod`.
pub const SIGNATURE_METHOD: &str = "RSA_PKCS1_SHA_256";
/// The only accepted `content-type`.
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// A request whose signature verified.
#[derive(Clone, Copy)]
pub struct VerifiedRequest<'a> {
    /// The client key id (borrowed from the bundle).
    pub client_key_id: &'a str,
    /// The operation.
    pub api: Api,
    /// The request's `date`.
    pub date: UnixTime,
    pub(crate) key: &'a CKey,
}

impl core::fmt::Debug for VerifiedRequest<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VerifiedRequest")
            .field("client_key_id", &self.client_key_id)
            .field("api", &self.api)
            .field("date", &self.date)
            .finish()
    }
}

fn upper_hex_eq(digest: &[u8], header: &str) -> bool {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let h = header.as_bytes();
    h.len() == digest.len() * 2
        && digest.iter().zip(h.chunks_exact(2)).all(|(b, pair)| match pair {
            [hi, lo] => {
                HEX.get(usize::from(b >> 4)).is_some_and(|c| c.eq_ignore_ascii_case(hi))
                    && HEX.get(usize::from(b & 15)).is_some_and(|c| c.eq_ignore_ascii_case(lo))
            }
            _ => false,
        })
}

/// Verifies the request's headers and signature. The first failing check decides the error.
pub fn verify_request<'a>(
    b: &'a CompiledBundle,
    req: &HttpRequestView<'a>,
    now: UnixTime,
    verifier: &dyn SignatureVerifier,
) -> Result<VerifiedRequest<'a>, DenyReason<'a>> {
    // Signed headers, and the ones that say what is signed, must not appear twice.
    let h = SignedHeaders::gather(req);
    if let Some(name) = h.duplicate() {
        return Err(DenyReason::DuplicateHeader(name));
    }
    let key_id = h.access_key_id.map(str::trim).filter(|s| !s.is_empty());
    let Some(key_id) = key_id else { return Err(DenyReason::MissingAccessKeyId) };
    let version = h.api_version.map_or("", str::trim);
    if version != API_VERSION {
        return Err(DenyReason::InvalidApiVersion(version));
    }
    let name = h.api_name.map_or("", str::trim);
    let Some(api) = Api::from_name(name) else { return Err(DenyReason::InvalidApiName(name)) };
    match h.signature_method.map(str::trim) {
        None | Some("") => return Err(DenyReason::SignatureMethodMissing),
        Some(SIGNATURE_METHOD) => {}
        Some(other) => return Err(DenyReason::SignatureMethodUnsupported(other)),
    }
    let ct = h.content_type.map_or("", str::trim);
    if !ct.eq_ignore_ascii_case(CONTENT_TYPE) {
        return Err(DenyReason::InvalidContentType(ct));
    }
    let digest = Sha256::digest(req.body);
    if !h.content_sha256.is_some_and(|h| upper_hex_eq(&digest, h.trim())) {
        return Err(DenyReason::ContentSha256Mismatch);
    }
    let Some(date) = h.date.and_then(|d| parse_rfc1123(d.trim())) else {
        return Err(DenyReason::InvalidDate);
    };
    let window = b.max_skew_seconds();
    if date.abs_diff(now) > u64::from(window) {
        return Err(DenyReason::RequestTimeTooSkewed { date, now, window });
    }
    let auth = h.authorization.map_or("", str::trim);
    let mut sig = [0u8; 1024];
    let sig_len = auth
        .strip_prefix("Bearer ")
        .filter(|s| !s.is_empty())
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode_slice(s.trim(), &mut sig).ok());
    let Some(sig) = sig_len.and_then(|n| sig.get(..n)) else { return Err(DenyReason::InvalidAuthorization) };
    let Some(key) = b.client_key(key_id) else { return Err(DenyReason::UnknownClientKey(key_id)) };
    let msg = h.string_to_sign(req.method);
    if !verifier.verify_pkcs1v15_sha256(&key.public_key, msg.as_bytes(), sig) {
        return Err(DenyReason::SignatureNotMatch);
    }
    // The validity window only after the signature: a stranger learns nothing about it.
    if now < key.not_before {
        return Err(DenyReason::ClientKeyNotYetValid { id: &key.id, not_before: key.not_before });
    }
    if now > key.not_after {
        return Err(DenyReason::ClientKeyExpired { id: &key.id, not_after: key.not_after });
    }
    Ok(VerifiedRequest { client_key_id: &key.id, api, date, key })
}
