//! `verifySignedRequest` and `stringToSign`: the signed-request view.
//!
//! The verdict (code, status, message) is policy-core's `authorize`. The per-check flags next to
//! it (content-sha256, date, signature) exist so the page can show every failing check and what
//! differs, where `authorize` stops at the first; they call the same policy-core pieces
//! (`string_to_sign`, `parse_rfc1123`, the bundle's client key, `PureRustVerifier`).

use std::net::IpAddr;

use base64::Engine as _;
use policy_core::{
    authorize, format_iso8601, parse_rfc1123, string_to_sign, HttpRequestView, PeerAddr, PureRustVerifier,
    SignatureVerifier, UnixTime, DEFAULT_MAX_SKEW_SECONDS,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tsify::Tsify;
use wasm_bindgen::prelude::*;

use crate::bundle::PolicyHandle;
use crate::convert::{from_json, js_error, to_js};

/// `[name, value]` pairs in order, or an object.
#[derive(Deserialize, Tsify)]
#[tsify(hashmap_as_object)]
#[serde(untagged)]
enum Headers {
    Pairs(Vec<(String, String)>),
    Map(std::collections::BTreeMap<String, String>),
}

/// A raw signed Instance API request. Read through JSON text, so a misspelt field is refused.
#[derive(Deserialize, Tsify)]
#[tsify(missing_as_null)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignedRequestInput {
    /// Default "POST".
    #[serde(default)]
    #[tsify(optional)]
    method: Option<String>,
    headers: Headers,
    /// The body as hex or base64 (one of them; none = empty body).
    #[serde(default)]
    #[tsify(optional)]
    body_hex: Option<String>,
    #[serde(default)]
    #[tsify(optional)]
    body_base64: Option<String>,
    /// Server time, seconds since the epoch; default: the request's own date.
    #[serde(default)]
    #[tsify(optional)]
    now: Option<f64>,
    /// The caller's address (default 127.0.0.1); X-Forwarded-For is honoured for trusted proxies.
    #[serde(default)]
    #[tsify(optional, type = "string | null")]
    source_ip: Option<String>,
}

struct Owned {
    method: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    now: Option<UnixTime>,
    source_ip: Option<IpAddr>,
}

fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    hex::decode(digits).map_err(|e| match e {
        hex::FromHexError::OddLength => "bodyHex has an odd number of digits".to_owned(),
        _ => "bodyHex contains a character that is not a hex digit".to_owned(),
    })
}

impl SignedRequestInput {
    fn into_owned(self) -> Result<Owned, String> {
        let headers = match self.headers {
            Headers::Pairs(p) => p,
            Headers::Map(m) => m.into_iter().collect(),
        };
        let body = match (&self.body_hex, &self.body_base64) {
            (Some(_), Some(_)) => return Err("give bodyHex or bodyBase64, not both".into()),
            (Some(h), None) => decode_hex(h)?,
            (None, Some(b)) => {
                let compact: String = b.chars().filter(|c| !c.is_whitespace()).collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .map_err(|e| format!("bodyBase64 is not valid base64: {e}"))?
            }
            (None, None) => Vec::new(),
        };
        let now = match self.now {
            None => None,
            Some(n) if n.is_finite() && n.abs() < 1e15 => Some(n.floor() as UnixTime),
            Some(_) => return Err("now must be seconds since the epoch".into()),
        };
        let source_ip = match self.source_ip.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(s.parse().map_err(|_| format!("sourceIp `{s}` is not an IPv4 or IPv6 address"))?),
        };
        Ok(Owned { method: self.method.unwrap_or_else(|| "POST".into()), headers, body, now, source_ip })
    }
}

/// Every check of a signed request, and policy-core's verdict.
#[derive(Serialize, Tsify)]
#[tsify(missing_as_null)]
#[serde(rename_all = "camelCase")]
struct SignedRequestReport {
    /// The canonical string-to-sign rebuilt from the request.
    string_to_sign: String,
    content_sha256_ok: bool,
    /// Upper-case hex SHA-256 of the body.
    expected_content_sha256: String,
    /// The content-sha256 header, if present.
    given_content_sha256: Option<String>,
    /// null when no server time is known.
    date_ok: Option<bool>,
    date_detail: String,
    /// null when no bundle or the client key is not in it.
    signature_ok: Option<bool>,
    signature_detail: String,
    /// The verdict of policy-core's authorize (false without a bundle).
    allowed: bool,
    code: Option<String>,
    http_status: Option<u16>,
    message: Option<String>,
    decision: Option<policy_core::DecisionReport>,
}

fn date_check(view: &HttpRequestView<'_>, now: Option<UnixTime>, window: u32) -> (Option<bool>, String) {
    let Some(given) = view.header("date") else {
        return (Some(false), "no date header".into());
    };
    let Some(date) = parse_rfc1123(given.trim()) else {
        return (Some(false), format!("`{given}` is not an RFC 1123 date (e.g. Thu, 06 Feb 2020 07:32:54 GMT)"));
    };
    let Some(now) = now else {
        return (None, format!("request date {}; no server time given", format_iso8601(date)));
    };
    let skew = date.saturating_sub(now);
    let ok = skew.unsigned_abs() <= u64::from(window);
    let detail = format!(
        "request date {}, server time {}: {} s {} (allowed window ±{window} s)",
        format_iso8601(date),
        format_iso8601(now),
        skew.unsigned_abs(),
        if skew >= 0 { "ahead" } else { "behind" },
    );
    (Some(ok), detail)
}

fn signature_check(view: &HttpRequestView<'_>, handle: Option<&PolicyHandle>, sts: &str) -> (Option<bool>, String) {
    let auth = view.header("authorization").map_or("", str::trim);
    let Some(sig_b64) = auth.strip_prefix("Bearer ").map(str::trim).filter(|s| !s.is_empty()) else {
        return (Some(false), "authorization is not `Bearer <base64 signature>`".into());
    };
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(sig_b64) else {
        return (Some(false), "the authorization signature is not valid base64".into());
    };
    let Some(handle) = handle else {
        return (None, "no valid bundle, so no client key to check against".into());
    };
    let key_id = view.header("x-kms-acccesskeyid").map_or("", str::trim);
    let Some(key) = handle.bundle().client_key_public_key(key_id) else {
        return (None, format!("client key `{key_id}` is not in the bundle"));
    };
    if PureRustVerifier.verify_pkcs1v15_sha256(key, sts.as_bytes(), &sig) {
        (Some(true), format!("RSA PKCS#1 v1.5 SHA-256 signature by client key {key_id} verifies"))
    } else {
        (
            Some(false),
            format!("the signature does not verify with client key {key_id}: the string to sign differs from what was signed, or another key signed it"),
        )
    }
}

/// Checks a signed Instance API request against a compiled bundle: the verdict of policy-core's
/// `authorize` plus each check on its own. `now` defaults to the request's own date.
#[wasm_bindgen(js_name = verifySignedRequest, unchecked_return_type = "SignedRequestReport")]
pub fn verify_signed_request(
    #[wasm_bindgen(unchecked_param_type = "SignedRequestInput")] request: JsValue,
    handle: &PolicyHandle,
) -> Result<JsValue, JsValue> {
    verify_inner(request, Some(handle))
}

/// The checks that need no bundle (string to sign, content-sha256, date format and skew with
/// the default window); `signatureOk` and `decision` are `null`.
#[wasm_bindgen(js_name = inspectSignedRequest, unchecked_return_type = "SignedRequestReport")]
pub fn inspect_signed_request(
    #[wasm_bindgen(unchecked_param_type = "SignedRequestInput")] request: JsValue,
) -> Result<JsValue, JsValue> {
    verify_inner(request, None)
}

fn verify_inner(request: JsValue, handle: Option<&PolicyHandle>) -> Result<JsValue, JsValue> {
    let input: SignedRequestInput = from_json(&request, "the signed request")?;
    let o = input.into_owned().map_err(|e| js_error(&e))?;
    let pairs: Vec<(&str, &str)> = o.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let view = HttpRequestView { method: &o.method, headers: &pairs, body: &o.body };
    let sts = string_to_sign(&view);

    let expected = hex::encode_upper(Sha256::digest(&o.body));
    let given = view.header("content-sha256").map(|s| s.trim().to_owned());
    let content_ok = given.as_deref().is_some_and(|g| g.eq_ignore_ascii_case(&expected));

    let now = o.now.or_else(|| view.header("date").and_then(|d| parse_rfc1123(d.trim())));
    let window = handle.map_or(DEFAULT_MAX_SKEW_SECONDS, |h| h.bundle().max_skew_seconds());
    let (date_ok, date_detail) = date_check(&view, now, window);
    let (signature_ok, signature_detail) = signature_check(&view, handle, &sts);

    let decision = match (handle, now) {
        (Some(h), Some(now)) => {
            let peer = PeerAddr {
                ip: o.source_ip.unwrap_or(IpAddr::from([127, 0, 0, 1])),
                forwarded_for: view.header("x-forwarded-for"),
            };
            Some(authorize(h.bundle(), &view, peer, now, &PureRustVerifier).to_report())
        }
        _ => None,
    };
    let report = SignedRequestReport {
        string_to_sign: sts,
        content_sha256_ok: content_ok,
        expected_content_sha256: expected,
        given_content_sha256: given,
        date_ok,
        date_detail,
        signature_ok,
        signature_detail,
        allowed: decision.as_ref().is_some_and(|d| d.allowed),
        code: decision.as_ref().and_then(|d| d.error_code.clone()),
        http_status: decision.as_ref().map(|d| d.http_status),
        message: decision.as_ref().and_then(|d| d.message.clone()),
        decision,
    };
    to_js(&report)
}

/// The canonical string the SDKs sign, rebuilt from a request's method and headers.
#[wasm_bindgen(js_name = stringToSign)]
pub fn string_to_sign_js(
    #[wasm_bindgen(unchecked_param_type = "SignedRequestInput")] request: JsValue,
) -> Result<String, JsValue> {
    let input: SignedRequestInput = from_json(&request, "the signed request")?;
    let o = input.into_owned().map_err(|e| js_error(&e))?;
    let pairs: Vec<(&str, &str)> = o.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Ok(string_to_sign(&HttpRequestView { method: &o.method, headers: &pairs, body: &o.body }))
}
