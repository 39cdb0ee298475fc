//! The protobuf wire format, written by hand (no protobuf library in the pure core or the
//! filter): varints, a field scanner, and the few messages aapkit encodes or decodes itself.
//!
//! - the Instance API's `Error {int32 StatusCode=1; string ErrorCode=2; string ErrorMessage=3;
//!   string RequestId=4}` body of every failed call (proto3: empty fields omitted);
//! - the arguments and result of the proxy-wasm foreign function `verify_signature`, in Envoy's
//!   layout, which the filter encodes and the host decodes (and the other way round).
//!
//! Decoding follows proto3 decoders: the last occurrence of a field wins, strings must be UTF-8,
//! groups and wire types 6/7 are refused.

use core::fmt;

use crate::blob::BlobError;

/// One field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// Why a body does not scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtoError {
    /// The body ends inside a varint, a length or a fixed field.
    Truncated { offset: usize },
    /// A varint longer than 10 bytes.
    VarintTooLong { offset: usize },
    /// Wire types 3/4 (groups), 6 and 7 are not accepted.
    BadWireType { offset: usize, wire_type: u8 },
    /// Field number 0 or above 2^29-1.
    BadFieldNumber { offset: usize },
    /// A known field came with another wire type than its declaration.
    WrongWireType { field: u32 },
    /// A string field is not UTF-8.
    InvalidUtf8 { field: u32 },
    /// The CiphertextBlob does not parse.
    Blob(BlobError),
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::Truncated { offset } => write!(f, "request body is truncated at byte {offset}"),
            ProtoError::VarintTooLong { offset } => write!(f, "request body has an over-long varint at byte {offset}"),
            ProtoError::BadWireType { offset, wire_type } => {
                write!(f, "request body has unsupported wire type {wire_type} at byte {offset}")
            }
            ProtoError::BadFieldNumber { offset } => {
                write!(f, "request body has an invalid field number at byte {offset}")
            }
            ProtoError::WrongWireType { field } => write!(f, "request field {field} has the wrong wire type"),
            ProtoError::InvalidUtf8 { field } => write!(f, "request field {field} is not valid UTF-8"),
            ProtoError::Blob(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ProtoError {}

/// Iterates over the fields of a message.
pub(crate) struct Scanner<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Scanner { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = *self.buf.get(self.pos).ok_or(ProtoError::Truncated { offset: self.pos })?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProtoError::VarintTooLong { offset: start })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        let end = self.pos.checked_add(n).ok_or(ProtoError::Truncated { offset: self.pos })?;
        let s = self.buf.get(self.pos..end).ok_or(ProtoError::Truncated { offset: self.pos })?;
        self.pos = end;
        Ok(s)
    }

    /// The next `(field number, value)`, `None` at the end.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, ProtoError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let at = self.pos;
        let tag = self.varint()?;
        let field = tag >> 3;
        if field == 0 || field > (1 << 29) - 1 {
            return Err(ProtoError::BadFieldNumber { offset: at });
        }
        let field = field as u32;
        let value = match (tag & 7) as u8 {
            0 => Value::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Fixed64(u64::from_le_bytes(a))
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| ProtoError::Truncated { offset: self.pos })?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                Value::Fixed32(u32::from_le_bytes(a))
            }
            wt => return Err(ProtoError::BadWireType { offset: at, wire_type: wt }),
        };
        Ok(Some((field, value)))
    }
}

/// Appends a varint (the encoders here, and tests and fuzz targets that build bodies, use it).
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a length-delimited field (bytes, a string or a message).
pub fn put_bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    put_varint(out, (u64::from(field) << 3) | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A decoded `Error` message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WireError {
    pub status_code: i32,
    pub error_code: String,
    pub error_message: String,
    pub request_id: String,
}

/// Encodes an `Error` body.
pub fn encode_error(status: i32, code: &str, msg: &str, request_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + code.len() + msg.len() + request_id.len());
    if status != 0 {
        put_varint(&mut out, 1 << 3);
        // int32 is sign-extended to 64 bits on the wire.
        put_varint(&mut out, i64::from(status) as u64);
    }
    for (field, s) in [(2u32, code), (3, msg), (4, request_id)] {
        if !s.is_empty() {
            put_bytes(&mut out, field, s.as_bytes());
        }
    }
    out
}

/// Encodes the body for an [`crate::ErrorCode`] with its HTTP status.
pub fn encode_error_code(code: crate::ErrorCode, msg: &str, request_id: &str) -> Vec<u8> {
    encode_error(i32::from(code.http_status()), code.as_str(), msg, request_id)
}

/// Decodes an `Error` body (unknown fields skipped, last occurrence wins).
pub fn decode_error(body: &[u8]) -> Result<WireError, ProtoError> {
    let mut e = WireError::default();
    let mut s = Scanner::new(body);
    while let Some((field, v)) = s.next_field()? {
        match (field, v) {
            (1, Value::Varint(x)) => e.status_code = x as i64 as i32,
            (2..=4, Value::Bytes(b)) => {
                let text = core::str::from_utf8(b).map_err(|_| ProtoError::InvalidUtf8 { field })?.to_owned();
                match field {
                    2 => e.error_code = text,
                    3 => e.error_message = text,
                    _ => e.request_id = text,
                }
            }
            (1..=4, _) => return Err(ProtoError::WrongWireType { field }),
            _ => {}
        }
    }
    Ok(e)
}

/// The name of the proxy-wasm foreign function the filter calls and the host registers.
pub const VERIFY_SIGNATURE_FUNCTION: &str = "verify_signature";

/// The `hash_function` the filter asks for (the only one the host implements).
pub const VERIFY_SIGNATURE_SHA256: &str = "sha256";

/// The arguments of the foreign function `verify_signature`, with Envoy's layout
/// (`source/extensions/common/wasm/ext/verify_signature.proto` in envoyproxy/envoy):
///
/// ```proto
/// message VerifySignatureArguments { string hash_function = 1; bytes public_key = 2;
///                                    bytes signature = 3; bytes text = 4; string public_key_pem = 5; }
/// ```
///
/// `public_key` is DER (SubjectPublicKeyInfo); the algorithm is RSA PKCS#1 v1.5 with the named hash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifySignatureArgs<'a> {
    pub hash_function: &'a [u8],
    pub public_key: &'a [u8],
    pub signature: &'a [u8],
    pub text: &'a [u8],
    pub public_key_pem: &'a [u8],
}

impl<'a> VerifySignatureArgs<'a> {
    /// The arguments for an RSA PKCS#1 v1.5 SHA-256 check of `text` under a DER key.
    pub fn sha256(public_key_der: &'a [u8], signature: &'a [u8], text: &'a [u8]) -> Self {
        VerifySignatureArgs {
            hash_function: VERIFY_SIGNATURE_SHA256.as_bytes(),
            public_key: public_key_der,
            signature,
            text,
            public_key_pem: &[],
        }
    }

    /// Encodes the message (empty fields omitted, as proto3 does).
    pub fn encode(&self) -> Vec<u8> {
        let fields = [self.hash_function, self.public_key, self.signature, self.text, self.public_key_pem];
        let mut out = Vec::with_capacity(fields.iter().map(|f| f.len() + 6).sum());
        for (field, value) in (1u32..).zip(fields) {
            if !value.is_empty() {
                put_bytes(&mut out, field, value);
            }
        }
        out
    }

    /// Decodes the message. Unknown fields, and known fields of another wire type, are skipped
    /// (as protobuf's C++ decoder does); a body that does not scan is an error.
    pub fn decode(buf: &'a [u8]) -> Result<Self, ProtoError> {
        let mut args = VerifySignatureArgs::default();
        let mut s = Scanner::new(buf);
        while let Some((field, v)) = s.next_field()? {
            if let Value::Bytes(b) = v {
                match field {
                    1 => args.hash_function = b,
                    2 => args.public_key = b,
                    3 => args.signature = b,
                    4 => args.text = b,
                    5 => args.public_key_pem = b,
                    _ => {}
                }
            }
        }
        Ok(args)
    }
}

/// The result of `verify_signature`: `message VerifySignatureResult { bool result = 1; string error = 2; }`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifySignatureResult<'a> {
    /// True only for a signature that verifies.
    pub result: bool,
    /// Why it does not (empty when it does).
    pub error: &'a str,
}

impl<'a> VerifySignatureResult<'a> {
    /// Encodes the message (`result` omitted when false, `error` when empty).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.error.len() + 8);
        if self.result {
            put_varint(&mut out, 1 << 3);
            put_varint(&mut out, 1);
        }
        if !self.error.is_empty() {
            put_bytes(&mut out, 2, self.error.as_bytes());
        }
        out
    }

    /// Decodes the message (unknown fields skipped; `error` must be UTF-8).
    pub fn decode(buf: &'a [u8]) -> Result<Self, ProtoError> {
        let mut r = VerifySignatureResult::default();
        let mut s = Scanner::new(buf);
        while let Some((field, v)) = s.next_field()? {
            match (field, v) {
                (1, Value::Varint(x)) => r.result = x != 0,
                (2, Value::Bytes(b)) => {
                    r.error = core::str::from_utf8(b).map_err(|_| ProtoError::InvalidUtf8 { field })?;
                }
                _ => {}
            }
        }
        Ok(r)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // `docs/protocol.md#error-responses`: Error{401,"SignatureNotMatch","Signature is not matched.","r1"}.
    const SAMPLE: &str =
        "08910312115369676e61747572654e6f744d617463681a195369676e6174757265206973206e6f74206d6174636865642e22027231";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn encodes_reference_sample() {
        let b = encode_error(401, "SignatureNotMatch", "Signature is not matched.", "r1");
        assert_eq!(b, hex(SAMPLE));
        let b = encode_error_code(crate::ErrorCode::SignatureNotMatch, "Signature is not matched.", "r1");
        assert_eq!(b, hex(SAMPLE));
    }

    #[test]
    fn decodes_reference_sample() {
        let e = decode_error(&hex(SAMPLE)).unwrap();
        assert_eq!(e.status_code, 401);
        assert_eq!(e.error_code, "SignatureNotMatch");
        assert_eq!(e.error_message, "Signature is not matched.");
        assert_eq!(e.request_id, "r1");
    }

    #[test]
    fn negative_status_and_empty_fields_round_trip() {
        let b = encode_error(-1, "", "m", "");
        let e = decode_error(&b).unwrap();
        assert_eq!((e.status_code, e.error_code.as_str(), e.error_message.as_str()), (-1, "", "m"));
        assert!(encode_error(0, "", "", "").is_empty());
        assert!(decode_error(&[0x12, 0x05, b'a']).is_err());
    }

    #[test]
    fn verify_signature_args_round_trip() {
        let args = VerifySignatureArgs::sha256(b"key", b"sig", b"text");
        let enc = args.encode();
        assert_eq!(enc, [&b"\x0a\x06sha256\x12\x03key\x1a\x03sig\x22\x04text"[..]].concat());
        assert_eq!(VerifySignatureArgs::decode(&enc).unwrap(), args);
        let long = vec![7u8; 300];
        let args = VerifySignatureArgs::sha256(&long, b"s", b"t");
        assert_eq!(VerifySignatureArgs::decode(&args.encode()).unwrap(), args);
    }

    #[test]
    fn verify_signature_args_malformed() {
        let enc = VerifySignatureArgs::sha256(b"key", b"sig", b"text").encode();
        for cut in 1..enc.len() {
            // Every strict prefix either decodes to fewer fields or fails; it never panics.
            let _ = VerifySignatureArgs::decode(&enc[..cut]);
        }
        assert!(VerifySignatureArgs::decode(&[0x0a, 0x05, b'a']).is_err());
        assert!(VerifySignatureArgs::decode(&[0x0b]).is_err()); // wire type 3
        assert!(VerifySignatureArgs::decode(&[0xff]).is_err());
        // Unknown fields and a known field of another wire type are skipped.
        let a = VerifySignatureArgs::decode(&[0x08, 0x01, 0x32, 0x01, b'x', 0x12, 0x01, b'k']).unwrap();
        assert_eq!(a.public_key, b"k");
        assert!(a.hash_function.is_empty());
    }

    #[test]
    fn verify_signature_results() {
        let ok = VerifySignatureResult { result: true, error: "" };
        assert_eq!(ok.encode(), [0x08, 0x01]);
        let bad = VerifySignatureResult { result: false, error: "bad" };
        assert_eq!(bad.encode(), [0x12, 0x03, b'b', b'a', b'd']);
        assert_eq!(VerifySignatureResult::decode(&ok.encode()).unwrap(), ok);
        assert_eq!(VerifySignatureResult::decode(&bad.encode()).unwrap(), bad);
        assert!(!VerifySignatureResult::decode(&[]).unwrap().result);
        assert!(!VerifySignatureResult::decode(&[0x08, 0x00]).unwrap().result);
        assert!(VerifySignatureResult::decode(&[0x08, 0x01, 0x12, 0x09]).is_err());
        assert!(VerifySignatureResult::decode(&[0x1a]).is_err());
        assert!(VerifySignatureResult::decode(&[0x12, 0x01, 0xff]).is_err());
    }
}
