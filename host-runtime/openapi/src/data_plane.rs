//! GetSecretValue on the KMS endpoint: the one data-plane action. The service authenticates the
//! caller; the host, which holds the configuration snapshot, decides and reads the secret
//! ([`SecretReader`]) so that what is decided and what is read come from one configuration.
//! This module owns what all callers share: the request's parameters and the response JSON the
//! official clients parse (`docs/openapi.md#getsecretvalue`).

use serde_json::{json, Value};

use crate::auth::SessionCaller;
use crate::params::Params;
use crate::OpenApiError;

/// The action.
pub const GET_SECRET_VALUE: &str = "GetSecretValue";

/// Who asks for a secret, as authenticated on the KMS endpoint.
#[derive(Debug, Clone, Copy)]
pub enum Principal<'a> {
    /// A RAM-role session (`STS.…` with its SecurityToken): its role's AAP decides.
    Session { access_key_id: &'a str, session: &'a SessionCaller },
    /// The account's own AccessKey (an administrator): every secret of the account, as Alibaba's
    /// account AccessKey can read every secret.
    AccessKey { access_key_id: &'a str },
}

/// What GetSecretValue asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretValueQuery {
    pub secret_name: String,
    pub version_id: Option<String>,
    pub version_stage: Option<String>,
}

impl SecretValueQuery {
    /// Reads `SecretName`, `VersionId`, `VersionStage`. `FetchExtendedConfig` and `DryRun` are
    /// accepted as the clients send them (`True`/`False`, any case); a dry run is refused rather
    /// than served as a real read.
    pub fn from_params(params: &Params) -> Result<SecretValueQuery, OpenApiError> {
        params.bool("FetchExtendedConfig")?;
        if params.bool("DryRun")? == Some(true) {
            return Err(OpenApiError::invalid("DryRun", "dry runs of GetSecretValue are not supported"));
        }
        // A recipient (an enclave) asks for the value encrypted to it: answering in plaintext would
        // hand it to the untrusted side, so it is refused.
        if params.optional("Recipient").is_some() {
            return Err(OpenApiError::invalid("Recipient", "CiphertextForRecipient is not supported"));
        }
        Ok(SecretValueQuery {
            secret_name: params.required("SecretName")?.to_owned(),
            version_id: params.optional("VersionId").map(str::to_owned),
            version_stage: params.optional("VersionStage").map(str::to_owned),
        })
    }
}

/// One secret version's value, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretValue {
    pub secret_name: String,
    pub secret_type: String,
    /// The text, or the base64 of binary data.
    pub secret_data: String,
    /// `text` or `binary`.
    pub secret_data_type: String,
    pub version_id: String,
    pub version_stages: Vec<String>,
    pub create_time: String,
}

impl SecretValue {
    /// The response body without `RequestId`: the names and shapes of the 3.3.1 model, which the
    /// Secrets Manager clients read by exact key (`VersionStages` wraps its list in an object).
    pub fn to_json(&self) -> Value {
        json!({
            "SecretName": self.secret_name,
            "SecretType": self.secret_type,
            "SecretData": self.secret_data,
            "SecretDataType": self.secret_data_type,
            "VersionId": self.version_id,
            "VersionStages": { "VersionStage": self.version_stages },
            "CreateTime": self.create_time,
        })
    }
}

/// Decides and reads on the host's configuration snapshot.
pub trait SecretReader: Send + Sync {
    /// Serves GetSecretValue for `principal`, from `peer` (the TCP peer) with the request's
    /// `X-Forwarded-For` (resolved under the snapshot's trusted proxies).
    fn get_secret_value(
        &self,
        principal: &Principal<'_>,
        query: &SecretValueQuery,
        peer: std::net::IpAddr,
        forwarded_for: Option<&str>,
        request_id: &str,
    ) -> Result<SecretValue, OpenApiError>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn the_response_has_the_shapes_the_clients_read() {
        let v = SecretValue {
            secret_name: "app/db".into(),
            secret_type: "Generic".into(),
            secret_data: "s3cret".into(),
            secret_data_type: "text".into(),
            version_id: "v1".into(),
            version_stages: vec!["ACSCurrent".into()],
            create_time: "2026-11-30T10:00:00Z".into(),
        }
        .to_json();
        assert_eq!(v["VersionStages"]["VersionStage"][0], "ACSCurrent");
        assert_eq!(v["SecretDataType"], "text");
        assert_eq!(v["SecretData"], "s3cret");
    }

    #[test]
    fn queries_read_the_parameters_the_clients_send() {
        let p = Params::parse("SecretName=a%2Fb&VersionStage=ACSCurrent&FetchExtendedConfig=True", None).unwrap();
        let q = SecretValueQuery::from_params(&p).unwrap();
        assert_eq!(q.secret_name, "a/b");
        assert_eq!(q.version_stage.as_deref(), Some("ACSCurrent"));
        assert_eq!(q.version_id, None);
        let dry = Params::parse("SecretName=a&DryRun=true", None).unwrap();
        assert!(SecretValueQuery::from_params(&dry).is_err());
        let recipient = Params::parse("SecretName=a&Recipient=%7B%7D", None).unwrap();
        assert!(SecretValueQuery::from_params(&recipient).is_err());
        let none = Params::parse("VersionStage=ACSCurrent", None).unwrap();
        assert!(matches!(SecretValueQuery::from_params(&none), Err(OpenApiError::MissingParameter(_))));
    }
}
