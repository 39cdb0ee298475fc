//! RSA verification through the host's foreign function `verify_signature` (Envoy's name and
//! protobuf layout, encoded and decoded by `policy_core::wire`), with the pure-Rust verifier when
//! the host does not offer it.

use std::cell::Cell;

use policy_core::wire::{VerifySignatureArgs, VerifySignatureResult, VERIFY_SIGNATURE_FUNCTION};
use policy_core::{PureRustVerifier, RsaPublicKey, SignatureVerifier};

use crate::hostcalls::{self, NOT_FOUND, UNIMPLEMENTED};

/// Whether the host offers the function; learnt from the first call, per VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offload {
    Unknown,
    Available,
    Unavailable,
}

pub struct HostVerifier<'a> {
    pub offload: &'a Cell<Offload>,
}

impl SignatureVerifier for HostVerifier<'_> {
    fn verify_pkcs1v15_sha256(&self, key: &RsaPublicKey, msg: &[u8], sig: &[u8]) -> bool {
        if self.offload.get() != Offload::Unavailable {
            let args = VerifySignatureArgs::sha256(key.spki_der(), sig, msg).encode();
            match hostcalls::call_foreign_function(VERIFY_SIGNATURE_FUNCTION, &args) {
                Ok(result) => {
                    self.offload.set(Offload::Available);
                    return decode_result(&result);
                }
                Err(NOT_FOUND | UNIMPLEMENTED) => self.offload.set(Offload::Unavailable),
                // Any other host error: the signature is not shown to be valid.
                Err(_) => return false,
            }
        }
        PureRustVerifier.verify_pkcs1v15_sha256(key, msg, sig)
    }
}

/// `result` is true; a result that does not decode is false.
fn decode_result(buf: &[u8]) -> bool {
    VerifySignatureResult::decode(buf).is_ok_and(|r| r.result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results() {
        assert!(decode_result(&[0x08, 0x01]));
        assert!(!decode_result(&[]));
        assert!(!decode_result(&[0x08, 0x00]));
        assert!(!decode_result(&[0x12, 0x03, b'b', b'a', b'd']));
        assert!(!decode_result(&[0x08, 0x01, 0x12, 0x09]));
        assert!(!decode_result(&[0x1a]));
    }
}
