//! The SDK-signed Encrypt vector through `string_to_sign`, `verify_request` and `authorize`:
//! it passes at its date and fails with the right code for every kind of tampering.

use std::net::IpAddr;

use policy_core::{
    authorize, compile_bundle, parse_rfc1123, string_to_sign, CompiledBundle, ErrorCode, HttpRequestView, PeerAddr,
    PureRustVerifier, SignatureVerifier,
};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");

struct Vector {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    string_to_sign: String,
}

fn vector() -> Vector {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DIR}sdk-signed-encrypt.json")).unwrap()).unwrap();
    let headers = doc["request"]["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    Vector {
        headers,
        body: hex::decode(doc["request"]["body_hex"].as_str().unwrap()).unwrap(),
        string_to_sign: doc["string_to_sign"].as_str().unwrap().to_owned(),
    }
}

fn bundle() -> CompiledBundle {
    compile_bundle(&std::fs::read_to_string(format!("{DIR}example-bundle.json")).unwrap()).unwrap()
}

fn now() -> i64 {
    parse_rfc1123("Thu, 06 Feb 2020 07:32:54 GMT").unwrap()
}

const PEER: &str = "172.16.0.10";

fn run(b: &CompiledBundle, headers: &[(String, String)], body: &[u8], now: i64) -> (bool, Option<ErrorCode>, String) {
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let req = HttpRequestView { method: "POST", headers: &h, body };
    let peer = PeerAddr { ip: PEER.parse::<IpAddr>().unwrap(), forwarded_for: None };
    let d = authorize(b, &req, peer, now, &PureRustVerifier);
    (d.allowed(), d.code(), d.message())
}

fn set(headers: &[(String, String)], name: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<_> = headers.iter().filter(|(k, _)| k != name).cloned().collect();
    if let Some(v) = value {
        out.push((name.to_owned(), v.to_owned()));
    }
    out
}

#[test]
fn string_to_sign_matches_the_sdk() {
    let v = vector();
    let h: Vec<(&str, &str)> = v.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let req = HttpRequestView { method: "POST", headers: &h, body: &v.body };
    assert_eq!(string_to_sign(&req), v.string_to_sign);
    // Header names are case-insensitive and their order does not matter.
    let mut upper: Vec<(String, String)> = v.headers.iter().rev().map(|(k, v)| (k.to_uppercase(), v.clone())).collect();
    upper.push(("x-kms-zzz".into(), "  padded  ".into()));
    let h: Vec<(&str, &str)> = upper.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let s = string_to_sign(&HttpRequestView { method: "POST", headers: &h, body: &v.body });
    assert_eq!(s, v.string_to_sign.replace("RSA_PKCS1_SHA_256\n/", "RSA_PKCS1_SHA_256\nx-kms-zzz:padded\n/"));
}

#[test]
fn vector_verifies_and_is_allowed() {
    let (v, b) = (vector(), bundle());
    let (allowed, code, msg) = run(&b, &v.headers, &v.body, now());
    assert!(allowed, "{code:?} {msg}");
    // Up to the skew window on either side.
    assert!(run(&b, &v.headers, &v.body, now() + 900).0);
    assert!(run(&b, &v.headers, &v.body, now() - 900).0);
}

/// The SDK-signed request on the compact form: its client key's public key is the one stored
/// there (no certificate to parse), and the signature verifies and is refused as on the JSON.
#[test]
fn vector_verifies_on_the_compact_form() {
    let (v, b) = (vector(), bundle());
    let compact = CompiledBundle::from_compact(&b.to_compact()).unwrap();
    assert_eq!(run(&compact, &v.headers, &v.body, now()), run(&b, &v.headers, &v.body, now()));
    assert!(run(&compact, &v.headers, &v.body, now()).0);
    let mut body = v.body.clone();
    body[0] ^= 1;
    assert_eq!(run(&compact, &v.headers, &body, now()), run(&b, &v.headers, &body, now()));
    assert!(!run(&compact, &v.headers, &body, now()).0);
}

struct Verifier<'a>(&'a dyn SignatureVerifier);
impl SignatureVerifier for Verifier<'_> {
    fn verify_pkcs1v15_sha256(&self, k: &policy_core::RsaPublicKey, m: &[u8], s: &[u8]) -> bool {
        self.0.verify_pkcs1v15_sha256(k, m, s)
    }
}

#[test]
fn any_verifier_can_be_plugged_in() {
    let (v, b) = (vector(), bundle());
    let h: Vec<(&str, &str)> = v.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let req = HttpRequestView { method: "POST", headers: &h, body: &v.body };
    let peer = PeerAddr { ip: PEER.parse().unwrap(), forwarded_for: None };
    assert!(authorize(&b, &req, peer, now(), &Verifier(&PureRustVerifier)).allowed());
}

#[test]
fn tampering_fails_with_the_right_code() {
    let (v, b) = (vector(), bundle());
    let mut body = v.body.clone();
    body[3] ^= 1;
    let t = now();
    let cases: Vec<(&str, Vec<(String, String)>, Vec<u8>, i64, ErrorCode, &str)> = vec![
        ("body", v.headers.clone(), body, t, ErrorCode::InvalidParam, "The Param Content-SHA256 is invalid."),
        (
            "missing key id",
            set(&v.headers, "x-kms-acccesskeyid", None),
            v.body.clone(),
            t,
            ErrorCode::MissingParameter,
            "Parameter x-kms-acccesskeyid does not exist in http header or body.",
        ),
        (
            "api version",
            set(&v.headers, "x-kms-apiversion", Some("dkms-gcs-0.1")),
            v.body.clone(),
            t,
            ErrorCode::InvalidApiVersion,
            "The ApiVersion \"dkms-gcs-0.1\" is invalid.",
        ),
        (
            "api name",
            set(&v.headers, "x-kms-apiname", Some("Encrypt2")),
            v.body.clone(),
            t,
            ErrorCode::InvalidApiName,
            "The ApiName \"Encrypt2\" is invalid.",
        ),
        (
            "signed api name changed to another valid one",
            set(&v.headers, "x-kms-apiname", Some("Sign")),
            v.body.clone(),
            t,
            ErrorCode::SignatureNotMatch,
            "Signature is not matched.",
        ),
        (
            "signature method missing",
            set(&v.headers, "x-kms-signaturemethod", None),
            v.body.clone(),
            t,
            ErrorCode::InvalidParam,
            "The Param x-kms-signaturemethod is invalid.",
        ),
        (
            "signature method",
            set(&v.headers, "x-kms-signaturemethod", Some("RSA_PSS_SHA_256")),
            v.body.clone(),
            t,
            ErrorCode::InvalidParam,
            "The Param x-kms-signaturemethod is invalid. message:\"RSA_PSS_SHA_256\".",
        ),
        (
            "extra signed header",
            set(&v.headers, "x-kms-extra", Some("1")),
            v.body.clone(),
            t,
            ErrorCode::SignatureNotMatch,
            "Signature is not matched.",
        ),
        (
            // That key is not valid yet, but the request was not signed with it: a stranger
            // learns nothing about its validity window (issue 10 §5).
            "key id of another client key",
            set(&v.headers, "x-kms-acccesskeyid", Some("KAAP.6b0d5f3e-2c1a-4d7e-9f00-0123456789ab")),
            v.body.clone(),
            t,
            ErrorCode::SignatureNotMatch,
            "Signature is not matched.",
        ),
        (
            "unknown key id",
            set(&v.headers, "x-kms-acccesskeyid", Some("KAAP.nobody")),
            v.body.clone(),
            t,
            ErrorCode::Unauthorized,
            "The AccessKey ID \"KAAP.nobody\" does not exist in our records.",
        ),
        (
            "content type",
            set(&v.headers, "content-type", Some("application/json")),
            v.body.clone(),
            t,
            ErrorCode::InvalidContentType,
            "Content-Type \"application/json\" is unsupported.",
        ),
        (
            "content type case (signed as sent)",
            set(&v.headers, "content-type", Some("Application/X-Protobuf")),
            v.body.clone(),
            t,
            ErrorCode::SignatureNotMatch,
            "Signature is not matched.",
        ),
        (
            "content-sha256",
            set(&v.headers, "content-sha256", Some(&"0".repeat(64))),
            v.body.clone(),
            t,
            ErrorCode::InvalidParam,
            "The Param Content-SHA256 is invalid.",
        ),
        (
            "content-sha256 in lower case (signed as sent)",
            set(
                &v.headers,
                "content-sha256",
                Some(&v.headers.iter().find(|h| h.0 == "content-sha256").unwrap().1.to_lowercase()),
            ),
            v.body.clone(),
            t,
            ErrorCode::SignatureNotMatch,
            "Signature is not matched.",
        ),
        (
            "date format",
            set(&v.headers, "date", Some("2020-02-06T07:32:54Z")),
            v.body.clone(),
            t,
            ErrorCode::InvalidParam,
            "The Param Date is invalid.",
        ),
        (
            "date missing",
            set(&v.headers, "date", None),
            v.body.clone(),
            t,
            ErrorCode::InvalidParam,
            "The Param Date is invalid.",
        ),
        (
            "date changed by one second",
            set(&v.headers, "date", Some("Thu, 06 Feb 2020 07:32:55 GMT")),
            v.body.clone(),
            t,
            ErrorCode::SignatureNotMatch,
            "Signature is not matched.",
        ),
        ("clock skew", v.headers.clone(), v.body.clone(), t + 901, ErrorCode::RequestTimeTooSkewed, ""),
        ("clock skew (early)", v.headers.clone(), v.body.clone(), t - 901, ErrorCode::RequestTimeTooSkewed, ""),
        (
            "authorization scheme",
            set(&v.headers, "authorization", Some("Basic abc")),
            v.body.clone(),
            t,
            ErrorCode::InvalidParam,
            "The Param Authorization is invalid.",
        ),
        (
            "authorization not base64",
            set(&v.headers, "authorization", Some("Bearer !!!")),
            v.body.clone(),
            t,
            ErrorCode::InvalidParam,
            "The Param Authorization is invalid.",
        ),
        (
            "signature altered",
            {
                let auth = &v.headers.iter().find(|h| h.0 == "authorization").unwrap().1;
                let flipped = auth.replacen("Bearer LQ0G", "Bearer LQ0H", 1);
                set(&v.headers, "authorization", Some(&flipped))
            },
            v.body.clone(),
            t,
            ErrorCode::SignatureNotMatch,
            "Signature is not matched.",
        ),
        (
            "duplicate signed header",
            {
                let mut h = v.headers.clone();
                h.push(("X-KMS-APINAME".into(), "Encrypt".into()));
                h
            },
            v.body.clone(),
            t,
            ErrorCode::InvalidParam,
            "",
        ),
        (
            "client key not yet valid (bundle NotBefore 2020-01-01)",
            v.headers.clone(),
            v.body.clone(),
            parse_rfc1123("Tue, 31 Dec 2019 23:59:59 GMT").unwrap(),
            ErrorCode::RequestTimeTooSkewed,
            "",
        ),
    ];
    for (name, headers, body, now, code, msg) in cases {
        let (allowed, got, text) = run(&b, &headers, &body, now);
        assert!(!allowed, "{name}: allowed");
        assert_eq!(got, Some(code), "{name}: {text}");
        if !msg.is_empty() {
            assert_eq!(text, msg, "{name}");
        }
        assert_eq!(code.http_status(), got.map_or(0, |c| c.http_status()));
    }
}

#[test]
fn key_validity_is_reported_only_after_the_signature_verified() {
    // Same request, but the bundle's record of key_for_unit_test is only valid from 2021.
    let v = vector();
    let text = std::fs::read_to_string(format!("{DIR}example-bundle.json")).unwrap();
    let text = text.replacen("\"2020-01-01T00:00:00Z\"", "\"2021-01-01T00:00:00Z\"", 1);
    let b = compile_bundle(&text).unwrap();
    // Signed by the key: the caller is told why.
    let (allowed, code, msg) = run(&b, &v.headers, &v.body, now());
    assert!(!allowed);
    assert_eq!(code, Some(ErrorCode::Unauthorized));
    assert_eq!(
        msg,
        "The AccessKey ID \"key_for_unit_test\" is not yet valid: the client key's NotBefore is 2021-01-01T00:00:00Z."
    );
    let h: Vec<(&str, &str)> = v.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let peer = PeerAddr { ip: PEER.parse().unwrap(), forwarded_for: None };
    let d =
        authorize(&b, &HttpRequestView { method: "POST", headers: &h, body: &v.body }, peer, now(), &PureRustVerifier);
    assert_eq!(d.client_key(), Some("key_for_unit_test"), "the signature verified: the caller is known");
    // Not signed by the key (a signed header added after signing): SignatureNotMatch, and
    // nothing about the window.
    let tampered = set(&v.headers, "x-kms-extra", Some("1"));
    let (allowed, code, msg) = run(&b, &tampered, &v.body, now());
    assert!(!allowed);
    assert_eq!(code, Some(ErrorCode::SignatureNotMatch), "{msg}");
    assert_eq!(msg, "Signature is not matched.");
    let h: Vec<(&str, &str)> = tampered.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let d =
        authorize(&b, &HttpRequestView { method: "POST", headers: &h, body: &v.body }, peer, now(), &PureRustVerifier);
    assert_eq!(d.client_key(), None, "an unverified request names no caller");
    assert!(!String::from_utf8_lossy(&d.error_body("r").unwrap()).contains("2021"));
}

#[test]
fn policy_applies_after_verification() {
    let (v, b) = (vector(), bundle());
    let h: Vec<(&str, &str)> = v.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let req = HttpRequestView { method: "POST", headers: &h, body: &v.body };
    // From outside the network rules: the signature is fine, the policy denies.
    let peer = PeerAddr { ip: "8.8.8.8".parse().unwrap(), forwarded_for: None };
    let d = authorize(&b, &req, peer, now(), &PureRustVerifier);
    assert_eq!(d.code(), Some(ErrorCode::ForbiddenNoPermission));
    assert!(
        d.message().starts_with("This operation for \"key-test\" is forbidden by permission system."),
        "{}",
        d.message()
    );
    // The caller is told Alibaba's sentence and nothing of the AAP, its policies, their
    // instances or the check that failed; the operator's message keeps all of it.
    assert_eq!(d.wire_message(), "This operation for \"key-test\" is forbidden by permission system.");
    let body = d.error_body("req-1").unwrap();
    let e = policy_core::wire::decode_error(&body).unwrap();
    assert_eq!(
        (e.error_code.as_str(), e.error_message.as_str()),
        ("Forbidden.NoPermission", d.wire_message().as_str())
    );
    let aap = d.aap().unwrap();
    for secret in
        [aap, "app-keys", "app-secrets", "shared-secrets", "kst-demo01", "shared", "vpc-app", "Network", "8.8.8.8"]
    {
        assert!(d.message().contains(secret) || secret == "vpc-app" || secret == "Network", "{secret}");
        assert!(!body.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} in the wire body");
    }
    // X-Forwarded-For is used only from a trusted proxy (127.0.0.1 in the example bundle).
    let peer = PeerAddr { ip: "127.0.0.1".parse().unwrap(), forwarded_for: Some("172.16.9.9") };
    assert!(authorize(&b, &req, peer, now(), &PureRustVerifier).allowed());
    let peer = PeerAddr { ip: "8.8.8.8".parse().unwrap(), forwarded_for: Some("172.16.9.9") };
    assert!(!authorize(&b, &req, peer, now(), &PureRustVerifier).allowed());
    let peer = PeerAddr { ip: "127.0.0.1".parse().unwrap(), forwarded_for: Some("not-an-ip") };
    assert_eq!(authorize(&b, &req, peer, now(), &PureRustVerifier).code(), Some(ErrorCode::InvalidParameter));
}
