//! Integration tests of aapkit-pki: the CA, client keys, and PKCS#12 files the SDKs load.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ca;
mod client_key;
mod common;
mod pkcs12_sample;
