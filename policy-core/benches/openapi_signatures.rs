//! OpenAPI signature verification of a realistic management request (CreatePolicy with its JSON
//! parameters), as the server does it: decode the wire query (and form body), canonicalise, HMAC,
//! compare. The `decide` bench is the baseline. Run:
//! `cargo bench -p aapkit-policy-core --bench openapi_signatures`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use policy_core::openapi::*;

const SECRET: &[u8] = b"0123456789abcdefghijklmnopqrstuv";

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The business parameters of CreatePolicy as KMS331 sends them (JSON-in-string lists).
fn business() -> Vec<(String, String)> {
    [
        ("Name", "policy-app-prod"),
        ("Description", "app servers: keys and secrets"),
        (
            "Permissions",
            r#"["RbacPermission/Template/CryptoServiceKeyUser","RbacPermission/Template/CryptoServiceSecretUser"]"#,
        ),
        ("Resources", r#"["key/key-0123*","secret/app/*"]"#),
        ("AccessControlRules", r#"{"NetworkRules":["office","vpc-prod"]}"#),
        ("KmsInstance", "kst-hzz62f1bd8d2cxqvp4t2n"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn wire(params: &[(&str, &str)]) -> String {
    params.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect::<Vec<_>>().join("&")
}

fn acs3(c: &mut Criterion) {
    let query = business();
    let wire_query = wire(&pairs(&query));
    let payload = sha256_hex(b"");
    let headers_owned: Vec<(String, String)> = [
        ("host", "kms.cn-hangzhou.aliyuncs.com"),
        ("x-acs-version", "2016-01-20"),
        ("x-acs-action", "CreatePolicy"),
        ("user-agent", "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"),
        ("x-acs-date", "2026-11-30T10:00:00Z"),
        ("x-acs-signature-nonce", "6b1f2d5a3c0e4f7a9b8c7d6e5f4a3b2c"),
        ("accept", "application/json"),
        ("x-acs-content-sha256", payload.as_str()),
        ("x-acs-credentials-provider", "static_ak"),
        ("content-length", "0"),
        ("accept-encoding", "gzip, deflate"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let headers = pairs(&headers_owned);
    let mut signed: Vec<&str> =
        headers.iter().map(|(k, _)| *k).filter(|k| !k.starts_with("content-l") && !k.starts_with("accept-")).collect();
    signed.sort_unstable();
    let cr = acs3_canonical_request("POST", "/", &pairs(&query), &headers, &signed, &payload).unwrap();
    let sig = sign_acs3_hmac_sha256(SECRET, &acs3_string_to_sign(ACS3_HMAC_SHA256, &cr));
    let authorization =
        format!("ACS3-HMAC-SHA256 Credential=LTAI5tBench,SignedHeaders={},Signature={sig}", signed.join(";"));

    let verify = || {
        let auth = parse_acs3_authorization(black_box(&authorization)).unwrap();
        let q = decode_form_urlencoded(black_box(&wire_query)).unwrap();
        let body_hash = sha256_hex(black_box(b""));
        let cr = acs3_canonical_request("POST", "/", &pairs(&q), black_box(&headers), &auth.signed_headers, &body_hash)
            .unwrap();
        verify_acs3_hmac_sha256(SECRET, &acs3_string_to_sign(auth.algorithm, &cr), auth.signature)
    };
    assert!(verify());
    c.bench_function("ACS3-HMAC-SHA256 verify CreatePolicy (parse + decode + canonical + HMAC)", |x| x.iter(verify));
}

fn rpc_v1(c: &mut Criterion) {
    // Terraform's shape: signature parameters in the query, business parameters in a form body.
    let common: Vec<(String, String)> = [
        ("Action", "CreatePolicy"),
        ("Format", "json"),
        ("Version", "2016-01-20"),
        ("Timestamp", "2026-11-30T10:00:00Z"),
        ("SignatureNonce", "6b1f2d5a3c0e4f7a9b8c7d6e5f4a3b2c"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", "LTAI5tBench"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let body = business();
    let mut all = pairs(&common);
    all.extend(pairs(&body));
    let sig = sign_rpc_v1_hmac_sha1(SECRET, &rpc_v1_string_to_sign("POST", &all));
    let wire_query = format!("{}&Signature={}", wire(&pairs(&common)), percent_encode(&sig));
    let wire_body = wire(&pairs(&body));

    let verify = || {
        let mut params = decode_form_urlencoded(black_box(&wire_query)).unwrap();
        params.extend(decode_form_urlencoded(black_box(&wire_body)).unwrap());
        let sig = params.iter().find(|(k, _)| k == "Signature").map(|(_, v)| v.clone()).unwrap();
        verify_rpc_v1_hmac_sha1(SECRET, &rpc_v1_string_to_sign("POST", &pairs(&params)), &sig)
    };
    assert!(verify());
    c.bench_function("RPC v1 HMAC-SHA1 verify CreatePolicy, form body (decode + sort + HMAC)", |x| x.iter(verify));
}

criterion_group! {
    name = openapi_benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500)).sample_size(50);
    targets = acs3, rpc_v1
}
criterion_main!(openapi_benches);
