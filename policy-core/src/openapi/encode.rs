//! Percent-encoding as the POP signatures use it, the matching decoder, and hex SHA-256.

use sha2::{Digest, Sha256};

use super::error::OpenApiSignatureError;

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// RFC 3986 §2.3 unreserved: kept as is by every encoder of the signatures.
pub(super) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// RFC 3986 percent-encoding as the POP signatures use it (unreserved kept, upper-case hex,
/// space = %20).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 2);
    push_percent_encoded(&mut out, s);
    out
}

pub(super) fn push_percent_encoded(out: &mut String, s: &str) {
    for &b in s.as_bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0x0f)]));
        }
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode_component(s: &str, base: usize, plus_is_space: bool) -> Result<String, OpenApiSignatureError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_val);
                let lo = bytes.get(i + 2).copied().and_then(hex_val);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(OpenApiSignatureError::InvalidPercentEncoding { offset: base + i });
                };
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| OpenApiSignatureError::NotUtf8)
}

/// Decodes one percent-encoded component (`%XX` in either case; `+` stays `+`). A `%` without
/// two hex digits, or a result that is not UTF-8, is an error: the server refuses the request
/// rather than sign over a guess.
pub fn percent_decode(s: &str) -> Result<String, OpenApiSignatureError> {
    decode_component(s, 0, false)
}

/// Decodes a query string or an `application/x-www-form-urlencoded` body into (name, value) pairs,
/// in order: `&` separates pairs (empty pieces are skipped), the first `=` separates name and
/// value (no `=`: empty value), `+` is a space, `%XX` a byte. Empty values are kept (they are
/// signed). Errors as [`percent_decode`].
pub fn decode_form_urlencoded(s: &str) -> Result<Vec<(String, String)>, OpenApiSignatureError> {
    let mut out = Vec::new();
    let mut offset = 0;
    for piece in s.split('&') {
        let start = offset;
        offset += piece.len() + 1;
        if piece.is_empty() {
            continue;
        }
        let (name, value, value_at) = match piece.split_once('=') {
            Some((n, v)) => (n, v, start + n.len() + 1),
            None => (piece, "", start + piece.len()),
        };
        out.push((decode_component(name, start, true)?, decode_component(value, value_at, true)?));
    }
    Ok(out)
}

/// Whether a `Content-Type` value is a form body (`application/x-www-form-urlencoded`, any
/// parameters and case): an RPC request's body parameters, which its signature covers too.
pub fn is_form_content_type(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|ct| ct.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// An RPC request's parameters as both signature schemes and every door read them: the query
/// (without `?`), then the form body when there is one (`form`), decoded in order, repeats kept.
pub fn decode_rpc_parameters(query: &str, form: Option<&[u8]>) -> Result<Vec<(String, String)>, OpenApiSignatureError> {
    let mut params = decode_form_urlencoded(query)?;
    if let Some(body) = form {
        let text = std::str::from_utf8(body).map_err(|_| OpenApiSignatureError::NotUtf8)?;
        params.extend(decode_form_urlencoded(text)?);
    }
    Ok(params)
}

/// Lower-case hex of the SHA-256 of `bytes` (ACS3's payload hash and string-to-sign digest).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex_lower(&Sha256::digest(bytes))
}

pub(super) fn hex_lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX_LOWER[usize::from(b >> 4)]));
        out.push(char::from(HEX_LOWER[usize::from(b & 0x0f)]));
    }
    out
}

/// Strict lower-case hex (what the SDK sends) to bytes; anything else is `None`.
pub(super) fn parse_hex_lower(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let lower = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    b.chunks_exact(2).map(|p| Some(lower(p[0])? << 4 | lower(p[1])?)).collect()
}
