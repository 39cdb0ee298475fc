//! ACS3-HMAC-SHA256 (signature v3): the `Authorization` header, the canonical request and the
//! HMAC (`docs/protocol.md#openapi-signatures`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::encode::{hex_lower, is_unreserved, parse_hex_lower, push_percent_encoded, sha256_hex};
use super::error::OpenApiSignatureError as E;

/// The algorithm name of an AccessKey-signed v3 request.
pub const ACS3_HMAC_SHA256: &str = "ACS3-HMAC-SHA256";

/// The headers a server should require in `SignedHeaders` (the official v3 documentation's
/// minimum; the SDKs sign these and more), so that the values it checks are signed.
pub const ACS3_REQUIRED_SIGNED_HEADERS: [&str; 6] =
    ["host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce", "x-acs-version"];

/// A parsed `Authorization: <algorithm> Credential=…,SignedHeaders=…,Signature=…` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acs3Authorization<'a> {
    /// `ACS3-HMAC-SHA256` for an AccessKey; the caller decides what it accepts.
    pub algorithm: &'a str,
    /// The AccessKey id.
    pub credential: &'a str,
    /// Lower-case header names, strictly increasing.
    pub signed_headers: Vec<&'a str>,
    /// Hex signature as sent.
    pub signature: &'a str,
}

/// RFC 9110 `tchar`, without upper-case letters (the SDK lower-cases names before signing).
fn is_lower_token_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=a;b,Signature=…` (tolerant of spaces after
/// commas, strict otherwise: each field once, names lower-case and sorted as SignedHeaders
/// requires).
pub fn parse_acs3_authorization(value: &str) -> Result<Acs3Authorization<'_>, E> {
    let (algorithm, rest) = value.split_once(' ').ok_or(E::AuthorizationMalformed)?;
    if algorithm.is_empty() || !algorithm.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(E::AuthorizationMalformed);
    }
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim_start_matches(' ');
        let Some((name, v)) = part.split_once('=') else {
            return Err(E::AuthorizationFieldMalformed { field: part.chars().take(64).collect() });
        };
        let slot = match name {
            "Credential" => (&mut credential, "Credential"),
            "SignedHeaders" => (&mut signed, "SignedHeaders"),
            "Signature" => (&mut signature, "Signature"),
            _ => return Err(E::UnknownAuthorizationField { field: name.chars().take(64).collect() }),
        };
        if slot.0.is_some() {
            return Err(E::DuplicateAuthorizationField { field: slot.1 });
        }
        if v.is_empty() {
            return Err(E::EmptyAuthorizationField { field: slot.1 });
        }
        if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(E::AuthorizationFieldMalformed { field: slot.1.into() });
        }
        *slot.0 = Some(v);
    }
    let credential = credential.ok_or(E::MissingAuthorizationField { field: "Credential" })?;
    let signed = signed.ok_or(E::MissingAuthorizationField { field: "SignedHeaders" })?;
    let signature = signature.ok_or(E::MissingAuthorizationField { field: "Signature" })?;

    let mut signed_headers: Vec<&str> = Vec::new();
    for name in signed.split(';') {
        if name.is_empty() || !name.bytes().all(is_lower_token_byte) {
            return Err(E::InvalidSignedHeader { name: name.chars().take(64).collect() });
        }
        if name == "authorization" {
            return Err(E::AuthorizationHeaderSigned);
        }
        if signed_headers.last().is_some_and(|prev| *prev >= name) {
            return Err(E::SignedHeadersNotSorted { name: name.into() });
        }
        signed_headers.push(name);
    }
    Ok(Acs3Authorization { algorithm, credential, signed_headers, signature })
}

/// Python's `str.strip()` whitespace: Unicode `White_Space` plus the separators U+001C..U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The canonical request. `query`: decoded query parameters; `headers`: (lower-case name, value) as
/// received (repeated names allowed); only the names in `signed_headers` are used; a signed header
/// that is absent → error. `payload_sha256_hex`: the hex SHA-256 of the raw body (the server
/// computes it).
pub fn acs3_canonical_request(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    signed_headers: &[&str],
    payload_sha256_hex: &str,
) -> Result<String, E> {
    let mut out = String::with_capacity(512);
    out.push_str(method);
    out.push('\n');
    out.push_str(if path.is_empty() { "/" } else { path });
    out.push('\n');

    let mut sorted: Vec<(&str, &str)> = query.to_vec();
    if let Some((name, _)) = sorted.iter().find(|(k, _)| k.is_empty() || !k.bytes().all(is_unreserved)) {
        return Err(E::InvalidParameterName { name: name.chars().take(64).collect() });
    }
    sorted.sort_unstable();
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        // Names are unreserved (checked above), so writing them raw is what the SDK does.
        out.push_str(k);
        out.push('=');
        push_percent_encoded(&mut out, v);
    }
    out.push('\n');

    let mut values: Vec<&str> = Vec::new();
    for name in signed_headers {
        values.clear();
        values.extend(
            headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim_matches(is_py_space)),
        );
        if values.is_empty() {
            return Err(E::MissingSignedHeader { name: name.chars().take(64).collect() });
        }
        values.sort_unstable();
        out.push_str(name);
        out.push(':');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(v);
        }
        out.push('\n');
    }
    out.push('\n');
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    out.push_str(payload_sha256_hex);
    Ok(out)
}

/// `algorithm + "\n" + hex(SHA-256(canonical_request))`.
pub fn acs3_string_to_sign(algorithm: &str, canonical_request: &str) -> String {
    let mut out = String::with_capacity(algorithm.len() + 65);
    out.push_str(algorithm);
    out.push('\n');
    out.push_str(&sha256_hex(canonical_request.as_bytes()));
    out
}

fn hmac_sha256(secret: &[u8], string_to_sign: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(string_to_sign.as_bytes());
    Some(mac)
}

/// hex(HMAC-SHA256(secret, string_to_sign)), constant-time compared with `signature_hex`
/// (lower-case hex, as the SDK sends it; anything else is a mismatch).
pub fn verify_acs3_hmac_sha256(secret: &[u8], string_to_sign: &str, signature_hex: &str) -> bool {
    let Some(sig) = parse_hex_lower(signature_hex) else {
        return false;
    };
    hmac_sha256(secret, string_to_sign).is_some_and(|mac| mac.verify_slice(&sig).is_ok())
}

/// The client's side of [`verify_acs3_hmac_sha256`]: lower-case hex of the HMAC. For tests,
/// benchmarks and tools; the server only verifies.
pub fn sign_acs3_hmac_sha256(secret: &[u8], string_to_sign: &str) -> String {
    hmac_sha256(secret, string_to_sign).map(|m| hex_lower(&m.finalize().into_bytes())).unwrap_or_default()
}
