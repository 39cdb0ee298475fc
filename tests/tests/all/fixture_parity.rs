//! The shared decision fixtures (`tests/fixtures/decisions/*.json`) give the same decisions natively
//! (policy-core) and in the proxy-wasm filter run by our wasmtime host, with the `verify_signature`
//! offload on and off. (The browser and Node builds check the same files in `web-demo/tests` and
//! `wasm-module/bindings/tests`.)
//!
//! The filter only sees signed HTTP requests, so every case becomes one, made the way the SDK makes
//! it: the fixture's bundle with every client key's public key replaced by the test key whose
//! private half this test holds (validity kept), `Gateway.Scope` set to the case's scope, the
//! case's resource in the API's protobuf request, the headers of the SDK signed with RSA PKCS#1
//! v1.5 SHA-256, `date` = the case's time = the filter's clock, peer = `<SourceIp>:40000`.
//! A case in scope `shared` is a request on the KMS endpoint: it becomes the RPC v1 request the
//! Secrets Manager client signs with SHA256withRSA (`Action` = the API, `SecretName` or `KeyId` =
//! the resource, all in the query), and the filter's JSON error is compared with the native report.
//!
//! The signed shared-gateway fixtures (`tests/fixtures/shared-gateway/*.json`, pre-signed requests
//! including tampered and stale ones) go through the filter as they are and are compared with
//! `policy_core::openapi::authorize_shared_gateway`.
//!
//! Build the filter first: `cargo build -p aapkit-filter --target wasm32-wasip1 --profile wasm-release`
//! (the test fails, never skips, when the module is missing).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use base64::Engine as _;
use policy_core::gateway::deny_properties;
use policy_core::wire::{put_bytes, put_varint};
use policy_core::{compile_bundle, parse_rfc3339, wire, AccessRequestDoc, DecisionReport, HttpRequestView};
use proxy_wasm_host::{FilterHost, FilterHostConfig, FilterOutcome, FilterRequest};
use serde_json::Value;

// ---- fixtures --------------------------------------------------------------------------------

// The fixture format and its check, one definition with policy-core's `decisions` test.
#[path = "../../../policy-core/tests/all/fixture.rs"]
mod fixture;
use fixture::{check_expect, Case};

/// Fixture cases a signed request cannot reproduce: (file, case name, why). Every entry must
/// name an existing case, and every case `unsignable` detects must be listed here.
const NOT_SIGNABLE: &[(&str, &str, &str)] = &[];

fn fixture_files() -> Vec<(String, fixture::FixtureFile)> {
    fixture::fixture_files(&aapkit_tests::repo_root())
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn key_file(name: &str) -> String {
    read(&aapkit_tests::repo_root().join("policy-core/tests/data/keys").join(name))
}

// ---- the signed request ----------------------------------------------------------------------

/// Why a case cannot travel as a signed request, if it cannot.
fn unsignable(req: &AccessRequestDoc, bundle: &Value) -> Option<String> {
    if req.api == "GenerateRandom" && req.resource.is_some() {
        return Some("GenerateRandom carries no resource in its request".into());
    }
    if req.resource.as_deref() == Some("") {
        return Some("an empty resource is the absent proto3 field on the wire".into());
    }
    if req.scope.is_none() && bundle.pointer("/Gateway/Scope").is_none() {
        return Some("no scope: the filter needs Gateway.Scope".into());
    }
    let visible = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
    if !visible(&req.client_key_id) {
        return Some("the client key id cannot travel as a header value as is".into());
    }
    match parse_rfc3339(&req.time) {
        Some(t) if t >= 0 => {}
        _ => return Some("the time is not a date header the filter's clock can have".into()),
    }
    if req.source_ip.parse::<IpAddr>().is_err() {
        return Some("the source is not an address a TCP peer can have".into());
    }
    None
}

/// The protobuf field that names the resource of `api` (`docs/protocol.md#protobuf-messages`); None: the
/// API names no resource.
fn resource_field(api: &str) -> Option<u32> {
    match api {
        "GenerateRandom" => None,
        // DecryptRequest / AdvanceDecryptRequest: CiphertextBlob = 1, KeyId = 2.
        "Decrypt" | "AdvanceDecrypt" => Some(2),
        // GetSecretValueRequest.SecretName = 1; every other request: KeyId = 1.
        _ => Some(1),
    }
}

/// The request body the SDK would send for this case.
fn body(req: &AccessRequestDoc) -> Vec<u8> {
    let mut out = Vec::new();
    match resource_field(&req.api) {
        None => {
            // GenerateRandomRequest { int32 Length = 1 }
            put_varint(&mut out, 1 << 3);
            put_varint(&mut out, 32);
        }
        Some(field) => {
            if let Some(r) = &req.resource {
                put_bytes(&mut out, field, r.as_bytes());
            }
            // A payload field beside the resource, as real requests have (Encrypt's Plaintext = 2).
            if req.api == "Encrypt" {
                put_bytes(&mut out, 2, b"hello");
            }
        }
    }
    out
}

fn signing_key() -> RsaKeyPair {
    let pem = key_file("test-rsa2048.pem");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    RsaKeyPair::from_pkcs8(&der).unwrap()
}

/// The headers of `docs/protocol.md#request-headers`, signed over `policy_core::string_to_sign`.
fn signed_headers(key: &RsaKeyPair, req: &AccessRequestDoc, body: &[u8], date: i64) -> Vec<(String, String)> {
    let sha = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body);
    let mut h: Vec<(String, String)> = [
        ("accept", "application/x-protobuf".to_string()),
        ("host", "kst-parity.cryptoservice.kms.aliyuncs.com".to_string()),
        ("date", policy_core::format_rfc1123(date)),
        ("user-agent", "AlibabaCloud (linux; x86_64) Python/3.11 kms-gcs-python-sdk-version/1.0.2".to_string()),
        ("x-kms-apiversion", "dkms-gcs-0.2".to_string()),
        ("x-kms-apiname", req.api.clone()),
        ("x-kms-signaturemethod", "RSA_PKCS1_SHA_256".to_string()),
        ("x-kms-acccesskeyid", req.client_key_id.clone()),
        ("content-type", "application/x-protobuf".to_string()),
        ("content-length", body.len().to_string()),
        ("content-sha256", hex::encode_upper(sha.as_ref())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let view: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let sts = policy_core::string_to_sign(&HttpRequestView { method: "POST", headers: &view, body });
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), sts.as_bytes(), &mut sig).unwrap();
    h.push(("authorization".into(), format!("Bearer {}", base64::engine::general_purpose::STANDARD.encode(sig))));
    h
}

fn source_address(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:40000")
    } else {
        format!("{ip}:40000")
    }
}

/// The RPC v1 request (`:method`, `:path`, `host`) the Secrets Manager client sends for a case in
/// scope `shared`, signed with `key` over `policy_core::openapi::rpc_v1_string_to_sign`.
fn rpc_request(key: &RsaKeyPair, req: &AccessRequestDoc, now: i64) -> Vec<(String, String)> {
    use policy_core::openapi::{percent_encode, rpc_v1_string_to_sign};
    let mut params: Vec<(String, String)> = Vec::new();
    if let Some(r) = &req.resource {
        let name = if req.api == "GetSecretValue" { "SecretName" } else { "KeyId" };
        params.push((name.into(), r.clone()));
    }
    for (k, v) in [
        ("VersionStage", "ACSCurrent"),
        ("Version", "2016-01-20"),
        ("Action", req.api.as_str()),
        ("Format", "JSON"),
        ("RegionId", "cn-hangzhou"),
        ("Timestamp", policy_core::format_iso8601(now).as_str()),
        ("SignatureMethod", "SHA256withRSA"),
        ("SignatureType", "PRIVATEKEY"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
        ("AccessKeyId", req.client_key_id.as_str()),
    ] {
        params.push((k.into(), v.into()));
    }
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let sts = rpc_v1_string_to_sign("POST", &pairs);
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), sts.as_bytes(), &mut sig).unwrap();
    params.push(("Signature".into(), base64::engine::general_purpose::STANDARD.encode(sig)));
    let query: Vec<String> =
        params.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect();
    vec![
        (":method".into(), "POST".into()),
        (":path".into(), format!("/?{}", query.join("&"))),
        ("host".into(), "kms.cn-hangzhou.aliyuncs.com".into()),
        ("accept-encoding".into(), "identity".into()),
        ("x-sdk-client".into(), "python/2.0.0".into()),
    ]
}

/// The filter's outcome for a KMS-endpoint request says what the native report says: the JSON
/// error body of the OpenAPI on a deny.
fn check_filter_rpc(outcome: &FilterOutcome, native: &DecisionReport, ctx: &str) {
    match outcome {
        FilterOutcome::Continue { added_headers, .. } => {
            assert!(native.allowed, "{ctx}: the filter allowed, natively denied: {native:#?}");
            assert_eq!(header(added_headers, "x-aapkit-policy"), native.policy.as_deref(), "{ctx}: x-aapkit-policy");
            assert_eq!(header(added_headers, "x-aapkit-aap"), native.aap.as_deref(), "{ctx}: x-aapkit-aap");
            assert_eq!(header(added_headers, "x-aapkit-client-key"), native.client_key_id.as_deref(), "{ctx}");
            assert_eq!(header(added_headers, "x-aapkit-resource"), native.resource.as_deref(), "{ctx}");
            assert_eq!(header(added_headers, "x-aapkit-qps-group"), Some("GetSecretValue"), "{ctx}");
        }
        FilterOutcome::LocalResponse { status, headers, body, properties } => {
            assert!(!native.allowed, "{ctx}: the filter denied ({status}), natively allowed: {native:#?}");
            assert_eq!(header(headers, "content-type"), Some("application/json"), "{ctx}");
            let e: Value = serde_json::from_slice(body).unwrap_or_else(|err| panic!("{ctx}: JSON error body: {err}"));
            assert_eq!(*status, native.http_status, "{ctx}: HTTP status ({e})");
            assert_eq!(e["HttpStatus"].as_u64(), Some(u64::from(*status)), "{ctx}");
            assert_eq!(e["Code"].as_str(), native.error_code.as_deref(), "{ctx}: Code");
            assert_eq!(e["Message"].as_str(), native.wire_message.as_deref(), "{ctx}: Message");
            assert_eq!(e["HostId"], "kms.cn-hangzhou.aliyuncs.com", "{ctx}");
            assert!(e["RequestId"].as_str().is_some_and(|r| !r.is_empty()), "{ctx}");
            let property = |name: &str| properties.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
            assert_eq!(property(deny_properties::DETAIL), native.message.as_deref(), "{ctx}: deny detail");
            assert_eq!(property(deny_properties::CLIENT_KEY), native.client_key_id.as_deref(), "{ctx}: client key");
        }
        FilterOutcome::Failed(why) => panic!("{ctx}: the host failed ({why}); natively: {native:#?}"),
    }
}

/// The fixture bundle for the filter: the test key's public half on every client key, and
/// `Gateway.Scope` = `scope` (when given).
fn filter_bundle(original: &Value, public_pem: &str, scope: Option<&str>) -> String {
    let mut b = original.clone();
    if let Some(keys) = b.get_mut("ClientKeys").and_then(Value::as_array_mut) {
        for k in keys {
            k["PublicKeyData"] = Value::String(public_pem.to_string());
        }
    }
    if let Some(scope) = scope {
        let obj = b.as_object_mut().expect("a bundle is a JSON object");
        let gateway = obj.entry("Gateway").or_insert_with(|| Value::Object(Default::default()));
        gateway["Scope"] = Value::String(scope.to_string());
    }
    b.to_string()
}

// ---- the comparison --------------------------------------------------------------------------

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The filter's outcome says what the native report says.
fn check_filter(outcome: &FilterOutcome, native: &DecisionReport, req: &AccessRequestDoc, ctx: &str) {
    match outcome {
        FilterOutcome::Continue { added_headers, .. } => {
            assert!(native.allowed, "{ctx}: the filter allowed, natively denied: {native:#?}");
            assert_eq!(header(added_headers, "x-aapkit-policy"), native.policy.as_deref(), "{ctx}: x-aapkit-policy");
            assert_eq!(header(added_headers, "x-aapkit-aap"), native.aap.as_deref(), "{ctx}: x-aapkit-aap");
            assert_eq!(
                header(added_headers, "x-aapkit-client-key"),
                Some(req.client_key_id.as_str()),
                "{ctx}: x-aapkit-client-key"
            );
        }
        FilterOutcome::LocalResponse { status, headers, body, properties } => {
            let e = wire::decode_error(body).unwrap_or_else(|err| panic!("{ctx}: Error body: {err:?}"));
            assert!(!native.allowed, "{ctx}: the filter denied ({status} {e:?}), natively allowed: {native:#?}");
            assert_eq!(*status, native.http_status, "{ctx}: HTTP status ({e:?})");
            assert_eq!(header(headers, "content-type"), Some("application/x-protobuf"), "{ctx}");
            assert_eq!(e.status_code, i32::from(*status), "{ctx}: StatusCode");
            assert_eq!(Some(&e.error_code), native.error_code.as_ref(), "{ctx}: ErrorCode");
            // The caller gets the wire message; the operator's account (and who signed, once the
            // signature verified) goes to the proxy's records as properties, never to the client.
            assert_eq!(Some(&e.error_message), native.wire_message.as_ref(), "{ctx}: ErrorMessage");
            let property = |name: &str| properties.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
            assert_eq!(property(deny_properties::DETAIL), native.message.as_deref(), "{ctx}: deny detail");
            assert_eq!(property(deny_properties::CLIENT_KEY), native.client_key_id.as_deref(), "{ctx}: client key");
            for (name, value) in properties {
                assert!(!headers.iter().any(|(_, v)| v.contains(value.as_str())), "{ctx}: {name} leaked in a header");
            }
        }
        FilterOutcome::Failed(why) => panic!("{ctx}: the host failed ({why}); natively: {native:#?}"),
    }
}

#[test]
fn fixtures_decide_the_same_natively_and_in_the_filter() {
    let wasm_path = aapkit_tests::filter_wasm().unwrap_or_else(|e| panic!("{e}"));
    let wasm = std::fs::read(&wasm_path).unwrap_or_else(|e| panic!("{}: {e}", wasm_path.display()));
    let public_pem = key_file("test-rsa2048-pkcs1-pub.pem");
    let key = signing_key();
    let hosts: Vec<(bool, FilterHost)> = [true, false]
        .into_iter()
        .map(|offload| {
            let cfg = FilterHostConfig { max_vms: 1, ..aapkit_host::server::filter_enforcer::host_config(offload) };
            (offload, FilterHost::new(&wasm, cfg).unwrap())
        })
        .collect();

    let mut total = 0;
    let mut through_filter = 0;
    let mut skipped: Vec<(String, String)> = Vec::new();
    let mut allows = 0;
    let mut shared = 0;
    for (file, fx) in fixture_files() {
        let bundle_text = read(&aapkit_tests::repo_root().join(&fx.bundle));
        let native_bundle = compile_bundle(&bundle_text).unwrap_or_else(|e| panic!("{}: {e}", fx.bundle));
        let bundle_json: Value = serde_json::from_str(&bundle_text).unwrap();

        // Group the cases by scope: one filter configuration per distinct scope.
        let mut by_scope: BTreeMap<Option<String>, Vec<&Case>> = BTreeMap::new();
        for c in &fx.cases {
            total += 1;
            let ctx = format!("{file} / {}", c.name);
            let native = c.request.evaluate(&native_bundle).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            check_expect(&native, &c.expect, &ctx);
            let listed = NOT_SIGNABLE.iter().find(|(f, n, _)| *f == file && *n == c.name);
            match (unsignable(&c.request, &bundle_json), listed) {
                (None, None) => by_scope.entry(c.request.scope.clone()).or_default().push(c),
                (Some(_), Some(_)) => skipped.push((file.clone(), c.name.clone())),
                (Some(why), None) => panic!("{ctx}: {why}; list it in NOT_SIGNABLE with the reason"),
                (None, Some(_)) => panic!("{ctx}: listed in NOT_SIGNABLE but it can be signed: remove it"),
            }
        }

        for (scope, cases) in by_scope {
            let config = filter_bundle(&bundle_json, &public_pem, scope.as_deref());
            for (offload, host) in &hosts {
                host.configure(config.as_bytes())
                    .unwrap_or_else(|e| panic!("{file} (scope {scope:?}): the filter refused the bundle: {e:?}"));
                for c in &cases {
                    let ctx = format!("{file} / {} (offload {offload})", c.name);
                    let native = c.request.evaluate(&native_bundle).unwrap();
                    let now = parse_rfc3339(&c.request.time).unwrap();
                    if policy_core::is_shared_scope(c.request.scope.as_deref().unwrap_or_default()) {
                        let headers = rpc_request(&key, &c.request, now);
                        let outcome = host.run_request(&FilterRequest {
                            headers: &headers,
                            body: b"",
                            source_address: &source_address(&c.request.source_ip),
                            now_nanos: Some(u64::try_from(now).unwrap() * 1_000_000_000),
                            ..FilterRequest::default()
                        });
                        check_filter_rpc(&outcome, &native, &ctx);
                        through_filter += 1;
                        shared += 1;
                        allows += usize::from(native.allowed);
                        continue;
                    }
                    let body = body(&c.request);
                    let headers = signed_headers(&key, &c.request, &body, now);
                    let source = source_address(&c.request.source_ip);
                    let outcome = host.run_request(&FilterRequest {
                        headers: &headers,
                        body: &body,
                        source_address: &source,
                        now_nanos: Some(u64::try_from(now).unwrap() * 1_000_000_000),
                        ..FilterRequest::default()
                    });
                    check_filter(&outcome, &native, &c.request, &ctx);
                    through_filter += 1;
                    allows += usize::from(native.allowed);
                }
            }
        }
    }

    for (f, n, why) in NOT_SIGNABLE {
        assert!(skipped.iter().any(|(sf, sn)| sf == f && sn == n), "NOT_SIGNABLE names no case: {f} / {n} ({why})");
    }
    assert_eq!(through_filter, 2 * (total - skipped.len()));
    assert!(total >= 40, "only {total} fixture cases");
    assert!(allows > 0 && allows < through_filter, "the fixtures need allows and denies");
    assert!(shared >= 2 * 10, "only {shared} shared-gateway decisions went through the filter");
    let (offload_host, pure_host) = (&hosts[0].1, &hosts[1].1);
    for (name, host) in [("offload", offload_host), ("pure", pure_host)] {
        let stats = host.stats();
        assert_eq!(stats.traps, 0, "{name}: {stats:?}");
        assert_eq!(stats.fail_closed, 0, "{name}: {stats:?}");
    }
    assert!(offload_host.stats().foreign_calls > 0, "the offload host never verified natively");
    assert_eq!(pure_host.stats().foreign_calls, 0, "the pure host called verify_signature");
}

/// The request bodies carry the resource where the scanner (and the server) look for it, also
/// past one-byte protobuf lengths; and cases a signed request cannot express are recognized.
#[test]
fn request_bodies_and_unsignable_cases() {
    use policy_core::{extract_resource, Api, ResourceRef};
    let doc = |api: &str, resource: Option<&str>| AccessRequestDoc {
        client_key_id: "KAAP.x".into(),
        api: api.into(),
        resource: resource.map(str::to_string),
        source_ip: "10.0.0.1".into(),
        scope: Some("kst-a".into()),
        time: "2025-01-01T00:00:00Z".into(),
    };
    let long = format!("team/{}", "x".repeat(250));
    for api in Api::ALL {
        for name in ["k", long.as_str()] {
            let req = doc(api.name(), (api != Api::GenerateRandom).then_some(name));
            let bytes = body(&req);
            let got = extract_resource(api, &bytes).unwrap();
            let want = match api {
                Api::GenerateRandom => None,
                Api::GetSecretValue => Some(ResourceRef::SecretName(name)),
                _ => Some(ResourceRef::KeyId(name)),
            };
            assert_eq!(got, want, "{}", api.name());
        }
        let empty = body(&doc(api.name(), None));
        assert_eq!(extract_resource(api, &empty).unwrap(), None, "{}", api.name());
    }
    let gateway = serde_json::json!({"Gateway": {"Scope": "kst-a"}});
    assert_eq!(unsignable(&doc("Encrypt", Some("k")), &gateway), None);
    assert!(unsignable(&doc("GenerateRandom", Some("k")), &gateway).is_some());
    assert!(unsignable(&doc("Encrypt", Some("")), &gateway).is_some());
    assert!(
        unsignable(&AccessRequestDoc { scope: None, ..doc("Encrypt", Some("k")) }, &serde_json::json!({})).is_some()
    );
    assert!(
        unsignable(&AccessRequestDoc { client_key_id: "a b".into(), ..doc("Encrypt", Some("k")) }, &gateway).is_some()
    );
    assert!(unsignable(
        &AccessRequestDoc { time: "1969-12-31T23:59:59Z".into(), ..doc("Encrypt", Some("k")) },
        &gateway
    )
    .is_some());
}

/// The signed shared-gateway fixtures (`tests/fixtures/shared-gateway/*.json`): each pre-signed RPC
/// request goes through the filter as it is (query, form body, method), with and without the
/// `verify_signature` offload, and gets what `authorize_shared_gateway` decides natively.
#[test]
fn signed_shared_gateway_requests_decide_the_same_in_the_filter() {
    use policy_core::openapi::{authorize_shared_gateway, decode_form_urlencoded, RpcRequestView};
    use policy_core::{PeerAddr, PureRustVerifier};

    let wasm_path = aapkit_tests::filter_wasm().unwrap_or_else(|e| panic!("{e}"));
    let wasm = std::fs::read(&wasm_path).unwrap_or_else(|e| panic!("{}: {e}", wasm_path.display()));
    let dir = aapkit_tests::repo_root().join("tests/fixtures/shared-gateway");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no signed shared-gateway fixtures in {}", dir.display());
    let mut ran = 0;
    for path in files {
        let doc: Value = serde_json::from_str(&read(&path)).unwrap();
        let bundle_text = read(&aapkit_tests::repo_root().join(doc["bundle"].as_str().unwrap()));
        let native_bundle = compile_bundle(&bundle_text).unwrap();
        for offload in [true, false] {
            let cfg = FilterHostConfig { max_vms: 1, ..aapkit_host::server::filter_enforcer::host_config(offload) };
            let host = FilterHost::new(&wasm, cfg).unwrap();
            host.configure(bundle_text.as_bytes()).unwrap();
            for c in doc["cases"].as_array().unwrap() {
                let name = c["name"].as_str().unwrap();
                let ctx = format!("{} / {name} (offload {offload})", path.display());
                let r = &c["request"];
                let text = |f: &str| r[f].as_str().unwrap_or_else(|| panic!("{ctx}: {f}"));
                let (method, path_q, body) = (text("Method"), text("Path"), text("Body"));
                let now = parse_rfc3339(text("Time")).unwrap();
                let ip: IpAddr = text("SourceIp").parse().unwrap();
                // Native: the parameters as a server decodes them.
                let mut params = decode_form_urlencoded(path_q.split_once('?').map_or("", |(_, q)| q)).unwrap();
                let content_type = r["ContentType"].as_str();
                if content_type.is_some() {
                    params.extend(decode_form_urlencoded(body).unwrap());
                }
                let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let rpc = RpcRequestView { method, params: &pairs };
                let peer = PeerAddr { ip, forwarded_for: None };
                let native = authorize_shared_gateway(&native_bundle, &rpc, peer, now, &PureRustVerifier).to_report();
                let expect: fixture::Expect = serde_json::from_value(c["expect"].clone()).unwrap();
                check_expect(&native, &expect, &ctx);
                // The filter.
                let mut headers: Vec<(String, String)> = vec![
                    (":method".into(), method.into()),
                    (":path".into(), path_q.into()),
                    ("host".into(), "kms.cn-hangzhou.aliyuncs.com".into()),
                ];
                if let Some(ct) = content_type {
                    headers.push(("content-type".into(), ct.into()));
                }
                let outcome = host.run_request(&FilterRequest {
                    headers: &headers,
                    body: body.as_bytes(),
                    source_address: &source_address(&ip.to_string()),
                    now_nanos: Some(u64::try_from(now).unwrap() * 1_000_000_000),
                    ..FilterRequest::default()
                });
                check_filter_rpc(&outcome, &native, &ctx);
                ran += 1;
            }
            let stats = host.stats();
            assert_eq!((stats.traps, stats.fail_closed), (0, 0), "{stats:?}");
        }
    }
    assert!(ran >= 40, "only {ran} signed requests");
}

/// An RPC request signed with an AccessKey (not a client key) is not the filter's to decide: it
/// continues with every `x-aapkit-*` header set empty, whatever the client sent under those names.
#[test]
fn access_key_requests_pass_the_filter_undecided() {
    let wasm_path = aapkit_tests::filter_wasm().unwrap_or_else(|e| panic!("{e}"));
    let wasm = std::fs::read(&wasm_path).unwrap();
    let cfg = FilterHostConfig { max_vms: 1, ..aapkit_host::server::filter_enforcer::host_config(false) };
    let host = FilterHost::new(&wasm, cfg).unwrap();
    let bundle = read(&aapkit_tests::repo_root().join("tests/fixtures/bundles/shared-gateway-bundle.json"));
    host.configure(bundle.as_bytes()).unwrap();
    let headers: Vec<(String, String)> = vec![
        (":method".into(), "POST".into()),
        (
            ":path".into(),
            "/?Action=CreateSecret&Format=json&Version=2016-01-20&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=LTAI5tTest&SignatureNonce=n&Timestamp=2025-06-01T00%3A00%3A00Z&Signature=x".into(),
        ),
        ("host".into(), "kms.cn-hangzhou.aliyuncs.com".into()),
        ("x-aapkit-client-key".into(), "KAAP.forged".into()),
    ];
    let outcome = host.run_request(&FilterRequest {
        headers: &headers,
        body: b"",
        source_address: "192.168.10.5:40000",
        now_nanos: Some(1_748_736_000 * 1_000_000_000),
        ..FilterRequest::default()
    });
    let FilterOutcome::Continue { added_headers, .. } = outcome else { panic!("{outcome:?}") };
    for name in ["x-aapkit-client-key", "x-aapkit-aap", "x-aapkit-policy", "x-aapkit-resource"] {
        assert_eq!(header(&added_headers, name), Some(""), "{name}");
    }
    // A form body that is not UTF-8 cannot be canonicalised: a JSON 400, never a pass.
    let form = vec![
        (":method".into(), "POST".into()),
        (":path".into(), "/?Action=GetSecretValue".into()),
        ("content-type".into(), "application/x-www-form-urlencoded".into()),
    ];
    let outcome = host.run_request(&FilterRequest {
        headers: &form,
        body: b"SecretName=%FF",
        source_address: "192.168.10.5:40000",
        ..FilterRequest::default()
    });
    let FilterOutcome::LocalResponse { status, body, .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!(status, 400);
    let e: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(e["Code"], "InvalidParameter");
}
