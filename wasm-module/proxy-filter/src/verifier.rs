//! RSA verification through the host's foreign function `verify_signature` (Envoy's name and
//! protobuf layout), with the pure-Rust verifier when the host does not offer it.
//!
//! `VerifySignatureArguments { string hash_function = 1; bytes public_key = 2 (DER SPKI);
//! bytes signature = 3; bytes text = 4; }` → `VerifySignatureResult { bool result = 1; string error = 2; }`.

use std::cell::Cell;

use policy_core::{PureRustVerifier, RsaPublicKey, SignatureVerifier};

use crate::hostcalls::{self, NOT_FOUND, UNIMPLEMENTED};

const FOREIGN_FUNCTION: &str = "verify_signature";

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
            let args = encode_args(key.spki_der(), sig, msg);
            match hostcalls::call_foreign_function(FOREIGN_FUNCTION, &args) {
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

fn encode_args(public_key_der: &[u8], signature: &[u8], text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(public_key_der.len() + signature.len() + text.len() + 24);
    for (field, value) in [(1u8, &b"sha256"[..]), (2, public_key_der), (3, signature), (4, text)] {
        out.push(field << 3 | 2);
        let mut len = value.len();
        while len >= 0x80 {
            out.push((len as u8) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(value);
    }
    out
}

/// `result` (field 1, varint) is true; anything unparseable is false.
fn decode_result(mut buf: &[u8]) -> bool {
    let mut result = false;
    while let Some((&key, rest)) = buf.split_first() {
        buf = rest;
        match key {
            0x08 => match take_varint(&mut buf) {
                Some(v) => result = v != 0,
                None => return false,
            },
            0x12 => {
                let Some(len) = take_varint(&mut buf).and_then(|l| usize::try_from(l).ok()) else {
                    return false;
                };
                let Some(rest) = buf.get(len..) else { return false };
                buf = rest;
            }
            _ => return false,
        }
    }
    result
}

fn take_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
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
