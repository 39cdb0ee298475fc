//! `verifyRpcRequest` / `inspectRpcRequest`: the signed-request view for client-key requests on the
//! KMS endpoint (the shared gateway, RPC v1 SHA256withRSA).
//!
//! The verdict is policy-core's `authorize_shared_gateway`; the per-check flags beside it (the
//! timestamp, the signature) let the page show each check and what differs, where the decision
//! stops at the first failure. They call the same policy-core pieces (`rpc_v1_string_to_sign`,
//! `parse_iso8601`, the bundle's client key, `verify_rpc_v1_sha256_with_rsa`).

use std::net::IpAddr;

use policy_core::openapi::{
    authorize_shared_gateway, decode_form_urlencoded, rpc_v1_string_to_sign, verify_rpc_v1_sha256_with_rsa,
    RpcRequestView,
};
use policy_core::{format_iso8601, parse_iso8601, PeerAddr, PureRustVerifier, UnixTime, DEFAULT_MAX_SKEW_SECONDS};
use serde::{Deserialize, Serialize};
use tsify::Tsify;
use wasm_bindgen::prelude::*;

use crate::bundle::PolicyHandle;
use crate::convert::{from_json, js_error, to_js};

/// A client-key request on the KMS endpoint, as pasted: its URL (or `:path`, or the bare query) and
/// an optional form body. Read through JSON text, so a misspelt field is refused.
#[derive(Deserialize, Tsify)]
#[tsify(missing_as_null)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RpcRequestInput {
    /// Default "POST" (it is signed).
    #[serde(default)]
    #[tsify(optional)]
    method: Option<String>,
    /// `https://host/?a=b…`, `/?a=b…` or `a=b…`.
    query: String,
    /// An `application/x-www-form-urlencoded` body, if the parameters were split.
    #[serde(default)]
    #[tsify(optional)]
    form_body: Option<String>,
    /// Server time, seconds since the epoch; default: the request's own Timestamp.
    #[serde(default)]
    #[tsify(optional)]
    now: Option<f64>,
    /// The caller's address (default 127.0.0.1).
    #[serde(default)]
    #[tsify(optional, type = "string | null")]
    source_ip: Option<String>,
}

/// Every check of an RPC request, and policy-core's verdict.
#[derive(Serialize, Tsify)]
#[tsify(missing_as_null)]
#[serde(rename_all = "camelCase")]
struct RpcRequestReport {
    /// The decoded parameters, in the order received (query, then body).
    parameters: Vec<(String, String)>,
    /// The RPC v1 StringToSign rebuilt from the parameters.
    string_to_sign: String,
    /// True when the request is signed with a client key (else it is an AccessKey's).
    client_key_request: bool,
    /// null when no server time is known.
    timestamp_ok: Option<bool>,
    timestamp_detail: String,
    /// null when no bundle, or the client key is not in it.
    signature_ok: Option<bool>,
    signature_detail: String,
    /// The verdict of policy-core's authorize_shared_gateway (false without a bundle).
    allowed: bool,
    code: Option<String>,
    http_status: Option<u16>,
    /// The operator's account of a deny.
    message: Option<String>,
    /// The JSON error body the KMS endpoint sends for a deny.
    error_body: Option<String>,
    decision: Option<policy_core::DecisionReport>,
}

fn param<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn timestamp_check(p: &[(String, String)], now: Option<UnixTime>, window: u32) -> (Option<bool>, String) {
    let Some(ts) = param(p, "Timestamp") else { return (Some(false), "no Timestamp parameter".into()) };
    let Some(t) = parse_iso8601(ts) else {
        return (Some(false), format!("`{ts}` is not YYYY-MM-DDThh:mm:ssZ"));
    };
    let Some(now) = now else { return (None, format!("Timestamp {ts}; no server time given")) };
    let skew = t.saturating_sub(now);
    let detail = format!(
        "Timestamp {}, server time {}: {} s {} (allowed window ±{window} s)",
        format_iso8601(t),
        format_iso8601(now),
        skew.unsigned_abs(),
        if skew >= 0 { "ahead" } else { "behind" },
    );
    (Some(skew.unsigned_abs() <= u64::from(window)), detail)
}

fn signature_check(p: &[(String, String)], handle: Option<&PolicyHandle>, sts: &str) -> (Option<bool>, String) {
    let Some(sig) = param(p, "Signature").filter(|s| !s.is_empty()) else {
        return (Some(false), "no Signature parameter".into());
    };
    let Some(handle) = handle else { return (None, "no valid bundle, so no client key to check against".into()) };
    let key_id = param(p, "AccessKeyId").unwrap_or_default();
    let Some(key) = handle.bundle().client_key_public_key(key_id) else {
        return (None, format!("client key `{key_id}` is not in the bundle"));
    };
    if verify_rpc_v1_sha256_with_rsa(&PureRustVerifier, key, sts, sig) {
        (Some(true), format!("SHA256withRSA signature by client key {key_id} verifies"))
    } else {
        (
            Some(false),
            format!("the signature does not verify with client key {key_id}: a parameter differs from what was signed, or another key signed it"),
        )
    }
}

/// Checks a client-key request on the KMS endpoint against a compiled bundle: the verdict of
/// policy-core's `authorize_shared_gateway` plus each check on its own. `now` defaults to the
/// request's own Timestamp.
#[wasm_bindgen(js_name = verifyRpcRequest, unchecked_return_type = "RpcRequestReport")]
pub fn verify_rpc_request(
    #[wasm_bindgen(unchecked_param_type = "RpcRequestInput")] request: JsValue,
    handle: &PolicyHandle,
) -> Result<JsValue, JsValue> {
    rpc_inner(request, Some(handle))
}

/// The checks that need no bundle (parameters, StringToSign, timestamp); `signatureOk` and
/// `decision` are `null`.
#[wasm_bindgen(js_name = inspectRpcRequest, unchecked_return_type = "RpcRequestReport")]
pub fn inspect_rpc_request(
    #[wasm_bindgen(unchecked_param_type = "RpcRequestInput")] request: JsValue,
) -> Result<JsValue, JsValue> {
    rpc_inner(request, None)
}

fn rpc_inner(request: JsValue, handle: Option<&PolicyHandle>) -> Result<JsValue, JsValue> {
    let input: RpcRequestInput = from_json(&request, "the RPC request")?;
    let query = input.query.trim();
    let query = query.split_once('?').map_or(query, |(_, q)| q);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let mut params = decode_form_urlencoded(query).map_err(|e| js_error(&format!("query: {e}")))?;
    if let Some(body) = input.form_body.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        params.extend(decode_form_urlencoded(body).map_err(|e| js_error(&format!("formBody: {e}")))?);
    }
    let now = match input.now {
        None => None,
        Some(n) if n.is_finite() && n.abs() < 1e15 => Some(n.floor() as UnixTime),
        Some(_) => return Err(js_error("now must be seconds since the epoch")),
    };
    let source_ip: IpAddr = match input.source_ip.as_deref().map(str::trim) {
        None | Some("") => IpAddr::from([127, 0, 0, 1]),
        Some(s) => s.parse().map_err(|_| js_error(&format!("sourceIp `{s}` is not an IPv4 or IPv6 address")))?,
    };
    let method = input.method.as_deref().map(str::trim).filter(|m| !m.is_empty()).unwrap_or("POST");
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let view = RpcRequestView { method, params: &pairs };
    let sts = rpc_v1_string_to_sign(method, &pairs);
    let now = now.or_else(|| param(&params, "Timestamp").and_then(parse_iso8601));
    let window = handle.map_or(DEFAULT_MAX_SKEW_SECONDS, |h| h.bundle().max_skew_seconds());
    let (timestamp_ok, timestamp_detail) = timestamp_check(&params, now, window);
    let (signature_ok, signature_detail) = signature_check(&params, handle, &sts);
    let shared = match (handle, now) {
        (Some(h), Some(now)) => {
            let peer = PeerAddr { ip: source_ip, forwarded_for: None };
            Some(authorize_shared_gateway(h.bundle(), &view, peer, now, &PureRustVerifier))
        }
        _ => None,
    };
    let decision = shared.as_ref().map(|d| d.to_report());
    let report = RpcRequestReport {
        client_key_request: view.is_client_key_request(),
        string_to_sign: sts,
        timestamp_ok,
        timestamp_detail,
        signature_ok,
        signature_detail,
        allowed: decision.as_ref().is_some_and(|d| d.allowed),
        code: decision.as_ref().and_then(|d| d.error_code.clone()),
        http_status: decision.as_ref().map(|d| d.http_status),
        message: decision.as_ref().and_then(|d| d.message.clone()),
        error_body: shared.as_ref().and_then(|d| d.error_json("playground", "kms.example")),
        decision,
        parameters: params.clone(),
    };
    to_js(&report)
}
