//! The protobuf `Error {int32 StatusCode=1; string ErrorCode=2; string ErrorMessage=3; string RequestId=4}`
//! body of every failed Instance API call, encoded and decoded by hand (proto3: empty fields omitted).

use crate::proto_scan::{put_bytes, put_varint, ProtoError, Scanner, Value};

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // Reference 1.6: Error{401,"SignatureNotMatch","Signature is not matched.","r1"}.
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
}
