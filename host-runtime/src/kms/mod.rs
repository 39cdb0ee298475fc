//! The native crypto backend and the KMS Instance API operations.

pub mod keyring;
