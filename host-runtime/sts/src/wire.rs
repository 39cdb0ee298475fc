//! The JSON the clients read, named as the STS SDK models and the credential providers name it
//! (alibabacloud-sts20150401 1.2.0 models; alibabacloud-credentials 1.0.12 `provider/uri.py`).

use serde::Serialize;

/// `Credentials` of an AssumeRole* response.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    /// `yyyy-MM-ddTHH:mm:ssZ`: the clients parse it with `%Y-%m-%dT%H:%M:%SZ` (no fractions).
    pub expiration: String,
}

/// `AssumedRoleUser`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AssumedRoleUser {
    /// `acs:ram::<AccountId>:role/<role name, lower case>/<RoleSessionName>` [inferred from the docs].
    pub arn: String,
    /// `<RoleId>:<RoleSessionName>` [inferred from the docs].
    pub assumed_role_id: String,
}

/// `OIDCTokenInfo` of an AssumeRoleWithOIDC response (every field a string in the SDK model).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct OidcTokenInfo {
    pub subject: String,
    pub issuer: String,
    /// The token's audiences, comma-separated.
    pub client_ids: String,
    pub expiration_time: String,
    pub issuance_time: String,
    pub verification_info: String,
}

/// The AssumeRoleWithOIDC response body (`RequestId` is added by the handler).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AssumeRoleWithOidcResponse {
    pub assumed_role_user: AssumedRoleUser,
    pub credentials: Credentials,
    #[serde(rename = "OIDCTokenInfo")]
    pub oidc_token_info: OidcTokenInfo,
}

/// The credentials-URI response: flat, `Code` = `Success` (what `URLCredentialsProvider` requires).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct CredentialsUriResponse {
    pub code: &'static str,
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    pub expiration: String,
    pub last_updated: String,
}
