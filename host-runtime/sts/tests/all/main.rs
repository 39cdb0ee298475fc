#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod issuer;
mod oidc;
mod handler;
mod vectors;
