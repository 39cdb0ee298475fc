#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod handler;
mod issuer;
mod oidc;
mod vectors;
