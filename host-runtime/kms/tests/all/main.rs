//! Integration tests of aapkit-kms: the Instance API operations end to end over an in-memory key ring.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
mod authorized;
mod common;
mod errors;
mod openssl;
