//! Client-key requests on the KMS endpoint (`policy_core::openapi::authorize_shared_gateway`): the
//! reference vector signed by the official core SDK, the signed fixtures
//! (`tests/fixtures/shared-gateway/requests.json` at the repository root, also run by the filter and
//! the browser build), and the Instance API's side of the scope rule.

use std::net::IpAddr;

use policy_core::openapi::*;
use policy_core::{
    authorize, compile_bundle, parse_bundle, parse_iso8601, parse_rfc1123, parse_rfc3339, CompiledBundle, ErrorCode,
    HttpRequestView, PeerAddr, PureRustVerifier,
};
use serde::Deserialize;
use serde_json::Value;

use crate::fixture::{check_expect, Expect};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn read(rel: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SignedRequest {
    method: String,
    path: String,
    #[serde(default)]
    content_type: Option<String>,
    body: String,
    source_ip: String,
    time: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    request: SignedRequest,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[allow(dead_code)]
    comment: String,
    bundle: String,
    cases: Vec<Case>,
}

/// The parameters a server receives: the query, then a form body, decoded.
fn params(r: &SignedRequest) -> Vec<(String, String)> {
    let query = r.path.split_once('?').map_or("", |(_, q)| q);
    let mut p = decode_form_urlencoded(query).unwrap();
    if r.content_type.as_deref() == Some("application/x-www-form-urlencoded") {
        p.extend(decode_form_urlencoded(&r.body).unwrap());
    } else {
        assert!(r.body.is_empty());
    }
    p
}

/// Decides with the request's parameters and hands the decision (which borrows them) to `f`.
fn decide<R>(
    b: &CompiledBundle,
    method: &str,
    p: &[(String, String)],
    ip: &str,
    now: i64,
    f: impl FnOnce(&SharedGatewayDecision<'_>) -> R,
) -> R {
    let pairs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let req = RpcRequestView { method, params: &pairs };
    let peer = PeerAddr { ip: ip.parse::<IpAddr>().unwrap(), forwarded_for: None };
    f(&authorize_shared_gateway(b, &req, peer, now, &PureRustVerifier))
}

fn fixtures() -> File {
    serde_json::from_str(&read("tests/fixtures/shared-gateway/requests.json")).unwrap()
}

#[test]
fn signed_fixtures() {
    let fx = fixtures();
    let b = compile_bundle(&read(&fx.bundle)).unwrap();
    assert!(fx.cases.len() >= 20);
    let mut allows = 0;
    for c in &fx.cases {
        let p = params(&c.request);
        let now = parse_rfc3339(&c.request.time).unwrap();
        decide(&b, &c.request.method, &p, &c.request.source_ip, now, |d| {
            let report = d.to_report();
            let ctx = format!("{}: {report:#?}", c.name);
            check_expect(&report, &c.expect, &ctx);
            let pairs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            assert!(RpcRequestView { method: "POST", params: &pairs }.is_client_key_request(), "{ctx}");
            if d.allowed() {
                allows += 1;
                let dec = d.decision();
                assert_eq!(dec.resource(), pairs.iter().find(|(k, _)| *k == "SecretName").map(|(_, v)| *v), "{ctx}");
                assert_eq!(dec.secret_key(), Some("key-secrets"), "{ctx}");
                assert_eq!(dec.qps_group().map(|g| g.name()), Some("GetSecretValue"), "{ctx}");
                assert!(d.error_json("r", "h").is_none());
                return;
            }
            // The JSON error body the KMS endpoint sends.
            let body: Value = serde_json::from_str(&d.error_json("req-1", "kms.example").unwrap()).unwrap();
            assert_eq!(body["Code"].as_str(), report.error_code.as_deref(), "{ctx}");
            assert_eq!(body["HttpStatus"].as_u64(), Some(u64::from(report.http_status)), "{ctx}");
            assert_eq!(body["Message"].as_str(), report.wire_message.as_deref(), "{ctx}");
            assert_eq!(body["RequestId"], "req-1");
            assert_eq!(body["HostId"], "kms.example");
            assert!(body["Recommend"].as_str().unwrap().contains(report.error_code.as_deref().unwrap()));
            // The caller never sees the AAP, the policies or the checks.
            let wire = report.wire_message.clone().unwrap();
            for name in ["shared-app", "shared-all", "inst-secrets", "AAP \""] {
                assert!(!wire.contains(name), "{ctx}: {name} in {wire}");
            }
            if report.error_code.as_deref() == Some("SignatureDoesNotMatch") {
                // The core SDK compares what follows the first ':' with its own StringToSign.
                assert_eq!(wire.split(':').nth(1), d.string_to_sign(), "{ctx}");
                assert_eq!(d.decision().client_key(), None, "{ctx}: not authenticated");
            }
        });
    }
    assert!(allows >= 4 && allows < fx.cases.len());
}

/// Reference vector 1, signed by aliyun-python-sdk-core with the SDK's unit-test client key
/// (`tests/vectors/openapi-signatures.json`): verified against the example bundle, whose
/// `key_for_unit_test` is in the AAP with the `shared-secrets` SecretUser policy.
#[test]
fn reference_vector_on_the_example_bundle() {
    let doc: Value = serde_json::from_str(&read("policy-core/tests/vectors/openapi-signatures.json")).unwrap();
    let v = doc["rpc_v1"].as_array().unwrap().iter().find(|v| v["access_key_id"] == "key_for_unit_test").unwrap();
    let mut p = decode_form_urlencoded(v["wire_query"].as_str().unwrap()).unwrap();
    p.push(("Signature".into(), v["signature"].as_str().unwrap().into()));
    let b = compile_bundle(&read("policy-core/tests/data/example-bundle.json")).unwrap();
    let now = parse_iso8601("2020-02-06T07:32:54Z").unwrap();
    // From the office: SecretUser on secret/* passes, and "my/secret 1" is not in the catalogue.
    decide(&b, "POST", &p, "192.168.10.5", now, |d| {
        assert_eq!(d.string_to_sign(), v["string_to_sign"].as_str());
        assert_eq!(d.decision().client_key(), Some("key_for_unit_test"), "the signature verified");
        assert_eq!(d.code(), Some(OpenApiCode::ForbiddenResourceNotFound), "{}", d.message());
        assert_eq!(d.decision().policy(), None);
    });
    // From elsewhere the network rule refuses it.
    decide(&b, "POST", &p, "172.16.0.1", now, |d| {
        let m = d.message();
        assert_eq!(d.code(), Some(OpenApiCode::ForbiddenNoPermission));
        assert!(m.contains("policy \"shared-secrets\" does not allow source 172.16.0.1"), "{m}");
        assert!(m.contains("policy \"app-secrets\" is for scope \"kst-demo01\", not \"shared\""), "{m}");
        assert_eq!(d.wire_message(), "This operation for \"my/secret 1\" is forbidden by permission system.");
    });
    // Sixteen minutes later the timestamp is stale; the wrong method is refused before the key.
    let code = decide(&b, "POST", &p, "192.168.10.5", now + 16 * 60, |d| d.code());
    assert_eq!(code, Some(OpenApiCode::InvalidTimeStampExpired));
    decide(&b, "GET", &p, "192.168.10.5", now, |d| {
        assert_eq!(d.code(), Some(OpenApiCode::SignatureDoesNotMatch));
        assert!(d.wire_message().ends_with(&v["string_to_sign"].as_str().unwrap().replacen("POST", "GET", 1)));
    });
}

#[test]
fn envelope_checks_in_order() {
    let b = compile_bundle(&read("policy-core/tests/data/example-bundle.json")).unwrap();
    let now = parse_iso8601("2020-02-06T07:32:54Z").unwrap();
    let base: Vec<(String, String)> = [
        ("AccessKeyId", "key_for_unit_test"),
        ("Action", "GetSecretValue"),
        ("SecretName", "app/db-password"),
        ("SignatureMethod", "SHA256withRSA"),
        ("SignatureType", "PRIVATEKEY"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "n"),
        ("Signature", "AAAA"),
        ("Version", "2016-01-20"),
        ("Format", "json"),
        ("Timestamp", "2020-02-06T07:32:54Z"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let with = |name: &str, value: Option<&str>| {
        let mut p: Vec<_> = base.iter().filter(|(k, _)| k != name).cloned().collect();
        if let Some(v) = value {
            p.push((name.to_owned(), v.to_owned()));
        }
        p
    };
    let code = |p: &[(String, String)]| decide(&b, "POST", p, "192.168.10.5", now, |d| d.code());
    for (name, value, want) in [
        ("AccessKeyId", None, OpenApiCode::MissingParameter),
        ("SignatureMethod", None, OpenApiCode::MissingParameter),
        ("SignatureMethod", Some("HMAC-SHA1"), OpenApiCode::InvalidSignatureMethod),
        ("SignatureType", Some(""), OpenApiCode::MissingParameter),
        ("SignatureType", Some("KEY"), OpenApiCode::IncompleteSignature),
        ("SignatureVersion", Some("2.0"), OpenApiCode::IncompleteSignature),
        ("Signature", None, OpenApiCode::MissingParameter),
        ("SignatureNonce", None, OpenApiCode::MissingParameter),
        ("Version", Some("2014-05-26"), OpenApiCode::InvalidVersion),
        ("Action", None, OpenApiCode::MissingParameter),
        ("Format", Some("XML"), OpenApiCode::InvalidParameter),
        ("Timestamp", None, OpenApiCode::MissingParameter),
        ("Timestamp", Some("1580974374"), OpenApiCode::InvalidTimeStampFormat),
        ("AccessKeyId", Some("KAAP.unknown"), OpenApiCode::InvalidAccessKeyIdNotFound),
        // All present and known: the (made-up) signature is what fails.
        ("Format", Some("JSON"), OpenApiCode::SignatureDoesNotMatch),
    ] {
        assert_eq!(code(&with(name, value)), Some(want), "{name}={value:?}");
    }
    // Format may be absent.
    assert_eq!(code(&with("Format", None)), Some(OpenApiCode::SignatureDoesNotMatch));
    let mut twice = base.clone();
    twice.push(("Action".into(), "GetSecretValue".into()));
    assert_eq!(code(&twice), Some(OpenApiCode::InvalidParameter));
    let msg = decide(&b, "POST", &twice, "192.168.10.5", now, |d| d.wire_message());
    assert_eq!(msg, "The parameter \"Action\" is invalid: it is given more than once.");
}

#[test]
fn client_key_requests_are_recognised() {
    let is = |p: &[(&str, &str)]| RpcRequestView { method: "POST", params: p }.is_client_key_request();
    assert!(is(&[("SignatureMethod", "SHA256withRSA")]));
    assert!(is(&[("SignatureType", "PRIVATEKEY")]));
    assert!(is(&[("AccessKeyId", "KAAP.1"), ("SignatureMethod", "HMAC-SHA1")]));
    assert!(!is(&[("AccessKeyId", "LTAI5t"), ("SignatureMethod", "HMAC-SHA1"), ("SignatureType", "")]));
    assert!(!is(&[]));
}

/// The converse of the scope rule: the Instance API is never decided in scope `shared`, so a
/// gateway whose `Gateway.Scope` is `shared` refuses Instance API requests (InternalFailure), even
/// ones that verify and that a shared policy's resources would cover.
#[test]
fn instance_api_at_a_shared_gateway_is_refused() {
    let doc: Value = serde_json::from_str(&read("policy-core/tests/data/sdk-signed-encrypt.json")).unwrap();
    let headers: Vec<(String, String)> = doc["request"]["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let body = hex::decode(doc["request"]["body_hex"].as_str().unwrap()).unwrap();
    let mut bundle = parse_bundle(&read("policy-core/tests/data/example-bundle.json")).unwrap();
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let req = HttpRequestView { method: "POST", headers: &h, body: &body };
    let now = parse_rfc1123(&headers.iter().find(|(k, _)| k == "date").unwrap().1).unwrap();
    let peer = PeerAddr { ip: "172.16.8.20".parse().unwrap(), forwarded_for: None };
    let b = bundle.compile().unwrap();
    assert!(authorize(&b, &req, peer, now, &PureRustVerifier).allowed());
    bundle.gateway.as_mut().unwrap().scope = "shared".into();
    let b = bundle.compile().unwrap();
    let d = authorize(&b, &req, peer, now, &PureRustVerifier);
    assert_eq!(d.code(), Some(ErrorCode::InternalFailure), "{}", d.message());
    assert!(d.message().contains("Gateway.Scope is `shared`"));
    assert_eq!(d.wire_message(), "Internal Failure.");
}

/// Policies that can never allow anything are bundle errors, with their path.
#[test]
fn useless_policies_are_bundle_errors() {
    let text = r#"{"Policies": [
        {"Name": "a", "Permissions": ["RbacPermission/Template/CryptoServiceKeyUser"], "Resources": ["key/*"], "KmsInstance": "shared", "AccessControlRules": {"NetworkRules": []}},
        {"Name": "b", "Permissions": ["RbacPermission/Template/SecretUser"], "Resources": ["key/k1"], "KmsInstance": "shared", "AccessControlRules": {"NetworkRules": []}},
        {"Name": "c", "Permissions": ["RbacPermission/Template/CryptoServiceSecretUser"], "Resources": ["key/k1"], "KmsInstance": "kst-a", "AccessControlRules": {"NetworkRules": []}},
        {"Name": "d", "Permissions": ["RbacPermission/Template/CryptoServiceSecretUser"], "Resources": ["secret/*"], "KmsInstance": "shared", "AccessControlRules": {"NetworkRules": []}},
        {"Name": "e", "Permissions": ["RbacPermission/Template/CryptoServiceKeyUser"], "Resources": ["secret/*"], "KmsInstance": "kst-a", "AccessControlRules": {"NetworkRules": []}},
        {"Name": "f", "Permissions": ["RbacPermission/Template/CryptoServiceKeyUser"], "Resources": ["key/*", "secret/x*"], "KmsInstance": "shared", "AccessControlRules": {"NetworkRules": []}}
    ]}"#;
    let errors = parse_bundle(text).unwrap_err();
    let found: Vec<(String, String)> =
        errors.errors().iter().map(|e| (e.path().to_owned(), e.message().to_owned())).collect();
    let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "$.Policies[0].Permissions",
            "$.Policies[1].Resources",
            "$.Policies[2].Resources",
            "$.Policies[5].Permissions"
        ],
        "{found:#?}"
    );
    assert!(found.iter().all(|(_, m)| m.starts_with("this policy can never allow anything")));
    assert!(found[0].1.contains("CryptoServiceKeyUser grants nothing there"));
    let line = errors.errors()[0].span().unwrap().line;
    assert_eq!(line, 2, "the error points at the policy's line");
}

/// RAM-role sessions on the KMS endpoint: the host verified the session; the role's AAP decides
/// in scope `shared`, like a client key of that AAP, and only a RAM-role AAP can be used.
#[test]
fn ram_role_sessions_are_decided_by_their_aap_in_scope_shared() {
    use policy_core::decide_ram_role_session;
    let mut bundle: Value = serde_json::from_str(&read("tests/fixtures/bundles/shared-gateway-bundle.json")).unwrap();
    bundle["ApplicationAccessPoints"].as_array_mut().unwrap().push(serde_json::json!({
        "Name": "role-app", "Policies": ["shared-app", "inst-secrets"], "AuthenticationMethod": "RAMRole"
    }));
    let b = compile_bundle(&bundle.to_string()).unwrap();
    let peer = |ip: &str| PeerAddr { ip: ip.parse().unwrap(), forwarded_for: None };
    let allowed = decide_ram_role_session(&b, "role-app", "app/db-password", peer("192.168.10.5"));
    assert!(allowed.allowed(), "{}", allowed.message());
    assert_eq!(allowed.policy(), Some("shared-app"));
    assert_eq!(allowed.aap(), Some("role-app"));
    assert_eq!(allowed.client_key(), None);
    assert_eq!(allowed.secret_key(), Some("key-secrets"));

    let code = |aap: &str, secret: &'static str, ip: &str| {
        let d = decide_ram_role_session(&b, aap, secret, peer(ip));
        assert!(!d.allowed());
        d.openapi_code().unwrap()
    };
    // Outside the shared policy's resources (the instance policy never matches here).
    assert_eq!(code("role-app", "ops/root", "192.168.10.5"), OpenApiCode::ForbiddenNoPermission);
    // Outside its network rules.
    assert_eq!(code("role-app", "app/db-password", "10.1.2.3"), OpenApiCode::ForbiddenNoPermission);
    // A client-key AAP cannot be reached through a session, nor a missing AAP.
    assert_eq!(code("app", "app/db-password", "192.168.10.5"), OpenApiCode::ForbiddenNoPermission);
    assert_eq!(code("gone", "app/db-password", "192.168.10.5"), OpenApiCode::ForbiddenNoPermission);
    // A secret the policy covers but the catalogue lacks, and one under a disabled key.
    assert_eq!(code("role-app", "app/missing", "192.168.10.5"), OpenApiCode::ForbiddenResourceNotFound);
    assert_eq!(code("role-app", "app/old", "192.168.10.5"), OpenApiCode::RejectedDisabled);
    // Behind the trusted proxy (127.0.0.1) the forwarded client is the source; garbage is refused.
    let via_proxy = |xff: &'static str| {
        decide_ram_role_session(
            &b,
            "role-app",
            "app/db-password",
            PeerAddr { ip: "127.0.0.1".parse().unwrap(), forwarded_for: Some(xff) },
        )
    };
    assert!(via_proxy("192.168.10.7").allowed());
    assert_eq!(via_proxy("10.9.9.9").openapi_code(), Some(OpenApiCode::ForbiddenNoPermission));
    assert_eq!(via_proxy("not-an-ip").openapi_code(), Some(OpenApiCode::InvalidParameter));
}
