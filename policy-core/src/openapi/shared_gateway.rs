//! Client-key requests on the KMS endpoint (the shared gateway): the RPC v1 SHA256withRSA envelope,
//! the client key, the signature, and the decision in scope `shared`
//! (`docs/protocol.md#shared-gateway`).
//!
//! The official Secrets Manager client (`aliyun-secret-manager-client` with
//! `credentials_type=client_key`) signs a classic RPC request (`SignatureVersion=1.0`) with the
//! client key's RSA key: `SignatureMethod=SHA256withRSA`, `SignatureType=PRIVATEKEY`,
//! `AccessKeyId=<client key id>`, every parameter in the query. Pure, like the rest of policy-core:
//! the host decodes the parameters, supplies the clock and keeps the nonce replay cache.

use std::net::IpAddr;

use super::rpc_v1::{
    rpc_v1_string_to_sign, verify_rpc_v1_sha256_with_rsa, RPC_V1_SHA256_WITH_RSA, RPC_V1_SIGNATURE_VERSION,
};
use super::OpenApiCode;
use crate::catalogue::Api;
use crate::compiled::CompiledBundle;
use crate::crypto::SignatureVerifier;
use crate::decide::{decide_for_key, AccessRequest, Decision, DenyReason, Endpoint};
use crate::http::{source_ip, PeerAddr};
use crate::report::DecisionReport;
use crate::scope::SHARED_SCOPE;
use crate::time::{parse_iso8601, UnixTime};

/// `Version` of the KMS OpenAPI.
pub const KMS_API_VERSION: &str = "2016-01-20";
/// `SignatureType` of a client-key signature.
pub const SIGNATURE_TYPE_PRIVATE_KEY: &str = "PRIVATEKEY";
/// The one action a client key may call on the KMS endpoint.
pub const SHARED_GATEWAY_ACTION: &str = "GetSecretValue";
/// The client key ids aapkit and Alibaba issue start with this.
pub const CLIENT_KEY_ID_PREFIX: &str = "KAAP.";

/// An RPC request on the KMS endpoint: the HTTP method and its parameters, decoded (query and form
/// body together, in the order received, repeats kept so that they can be refused).
#[derive(Debug, Clone, Copy)]
pub struct RpcRequestView<'a> {
    /// `POST` or `GET` as sent (it is part of what is signed).
    pub method: &'a str,
    /// Decoded `(name, value)` pairs, `Signature` included.
    pub params: &'a [(&'a str, &'a str)],
}

impl<'a> RpcRequestView<'a> {
    /// The value of parameter `name` (the first one).
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    /// True when this is a client-key request, which policy-core decides, rather than an AccessKey
    /// one the host verifies: a `SHA256withRSA` method, a `PRIVATEKEY` type or a `KAAP.` key id,
    /// any one of them (so a client key id with another method is decided, and refused, here).
    pub fn is_client_key_request(&self) -> bool {
        self.params.iter().any(|(k, v)| match *k {
            "SignatureMethod" => *v == RPC_V1_SHA256_WITH_RSA,
            "SignatureType" => *v == SIGNATURE_TYPE_PRIVATE_KEY,
            "AccessKeyId" => v.starts_with(CLIENT_KEY_ID_PREFIX),
            _ => false,
        })
    }
}

/// The decision on a shared-gateway request: a [`Decision`] in scope `shared` (KMS endpoint codes),
/// and the StringToSign the server computed, which the SignatureDoesNotMatch message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedGatewayDecision<'a> {
    decision: Decision<'a>,
    string_to_sign: Option<String>,
}

impl<'a> SharedGatewayDecision<'a> {
    /// The decision: allowed, client key, AAP, policy, resource (the secret name), trace, reason.
    pub fn decision(&self) -> &Decision<'a> {
        &self.decision
    }

    /// True when the request is allowed.
    pub fn allowed(&self) -> bool {
        self.decision.allowed()
    }

    /// The StringToSign rebuilt from the parameters, once the envelope was complete enough to build it.
    pub fn string_to_sign(&self) -> Option<&str> {
        self.string_to_sign.as_deref()
    }

    /// The `Code` of a deny.
    pub fn code(&self) -> Option<OpenApiCode> {
        self.decision.openapi_code()
    }

    /// HTTP status: 200 when allowed, else the code's.
    pub fn http_status(&self) -> u16 {
        self.decision.http_status()
    }

    /// The `Message` the caller gets (empty when allowed): POP's wording; for SignatureDoesNotMatch
    /// `…server string to sign is:<StringToSign>` (the core SDK splits it at the first `:`).
    pub fn wire_message(&self) -> String {
        self.decision.openapi_wire_message(self.string_to_sign.as_deref())
    }

    /// The operator's account of a deny (with the per-policy trace), never sent to the caller.
    pub fn message(&self) -> String {
        self.decision.message()
    }

    /// Alibaba's JSON error body of a deny (`None` when allowed):
    /// `{"RequestId","HostId","Code","Message","Recommend","HttpStatus"}`, what the KMS endpoint sends.
    pub fn error_json(&self, request_id: &str, host_id: &str) -> Option<String> {
        self.code().map(|code| openapi_error_json(code, &self.wire_message(), request_id, host_id))
    }

    /// The report (`DecisionReport`) with the KMS endpoint's code, status and wire message.
    pub fn to_report(&self) -> DecisionReport {
        let mut r = self.decision.to_report();
        if !r.allowed {
            r.wire_message = Some(self.wire_message());
        }
        r
    }
}

/// Alibaba's JSON error body, `{"RequestId","HostId","Code","Message","Recommend","HttpStatus"}`
/// (the KMS endpoint's, `docs/protocol.md#shared-gateway`), for errors decided before a decision
/// exists (a filter that cannot read the parameters) and for [`SharedGatewayDecision::error_json`].
pub fn openapi_error_json(code: OpenApiCode, message: &str, request_id: &str, host_id: &str) -> String {
    error_body_json(code.http_status(), code.as_str(), message, request_id, host_id)
}

/// The same body for any `Code` and status: the one writer of the KMS endpoint's error bodies, which
/// the host's management OpenAPI uses for its own codes too.
pub fn error_body_json(status: u16, code: &str, message: &str, request_id: &str, host_id: &str) -> String {
    serde_json::json!({
        "RequestId": request_id,
        "HostId": host_id,
        "Code": code,
        "Message": message,
        "Recommend": format!("https://api.aliyun.com/troubleshoot?q={code}&product=Kms"),
        "HttpStatus": status,
    })
    .to_string()
}

fn kms_deny<'a>(reason: DenyReason<'a>) -> Decision<'a> {
    let mut d = Decision::deny(reason);
    d.endpoint = Endpoint::Kms;
    d
}

/// The first parameter named twice, if any (names are few: a quadratic scan allocates nothing).
fn duplicate<'a>(params: &[(&'a str, &'a str)]) -> Option<&'a str> {
    params.iter().enumerate().find(|(i, (k, _))| params.iter().skip(i + 1).any(|(k2, _)| k2 == k)).map(|(_, (k, _))| *k)
}

/// Decides a client-key request on the KMS endpoint: the RPC v1 envelope, the client key, the
/// SHA256withRSA signature over [`rpc_v1_string_to_sign`], the action (GetSecretValue only), the
/// source address, then the AAP's policies in scope `shared`. Every failure is a deny carrying its
/// KMS-endpoint code; nothing panics. The order of the checks is in `docs/protocol.md#shared-gateway`.
///
/// Not checked here: `SignatureNonce` reuse (the host's replay cache: an Envoy-only deployment has
/// none unless the proxy adds one) and `RegionId`.
pub fn authorize_shared_gateway<'a>(
    b: &'a CompiledBundle,
    req: &RpcRequestView<'a>,
    peer: PeerAddr<'a>,
    now: UnixTime,
    verifier: &dyn SignatureVerifier,
) -> SharedGatewayDecision<'a> {
    let deny = |reason| SharedGatewayDecision { decision: kms_deny(reason), string_to_sign: None };
    if let Some(name) = duplicate(req.params) {
        return deny(DenyReason::DuplicateParameter(name));
    }
    let present =
        |name: &'static str| req.param(name).filter(|v| !v.is_empty()).ok_or(DenyReason::MissingRpcParameter(name));
    let envelope = (|| {
        let key_id = present("AccessKeyId")?;
        let method = present("SignatureMethod")?;
        if method != RPC_V1_SHA256_WITH_RSA {
            return Err(DenyReason::RpcSignatureMethod(method));
        }
        let sig_type = present("SignatureType")?;
        if sig_type != SIGNATURE_TYPE_PRIVATE_KEY {
            return Err(DenyReason::RpcSignatureType(sig_type));
        }
        let version = present("SignatureVersion")?;
        if version != RPC_V1_SIGNATURE_VERSION {
            return Err(DenyReason::RpcSignatureVersion(version));
        }
        let signature = present("Signature")?;
        present("SignatureNonce")?;
        let api_version = present("Version")?;
        if api_version != KMS_API_VERSION {
            return Err(DenyReason::InvalidVersion(api_version));
        }
        let action = present("Action")?;
        // The clients ask for JSON (`JSON` or `json`); POP's default, XML, is not served.
        if let Some(format) = req.param("Format").filter(|f| !f.eq_ignore_ascii_case("json")) {
            return Err(DenyReason::UnsupportedFormat(format));
        }
        let ts = present("Timestamp")?;
        let Some(date) = parse_iso8601(ts) else { return Err(DenyReason::InvalidTimestamp(ts)) };
        let window = b.max_skew_seconds();
        if date.abs_diff(now) > u64::from(window) {
            return Err(DenyReason::RequestTimeTooSkewed { date, now, window });
        }
        Ok((key_id, signature, action))
    })();
    let (key_id, signature, action) = match envelope {
        Ok(v) => v,
        Err(reason) => return deny(reason),
    };
    let Some(key) = b.client_key(key_id) else { return deny(DenyReason::UnknownClientKey(key_id)) };
    let sts = rpc_v1_string_to_sign(req.method, req.params);
    let decision = decide_verified(b, key, req, peer, now, verifier, &sts, signature, action);
    SharedGatewayDecision { decision, string_to_sign: Some(sts) }
}

/// The checks after the envelope: signature, validity window, action, source address, policies.
#[allow(clippy::too_many_arguments)]
fn decide_verified<'a>(
    b: &'a CompiledBundle,
    key: &'a crate::compiled::CKey,
    req: &RpcRequestView<'a>,
    peer: PeerAddr<'a>,
    now: UnixTime,
    verifier: &dyn SignatureVerifier,
    sts: &str,
    signature: &str,
    action: &'a str,
) -> Decision<'a> {
    if !verify_rpc_v1_sha256_with_rsa(verifier, &key.public_key, sts, signature) {
        return kms_deny(DenyReason::SignatureNotMatch);
    }
    // From here on the caller is authenticated.
    let fail = |reason| {
        let mut d = kms_deny(reason);
        d.client_key = Some(&*key.id);
        d
    };
    // The validity window only after the signature: a stranger learns nothing about it.
    if now < key.not_before {
        return fail(DenyReason::ClientKeyNotYetValid { id: &key.id, not_before: key.not_before });
    }
    if now > key.not_after {
        return fail(DenyReason::ClientKeyExpired { id: &key.id, not_after: key.not_after });
    }
    if action != SHARED_GATEWAY_ACTION {
        return fail(DenyReason::NotOnSharedGateway(action));
    }
    let trusted = b.gateway.as_ref().map(|g| &g.trusted);
    let source: IpAddr = match source_ip(trusted, peer) {
        Ok(ip) => ip,
        Err(()) => return fail(DenyReason::BadForwardedFor),
    };
    let r = AccessRequest {
        client_key_id: &key.id,
        api: Api::GetSecretValue,
        resource: req.param("SecretName"),
        source_ip: source,
        scope: SHARED_SCOPE,
    };
    decide_for_key(b, key, &r, now)
}
