//! aapkit policy core: the AAP model, the policy evaluator and the client-key request verifier.
//!
//! Pure: no I/O, no clock, no randomness. Time (`now`) and the RSA verifier are passed in.
//! See `docs/ARCHITECTURE.md` for the contract with the other crates.

mod crypto;

// The public interface is:
pub use crypto::{optional::*, PublicKeyError, PureRustVerifier, RsaPublicKey, SignatureVerifier};
