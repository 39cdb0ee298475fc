//! The native crypto backend (aws-lc-rs) and the KMS Instance API operations.
//!
//! One entry point, [`InstanceApi::handle`]; one error type, [`KmsError`]. Key material comes
//! from a [`KeyRing`] (the store, or [`InMemoryKeyRing`] in tests).

mod api;
mod cache;
mod core_shim;
mod error;
pub mod keyring;
pub mod material;
mod ops;

pub use api::InstanceApi;
pub use core_shim::ErrorCode;
pub use error::KmsError;
pub use keyring::{InMemoryKeyRing, KeyRing};
pub use material::{generate_material, public_key_der, public_key_pem};
