//! aapkit's KMS endpoint: the classic KMS OpenAPI (RPC style, product `Kms`, version `2016-01-20`)
//! that the official management SDK (`alibabacloud-kms20160120`), the older core SDK and the
//! Terraform provider drive.
//!
//! - [`params`]: the query string and a form body, decoded strictly and merged.
//! - [`auth`]: ACS3-HMAC-SHA256 and RPC v1 HMAC-SHA1 with AccessKeys and RAM-role sessions
//!   (`STS.…` + SecurityToken), the 15-minute window, nonces.
//! - [`data_plane`]: GetSecretValue, decided and read by the host ([`SecretReader`]) on its
//!   configuration snapshot; sessions may call nothing else.
//! - `actions`: one function per action over the store (the one service layer the CLI uses too),
//!   returning the JSON the SDK models name and type.
//! - [`OpenApiError`]: every failure, mapped to Alibaba's code and status in one place.
//!
//! Transport-free: the gateway's HTTP server calls [`OpenApi::handle`]. See docs/openapi.md.

mod actions;
pub use actions::ACTIONS;
pub mod auth;
pub mod data_plane;
mod error;
mod nonce;
pub mod params;
mod service;

pub use auth::{OpenApiRequest, SessionCaller, TIMESTAMP_WINDOW_SECS};
pub use data_plane::{Principal, SecretReader, SecretValue, SecretValueQuery, GET_SECRET_VALUE};
pub use error::OpenApiError;
pub use service::{
    error_body, error_json, forwarded_for, is_heavy, InstanceInfo, OpenApi, OpenApiResponse, API_VERSION,
    DEFAULT_REPLAY_ENTRIES, DRY_RUN_ACTIONS, DRY_RUN_HEADER,
};
