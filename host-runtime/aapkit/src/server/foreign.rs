//! The foreign function `verify_signature`, with Envoy's name and argument layout
//! (`source/extensions/common/wasm/ext/verify_signature.proto`):
//!
//! ```proto
//! message VerifySignatureArguments { string hash_function = 1; bytes public_key = 2;
//!                                    bytes signature = 3; bytes text = 4; string public_key_pem = 5; }
//! message VerifySignatureResult    { bool result = 1; string error = 2; }
//! ```
//!
//! The key is DER (SubjectPublicKeyInfo, or PKCS#1 RSAPublicKey); the algorithm is RSA PKCS#1 v1.5
//! with the named hash. The filter only ever asks for `sha256`. Verification is the native
//! enforcer's own ([`aapkit_kms::native_rsa`], aws-lc-rs), so both enforcers pay the same for RSA.

use std::sync::Arc;

use proxy_wasm_host::ForeignFunctions;

/// The foreign functions aapkit offers the filter: `verify_signature` when `verify_signature`
/// is true (off: the filter verifies in Wasm).
pub fn functions(verify_signature: bool) -> ForeignFunctions {
    let mut functions = ForeignFunctions::default();
    if verify_signature {
        functions.register(
            "verify_signature",
            Arc::new(|args: &[u8]| {
                self::verify_signature(args).map_err(|e| proxy_wasm_host::BadArgument(e.to_string()))
            }),
        );
    }
    functions
}

/// The decoded arguments.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct VerifyArgs<'a> {
    pub hash_function: &'a [u8],
    pub public_key: &'a [u8],
    pub signature: &'a [u8],
    pub text: &'a [u8],
    pub public_key_pem: &'a [u8],
}

/// The arguments are unusable: the host answers BAD_ARGUMENT, as Envoy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadArgument {
    #[error("VerifySignatureArguments does not parse")]
    Malformed,
    #[error("exactly one DER public key is required (PEM keys are not offered)")]
    Key,
}

/// Runs the function (public for tests and benchmarks): the serialized `VerifySignatureResult`.
pub fn verify_signature(arguments: &[u8]) -> Result<Vec<u8>, BadArgument> {
    let args = decode_args(arguments).ok_or(BadArgument::Malformed)?;
    // Envoy rejects both-or-neither key forms as a bad argument.
    if args.public_key.is_empty() || !args.public_key_pem.is_empty() {
        return Err(BadArgument::Key);
    }
    let outcome = if args.hash_function != b"sha256" {
        Err("unsupported hash function")
    } else {
        aapkit_kms::native_rsa::verify_pkcs1v15_sha256_der(args.public_key, args.text, args.signature)
            .then_some(())
            .ok_or("Failed to verify digest. Error code: 0")
    };
    Ok(encode_result(outcome))
}

fn encode_result(outcome: Result<(), &str>) -> Vec<u8> {
    match outcome {
        Ok(()) => vec![0x08, 0x01],
        Err(msg) => {
            let mut out = vec![0x12];
            put_varint(&mut out, msg.len() as u64);
            out.extend_from_slice(msg.as_bytes());
            out
        }
    }
}

/// Parses the arguments; unknown fields are skipped, wrong wire types are an error.
pub(crate) fn decode_args(mut buf: &[u8]) -> Option<VerifyArgs<'_>> {
    let mut args = VerifyArgs::default();
    while !buf.is_empty() {
        let key = take_varint(&mut buf)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                take_varint(&mut buf)?;
            }
            1 => buf = buf.get(8..)?,
            5 => buf = buf.get(4..)?,
            2 => {
                let len = usize::try_from(take_varint(&mut buf)?).ok()?;
                let value = buf.get(..len)?;
                buf = buf.get(len..)?;
                match field {
                    1 => args.hash_function = value,
                    2 => args.public_key = value,
                    3 => args.signature = value,
                    4 => args.text = value,
                    5 => args.public_key_pem = value,
                    _ => {}
                }
            }
            _ => return None,
        }
        if field == 0 {
            return None;
        }
    }
    Some(args)
}

fn take_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
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

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Encodes arguments (tests and benchmarks build requests with it).
pub fn encode_verify_args(hash: &str, public_key_der: &[u8], signature: &[u8], text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(public_key_der.len() + signature.len() + text.len() + 32);
    for (field, value) in [(1u8, hash.as_bytes()), (2, public_key_der), (3, signature), (4, text)] {
        out.push(field << 3 | 2);
        put_varint(&mut out, value.len() as u64);
        out.extend_from_slice(value);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn args_round_trip() {
        let enc = encode_verify_args("sha256", b"key", b"sig", b"text");
        let args = decode_args(&enc).unwrap();
        assert_eq!(args.hash_function, b"sha256");
        assert_eq!(args.public_key, b"key");
        assert_eq!(args.signature, b"sig");
        assert_eq!(args.text, b"text");
    }

    #[test]
    fn malformed_args() {
        let enc = encode_verify_args("sha256", b"key", b"sig", b"text");
        for cut in 1..enc.len() {
            // Every strict prefix either parses to fewer fields or fails; it never panics.
            let _ = decode_args(&enc[..cut]);
        }
        assert!(decode_args(&[0x0a, 0x05, b'a']).is_none());
        assert!(decode_args(&[0x0b]).is_none()); // wire type 3
        assert!(verify_signature(&[0xff]).is_err());
        // No key: a bad argument, as in Envoy.
        assert!(verify_signature(&encode_verify_args("sha256", b"", b"s", b"t")).is_err());
    }

    #[test]
    fn bad_key_is_a_false_result_not_an_error() {
        let out = verify_signature(&encode_verify_args("sha256", b"not a key", b"s", b"t")).unwrap();
        assert_eq!(out.first(), Some(&0x12));
        let out = verify_signature(&encode_verify_args("md5", b"k", b"s", b"t")).unwrap();
        assert_eq!(out.first(), Some(&0x12));
    }
}
