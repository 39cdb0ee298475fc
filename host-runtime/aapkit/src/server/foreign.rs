//! The foreign function `verify_signature`, with Envoy's name and argument layout (the messages
//! are `policy_core::wire::{VerifySignatureArgs, VerifySignatureResult}`, shared with the filter
//! that calls it).
//!
//! The key is DER (SubjectPublicKeyInfo, or PKCS#1 RSAPublicKey); the algorithm is RSA PKCS#1 v1.5
//! with the named hash. The filter only ever asks for `sha256`. Verification is the native
//! enforcer's own ([`aapkit_kms::native_rsa`], aws-lc-rs), so both enforcers pay the same for RSA.

use std::sync::Arc;

use policy_core::wire::{
    VerifySignatureArgs, VerifySignatureResult, VERIFY_SIGNATURE_FUNCTION, VERIFY_SIGNATURE_SHA256,
};
use proxy_wasm_host::ForeignFunctions;

/// The foreign functions aapkit offers the filter: `verify_signature` when `verify_signature`
/// is true (off: the filter verifies in Wasm).
pub fn functions(verify_signature: bool) -> ForeignFunctions {
    let mut functions = ForeignFunctions::default();
    if verify_signature {
        functions.register(
            VERIFY_SIGNATURE_FUNCTION,
            Arc::new(|args: &[u8]| {
                self::verify_signature(args).map_err(|e| proxy_wasm_host::BadArgument(e.to_string()))
            }),
        );
    }
    functions
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
    let args = VerifySignatureArgs::decode(arguments).map_err(|_| BadArgument::Malformed)?;
    // Envoy rejects both-or-neither key forms as a bad argument.
    if args.public_key.is_empty() || !args.public_key_pem.is_empty() {
        return Err(BadArgument::Key);
    }
    let result = if args.hash_function != VERIFY_SIGNATURE_SHA256.as_bytes() {
        VerifySignatureResult { result: false, error: "unsupported hash function" }
    } else if aapkit_kms::native_rsa::verify_pkcs1v15_sha256_der(args.public_key, args.text, args.signature) {
        VerifySignatureResult { result: true, error: "" }
    } else {
        VerifySignatureResult { result: false, error: "Failed to verify digest. Error code: 0" }
    };
    Ok(result.encode())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(hash: &str, key: &[u8]) -> Vec<u8> {
        VerifySignatureArgs { hash_function: hash.as_bytes(), ..VerifySignatureArgs::sha256(key, b"s", b"t") }.encode()
    }

    #[test]
    fn malformed_args_are_bad_arguments() {
        let enc = args("sha256", b"key");
        for cut in 1..enc.len() {
            // Every strict prefix either parses to fewer fields or fails; it never panics.
            let _ = verify_signature(&enc[..cut]);
        }
        assert_eq!(verify_signature(&[0xff]), Err(BadArgument::Malformed));
        assert_eq!(verify_signature(&[0x0b]), Err(BadArgument::Malformed)); // wire type 3
                                                                            // No key: a bad argument, as in Envoy.
        assert_eq!(verify_signature(&args("sha256", b"")), Err(BadArgument::Key));
    }

    #[test]
    fn bad_key_or_hash_is_a_false_result_not_an_error() {
        for out in [verify_signature(&args("sha256", b"not a key")), verify_signature(&args("md5", b"k"))] {
            let out = out.unwrap();
            let decoded = VerifySignatureResult::decode(&out).unwrap();
            assert!(!decoded.result);
            assert!(!decoded.error.is_empty());
        }
    }
}
