//! The evaluator: `decide` turns a compiled bundle and a request into a [`Decision`]. Deny by
//! default. Nothing here allocates: the decision borrows names from the bundle and the request,
//! the trace is a fixed array, and the message is formatted only when asked for.

use core::fmt;
use std::net::IpAddr;

use crate::bundle::model::KeyState;
use crate::catalogue::{Api, Permission, ResourceKind};
use crate::compiled::ipset::{Addr, IpSet};
use crate::compiled::{CAap, CPolicy, CompiledBundle};
use crate::error::ErrorCode;
use crate::openapi::OpenApiCode;
use crate::time::{format_iso8601, UnixTime};
use crate::wire::ProtoError;

/// One access request, already authenticated (or assumed so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRequest<'a> {
    /// The client key id (`x-kms-acccesskeyid`).
    pub client_key_id: &'a str,
    /// The operation.
    pub api: Api,
    /// Key id, `alias/...` or secret name; `None` for GenerateRandom.
    pub resource: Option<&'a str>,
    /// Source address of the caller.
    pub source_ip: IpAddr,
    /// The scope the request arrives in: `kst-...` or `shared`.
    pub scope: &'a str,
}

/// Outcome of one check of one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
pub enum CheckOutcome {
    Pass,
    Fail,
    /// An earlier check of the same policy failed.
    #[default]
    NotEvaluated,
}

/// The four checks, in evaluation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Scope,
    Role,
    Resource,
    Network,
}

impl Check {
    /// Stable name (`Scope`, `Role`, `Resource`, `Network`).
    pub const fn name(self) -> &'static str {
        match self {
            Check::Scope => "Scope",
            Check::Role => "Role",
            Check::Resource => "Resource",
            Check::Network => "Network",
        }
    }
}

impl CheckOutcome {
    /// Stable name (`Pass`, `Fail`, `NotEvaluated`).
    pub const fn name(self) -> &'static str {
        match self {
            CheckOutcome::Pass => "Pass",
            CheckOutcome::Fail => "Fail",
            CheckOutcome::NotEvaluated => "NotEvaluated",
        }
    }
}

/// How one policy fared.
#[derive(Clone, Copy, Default)]
pub struct PolicyTrace<'a> {
    /// The policy (a reference, not its name and scope: a decision is copied on its way out, and
    /// a smaller trace is a cheaper copy).
    pub(crate) policy: Option<&'a CPolicy>,
    pub(crate) scope: CheckOutcome,
    pub(crate) role: CheckOutcome,
    pub(crate) resource: CheckOutcome,
    pub(crate) network: CheckOutcome,
}

impl fmt::Debug for PolicyTrace<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyTrace")
            .field("policy", &self.policy())
            .field("policy_scope", &self.policy_scope())
            .field("scope", &self.scope)
            .field("role", &self.role)
            .field("resource", &self.resource)
            .field("network", &self.network)
            .finish()
    }
}

impl PartialEq for PolicyTrace<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.policy() == other.policy()
            && self.policy_scope() == other.policy_scope()
            && [self.scope, self.role, self.resource, self.network]
                == [other.scope, other.role, other.resource, other.network]
    }
}

impl Eq for PolicyTrace<'_> {}

impl<'a> PolicyTrace<'a> {
    /// The policy's name.
    pub fn policy(&self) -> &'a str {
        self.policy.map_or("", |p| &p.name)
    }

    /// The policy's own scope (`KmsInstance`).
    pub fn policy_scope(&self) -> &'a str {
        self.policy.map_or("", |p| &p.scope)
    }

    /// The Scope check.
    pub fn scope(&self) -> CheckOutcome {
        self.scope
    }

    /// The Role (permission) check.
    pub fn role(&self) -> CheckOutcome {
        self.role
    }

    /// The Resource check.
    pub fn resource(&self) -> CheckOutcome {
        self.resource
    }

    /// The Network check.
    pub fn network(&self) -> CheckOutcome {
        self.network
    }
}

impl PolicyTrace<'_> {
    /// The check that failed, if any.
    pub fn failed_check(&self) -> Option<Check> {
        [
            (Check::Scope, self.scope),
            (Check::Role, self.role),
            (Check::Resource, self.resource),
            (Check::Network, self.network),
        ]
        .into_iter()
        .find(|(_, o)| *o == CheckOutcome::Fail)
        .map(|(c, _)| c)
    }

    /// True when every check passed.
    pub fn passed(&self) -> bool {
        [self.scope, self.role, self.resource, self.network].iter().all(|o| *o == CheckOutcome::Pass)
    }
}

/// The traces of an AAP's policies (at most 3, no heap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolicyTraces<'a> {
    items: [PolicyTrace<'a>; 3],
    len: u8,
}

impl<'a> PolicyTraces<'a> {
    fn push(&mut self, t: PolicyTrace<'a>) {
        if let Some(slot) = self.items.get_mut(usize::from(self.len)) {
            *slot = t;
            self.len += 1;
        }
    }

    /// The traces, in the AAP's policy order.
    pub fn as_slice(&self) -> &[PolicyTrace<'a>] {
        self.items.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Iterates the traces.
    pub fn iter(&self) -> impl Iterator<Item = &PolicyTrace<'a>> {
        self.as_slice().iter()
    }

    /// Number of traces.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when no policy was evaluated.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Which door a request came through; it decides the error table of a deny (the Instance API's
/// protobuf `Error` codes, or the KMS endpoint's OpenAPI codes). A request in scope `shared` is a
/// KMS-endpoint request (`docs/bundle-format.md#scopes-and-roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Endpoint {
    /// The KMS instance endpoint (Instance API, protobuf errors, [`ErrorCode`]).
    #[default]
    Instance,
    /// The KMS endpoint, i.e. the shared gateway (OpenAPI, JSON errors, [`OpenApiCode`]).
    Kms,
}

impl Endpoint {
    /// The endpoint of a request decided in `scope`.
    pub fn of_scope(scope: &str) -> Endpoint {
        if crate::scope::is_shared_scope(scope) {
            Endpoint::Kms
        } else {
            Endpoint::Instance
        }
    }
}

/// Which permission a policy check was about (GetSecretValue has two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// CryptoServiceKeyUser on the key.
    Key,
    /// CryptoServiceSecretUser on the secret, or SecretUser in scope `shared`.
    Secret,
    /// CryptoServiceKeyUser on the key that encrypts the secret.
    EncryptionKey,
    /// CryptoServiceKeyUser in scope, for GenerateRandom.
    Random,
}

/// Why a request was denied; `code()` gives the error code and `Display` the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DenyReason<'a> {
    /// Not denied.
    #[default]
    None,
    MissingAccessKeyId,
    InvalidApiVersion(&'a str),
    InvalidApiName(&'a str),
    SignatureMethodMissing,
    SignatureMethodUnsupported(&'a str),
    InvalidContentType(&'a str),
    ContentSha256Mismatch,
    InvalidDate,
    RequestTimeTooSkewed {
        date: UnixTime,
        now: UnixTime,
        window: u32,
    },
    InvalidAuthorization,
    /// A signed header appears more than once.
    DuplicateHeader(&'a str),
    SignatureNotMatch,
    MalformedBody(ProtoError),
    /// The body names no KeyId / SecretName.
    MissingResource(&'static str),
    /// The bundle has no Gateway section, so the request's scope is unknown.
    NoGatewayScope,
    /// X-Forwarded-For from a trusted proxy is not a list of addresses.
    BadForwardedFor,
    UnknownClientKey(&'a str),
    ClientKeyNotYetValid {
        id: &'a str,
        not_before: UnixTime,
    },
    ClientKeyExpired {
        id: &'a str,
        not_after: UnixTime,
    },
    AliasNotFound(&'a str),
    KeyNotFound(&'a str),
    KeyVersionNotFound(&'a str),
    SecretNotFound(&'a str),
    KeyState {
        key_id: &'a str,
        state: KeyState,
    },
    NoPermission {
        resource: &'a str,
        requirement: Requirement,
        api: Api,
        source_ip: IpAddr,
        scope: &'a str,
    },
    /// KMS endpoint: a parameter given more than once (query and form body together).
    DuplicateParameter(&'a str),
    /// KMS endpoint: a required parameter is absent or empty.
    MissingRpcParameter(&'static str),
    /// KMS endpoint: `Version` is not `2016-01-20`.
    InvalidVersion(&'a str),
    /// KMS endpoint: `SignatureMethod` is not `SHA256withRSA`.
    RpcSignatureMethod(&'a str),
    /// KMS endpoint: `SignatureType` is not `PRIVATEKEY`.
    RpcSignatureType(&'a str),
    /// KMS endpoint: `SignatureVersion` is not `1.0`.
    RpcSignatureVersion(&'a str),
    /// KMS endpoint: `Format` asks for something other than JSON.
    UnsupportedFormat(&'a str),
    /// KMS endpoint: `Timestamp` is not `YYYY-MM-DDThh:mm:ssZ`.
    InvalidTimestamp(&'a str),
    /// The shared gateway serves a client key GetSecretValue only; this is the action (or API) asked for.
    NotOnSharedGateway(&'a str),
    /// An Instance API request at a gateway whose `Gateway.Scope` is `shared`: the Instance API is
    /// decided in a KMS instance's scope only.
    InstanceApiInSharedScope,
    /// A RAM-role session whose role's AAP is not in the bundle as a RAM-role AAP (deleted, or
    /// rebound since the session was issued).
    NoSuchRamRoleAap,
}

impl DenyReason<'_> {
    /// The error code (None for `DenyReason::None`). The code → status mapping is `ErrorCode`'s.
    pub fn code(&self) -> Option<ErrorCode> {
        use DenyReason as R;
        Some(match self {
            R::None => return None,
            R::MissingAccessKeyId | R::MissingResource(_) => ErrorCode::MissingParameter,
            R::InvalidApiVersion(_) => ErrorCode::InvalidApiVersion,
            R::InvalidApiName(_) => ErrorCode::InvalidApiName,
            R::SignatureMethodMissing
            | R::SignatureMethodUnsupported(_)
            | R::ContentSha256Mismatch
            | R::InvalidDate
            | R::InvalidAuthorization
            | R::DuplicateHeader(_) => ErrorCode::InvalidParam,
            R::InvalidContentType(_) => ErrorCode::InvalidContentType,
            R::RequestTimeTooSkewed { .. } => ErrorCode::RequestTimeTooSkewed,
            R::SignatureNotMatch => ErrorCode::SignatureNotMatch,
            R::MalformedBody(_) | R::BadForwardedFor => ErrorCode::InvalidParameter,
            R::NoGatewayScope => ErrorCode::InternalFailure,
            R::UnknownClientKey(_) | R::ClientKeyNotYetValid { .. } | R::ClientKeyExpired { .. } => {
                ErrorCode::Unauthorized
            }
            R::AliasNotFound(_) | R::KeyNotFound(_) | R::KeyVersionNotFound(_) => ErrorCode::ForbiddenKeyNotFound,
            R::SecretNotFound(_) => ErrorCode::ForbiddenResourceNotFound,
            R::KeyState { state: KeyState::Disabled | KeyState::Enabled, .. } => ErrorCode::RejectedDisabled,
            R::KeyState { state: KeyState::PendingDeletion, .. } => ErrorCode::RejectedPendingDeletion,
            R::KeyState { state: KeyState::PendingImport, .. } => ErrorCode::RejectedPendingImport,
            R::NoPermission { .. } | R::NotOnSharedGateway(_) => ErrorCode::ForbiddenNoPermission,
            R::DuplicateParameter(_) | R::UnsupportedFormat(_) => ErrorCode::InvalidParameter,
            R::MissingRpcParameter(_) => ErrorCode::MissingParameter,
            R::InvalidVersion(_) => ErrorCode::InvalidApiVersion,
            R::RpcSignatureMethod(_) | R::RpcSignatureType(_) | R::RpcSignatureVersion(_) | R::InvalidTimestamp(_) => {
                ErrorCode::InvalidParam
            }
            R::InstanceApiInSharedScope => ErrorCode::InternalFailure,
            R::NoSuchRamRoleAap => ErrorCode::ForbiddenNoPermission,
        })
    }

    /// The KMS endpoint's error code (None for `DenyReason::None`): the shared gateway's table.
    pub fn openapi_code(&self) -> Option<OpenApiCode> {
        use DenyReason as R;
        use OpenApiCode as C;
        Some(match self {
            R::None => return None,
            R::MissingAccessKeyId | R::MissingResource(_) | R::MissingRpcParameter(_) => C::MissingParameter,
            R::InvalidApiVersion(_) | R::InvalidVersion(_) => C::InvalidVersion,
            R::SignatureMethodMissing | R::SignatureMethodUnsupported(_) | R::RpcSignatureMethod(_) => {
                C::InvalidSignatureMethod
            }
            R::InvalidApiName(_)
            | R::InvalidContentType(_)
            | R::MalformedBody(_)
            | R::BadForwardedFor
            | R::DuplicateHeader(_)
            | R::DuplicateParameter(_)
            | R::UnsupportedFormat(_) => C::InvalidParameter,
            R::ContentSha256Mismatch | R::SignatureNotMatch => C::SignatureDoesNotMatch,
            R::InvalidAuthorization | R::RpcSignatureType(_) | R::RpcSignatureVersion(_) => C::IncompleteSignature,
            R::InvalidDate | R::InvalidTimestamp(_) => C::InvalidTimeStampFormat,
            R::RequestTimeTooSkewed { .. } => C::InvalidTimeStampExpired,
            R::NoGatewayScope | R::InstanceApiInSharedScope => C::InternalFailure,
            R::UnknownClientKey(_) => C::InvalidAccessKeyIdNotFound,
            R::ClientKeyNotYetValid { .. } | R::ClientKeyExpired { .. } => C::InvalidAccessKeyIdInactive,
            R::AliasNotFound(_) | R::KeyNotFound(_) | R::KeyVersionNotFound(_) | R::SecretNotFound(_) => {
                C::ForbiddenResourceNotFound
            }
            R::KeyState { state: KeyState::Disabled | KeyState::Enabled, .. } => C::RejectedDisabled,
            R::KeyState { state: KeyState::PendingDeletion, .. } => C::RejectedPendingDeletion,
            R::KeyState { state: KeyState::PendingImport, .. } => C::RejectedPendingImport,
            R::NoPermission { .. } | R::NotOnSharedGateway(_) | R::NoSuchRamRoleAap => C::ForbiddenNoPermission,
        })
    }
}

/// The outcome of `decide` / `authorize`. Read through its accessors; only policy-core builds one,
/// so `allowed`, `code` and `reason` always agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'a> {
    pub(crate) allowed: bool,
    /// The error code of a deny.
    pub(crate) code: Option<ErrorCode>,
    /// The client key. From `authorize`: set only once the request's signature verified (the
    /// caller is authenticated); `decide` assumes the request was.
    pub(crate) client_key: Option<&'a str>,
    /// The client key's AAP.
    pub(crate) aap: Option<&'a str>,
    /// The policy that allowed the request (for GetSecretValue: the one granting the secret).
    pub(crate) policy: Option<&'a str>,
    /// The operation, once known.
    pub(crate) api: Option<Api>,
    /// The resolved resource: key id (aliases and key versions resolved) or secret name.
    pub(crate) resource: Option<&'a str>,
    /// The key's KeySpec when the resource is a catalogued key (for the QPS group).
    pub(crate) key_spec: Option<&'a str>,
    /// The key version the request named (a Decrypt blob's), set by `authorize`: the upstream
    /// must use exactly this version.
    pub(crate) key_version: Option<&'a str>,
    /// For GetSecretValue: the secret's encryption key id the decision covered.
    pub(crate) secret_key: Option<&'a str>,
    /// For a policy deny: how every policy of the AAP fared on the requirement that failed.
    pub(crate) trace: PolicyTraces<'a>,
    pub(crate) reason: DenyReason<'a>,
    /// The door the request came through (its error table).
    pub(crate) endpoint: Endpoint,
}

/// Accessors.
impl<'a> Decision<'a> {
    /// True when the request is allowed.
    pub fn allowed(&self) -> bool {
        self.allowed
    }

    /// The error code of a deny.
    pub fn code(&self) -> Option<ErrorCode> {
        self.code
    }

    /// The client key. From `authorize`: set only once the request's signature verified (the
    /// caller is authenticated); `decide` assumes the request was.
    pub fn client_key(&self) -> Option<&'a str> {
        self.client_key
    }

    /// The client key's AAP.
    pub fn aap(&self) -> Option<&'a str> {
        self.aap
    }

    /// The policy that allowed the request (for GetSecretValue: the one granting the secret).
    pub fn policy(&self) -> Option<&'a str> {
        self.policy
    }

    /// The operation, once known.
    pub fn api(&self) -> Option<Api> {
        self.api
    }

    /// The resolved resource: key id (aliases and key versions resolved) or secret name.
    pub fn resource(&self) -> Option<&'a str> {
        self.resource
    }

    /// The key's KeySpec when the resource is a catalogued key (for the QPS group).
    pub fn key_spec(&self) -> Option<&'a str> {
        self.key_spec
    }

    /// The key version the request named (a Decrypt blob's), set by `authorize`: the upstream
    /// must use exactly this version.
    pub fn key_version(&self) -> Option<&'a str> {
        self.key_version
    }

    /// For GetSecretValue: the secret's encryption key id the decision covered.
    pub fn secret_key(&self) -> Option<&'a str> {
        self.secret_key
    }

    /// For a policy deny: how every policy of the AAP fared on the requirement that failed.
    pub fn trace(&self) -> &PolicyTraces<'a> {
        &self.trace
    }

    /// Why the request was denied (`DenyReason::None` when allowed).
    pub fn reason(&self) -> DenyReason<'a> {
        self.reason
    }

    /// The door the request came through: it picks the error table of a deny.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// The KMS endpoint's code of a deny (whatever the endpoint; [`Decision::code`] is the
    /// Instance API's).
    pub fn openapi_code(&self) -> Option<OpenApiCode> {
        if self.allowed {
            None
        } else {
            self.reason.openapi_code()
        }
    }

    /// The wire code of a deny in its endpoint's table (`Forbidden.NoPermission`,
    /// `InvalidTimeStamp.Expired`, …).
    pub fn error_code_str(&self) -> Option<&'static str> {
        match self.endpoint {
            Endpoint::Instance => self.code.map(ErrorCode::as_str),
            Endpoint::Kms => self.openapi_code().map(OpenApiCode::as_str),
        }
    }
}

impl<'a> Decision<'a> {
    #[inline]
    pub(crate) fn deny(reason: DenyReason<'a>) -> Decision<'a> {
        Decision {
            allowed: false,
            code: reason.code(),
            client_key: None,
            aap: None,
            policy: None,
            api: None,
            resource: None,
            key_spec: None,
            key_version: None,
            secret_key: None,
            trace: PolicyTraces::default(),
            reason,
            endpoint: Endpoint::Instance,
        }
    }

    fn with_reason(mut self, reason: DenyReason<'a>) -> Decision<'a> {
        self.deny_with(reason);
        self
    }

    /// In place: the evaluator fills one decision rather than moving it through every step.
    fn deny_with(&mut self, reason: DenyReason<'a>) {
        self.allowed = false;
        self.code = reason.code();
        self.reason = reason;
    }

    /// A deny that is not a policy's: no trace, even when the policies were evaluated first.
    fn deny_untraced(&mut self, reason: DenyReason<'a>) {
        self.trace = PolicyTraces::default();
        self.deny_with(reason);
    }

    /// Allowed by `p`; `trace` holds the traces of the requirement it met.
    fn allow(&mut self, p: &'a CPolicy) {
        self.allowed = true;
        self.code = None;
        self.reason = DenyReason::None;
        self.policy = Some(&p.name);
    }

    /// HTTP status: 200 when allowed, else the status of the code in its endpoint's table.
    pub fn http_status(&self) -> u16 {
        match self.endpoint {
            Endpoint::Instance => self.code.map_or(200, ErrorCode::http_status),
            Endpoint::Kms => self.openapi_code().map_or(200, OpenApiCode::http_status),
        }
    }

    /// The `ErrorMessage` for the wire (empty when allowed).
    pub fn message(&self) -> String {
        let mut s = String::new();
        let _ = fmt::write(&mut s, format_args!("{}", DisplayMessage(self)));
        s
    }

    /// The `ErrorMessage` the caller gets (empty when allowed): Alibaba's wording, which names
    /// only what the caller sent. A policy deny says which resource was refused, never the AAP,
    /// the policies, their scopes or the check that failed; [`Decision::message`] (the operator's
    /// view, for the audit log, `aapkit eval` and the playground) has all of that.
    pub fn wire_message(&self) -> String {
        if self.endpoint == Endpoint::Kms {
            return self.openapi_wire_message(None);
        }
        match self.reason {
            DenyReason::NoPermission { resource, requirement, .. } => {
                // For a secret's encryption key the caller named the secret, not the key.
                let named = match (requirement, self.resource) {
                    (Requirement::EncryptionKey, Some(secret)) => secret,
                    _ => resource,
                };
                format!("This operation for \"{named}\" is forbidden by permission system.")
            }
            DenyReason::NoGatewayScope | DenyReason::InstanceApiInSharedScope => {
                ErrorCode::InternalFailure.default_message().to_owned()
            }
            _ => self.message(),
        }
    }

    /// The KMS endpoint's `Message` of a deny (empty when allowed): POP's wording, naming only what
    /// the caller sent. `string_to_sign` goes into a SignatureDoesNotMatch message after the `:` the
    /// core SDK splits on (`docs/protocol.md#shared-gateway`).
    pub(crate) fn openapi_wire_message(&self, string_to_sign: Option<&str>) -> String {
        use DenyReason as R;
        match self.reason {
            R::None => String::new(),
            R::MissingAccessKeyId => missing("AccessKeyId"),
            R::MissingResource(p) | R::MissingRpcParameter(p) => missing(p),
            R::DuplicateParameter(p) => format!("The parameter \"{p}\" is invalid: it is given more than once."),
            R::UnsupportedFormat(v) => {
                format!("The parameter \"Format\" is invalid: \"{v}\" is not supported; this endpoint answers JSON.")
            }
            R::InvalidVersion(v) | R::InvalidApiVersion(v) => {
                format!("Specified parameter Version \"{v}\" is not valid; this endpoint serves 2016-01-20.")
            }
            R::RpcSignatureMethod(m) | R::SignatureMethodUnsupported(m) => format!(
                "Specified signature method \"{m}\" is not supported: a client key signs with SHA256withRSA."
            ),
            R::RpcSignatureType(t) => format!(
                "The request signature does not conform to Aliyun standards: SignatureType \"{t}\" is not PRIVATEKEY."
            ),
            R::RpcSignatureVersion(v) => format!(
                "The request signature does not conform to Aliyun standards: SignatureVersion \"{v}\" is not 1.0."
            ),
            R::InvalidTimestamp(t) => format!(
                "Specified time stamp or date value is not well formatted: {t} (expected YYYY-MM-DDThh:mm:ssZ)."
            ),
            R::RequestTimeTooSkewed { date, window, .. } => format!(
                "Specified time stamp or date value is expired: {} is more than {} minutes from the server's time.",
                format_iso8601(date),
                window / 60
            ),
            R::SignatureNotMatch => format!(
                "Specified signature is not matched with our calculation. server string to sign is:{}",
                string_to_sign.unwrap_or_default()
            ),
            R::UnknownClientKey(_) => "Specified access key is not found.".to_owned(),
            R::ClientKeyNotYetValid { not_before, .. } => format!(
                "Specified access key is not active: the client key is valid from {}.",
                format_iso8601(not_before)
            ),
            R::ClientKeyExpired { not_after, .. } => format!(
                "Specified access key is not active: the client key expired at {}.",
                format_iso8601(not_after)
            ),
            R::NotOnSharedGateway(a) => format!(
                "This operation \"{a}\" is forbidden by permission system: a client key may call only GetSecretValue on the KMS endpoint."
            ),
            R::NoSuchRamRoleAap => "This operation is forbidden by permission system.".to_owned(),
            R::NoGatewayScope | R::InstanceApiInSharedScope => ErrorCode::InternalFailure.default_message().to_owned(),
            R::BadForwardedFor => {
                "The parameter \"X-Forwarded-For\" is invalid: it is not a list of IP addresses.".to_owned()
            }
            // The policy deny, resources and key states: the Instance API's words, which are KMS's.
            _ => {
                let instance = Decision { endpoint: Endpoint::Instance, ..*self };
                instance.wire_message()
            }
        }
    }

    /// The protobuf `Error` body of a deny (`None` when allowed), with [`Decision::wire_message`].
    pub fn error_body(&self, request_id: &str) -> Option<Vec<u8>> {
        self.code.map(|c| crate::wire::encode_error_code(c, &self.wire_message(), request_id))
    }

    /// The QPS group of the request, once the API is known.
    pub fn qps_group(&self) -> Option<crate::catalogue::QpsGroup> {
        self.api.map(|a| a.qps_group(self.key_spec))
    }
}

fn missing(p: &str) -> String {
    format!("The input parameter \"{p}\" that is mandatory for processing this request is not supplied.")
}

struct DisplayMessage<'d, 'a>(&'d Decision<'a>);

impl fmt::Display for DisplayMessage<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DenyReason as R;
        let d = self.0;
        match d.reason {
            R::None => Ok(()),
            R::MissingAccessKeyId => f.write_str("Parameter x-kms-acccesskeyid does not exist in http header or body."),
            R::InvalidApiVersion(v) => write!(f, "The ApiVersion \"{v}\" is invalid."),
            R::InvalidApiName(v) => write!(f, "The ApiName \"{v}\" is invalid."),
            R::SignatureMethodMissing => f.write_str("The Param x-kms-signaturemethod is invalid."),
            R::SignatureMethodUnsupported(v) => write!(f, "The Param x-kms-signaturemethod is invalid. message:\"{v}\"."),
            R::InvalidContentType(v) => write!(f, "Content-Type \"{v}\" is unsupported."),
            R::ContentSha256Mismatch => f.write_str("The Param Content-SHA256 is invalid."),
            R::InvalidDate => f.write_str("The Param Date is invalid."),
            R::RequestTimeTooSkewed { date, now, window } => write!(
                f,
                "Request time exceeds server time more than {} minutes. (request date {}, server time {})",
                window / 60,
                format_iso8601(date),
                format_iso8601(now)
            ),
            R::InvalidAuthorization => f.write_str("The Param Authorization is invalid."),
            R::DuplicateHeader(h) => write!(f, "The Param {h} is invalid. (header sent more than once)"),
            R::SignatureNotMatch => f.write_str("Signature is not matched."),
            R::MalformedBody(e) => write!(f, "The specified parameter is not valid. ({e})"),
            R::MissingResource(p) => write!(f, "Parameter {p} does not exist in http header or body."),
            R::NoGatewayScope => f.write_str("Internal Failure. (the policy bundle has no Gateway.Scope)"),
            R::BadForwardedFor => {
                f.write_str("The specified parameter is not valid. (X-Forwarded-For is not a list of IP addresses)")
            }
            R::UnknownClientKey(id) => write!(f, "The AccessKey ID \"{id}\" does not exist in our records."),
            R::ClientKeyNotYetValid { id, not_before } => write!(
                f,
                "The AccessKey ID \"{id}\" is not yet valid: the client key's NotBefore is {}.",
                format_iso8601(not_before)
            ),
            R::ClientKeyExpired { id, not_after } => write!(
                f,
                "The AccessKey ID \"{id}\" has expired: the client key's NotAfter was {}.",
                format_iso8601(not_after)
            ),
            R::AliasNotFound(a) => write!(f, "The key Key ID or Alias does not exist in the system. (alias \"{a}\")"),
            R::KeyNotFound(k) => write!(f, "The key Key ID or Alias does not exist in the system. (key \"{k}\")"),
            R::KeyVersionNotFound(v) => write!(
                f,
                "The key Key ID or Alias does not exist in the system. (no key has the version \"{v}\" named in the CiphertextBlob)"
            ),
            R::SecretNotFound(s) => write!(f, "The specified secret \"{s}\" does not exist."),
            R::KeyState { state, .. } => {
                write!(f, "The request was rejected because the key state is {}.", state.name())
            }
            R::DuplicateParameter(p) => write!(f, "The parameter \"{p}\" is invalid: it is given more than once."),
            R::MissingRpcParameter(p) => f.write_str(&missing(p)),
            R::InvalidVersion(v) => {
                write!(f, "Specified parameter Version \"{v}\" is not valid; this endpoint serves 2016-01-20.")
            }
            R::RpcSignatureMethod(m) => write!(
                f,
                "Specified signature method \"{m}\" is not supported: a client key signs with SHA256withRSA."
            ),
            R::RpcSignatureType(t) => write!(f, "SignatureType \"{t}\" is not PRIVATEKEY (a client key's signature)."),
            R::RpcSignatureVersion(v) => write!(f, "SignatureVersion \"{v}\" is not 1.0."),
            R::UnsupportedFormat(v) => write!(f, "Format \"{v}\" is not supported; the KMS endpoint answers JSON."),
            R::InvalidTimestamp(t) => write!(f, "Timestamp \"{t}\" is not YYYY-MM-DDThh:mm:ssZ."),
            R::NotOnSharedGateway(a) => write!(
                f,
                "This operation \"{a}\" is forbidden by permission system: a client key may call only GetSecretValue on the KMS endpoint (scope \"shared\")."
            ),
            R::NoSuchRamRoleAap => f.write_str(
                "This operation is forbidden by permission system. (the session's RAM role is bound to no RAM-role AAP of this configuration)",
            ),
            R::InstanceApiInSharedScope => f.write_str(
                "Internal Failure. (Gateway.Scope is `shared`: the Instance API is decided in a KMS instance's scope; the shared gateway takes RPC requests on the KMS endpoint)",
            ),
            R::NoPermission { resource, requirement, api, source_ip, scope } => {
                write!(f, "This operation for \"{resource}\" is forbidden by permission system.")?;
                let need = match (requirement, crate::scope::is_shared_scope(scope)) {
                    (Requirement::Secret, true) => "SecretUser (or CryptoServiceSecretUser on a shared policy)",
                    (Requirement::Secret, false) => Permission::CryptoServiceSecretUser.short_name(),
                    _ => Permission::CryptoServiceKeyUser.short_name(),
                };
                let what = match requirement {
                    Requirement::Key => "the key",
                    Requirement::Secret => "the secret",
                    Requirement::EncryptionKey => "the secret's encryption key",
                    Requirement::Random => "this scope",
                };
                write!(f, " ({api} needs {need} on {what}; AAP \"{}\":", d.aap.unwrap_or(""))?;
                if d.trace.is_empty() {
                    f.write_str(" no policy")?;
                }
                for (i, t) in d.trace.iter().enumerate() {
                    f.write_str(if i == 0 { " " } else { "; " })?;
                    write!(f, "policy \"{}\" ", t.policy())?;
                    match t.failed_check() {
                        Some(Check::Scope) => write!(f, "is for scope \"{}\", not \"{scope}\"", t.policy_scope())?,
                        Some(Check::Role) => write!(f, "does not grant {need}")?,
                        Some(Check::Resource) => write!(f, "does not list \"{resource}\" in its Resources")?,
                        Some(Check::Network) => write!(f, "does not allow source {source_ip} in its network rules")?,
                        None => f.write_str("passed")?,
                    }
                }
                f.write_str(")")
            }
        }
    }
}

/// What a decision works out once and every requirement reuses: the request's scope as an id, and
/// the last network lookup (the policies of an AAP usually share their rules, hence one set).
struct Probe<'b> {
    source: Addr,
    scope_id: u32,
    last_net: Option<(&'b IpSet, bool)>,
}

impl<'b> Probe<'b> {
    fn new(b: &CompiledBundle, r: &AccessRequest<'_>) -> Self {
        Probe { source: Addr::of(r.source_ip), scope_id: b.scope_id(r.scope), last_net: None }
    }

    #[inline]
    fn in_network(&mut self, net: &'b IpSet) -> bool {
        if let Some((last, ok)) = self.last_net {
            if last.same_set(net) {
                return ok;
            }
        }
        let ok = net.contains_addr(self.source);
        self.last_net = Some((net, ok));
        ok
    }
}

#[inline]
fn outcome(ok: bool) -> CheckOutcome {
    if ok {
        CheckOutcome::Pass
    } else {
        CheckOutcome::Fail
    }
}

/// Evaluates one requirement over the AAP's policies into `traces` (empty before). Returns the
/// first allowing policy.
#[inline]
fn evaluate<'a>(
    b: &'a CompiledBundle,
    aap: &'a CAap,
    perms: u8,
    matches: impl Fn(usize, &CPolicy) -> bool,
    probe: &mut Probe<'a>,
    traces: &mut PolicyTraces<'a>,
) -> Option<&'a CPolicy> {
    let mut chosen: Option<&CPolicy> = None;
    for &pi in &aap.policies {
        let Some(p) = b.policies.get(pi) else { continue };
        // The checks in order; the first to fail leaves the later ones NotEvaluated.
        let mut t = PolicyTrace { policy: Some(p), ..PolicyTrace::default() };
        let scope = p.scope_id == probe.scope_id;
        t.scope = outcome(scope);
        if scope {
            let role = p.perms & perms != 0;
            t.role = outcome(role);
            if role {
                let resource = matches(pi, p);
                t.resource = outcome(resource);
                if resource {
                    let network = probe.in_network(&p.net);
                    t.network = outcome(network);
                    if network && chosen.is_none() {
                        chosen = Some(p);
                    }
                }
            }
        }
        traces.push(t);
    }
    chosen
}

/// Whether a policy of the AAP meets a requirement: `evaluate` without the traces, for a
/// requirement whose traces a decision keeps only when it fails.
#[inline]
fn any_allows<'a>(
    b: &'a CompiledBundle,
    aap: &'a CAap,
    perms: u8,
    matches: impl Fn(usize) -> bool,
    probe: &mut Probe<'a>,
) -> bool {
    aap.policies.iter().any(|&pi| {
        b.policies.get(pi).is_some_and(|p| {
            p.scope_id == probe.scope_id && p.perms & perms != 0 && matches(pi) && probe.in_network(&p.net)
        })
    })
}

/// Decides a request. Deny by default; see `docs/bundle-format.md` for the order of checks.
// Inlined into the caller, with `decide_for_key`, so that the decision is built in the caller's
// own slot: returned from a call, it was copied (232 bytes, a tenth of a decision's time).
#[inline]
pub fn decide<'a>(b: &'a CompiledBundle, r: &AccessRequest<'a>, now: UnixTime) -> Decision<'a> {
    match b.client_key(r.client_key_id) {
        Some(ck) => decide_for_key(b, ck, r, now),
        None => {
            let mut d = Decision::deny(DenyReason::UnknownClientKey(r.client_key_id));
            d.endpoint = Endpoint::of_scope(r.scope);
            d
        }
    }
}

#[inline]
pub(crate) fn decide_for_key<'a>(
    b: &'a CompiledBundle,
    ck: &'a crate::compiled::CKey,
    r: &AccessRequest<'a>,
    now: UnixTime,
) -> Decision<'a> {
    let mut d = Decision::deny(DenyReason::None);
    d.client_key = Some(&ck.id);
    d.api = Some(r.api);
    d.endpoint = Endpoint::of_scope(r.scope);
    // Every path fills `d` in place, then returns it.
    if now < ck.not_before {
        d.deny_with(DenyReason::ClientKeyNotYetValid { id: &ck.id, not_before: ck.not_before });
    } else if now > ck.not_after {
        d.deny_with(DenyReason::ClientKeyExpired { id: &ck.id, not_after: ck.not_after });
    } else if let Some(aap) = b.aaps.get(ck.aap) {
        decide_in_aap(b, aap, &mut d, r);
    } else {
        d.deny_with(DenyReason::UnknownClientKey(&ck.id));
    }
    d
}

/// Decides a GetSecretValue made with a RAM-role session on the KMS endpoint. The host has
/// verified the session's signature, security token and expiry, and found the AAP its role is
/// bound to (`aap_name`); that AAP's policies in scope `shared` decide, exactly as for a client
/// key of the AAP, with the source address resolved from `peer` under `Gateway.TrustedProxies`.
/// An AAP that is missing from the bundle, or whose credential is not a RAM role, allows nothing.
/// The decision names no client key.
pub fn decide_ram_role_session<'a>(
    b: &'a CompiledBundle,
    aap_name: &str,
    secret_name: &'a str,
    peer: crate::http::PeerAddr<'_>,
) -> Decision<'a> {
    let mut d = Decision::deny(DenyReason::None);
    d.api = Some(Api::GetSecretValue);
    d.endpoint = Endpoint::Kms;
    let trusted = b.gateway.as_ref().map(|g| &g.trusted);
    let Ok(source_ip) = crate::http::source_ip(trusted, peer) else {
        return d.with_reason(DenyReason::BadForwardedFor);
    };
    let r = AccessRequest {
        client_key_id: "",
        api: Api::GetSecretValue,
        resource: Some(secret_name),
        source_ip,
        scope: crate::scope::SHARED_SCOPE,
    };
    match b.aap(aap_name) {
        Some(aap) if aap.ram_role => {
            decide_in_aap(b, aap, &mut d, &r);
            d
        }
        _ => d.with_reason(DenyReason::NoSuchRamRoleAap),
    }
}

/// The part of a decision after the caller is known: the AAP's policies on the request.
fn decide_in_aap<'a>(b: &'a CompiledBundle, aap: &'a CAap, d: &mut Decision<'a>, r: &AccessRequest<'a>) {
    d.aap = Some(&aap.name);
    let shared = d.endpoint == Endpoint::Kms;
    // The shared gateway serves a client key GetSecretValue and nothing else.
    if shared && r.api != Api::GetSecretValue {
        return d.deny_with(DenyReason::NotOnSharedGateway(r.api.name()));
    }
    let key_user = Permission::CryptoServiceKeyUser.bit();
    let mut probe = Probe::new(b, r);
    let deny_perm = |d: &mut Decision<'a>, resource: &'a str, requirement: Requirement| {
        d.deny_with(DenyReason::NoPermission {
            resource,
            requirement,
            api: r.api,
            source_ip: r.source_ip,
            scope: r.scope,
        })
    };

    match r.api.resource_kind() {
        ResourceKind::None => {
            let p = evaluate(b, aap, key_user, |_, _| true, &mut probe, &mut d.trace);
            match p {
                Some(p) => d.allow(p),
                None => deny_perm(d, r.api.name(), Requirement::Random),
            }
        }
        ResourceKind::Key => {
            let requested = match r.resource {
                Some(s) if !s.is_empty() => s,
                _ => return d.deny_with(DenyReason::MissingResource("KeyId")),
            };
            let (key_id, entry) = if requested.starts_with("alias/") {
                match b.key_by_alias(requested) {
                    Some(k) => (k.id, Some(k)),
                    None => return d.deny_with(DenyReason::AliasNotFound(requested)),
                }
            } else {
                (requested, b.key_by_id(requested))
            };
            d.resource = Some(key_id);
            // Catalogued keys carry their matching policies; others fall back to the patterns.
            let p = match entry {
                Some(k) => evaluate(b, aap, key_user, |i, _| k.policies.contains(i), &mut probe, &mut d.trace),
                None => evaluate(b, aap, key_user, |_, p| p.keys.matches(key_id), &mut probe, &mut d.trace),
            };
            let Some(p) = p else { return deny_perm(d, requested, Requirement::Key) };
            // The denies below are not a policy's: their decisions carry no trace.
            let Some(k) = entry else { return d.deny_untraced(DenyReason::KeyNotFound(requested)) };
            d.key_spec = Some(k.spec);
            if k.state != KeyState::Enabled {
                return d.deny_untraced(DenyReason::KeyState { key_id: k.id, state: k.state });
            }
            d.allow(p)
        }
        ResourceKind::Secret => {
            let name = match r.resource {
                Some(s) if !s.is_empty() => s,
                _ => return d.deny_with(DenyReason::MissingResource("SecretName")),
            };
            d.resource = Some(name);
            // In scope `shared` a policy's secret template compiled to SecretUser (`scope.rs`).
            let perms = if shared { Permission::SecretUser.bit() } else { Permission::CryptoServiceSecretUser.bit() };
            let secret = b.secret_by_name(name);
            let p = match secret {
                Some(s) => evaluate(b, aap, perms, |i, _| s.policies.contains(i), &mut probe, &mut d.trace),
                None => evaluate(b, aap, perms, |_, p| p.secrets.matches(name), &mut probe, &mut d.trace),
            };
            let Some(p) = p else { return deny_perm(d, name, Requirement::Secret) };
            let Some(s) = secret else {
                return d.deny_untraced(DenyReason::SecretNotFound(name));
            };
            let Some(k) = b.key_at(s.key) else { return d.deny_untraced(DenyReason::SecretNotFound(name)) };
            d.key_spec = Some(k.spec);
            d.secret_key = Some(k.id);
            // SecretUser on the shared gateway covers the secret alone; in an instance the AAP also
            // needs key use on the encryption key (`docs/protocol.md#secrets-and-their-encryption-key`).
            if !shared {
                // The secret's traces stay unless the key's requirement is the one that fails: only
                // then are the key's traced.
                if !any_allows(b, aap, key_user, |i| k.policies.contains(i), &mut probe) {
                    d.trace = PolicyTraces::default();
                    evaluate(b, aap, key_user, |i, _| k.policies.contains(i), &mut probe, &mut d.trace);
                    return deny_perm(d, k.id, Requirement::EncryptionKey);
                }
            }
            if k.state != KeyState::Enabled {
                return d.deny_untraced(DenyReason::KeyState { key_id: k.id, state: k.state });
            }
            d.allow(p)
        }
    }
}
