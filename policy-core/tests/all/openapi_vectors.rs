//! OpenAPI request signatures against vectors computed by Alibaba's own SDK code
//! (`tests/vectors/openapi-signatures.json`, made by `tests/vectors/gen_openapi_signatures.py`):
//! the three vectors of the reference notes and more over tricky inputs. Each starts from the bytes
//! a server receives (wire query, form body, headers), as the server will.

use policy_core::openapi::*;
use policy_core::{PureRustVerifier, RsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use serde_json::Value;

fn doc() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/openapi-signatures.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_else(|| panic!("field {field} of {v}"))
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn public_key(path: &str) -> RsaPublicKey {
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    if text.contains("PRIVATE KEY") {
        let private = rsa::PrivateKey::from_pkcs8_pem(&text).unwrap();
        RsaPublicKey::from_der(private.to_public_key().to_public_key_der().unwrap().as_bytes()).unwrap()
    } else {
        RsaPublicKey::from_pem(&text[text.find("-----BEGIN").unwrap()..]).unwrap()
    }
}

/// The received parameters: query and form body merged, decoded; the `Signature` value.
fn received_params(v: &Value) -> (Vec<(String, String)>, Option<String>) {
    let mut params = decode_form_urlencoded(s(v, "wire_query")).unwrap();
    params.extend(decode_form_urlencoded(s(v, "wire_body")).unwrap());
    let sig = params.iter().find(|(k, _)| k == "Signature").map(|(_, v)| v.clone());
    (params, sig)
}

#[test]
fn rpc_v1_vectors() {
    let doc = doc();
    let secret = s(&doc, "access_key_secret").as_bytes();
    let vectors = doc["rpc_v1"].as_array().unwrap();
    assert!(vectors.len() >= 15, "the generator's vectors are all here");
    let mut rsa_checked = 0;
    for v in vectors {
        let name = s(v, "name");
        let method = s(v, "method");
        let (params, wire_sig) = received_params(v);
        let sts = rpc_v1_string_to_sign(method, &pairs(&params));
        assert_eq!(sts, s(v, "string_to_sign"), "{name}");
        let sig = s(v, "signature");
        if let Some(w) = &wire_sig {
            assert_eq!(w, sig, "{name}: the Signature parameter decodes to the signature");
        }
        // Parameters carry what the SDK signed: method and signature version.
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("SignatureMethod"), Some(s(v, "signature_method")), "{name}");
        assert_eq!(get("SignatureVersion"), Some(RPC_V1_SIGNATURE_VERSION), "{name}");
        assert_eq!(get("AccessKeyId"), Some(s(v, "access_key_id")), "{name}");

        match s(v, "signature_method") {
            RPC_V1_HMAC_SHA1 => {
                assert!(verify_rpc_v1_hmac_sha1(secret, &sts, sig), "{name}");
                assert_eq!(sign_rpc_v1_hmac_sha1(secret, &sts), sig, "{name}");
                assert!(!verify_rpc_v1_hmac_sha1(b"testsecreT", &sts, sig), "{name}: other secret");
                let other_method = if method == "GET" { "POST" } else { "GET" };
                let other = rpc_v1_string_to_sign(other_method, &pairs(&params));
                assert!(!verify_rpc_v1_hmac_sha1(secret, &other, sig), "{name}: method");
                assert!(!verify_rpc_v1_hmac_sha1(secret, &sts, &sig.replace('=', "")), "{name}: unpadded");
                assert!(!verify_rpc_v1_hmac_sha1(secret, &sts, ""), "{name}: empty");
            }
            RPC_V1_SHA256_WITH_RSA => {
                let key = public_key(s(v, "public_key"));
                assert!(verify_rpc_v1_sha256_with_rsa(&PureRustVerifier, &key, &sts, sig), "{name}");
                let other = format!("{sts}%26");
                assert!(!verify_rpc_v1_sha256_with_rsa(&PureRustVerifier, &key, &other, sig), "{name}");
                assert!(!verify_rpc_v1_sha256_with_rsa(&PureRustVerifier, &key, &sts, "not base64!"), "{name}");
                rsa_checked += 1;
            }
            other => panic!("{name}: unexpected method {other}"),
        }

        // Every parameter matters: change one character of each value (and drop each parameter).
        for i in 0..params.len() {
            if params[i].0 == "Signature" {
                continue;
            }
            let mut changed = params.clone();
            changed[i].1.push('x');
            assert_ne!(rpc_v1_string_to_sign(method, &pairs(&changed)), sts, "{name}: value of {}", params[i].0);
            let mut dropped = params.clone();
            dropped.remove(i);
            assert_ne!(rpc_v1_string_to_sign(method, &pairs(&dropped)), sts, "{name}: without {}", params[i].0);
        }
    }
    assert_eq!(rsa_checked, 3, "reference vector 1 and two SHA256withRSA vectors");
}

#[test]
fn reference_vector_2_signs_the_empty_signature_type() {
    let doc = doc();
    let v = &doc["rpc_v1"][1];
    assert!(s(v, "name").starts_with("reference vector 2"));
    assert!(s(v, "string_to_sign").contains("%26SignatureType%3D%26"));
    let (params, _) = received_params(v);
    let without: Vec<(&str, &str)> = pairs(&params).into_iter().filter(|(k, _)| *k != "SignatureType").collect();
    let secret = s(&doc, "access_key_secret").as_bytes();
    assert!(!verify_rpc_v1_hmac_sha1(secret, &rpc_v1_string_to_sign("POST", &without), s(v, "signature")));
    assert_eq!(s(v, "signature"), "09GtH0mfQUeXBtmXdPEnMSfrn6k=");
}

#[test]
fn acs3_vectors() {
    let doc = doc();
    let secret = s(&doc, "access_key_secret").as_bytes();
    let vectors = doc["acs3"].as_array().unwrap();
    assert!(vectors.len() >= 11, "the generator's vectors are all here");
    for v in vectors {
        let name = s(v, "name");
        let method = s(v, "method");
        let path = s(v, "path");
        // A server sees header names in lower case (hyper does that).
        let headers_owned: Vec<(String, String)> = v["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h[0].as_str().unwrap().to_ascii_lowercase(), h[1].as_str().unwrap().to_owned()))
            .collect();
        let headers = pairs(&headers_owned);
        let query_owned = decode_form_urlencoded(s(v, "wire_query")).unwrap();
        let query = pairs(&query_owned);
        let body = s(v, "body").as_bytes();
        let payload = sha256_hex(body);
        assert_eq!(payload, s(v, "payload_sha256"), "{name}");
        assert!(headers.contains(&("x-acs-content-sha256", payload.as_str())), "{name}");

        let authorization = s(v, "authorization");
        let auth = parse_acs3_authorization(authorization).unwrap();
        assert_eq!(auth.algorithm, ACS3_HMAC_SHA256, "{name}");
        assert_eq!(auth.credential, s(v, "access_key_id"), "{name}");
        for required in ACS3_REQUIRED_SIGNED_HEADERS {
            assert!(auth.signed_headers.contains(&required), "{name}: the SDK signs {required}");
        }

        let cr = acs3_canonical_request(method, path, &query, &headers, &auth.signed_headers, &payload).unwrap();
        assert_eq!(cr, s(v, "canonical_request"), "{name}");
        let sts = acs3_string_to_sign(auth.algorithm, &cr);
        assert_eq!(sts, s(v, "string_to_sign"), "{name}");
        assert!(verify_acs3_hmac_sha256(secret, &sts, auth.signature), "{name}");
        assert_eq!(sign_acs3_hmac_sha256(secret, &sts), auth.signature, "{name}");
        assert!(!verify_acs3_hmac_sha256(b"testsecreT", &sts, auth.signature), "{name}");
        assert!(!verify_acs3_hmac_sha256(secret, &sts, &auth.signature.to_ascii_uppercase()), "{name}: upper hex");
        assert!(!verify_acs3_hmac_sha256(secret, &sts, &auth.signature[2..]), "{name}: short");

        let verdict = |method: &str, path: &str, query: &[(&str, &str)], headers: &[(&str, &str)], payload: &str| {
            acs3_canonical_request(method, path, query, headers, &auth.signed_headers, payload)
                .map(|cr| verify_acs3_hmac_sha256(secret, &acs3_string_to_sign(auth.algorithm, &cr), auth.signature))
                .unwrap_or(false)
        };
        assert!(verdict(method, path, &query, &headers, &payload), "{name}");
        assert!(!verdict(if method == "GET" { "POST" } else { "GET" }, path, &query, &headers, &payload), "{name}");
        assert!(!verdict(method, "/x", &query, &headers, &payload), "{name}: path");
        let mut other_body = body.to_vec();
        other_body.push(b'&');
        assert!(!verdict(method, path, &query, &headers, &sha256_hex(&other_body)), "{name}: body");
        for i in 0..query.len() {
            let mut q = query_owned.clone();
            q[i].1.push('x');
            assert!(!verdict(method, path, &pairs(&q), &headers, &payload), "{name}: query {}", query[i].0);
            let mut q = query_owned.clone();
            q.remove(i);
            assert!(!verdict(method, path, &pairs(&q), &headers, &payload), "{name}: without query {}", query[i].0);
        }
        let mut extra = query_owned.clone();
        extra.push(("Extra".into(), String::new()));
        assert!(!verdict(method, path, &pairs(&extra), &headers, &payload), "{name}: added parameter");
        for i in 0..headers.len() {
            let signed = auth.signed_headers.contains(&headers[i].0);
            let mut h = headers_owned.clone();
            h[i].1.push('x');
            assert_eq!(verdict(method, path, &query, &pairs(&h), &payload), !signed, "{name}: header {}", headers[i].0);
            // Unsigned headers can change freely; a signed one that is missing is an error.
            let mut h = headers_owned.clone();
            h.remove(i);
            let only_copy = headers.iter().filter(|(n, _)| *n == headers[i].0).count() == 1;
            assert_eq!(
                verdict(method, path, &query, &pairs(&h), &payload),
                !signed,
                "{name}: without header {}",
                headers[i].0
            );
            if signed && only_copy {
                let err = acs3_canonical_request(method, path, &query, &pairs(&h), &auth.signed_headers, &payload);
                assert_eq!(err, Err(OpenApiSignatureError::MissingSignedHeader { name: headers[i].0.into() }));
            }
        }
    }
}

#[test]
fn acs3_header_values_trimmed_and_repeats_joined_sorted() {
    let doc = doc();
    let v = doc["acs3"].as_array().unwrap().iter().find(|v| s(v, "name").starts_with("repeated header")).unwrap();
    assert!(s(v, "canonical_request").contains("\nx-acs-extra:first,second\n"));
    assert!(s(v, "canonical_request").contains("\nx-custom-empty:\n"));
    // The received order and upper-case spellings do not matter.
    let cr = acs3_canonical_request(
        "POST",
        "",
        &[],
        &[("X-Acs-Extra", "\t second  "), ("x-acs-extra", "first"), ("x-b", "")],
        &["x-acs-extra", "x-b"],
        "p",
    )
    .unwrap();
    assert_eq!(cr, "POST\n/\n\nx-acs-extra:first,second\nx-b:\n\nx-acs-extra;x-b\np");
}
