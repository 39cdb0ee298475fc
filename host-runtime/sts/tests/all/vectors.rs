//! The signature vectors of a request carrying an STS session (tests/vectors/): the canonical
//! forms the KMS endpoint will check a session's requests with (policy-core's `openapi`) must
//! reproduce the official SDKs' signatures with the SecurityToken signed in. Data-driven.

use policy_core::openapi as sig;
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("../vectors/sts-token-signatures.json")).unwrap()
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn acs3_with_x_acs_security_token() {
    let v = &vectors()["acs3"];
    let query = pairs(&v["query"]);
    let query: Vec<(&str, &str)> = query.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let headers = pairs(&v["headers"]);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let signed: Vec<&str> = v["signed_headers"].as_str().unwrap().split(';').collect();
    assert!(signed.contains(&"x-acs-security-token") && signed.contains(&"x-acs-accesskey-id"));
    let canonical = sig::acs3_canonical_request(
        v["method"].as_str().unwrap(),
        v["path"].as_str().unwrap(),
        &query,
        &headers,
        &signed,
        sig::sha256_hex(b"").as_str(),
    )
    .unwrap();
    assert_eq!(canonical.lines().nth(2), v["canonical_query_line"].as_str());
    assert_eq!(sig::sha256_hex(canonical.as_bytes()), v["canonical_request_sha256"].as_str().unwrap());
    let sts = sig::acs3_string_to_sign(sig::ACS3_HMAC_SHA256, &canonical);
    let secret = v["secret"].as_str().unwrap().as_bytes();
    assert!(sig::verify_acs3_hmac_sha256(secret, &sts, v["signature"].as_str().unwrap()));
    assert!(!sig::verify_acs3_hmac_sha256(b"othersecret", &sts, v["signature"].as_str().unwrap()));
    // Another token under the same signature does not verify: the token is signed.
    let forged: Vec<(&str, &str)> =
        headers.iter().map(|&(n, val)| if n == "x-acs-security-token" { (n, "tok/en+=!") } else { (n, val) }).collect();
    let c2 = sig::acs3_canonical_request("POST", "/", &query, &forged, &signed, sig::sha256_hex(b"").as_str()).unwrap();
    assert!(!sig::verify_acs3_hmac_sha256(
        secret,
        &sig::acs3_string_to_sign(sig::ACS3_HMAC_SHA256, &c2),
        v["signature"].as_str().unwrap()
    ));
}

#[test]
fn rpc_v1_with_security_token_parameter() {
    for (name, sig_field) in [("rpc_v1_core", "signature"), ("rpc_v1_encoding", "signature_standard")] {
        let v = &vectors()[name];
        let params = pairs(&v["params"]);
        let params: Vec<(&str, &str)> = params.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let sts = sig::rpc_v1_string_to_sign(v["method"].as_str().unwrap(), &params);
        if let Some(want) = v["string_to_sign"].as_str() {
            assert_eq!(sts, want, "{name}");
        }
        let secret = v["secret"].as_str().unwrap().as_bytes();
        assert!(sig::verify_rpc_v1_hmac_sha1(secret, &sts, v[sig_field].as_str().unwrap()), "{name}");
        assert_eq!(sig::sign_rpc_v1_hmac_sha1(secret, &sts), v[sig_field].as_str().unwrap(), "{name}");
    }
    // The credentials library's quote_plus variant (only differs for values with spaces) is not
    // what the standard form produces: a server accepting it needs the fallback (docs/ram-roles.md).
    let v = &vectors()["rpc_v1_encoding"];
    let params = pairs(&v["params"]);
    let params: Vec<(&str, &str)> = params.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let sts = sig::rpc_v1_string_to_sign("POST", &params);
    assert!(!sig::verify_rpc_v1_hmac_sha1(
        b"testsecret",
        &sts,
        v["signature_credentials_quote_plus_variant"].as_str().unwrap()
    ));
}
