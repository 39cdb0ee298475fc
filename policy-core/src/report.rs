//! Owned, serde forms of a request and a decision: the one JSON shape shared by `aapkit eval`,
//! the playground and the decision fixtures (`tests/fixtures/decisions/*.json`).

use core::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::catalogue::Api;
use crate::compiled::CompiledBundle;
use crate::decide::{decide, AccessRequest, Decision};
use crate::time::{parse_rfc3339, UnixTime};

/// An access request as JSON (PascalCase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify), tsify(missing_as_null))]
pub struct AccessRequestDoc {
    pub client_key_id: String,
    /// API name, e.g. `Encrypt`.
    pub api: String,
    /// Key id, `alias/...` or secret name; absent for GenerateRandom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "tsify", tsify(optional, type = "string | null"))]
    pub resource: Option<String>,
    /// IPv4 or IPv6 source address.
    pub source_ip: String,
    /// `kst-...` or `shared`; defaults to the bundle's `Gateway.Scope`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "tsify", tsify(optional, type = "string | null"))]
    pub scope: Option<String>,
    /// Evaluation time, RFC 3339 (`2025-01-01T00:00:00Z`).
    pub time: String,
}

/// Why an [`AccessRequestDoc`] cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestDocError {
    UnknownApi(String),
    BadSourceIp(String),
    BadTime(String),
    NoScope,
}

impl fmt::Display for RequestDocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestDocError::UnknownApi(a) => write!(f, "Api: unknown API name `{a}`"),
            RequestDocError::BadSourceIp(s) => write!(f, "SourceIp: `{s}` is not an IPv4 or IPv6 address"),
            RequestDocError::BadTime(t) => write!(f, "Time: `{t}` is not an RFC 3339 time"),
            RequestDocError::NoScope => f.write_str("Scope: absent, and the bundle has no Gateway.Scope"),
        }
    }
}

impl std::error::Error for RequestDocError {}

impl AccessRequestDoc {
    /// Converts to a request borrowing this document, plus the evaluation time.
    pub fn to_request<'a>(
        &'a self,
        bundle: &'a CompiledBundle,
    ) -> Result<(AccessRequest<'a>, UnixTime), RequestDocError> {
        let api = Api::from_name(&self.api).ok_or_else(|| RequestDocError::UnknownApi(self.api.clone()))?;
        let source_ip: IpAddr =
            self.source_ip.parse().map_err(|_| RequestDocError::BadSourceIp(self.source_ip.clone()))?;
        let now = parse_rfc3339(&self.time).ok_or_else(|| RequestDocError::BadTime(self.time.clone()))?;
        let scope = match &self.scope {
            Some(s) => s.as_str(),
            None => bundle.gateway_scope().ok_or(RequestDocError::NoScope)?,
        };
        let r = AccessRequest {
            client_key_id: &self.client_key_id,
            api,
            resource: self.resource.as_deref(),
            source_ip,
            scope,
        };
        Ok((r, now))
    }

    /// Decides and reports.
    pub fn evaluate(&self, bundle: &CompiledBundle) -> Result<DecisionReport, RequestDocError> {
        let (r, now) = self.to_request(bundle)?;
        Ok(decide(bundle, &r, now).to_report())
    }
}

/// One failed check of one policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify), tsify(missing_as_null))]
pub struct FailedCheck {
    pub policy: String,
    /// `Scope`, `Role`, `Resource` or `Network`.
    #[cfg_attr(feature = "tsify", tsify(type = "\"Scope\" | \"Role\" | \"Resource\" | \"Network\""))]
    pub check: String,
}

/// How one policy fared, check by check (`Pass`, `Fail`, `NotEvaluated`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify), tsify(missing_as_null))]
pub struct PolicyTraceReport {
    pub policy: String,
    #[cfg_attr(feature = "tsify", tsify(type = "CheckOutcome"))]
    pub scope: String,
    #[cfg_attr(feature = "tsify", tsify(type = "CheckOutcome"))]
    pub role: String,
    #[cfg_attr(feature = "tsify", tsify(type = "CheckOutcome"))]
    pub resource: String,
    #[cfg_attr(feature = "tsify", tsify(type = "CheckOutcome"))]
    pub network: String,
}

/// A decision as JSON (PascalCase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify), tsify(missing_as_null))]
pub struct DecisionReport {
    pub allowed: bool,
    /// Wire error code of a deny.
    pub error_code: Option<String>,
    /// 200 when allowed.
    pub http_status: u16,
    /// The operator's account of a deny: for a policy deny, the AAP and how each policy fared.
    pub message: Option<String>,
    /// The ErrorMessage the caller gets (Alibaba's wording; no AAP, policy or check names).
    #[serde(default)]
    pub wire_message: Option<String>,
    pub client_key_id: Option<String>,
    pub aap: Option<String>,
    pub policy: Option<String>,
    pub resource: Option<String>,
    /// The QPS group of the request.
    pub qps_group: Option<String>,
    /// For a policy deny: the failing check of each policy.
    pub failed_checks: Vec<FailedCheck>,
    pub trace: Vec<PolicyTraceReport>,
}

impl Decision<'_> {
    /// The owned report.
    pub fn to_report(&self) -> DecisionReport {
        let failed_checks = if self.allowed {
            Vec::new()
        } else {
            self.trace
                .iter()
                .filter_map(|t| {
                    t.failed_check().map(|c| FailedCheck { policy: t.policy().to_owned(), check: c.name().to_owned() })
                })
                .collect()
        };
        DecisionReport {
            allowed: self.allowed,
            error_code: self.error_code_str().map(str::to_owned),
            http_status: self.http_status(),
            message: (!self.allowed).then(|| self.message()),
            wire_message: (!self.allowed).then(|| self.wire_message()),
            client_key_id: self.client_key.map(str::to_owned),
            aap: self.aap.map(str::to_owned),
            policy: self.policy.map(str::to_owned),
            resource: self.resource.map(str::to_owned),
            qps_group: self.qps_group().map(|g| g.name().to_owned()),
            failed_checks,
            trace: self
                .trace
                .iter()
                .map(|t| PolicyTraceReport {
                    policy: t.policy().to_owned(),
                    scope: t.scope.name().to_owned(),
                    role: t.role.name().to_owned(),
                    resource: t.resource.name().to_owned(),
                    network: t.network.name().to_owned(),
                })
                .collect(),
        }
    }
}
