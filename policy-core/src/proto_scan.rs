//! A minimal protobuf scanner: just enough to find the resource a request names, without a
//! protobuf library. Semantics follow proto3 decoders (last occurrence of a field wins, strings
//! must be UTF-8, a known field with the wrong wire type is an error) so the filter sees the
//! same resource the host's full decoder will.

use core::fmt;

use crate::blob::{self, BlobError};
use crate::catalogue::Api;

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

/// The resource a request body names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceRef<'a> {
    /// A KeyId field: a key id or `alias/...`.
    KeyId(&'a str),
    /// The key-version id from the CiphertextBlob of a Decrypt/AdvanceDecrypt without KeyId.
    KeyVersionId(&'a str),
    /// The SecretName of GetSecretValue.
    SecretName(&'a str),
}

/// Scans `body` (the protobuf request of `api`) for the resource it names. `Ok(None)` when the
/// operation has no resource (GenerateRandom) or the field is absent/empty.
pub fn extract_resource(api: Api, body: &[u8]) -> Result<Option<ResourceRef<'_>>, ProtoError> {
    extract(api, body, None)
}

/// The signed request header of Decrypt's older form (the transfer SDK converting classic
/// ciphertexts): it names the key version, and the body carries `Iv` and the bare ciphertext.
pub const MIGRATION_KEY_VERSION_HEADER: &str = "x-kms-migrationkeyversionid";

/// [`extract_resource`] for a request that may carry [`MIGRATION_KEY_VERSION_HEADER`]: for Decrypt
/// without a KeyId the header's version is the resource (the body's blob is then not a
/// self-describing blob and is not parsed). Other APIs ignore the header.
pub fn extract_resource_with_header<'a>(
    api: Api,
    body: &'a [u8],
    header_version: Option<&'a str>,
) -> Result<Option<ResourceRef<'a>>, ProtoError> {
    extract(api, body, header_version.filter(|v| !v.is_empty() && api == Api::Decrypt))
}

fn extract<'a>(
    api: Api,
    body: &'a [u8],
    header_version: Option<&'a str>,
) -> Result<Option<ResourceRef<'a>>, ProtoError> {
    // Field 1 is SecretName for GetSecretValue, CiphertextBlob for the decrypts.
    let (string_field, blob_field) = match api {
        Api::GenerateRandom => {
            // Still reject a malformed body so the filter and the host agree it is bad.
            scan_all(body)?;
            return Ok(None);
        }
        Api::GetSecretValue => (1, None),
        Api::Decrypt | Api::AdvanceDecrypt => (2, Some(1)),
        _ => (api.key_id_field().unwrap_or(1), None),
    };
    let mut s = Scanner::new(body);
    let mut name: Option<&[u8]> = None;
    let mut blob: Option<&[u8]> = None;
    while let Some((field, v)) = s.next_field()? {
        if field == string_field {
            match v {
                Value::Bytes(b) => name = Some(b),
                _ => return Err(ProtoError::WrongWireType { field }),
            }
        } else if Some(field) == blob_field {
            match v {
                Value::Bytes(b) => blob = Some(b),
                _ => return Err(ProtoError::WrongWireType { field }),
            }
        }
    }
    let name = match name {
        Some(b) => Some(core::str::from_utf8(b).map_err(|_| ProtoError::InvalidUtf8 { field: string_field })?),
        None => None,
    };
    match (api, name) {
        (_, Some(n)) if !n.is_empty() => {
            Ok(Some(if api == Api::GetSecretValue { ResourceRef::SecretName(n) } else { ResourceRef::KeyId(n) }))
        }
        (Api::Decrypt, _) if header_version.is_some() => Ok(header_version.map(ResourceRef::KeyVersionId)),
        (Api::Decrypt | Api::AdvanceDecrypt, _) => match blob {
            Some(b) if !b.is_empty() => {
                let parsed = blob::parse_symmetric(b).map_err(ProtoError::Blob)?;
                Ok(Some(ResourceRef::KeyVersionId(parsed.key_version_id)))
            }
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}

fn scan_all(body: &[u8]) -> Result<(), ProtoError> {
    let mut s = Scanner::new(body);
    while s.next_field()?.is_some() {}
    Ok(())
}

/// Appends a varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a length-delimited field.
pub(crate) fn put_bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    put_varint(out, (u64::from(field) << 3) | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn msg(fields: &[(u32, &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        for (f, b) in fields {
            put_bytes(&mut v, *f, b);
        }
        v
    }

    /// Decrypt's older form: the signed header names the version; the bare ciphertext in field 1
    /// is not parsed as a blob. A KeyId still wins; other APIs ignore the header.
    #[test]
    fn migration_header_names_the_decrypt_version() {
        let v = "00000000-0000-4000-8000-000000000001";
        let bare = msg(&[(1, b"not a blob at all"), (4, &[7u8; 12])]);
        assert!(extract_resource(Api::Decrypt, &bare).is_err());
        assert_eq!(extract_resource_with_header(Api::Decrypt, &bare, Some(v)), Ok(Some(ResourceRef::KeyVersionId(v))));
        let with_key = msg(&[(1, b"x"), (2, b"alias/a")]);
        assert_eq!(
            extract_resource_with_header(Api::Decrypt, &with_key, Some(v)),
            Ok(Some(ResourceRef::KeyId("alias/a")))
        );
        assert!(extract_resource_with_header(Api::AdvanceDecrypt, &bare, Some(v)).is_err());
        assert!(extract_resource_with_header(Api::Decrypt, &bare, Some("")).is_err());
        let enc = msg(&[(1, b"key-1")]);
        assert_eq!(extract_resource_with_header(Api::Encrypt, &enc, Some(v)), Ok(Some(ResourceRef::KeyId("key-1"))));
    }

    #[test]
    fn encrypt_key_id_from_vector_body() {
        let body =
            [0x0a, 0x08, b'k', b'e', b'y', b'-', b't', b'e', b's', b't', 0x12, 0x05, b'h', b'e', b'l', b'l', b'o'];
        assert_eq!(extract_resource(Api::Encrypt, &body), Ok(Some(ResourceRef::KeyId("key-test"))));
    }

    #[test]
    fn last_occurrence_wins() {
        let body = msg(&[(1, b"key-a"), (2, b"pt"), (1, b"key-b")]);
        assert_eq!(extract_resource(Api::Sign, &body), Ok(Some(ResourceRef::KeyId("key-b"))));
    }

    #[test]
    fn decrypt_uses_field_2_then_blob() {
        let blob = crate::blob::encode_symmetric(b"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", &[0; 12], &[0; 16]);
        let body = msg(&[(1, &blob), (2, b"key-1")]);
        assert_eq!(extract_resource(Api::Decrypt, &body), Ok(Some(ResourceRef::KeyId("key-1"))));
        let body = msg(&[(1, &blob)]);
        assert_eq!(
            extract_resource(Api::AdvanceDecrypt, &body),
            Ok(Some(ResourceRef::KeyVersionId("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")))
        );
        let body = msg(&[(1, b"short")]);
        assert!(matches!(extract_resource(Api::Decrypt, &body), Err(ProtoError::Blob(_))));
    }

    #[test]
    fn secret_and_random() {
        let body = msg(&[(1, b"acs/ram/user/x"), (2, b"ACSCurrent")]);
        assert_eq!(extract_resource(Api::GetSecretValue, &body), Ok(Some(ResourceRef::SecretName("acs/ram/user/x"))));
        assert_eq!(extract_resource(Api::GenerateRandom, &[0x08, 0x20]), Ok(None));
        assert_eq!(extract_resource(Api::Encrypt, &[]), Ok(None));
    }

    #[test]
    fn malformed() {
        assert_eq!(extract_resource(Api::Encrypt, &[0x0a, 0x05, b'a']), Err(ProtoError::Truncated { offset: 2 }));
        assert_eq!(extract_resource(Api::Encrypt, &[0x08]), Err(ProtoError::Truncated { offset: 1 }));
        assert_eq!(extract_resource(Api::Encrypt, &[0x08, 0x01]), Err(ProtoError::WrongWireType { field: 1 }));
        assert_eq!(extract_resource(Api::Encrypt, &[0x0b]), Err(ProtoError::BadWireType { offset: 0, wire_type: 3 }));
        assert_eq!(extract_resource(Api::Encrypt, &[0x02, 0x00]), Err(ProtoError::BadFieldNumber { offset: 0 }));
        assert_eq!(extract_resource(Api::Encrypt, &[0x0a, 0x01, 0xff]), Err(ProtoError::InvalidUtf8 { field: 1 }));
        assert_eq!(extract_resource(Api::GenerateRandom, &[0x08, 0xff]), Err(ProtoError::Truncated { offset: 2 }));
        let long = [0x08u8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(extract_resource(Api::Encrypt, &long), Err(ProtoError::VarintTooLong { offset: 1 }));
    }
}
