//! aapkit's STS side: RAM-role temporary credentials for the official credential chain.
//!
//! - [`oidc`]: JWT verification for AssumeRoleWithOIDC (RS256/ES256 against a JWKS; `iss`, `aud`,
//!   `exp`/`nbf`/`iat`, `sub`). Pure: the clock and the keys are passed in.
//! - [`wire`]: the response shapes the clients read.
//! - [`Sts::handle`]: one request in, status + JSON out, transport-free (like
//!   `aapkit_openapi::OpenApi::handle`): the STS action `AssumeRoleWithOIDC` (Version
//!   `2015-04-01`, anonymous) on `/`, and the credentials-URI request on [`CREDENTIALS_URI_PATH`].
//!   Sessions are issued by the store (`aapkit_store::Store::issue_session`).
//!
//! The JWKS text comes from a [`JwksProvider`]: [`FileJwks`] reads files and refuses URLs; the
//! host fetches URLs (with `fetch::fetch_jwks`, feature `fetch`: timeout, size cap) and caches
//! them, off the request path. See docs/ram-roles.md.

mod error;
#[cfg(feature = "fetch")]
pub mod fetch;
pub mod oidc;
mod service;
pub mod wire;

pub use aapkit_store::JwksSource;
pub use error::StsError;
pub use service::{
    FileJwks, JwksProvider, Sts, StsRequest, StsResponse, CREDENTIALS_URI_PATH, CREDENTIALS_URI_SESSION_NAME,
    STS_API_VERSION,
};
