//! The filter's protobuf scanner (`extract_resource`) must never panic, and what it returns must be
//! consistent: a named resource is a slice of the body, the same scan gives the same answer, and
//! re-encoding the resource alone as its field scans back to the same resource.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_core::wire::put_bytes;
use policy_core::{extract_resource, Api, ProtoError, ResourceRef};

fn within(body: &[u8], s: &str) -> bool {
    let (b, p) = (body.as_ptr() as usize, s.as_ptr() as usize);
    p >= b && p + s.len() <= b + body.len()
}

fuzz_target!(|data: &[u8]| {
    for api in Api::ALL {
        let first = extract_resource(api, data);
        assert_eq!(first, extract_resource(api, data), "the scan is deterministic");
        match first {
            Ok(Some(r)) => {
                let (ResourceRef::KeyId(s) | ResourceRef::SecretName(s) | ResourceRef::KeyVersionId(s)) = r;
                assert!(!s.is_empty(), "{api}: an empty resource is reported as None");
                assert!(within(data, s), "{api}: the resource borrows from the body");
                assert_eq!(matches!(r, ResourceRef::SecretName(_)), api == Api::GetSecretValue);
                assert!(api != Api::GenerateRandom, "GenerateRandom names no resource");
                if let ResourceRef::KeyId(k) | ResourceRef::SecretName(k) = r {
                    let number = if matches!(api, Api::Decrypt | Api::AdvanceDecrypt) { 2 } else { 1 };
                    let mut alone = Vec::new();
                    put_bytes(&mut alone, number, k.as_bytes());
                    assert_eq!(extract_resource(api, &alone), Ok(Some(r)), "{api}: re-encoded resource");
                }
            }
            Ok(None) => {}
            Err(ProtoError::Blob(_)) => {
                assert!(matches!(api, Api::Decrypt | Api::AdvanceDecrypt), "{api}: only decrypts read a blob");
            }
            Err(ProtoError::Truncated { offset } | ProtoError::VarintTooLong { offset })
            | Err(ProtoError::BadWireType { offset, .. } | ProtoError::BadFieldNumber { offset }) => {
                assert!(offset <= data.len(), "{api}: error offset {offset} past the body");
            }
            Err(ProtoError::WrongWireType { .. } | ProtoError::InvalidUtf8 { .. }) => {}
            Err(e) => panic!("{api}: an error this target does not know: {e}"),
        }
    }
});
