//! A minimal protobuf scanner: just enough to find the resource a request names, without a
//! protobuf library. Semantics follow proto3 decoders (last occurrence of a field wins, strings
//! must be UTF-8, a known field with the wrong wire type is an error) so the filter sees the
//! same resource the host's full decoder will.

use crate::blob;
use crate::catalogue::Api;
use crate::wire::{ProtoError, Scanner, Value};

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::put_bytes;

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
