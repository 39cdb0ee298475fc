//! Differential: the host's full protobuf decoder (prost, `aapkit_kms::proto`, what the Instance API
//! handlers run on) against the filter's resource scanner (`policy_core::extract_resource`, what the
//! policy decision is made on). The agreement property (docs/security.md, "Fuzzing"):
//!
//! 1. prost decodes ∧ the scanner accepts ⇒ the scanner names exactly the resource the handler
//!    will use: the KeyId (field 2 of Decrypt/AdvanceDecrypt, field 1 elsewhere), the SecretName of
//!    GetSecretValue, or — for a decrypt without KeyId — the key-version id in the CiphertextBlob;
//!    `None` exactly when that field is empty/absent (GenerateRandom: always `None`).
//! 2. prost decodes ∧ the scanner refuses ⇒ the refusal is one of the documented stricter cases:
//!    a CiphertextBlob that is not a symmetric blob (prost does not look inside bytes fields), or
//!    a group (wire types 3/4) in an unknown field, which prost skips and the scanner rejects.
//!    Either way the filter denies (fail closed) — never an allow on a body the handler reads
//!    differently.
//! 3. prost refuses ∧ the scanner accepts is allowed (the scanner checks only the resource field:
//!    a bad UTF-8 or wrong wire type in another field, an over-long 10th varint byte, a group
//!    inside a known field): the handler answers InvalidParameter, so nothing runs.
#![no_main]

use aapkit_kms::proto;
use libfuzzer_sys::fuzz_target;
use policy_core::{blob, extract_resource, Api, ProtoError, ResourceRef};
use prost::Message;

/// What the handler would act on: `Some(resource)` or `None`; `Err` when prost refuses.
#[derive(Debug, PartialEq, Eq)]
enum Named {
    KeyId(String),
    SecretName(String),
    /// A decrypt without KeyId and a non-empty blob: the blob names the key (if it parses).
    Blob(Vec<u8>),
    None,
}

fn key(s: String) -> Named {
    if s.is_empty() {
        Named::None
    } else {
        Named::KeyId(s)
    }
}

fn decrypt(key_id: String, blob: Vec<u8>) -> Named {
    match (key_id.is_empty(), blob.is_empty()) {
        (false, _) => Named::KeyId(key_id),
        (true, false) => Named::Blob(blob),
        (true, true) => Named::None,
    }
}

fn prost_view(api: Api, body: &[u8]) -> Result<Named, prost::DecodeError> {
    Ok(match api {
        Api::Encrypt => key(proto::EncryptRequest::decode(body)?.key_id),
        Api::AdvanceEncrypt => key(proto::AdvanceEncryptRequest::decode(body)?.key_id),
        Api::Decrypt => {
            let m = proto::DecryptRequest::decode(body)?;
            decrypt(m.key_id, m.ciphertext_blob)
        }
        Api::AdvanceDecrypt => {
            let m = proto::AdvanceDecryptRequest::decode(body)?;
            decrypt(m.key_id, m.ciphertext_blob)
        }
        Api::GenerateDataKey => key(proto::GenerateDataKeyRequest::decode(body)?.key_id),
        Api::AdvanceGenerateDataKey => key(proto::AdvanceGenerateDataKeyRequest::decode(body)?.key_id),
        Api::GenerateDataKeyPair => key(proto::GenerateDataKeyPairRequest::decode(body)?.key_id),
        Api::GenerateDataKeyPairWithoutPlaintext => {
            key(proto::GenerateDataKeyPairWithoutPlaintextRequest::decode(body)?.key_id)
        }
        Api::AdvanceGenerateDataKeyPair => key(proto::AdvanceGenerateDataKeyPairRequest::decode(body)?.key_id),
        Api::AdvanceGenerateDataKeyPairWithoutPlaintext => {
            key(proto::AdvanceGenerateDataKeyPairWithoutPlaintextRequest::decode(body)?.key_id)
        }
        Api::Sign => key(proto::SignRequest::decode(body)?.key_id),
        Api::Verify => key(proto::VerifyRequest::decode(body)?.key_id),
        Api::GetPublicKey => key(proto::GetPublicKeyRequest::decode(body)?.key_id),
        Api::Hmac => key(proto::HmacRequest::decode(body)?.key_id),
        Api::GetSecretValue => {
            let name = proto::GetSecretValueRequest::decode(body)?.secret_name;
            if name.is_empty() {
                Named::None
            } else {
                Named::SecretName(name)
            }
        }
        Api::GenerateRandom => {
            proto::GenerateRandomRequest::decode(body)?;
            Named::None
        }
        // `Api` is non-exhaustive: a new API needs its prost view here before this target runs it.
        other => panic!("no prost view of {other:?}"),
    })
}

/// True when `body` has a group (wire type 3 or 4) somewhere at the top level, scanned leniently.
fn has_top_level_group(body: &[u8]) -> bool {
    let mut pos = 0usize;
    let varint = |pos: &mut usize| -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = *body.get(*pos)?;
            *pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    while pos < body.len() {
        let Some(tag) = varint(&mut pos) else { return false };
        match tag & 7 {
            0 => {
                if varint(&mut pos).is_none() {
                    return false;
                }
            }
            1 => pos += 8,
            2 => match varint(&mut pos).and_then(|l| usize::try_from(l).ok()) {
                Some(l) => pos = pos.saturating_add(l),
                None => return false,
            },
            3 | 4 => return true,
            5 => pos += 4,
            _ => return false,
        }
    }
    false
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let api = Api::ALL[usize::from(selector) % Api::ALL.len()];
    let scanned = extract_resource(api, body);
    let decoded = prost_view(api, body);
    match (decoded, scanned) {
        (Ok(named), Ok(found)) => match (named, found) {
            (Named::KeyId(a), Some(ResourceRef::KeyId(b))) => assert_eq!(a, b, "{api}: KeyId"),
            (Named::SecretName(a), Some(ResourceRef::SecretName(b))) => assert_eq!(a, b, "{api}: SecretName"),
            (Named::Blob(blob), Some(ResourceRef::KeyVersionId(v))) => {
                let parsed = blob::parse_symmetric(&blob).map(|p| p.key_version_id.to_owned());
                assert_eq!(parsed.as_deref(), Ok(v), "{api}: the blob's key version");
            }
            (Named::None, None) => {}
            (named, found) => panic!("{api}: prost sees {named:?}, the scanner {found:?}"),
        },
        (Ok(named), Err(e)) => match e {
            ProtoError::Blob(_) => {
                let Named::Blob(blob) = named else { panic!("{api}: blob error but prost sees {named:?}") };
                assert!(blob::parse_symmetric(&blob).is_err(), "{api}: the scanner refused a good blob");
            }
            ProtoError::BadWireType { wire_type: 3 | 4, .. } => {
                assert!(has_top_level_group(body), "{api}: group error without a group");
            }
            other => panic!("{api}: prost decodes ({named:?}) but the scanner refuses: {other}"),
        },
        (Err(_), _) => {}
    }
});
