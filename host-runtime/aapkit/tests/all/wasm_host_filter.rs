//! The proxy-wasm filter module run in the wasmtime host: allow, every deny code, bad bundles,
//! body limits, addresses, the `verify_signature` offload, misbehaving hostcalls and VM faults.
//!
//! Build the module first:
//! `cargo build -p aapkit-filter --target wasm32-wasip1 --profile wasm-release`
//! (the test reads `$AAPKIT_FILTER_WASM`, else `$CARGO_TARGET_DIR/wasm32-wasip1/wasm-release/aapkit_filter.wasm`).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aapkit_host::server::enforcer::ConfigureError;
use aapkit_host::server::filter_enforcer::{self, fail_closed, FilterEnforcer};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use base64::Engine as _;
use policy_core::{wire, HttpRequestView, PeerAddr, PureRustVerifier};
use proxy_wasm_host::{
    FilterHost, FilterHostConfig, FilterOutcome, FilterRequest, GuestLimit, HostFault, Hostcall, LogLevel,
};
use serde_json::{json, Value};

// ---- fixtures --------------------------------------------------------------------------------

fn wasm_path() -> PathBuf {
    aapkit_tests::filter_wasm().unwrap_or_else(|e| panic!("{e}"))
}

fn wasm() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| {
        let path = wasm_path();
        std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "the filter module is missing at {} ({e}). Build it first:\n  \
                 cargo build -p aapkit-filter --target wasm32-wasip1 --profile wasm-release\n\
                 or point AAPKIT_FILTER_WASM at it.",
                path.display()
            )
        })
    })
}

fn data(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policy-core/tests/data").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const TEST_KEY_ID: &str = "KAAP.7e570000-0000-4000-8000-000000000001";
const EXPIRED_KEY_ID: &str = "KAAP.7e570000-0000-4000-8000-000000000002";

/// The example bundle plus two client keys whose private half the tests hold: one valid (AAP
/// `app`), one expired (AAP `ops`).
fn bundle_json() -> String {
    let mut b: Value = serde_json::from_str(&data("example-bundle.json")).unwrap();
    let public = data("keys/test-rsa2048-pkcs1-pub.pem");
    let keys = b["ClientKeys"].as_array_mut().unwrap();
    keys.push(json!({"ClientKeyId": TEST_KEY_ID, "AapName": "app", "PublicKeyData": public,
                     "NotBefore": "2020-01-01T00:00:00Z", "NotAfter": "2040-01-01T00:00:00Z"}));
    keys.push(json!({"ClientKeyId": EXPIRED_KEY_ID, "AapName": "ops", "PublicKeyData": public,
                     "NotBefore": "2019-01-01T00:00:00Z", "NotAfter": "2021-01-01T00:00:00Z"}));
    b.to_string()
}

fn test_key() -> RsaKeyPair {
    let pem = data("keys/test-rsa2048.pem");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    RsaKeyPair::from_pkcs8(&der).unwrap()
}

/// 2024-05-01T12:00:00Z: inside the test key's validity.
const NOW: i64 = 1_714_564_800;

fn nanos(secs: i64) -> u64 {
    u64::try_from(secs).unwrap() * 1_000_000_000
}

/// Protobuf: one length-delimited field.
fn pb_string(field: u8, s: &[u8]) -> Vec<u8> {
    let mut out = vec![field << 3 | 2, u8::try_from(s.len()).unwrap()];
    out.extend_from_slice(s);
    out
}

/// A request signed the way the SDKs sign it. `tweak` edits the headers before signing.
struct Req {
    key_id: Option<String>,
    api: String,
    body: Vec<u8>,
    date: i64,
}

impl Req {
    fn encrypt(key: &str) -> Req {
        let mut body = pb_string(1, key.as_bytes());
        body.extend(pb_string(2, b"hello"));
        Req { key_id: Some(TEST_KEY_ID.into()), api: "Encrypt".into(), body, date: NOW }
    }

    fn secret(name: &str) -> Req {
        Req {
            key_id: Some(TEST_KEY_ID.into()),
            api: "GetSecretValue".into(),
            body: pb_string(1, name.as_bytes()),
            date: NOW,
        }
    }

    fn key(mut self, id: Option<&str>) -> Req {
        self.key_id = id.map(str::to_string);
        self
    }

    fn headers(&self, edit: impl FnOnce(&mut Vec<(String, String)>)) -> Vec<(String, String)> {
        let sha = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.body);
        let mut h: Vec<(String, String)> = vec![
            ("accept".into(), "application/x-protobuf".into()),
            ("content-type".into(), "application/x-protobuf".into()),
            ("content-length".into(), self.body.len().to_string()),
            ("content-sha256".into(), hex::encode_upper(sha.as_ref())),
            ("date".into(), policy_core::format_rfc1123(self.date)),
            ("x-kms-apiname".into(), self.api.clone()),
            ("x-kms-apiversion".into(), "dkms-gcs-0.2".into()),
            ("x-kms-signaturemethod".into(), "RSA_PKCS1_SHA_256".into()),
        ];
        if let Some(id) = &self.key_id {
            h.push(("x-kms-acccesskeyid".into(), id.clone()));
        }
        edit(&mut h);
        let view: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let sts = policy_core::string_to_sign(&HttpRequestView { method: "POST", headers: &view, body: &self.body });
        let key = test_key();
        let mut sig = vec![0u8; key.public_modulus_len()];
        key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), sts.as_bytes(), &mut sig).unwrap();
        h.push(("authorization".into(), format!("Bearer {}", base64::engine::general_purpose::STANDARD.encode(sig))));
        h
    }
}

/// aapkit's host settings (its `x-aapkit-*` headers stripped from requests, `verify_signature`
/// offered when `offload`), two VMs.
fn config(offload: bool) -> FilterHostConfig {
    FilterHostConfig { max_vms: 2, ..filter_enforcer::host_config(offload) }
}

fn host_with(cfg: FilterHostConfig) -> FilterHost {
    let host = FilterHost::new(wasm(), cfg).unwrap();
    host.configure(bundle_json().as_bytes()).unwrap();
    host
}

/// A request through the filter, a host failure answered as aapkit answers it (`InternalFailure`).
fn run(host: &FilterHost, headers: &[(String, String)], body: &[u8], source: &str, now: i64) -> FilterOutcome {
    let outcome = host.run_request(&FilterRequest {
        headers,
        body,
        source_address: source,
        now_nanos: Some(nanos(now)),
        full_header_map: true,
        ..FilterRequest::default()
    });
    fail_closed(outcome, "")
}

/// (status, ErrorCode, ErrorMessage, RequestId) of a deny.
fn denied(outcome: &FilterOutcome) -> (u16, String, String, String) {
    match outcome {
        FilterOutcome::LocalResponse { status, headers, body, .. } => {
            if body.is_empty() {
                return (*status, String::new(), String::new(), String::new());
            }
            assert!(headers.iter().any(|(k, v)| k == "content-type" && v == "application/x-protobuf"), "{headers:?}");
            let e = wire::decode_error(body).unwrap();
            assert_eq!(e.status_code, i32::from(*status));
            (*status, e.error_code, e.error_message, e.request_id)
        }
        FilterOutcome::Continue { .. } | FilterOutcome::Failed(_) => panic!("expected a deny, got {outcome:?}"),
    }
}

fn allowed(outcome: &FilterOutcome) -> Vec<(String, String)> {
    match outcome {
        FilterOutcome::Continue { added_headers, .. } => added_headers.clone(),
        other => panic!("expected an allow, got {other:?} {:?}", denied(other)),
    }
}

const VPC: &str = "172.16.3.4:50000";

// ---- allow -----------------------------------------------------------------------------------

#[test]
fn sdk_signed_vector_is_allowed_with_and_without_offload() {
    let v: Value = serde_json::from_str(&data("sdk-signed-encrypt.json")).unwrap();
    let headers: Vec<(String, String)> = v["request"]["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let body = hex::decode(v["request"]["body_hex"].as_str().unwrap()).unwrap();
    let date = policy_core::parse_rfc1123(v["request"]["headers"]["date"].as_str().unwrap()).unwrap();
    for offload in [true, false] {
        // The host clock is fixed at the vector's date (no per-request time).
        let clock = Arc::new(move || nanos(date + 5));
        let host = host_with(FilterHostConfig { clock: Some(clock), ..config(offload) });
        let outcome = host.run_request(&FilterRequest {
            headers: &headers,
            body: &body,
            source_address: VPC,
            now_nanos: None,
            ..FilterRequest::default()
        });
        let added = allowed(&outcome);
        assert_eq!(
            added,
            vec![
                ("x-aapkit-aap".to_string(), "app".to_string()),
                ("x-aapkit-policy".to_string(), "app-keys".to_string()),
                ("x-aapkit-client-key".to_string(), "key_for_unit_test".to_string()),
                ("x-aapkit-resource".to_string(), "key-test".to_string()),
                ("x-aapkit-qps-group".to_string(), "Symmetric".to_string()),
                // Set even when empty, so no client value under these names can pass as the filter's.
                ("x-aapkit-key-version".to_string(), String::new()),
                ("x-aapkit-secret-key".to_string(), String::new()),
                ("x-aapkit-generation".to_string(), String::new()),
            ]
        );
        let stats = host.stats();
        assert_eq!(stats.foreign_calls > 0, offload, "{stats:?}");
        assert_eq!(stats.traps, 0);
    }
}

#[test]
fn allowed_requests_carry_the_caller_and_spoofed_headers_are_dropped() {
    let host = host_with(config(true));
    let req = Req::secret("app/db-password");
    let mut headers = req.headers(|_| {});
    headers.push(("x-aapkit-aap".into(), "spoofed".into()));
    headers.push(("X-Aapkit-Client-Key".into(), "spoofed".into()));
    let outcome = run(&host, &headers, &req.body, "192.168.10.7:4000", NOW);
    let FilterOutcome::Continue { added_headers, headers, .. } = outcome else { panic!("{outcome:?}") };
    assert!(added_headers.contains(&("x-aapkit-policy".into(), "app-secrets".into())), "{added_headers:?}");
    assert!(added_headers.contains(&("x-aapkit-resource".into(), "app/db-password".into())), "{added_headers:?}");
    assert!(added_headers.contains(&("x-aapkit-qps-group".into(), "GetSecretValue".into())), "{added_headers:?}");
    let secret_key = added_headers.iter().find(|(k, _)| k == "x-aapkit-secret-key").map(|(_, v)| v.as_str());
    assert!(secret_key.is_some_and(|k| !k.is_empty()), "the secret's key is reported: {added_headers:?}");
    assert_eq!(headers.iter().filter(|(k, _)| k.starts_with("x-aapkit-")).count(), 8, "{headers:?}");
    assert!(!headers.iter().any(|(_, v)| v == "spoofed"));
}

// ---- every deny code, checked against policy-core run natively --------------------------------

#[test]
fn every_deny_code_matches_native_policy_core() {
    let bundle_text = bundle_json();
    let native = policy_core::compile_bundle(&bundle_text).unwrap();
    let host = host_with(config(true));
    let pure = host_with(config(false));
    // The same bundle as the compact form a gateway gives its VMs, with and without the offload.
    let compact = host_with(config(true));
    compact.configure(&native.to_compact()).unwrap();
    let compact_pure = host_with(config(false));
    compact_pure.configure(&native.to_compact()).unwrap();
    let mut bad_sig = Req::encrypt("key-test").headers(|_| {});
    bad_sig.retain(|(k, _)| k != "authorization");
    bad_sig.push((
        "authorization".into(),
        format!("Bearer {}", base64::engine::general_purpose::STANDARD.encode([7u8; 256])),
    ));

    let enc = Req::encrypt("key-test");
    type Case = (&'static str, Vec<(String, String)>, Vec<u8>, &'static str, i64, u16, &'static str);
    let cases: Vec<Case> = vec![
        (
            "unknown client key",
            Req::encrypt("key-test").key(Some("KAAP.nope")).headers(|_| {}),
            enc.body.clone(),
            VPC,
            NOW,
            404,
            "Unauthorized",
        ),
        (
            "expired client key",
            Req::encrypt("key-test").key(Some(EXPIRED_KEY_ID)).headers(|_| {}),
            enc.body.clone(),
            VPC,
            NOW,
            404,
            "Unauthorized",
        ),
        ("bad signature", bad_sig, enc.body.clone(), VPC, NOW, 401, "SignatureNotMatch"),
        ("body changed after signing", enc.headers(|_| {}), pb_string(1, b"key-other"), VPC, NOW, 400, "InvalidParam"),
        ("bad date", enc.headers(|h| set(h, "date", "yesterday")), enc.body.clone(), VPC, NOW, 400, "InvalidParam"),
        ("clock skew", enc.headers(|_| {}), enc.body.clone(), VPC, NOW + 3600, 400, "RequestTimeTooSkewed"),
        (
            "no key id",
            Req::encrypt("key-test").key(None).headers(|_| {}),
            enc.body.clone(),
            VPC,
            NOW,
            400,
            "MissingParameter",
        ),
        (
            "bad api version",
            enc.headers(|h| set(h, "x-kms-apiversion", "v9")),
            enc.body.clone(),
            VPC,
            NOW,
            400,
            "InvalidApiVersion",
        ),
        (
            "bad api name",
            enc.headers(|h| set(h, "x-kms-apiname", "Frobnicate")),
            enc.body.clone(),
            VPC,
            NOW,
            400,
            "InvalidApiName",
        ),
        ("network denies", enc.headers(|_| {}), enc.body.clone(), "8.8.8.8:1", NOW, 403, "Forbidden.NoPermission"),
        (
            "resource not granted",
            Req::encrypt("key-other").headers(|_| {}),
            Req::encrypt("key-other").body,
            VPC,
            NOW,
            403,
            "Forbidden.NoPermission",
        ),
        (
            "unknown key",
            Req::encrypt("key-app-999").headers(|_| {}),
            Req::encrypt("key-app-999").body,
            VPC,
            NOW,
            404,
            "Forbidden.KeyNotFound",
        ),
        (
            "unknown alias",
            Req::encrypt("alias/nope").headers(|_| {}),
            Req::encrypt("alias/nope").body,
            VPC,
            NOW,
            404,
            "Forbidden.KeyNotFound",
        ),
        (
            "unknown secret",
            Req::secret("app/nope").headers(|_| {}),
            Req::secret("app/nope").body,
            VPC,
            NOW,
            404,
            "Forbidden.ResourceNotFound",
        ),
        (
            "disabled key",
            Req::encrypt("key-app-002").headers(|_| {}),
            Req::encrypt("key-app-002").body,
            VPC,
            NOW,
            409,
            "Rejected.Disabled",
        ),
        (
            "key pending deletion",
            Req::encrypt("key-app-003").headers(|_| {}),
            Req::encrypt("key-app-003").body,
            VPC,
            NOW,
            409,
            "Rejected.PendingDeletion",
        ),
        (
            "wrong content type",
            enc.headers(|h| set(h, "content-type", "text/plain")),
            enc.body.clone(),
            VPC,
            NOW,
            415,
            "InvalidContentType",
        ),
    ];
    for (name, headers, body, source, now, status, code) in cases {
        for h in [&host, &pure, &compact, &compact_pure] {
            let outcome = run(h, &headers, &body, source, now);
            let (got_status, got_code, message, request_id) = denied(&outcome);
            assert_eq!((got_status, got_code.as_str()), (status, code), "{name}: {message}");
            assert!(request_id.starts_with("aapkit-wasm-"), "{name}: {request_id}");
            // The same decision, natively.
            let view: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let ip = source.parse::<std::net::SocketAddr>().unwrap().ip();
            let d = policy_core::authorize(
                &native,
                &HttpRequestView { method: "POST", headers: &view, body: &body },
                PeerAddr { ip, forwarded_for: None },
                now,
                &PureRustVerifier,
            );
            assert_eq!((d.http_status(), d.wire_message()), (got_status, message.clone()), "{name}");
        }
    }
}

fn set(h: &mut [(String, String)], name: &str, value: &str) {
    for (k, v) in h.iter_mut() {
        if k == name {
            *v = value.to_string();
        }
    }
}

#[test]
fn request_id_comes_from_x_request_id() {
    let host = host_with(config(true));
    let headers = Req::encrypt("key-test").headers(|h| h.push(("x-request-id".into(), "req-42".into())));
    let (_, _, _, id) = denied(&run(&host, &headers, &Req::encrypt("key-test").body, "8.8.8.8:1", NOW));
    assert_eq!(id, "req-42");
}

#[test]
fn malformed_protobuf_body_is_invalid_parameter() {
    let host = host_with(config(true));
    let mut req = Req::encrypt("key-test");
    req.body = vec![0x0a, 0x7f, 0x01]; // length 127, 1 byte present
    let (status, code, _, _) = denied(&run(&host, &req.headers(|_| {}), &req.body, VPC, NOW));
    assert_eq!((status, code.as_str()), (400, "InvalidParameter"));
}

#[test]
fn missing_headers_are_denied() {
    let host = host_with(config(true));
    let (status, code, _, _) = denied(&run(&host, &[], b"", VPC, NOW));
    assert!(status == 400 && !code.is_empty(), "{status} {code}");
    let (status, _, _, _) = denied(&run(&host, &[], &Req::encrypt("key-test").body, VPC, NOW));
    assert_eq!(status, 400);
}

// ---- body size --------------------------------------------------------------------------------

#[test]
fn oversize_body_is_413_without_body() {
    let host = host_with(config(true));
    let mut req = Req::encrypt("key-test");
    req.body = vec![0u8; 3 * 1024 * 1024 + 1];
    let outcome = run(&host, &req.headers(|_| {}), &req.body, VPC, NOW);
    assert_eq!(
        outcome,
        FilterOutcome::LocalResponse { status: 413, headers: vec![], body: vec![], properties: vec![] }
    );
    // Exactly 3 MiB is not too large (it is just not a valid EncryptRequest).
    req.body = vec![0u8; 3 * 1024 * 1024];
    let (status, _, _, _) = denied(&run(&host, &req.headers(|_| {}), &req.body, VPC, NOW));
    assert_eq!(status, 400);
    assert_eq!(host.stats().traps, 0);
}

// ---- trailers ---------------------------------------------------------------------------------

#[test]
fn trailers_do_not_bypass_the_decision() {
    let host = host_with(config(true));
    let trailers = vec![("x-trailer".to_string(), "1".to_string())];
    let req = Req::encrypt("key-test");
    let h = req.headers(|_| {});
    let with_trailers = |body: &[u8], source: &str| {
        let outcome = host.run_request(&FilterRequest {
            headers: &h,
            body,
            source_address: source,
            now_nanos: Some(nanos(NOW)),
            trailers: &trailers,
            ..FilterRequest::default()
        });
        fail_closed(outcome, "")
    };
    // Denied and allowed requests with trailers are decided like those without.
    assert_eq!(denied(&with_trailers(&req.body, "8.8.8.8:1")).1, "Forbidden.NoPermission");
    allowed(&with_trailers(&req.body, VPC));
    // No body at all, then trailers: still decided (the signature covers an empty body here).
    let (status, _, _, _) = denied(&with_trailers(b"", VPC));
    assert_eq!(status, 400);
}

// ---- addresses ----------------------------------------------------------------------------------

#[test]
fn ipv6_and_bare_source_addresses() {
    let host = host_with(config(true));
    let req = Req::encrypt("key-test");
    let h = req.headers(|_| {});
    allowed(&run(&host, &h, &req.body, "[fd00::5]:443", NOW));
    allowed(&run(&host, &h, &req.body, "fd00::5", NOW));
    allowed(&run(&host, &h, &req.body, "172.16.0.1", NOW));
    assert_eq!(denied(&run(&host, &h, &req.body, "[2001:db8::1]:443", NOW)).0, 403);
    assert_eq!(denied(&run(&host, &h, &req.body, "not-an-address", NOW)).1, "InternalFailure");
}

#[test]
fn forwarded_for_is_trusted_only_from_trusted_proxies() {
    let host = host_with(config(true));
    let req = Req::encrypt("key-test");
    let with_xff = req.headers(|h| h.push(("x-forwarded-for".into(), "172.16.0.9".into())));
    // 127.0.0.1 is the bundle's trusted proxy: the client is 172.16.0.9.
    allowed(&run(&host, &with_xff, &req.body, "127.0.0.1:5000", NOW));
    // From anyone else the header is ignored: the peer 8.8.8.8 is outside the network rules.
    assert_eq!(denied(&run(&host, &with_xff, &req.body, "8.8.8.8:5000", NOW)).1, "Forbidden.NoPermission");
    // The trusted proxy itself is not a permitted client.
    let plain = req.headers(|_| {});
    assert_eq!(denied(&run(&host, &plain, &req.body, "127.0.0.1:5000", NOW)).1, "Forbidden.NoPermission");
    // A forged hop before the real one does not help: the right-most untrusted entry counts.
    let forged = req.headers(|h| h.push(("x-forwarded-for".into(), "172.16.0.9, 8.8.8.8".into())));
    assert_eq!(denied(&run(&host, &forged, &req.body, "127.0.0.1:5000", NOW)).1, "Forbidden.NoPermission");
}

// ---- configuration ----------------------------------------------------------------------------

#[test]
fn bad_bundle_is_refused_with_json_paths_and_the_old_one_stays() {
    let logs = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink_logs = Arc::clone(&logs);
    let cfg = FilterHostConfig {
        log_sink: Some(Arc::new(move |level: LogLevel, msg: &str| {
            sink_logs.lock().unwrap().push((level, msg.to_string()))
        })),
        ..config(true)
    };
    let host = FilterHost::new(wasm(), cfg).unwrap();
    // Before any bundle: fail closed.
    let req = Req::encrypt("key-test");
    let h = req.headers(|_| {});
    assert_eq!(denied(&run(&host, &h, &req.body, VPC, NOW)).1, "InternalFailure");
    host.configure(bundle_json().as_bytes()).unwrap();

    // Document errors: every one, each with its JSON path.
    let mut bad: Value = serde_json::from_str(&bundle_json()).unwrap();
    bad["Policies"][1]["Resources"] = json!(["nonsense"]);
    bad["Keys"][0]["KeyState"] = json!("Sleeping");
    let rejected = host.configure(bad.to_string().as_bytes()).unwrap_err();
    let errors = rejected.messages(LogLevel::Warn);
    assert!(errors.iter().any(|e| e.contains("$.Policies[1].Resources[0]")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("$.Keys[0].KeyState")), "{errors:?}");
    // The enforcer's form of the same refusal: policy-core's typed errors.
    match filter_enforcer::prepare(&host, &bad.to_string()) {
        Err(ConfigureError::Rejected(errors)) => {
            let paths: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
            assert!(paths.iter().any(|e| e.contains("$.Policies[1].Resources[0]")), "{paths:?}");
            assert!(paths.iter().any(|e| e.contains("$.Keys[0].KeyState")), "{paths:?}");
        }
        other => panic!("{other:?}"),
    }
    // Key errors (found when compiling).
    let mut bad: Value = serde_json::from_str(&bundle_json()).unwrap();
    bad["ClientKeys"][0]["PublicKeyData"] = json!("not a pem");
    let rejected = host.configure(bad.to_string().as_bytes()).unwrap_err();
    let errors = rejected.messages(LogLevel::Warn);
    assert!(errors.iter().any(|e| e.contains("$.ClientKeys[0].PublicKeyData")), "{errors:?}");
    assert!(logs.lock().unwrap().iter().any(|(l, m)| *l == LogLevel::Error && m.contains("$.Policies[1]")));
    for not_json in ["", "{", "[]", "null"] {
        assert!(host.configure(not_json.as_bytes()).is_err(), "{not_json:?}");
    }
    // The previous bundle is still in force.
    allowed(&run(&host, &h, &req.body, VPC, NOW));
}

#[test]
fn a_new_bundle_applies_to_every_vm() {
    let host = host_with(FilterHostConfig { max_vms: 3, ..config(true) });
    let req = Req::encrypt("key-test");
    let h = req.headers(|_| {});
    // Warm several VMs.
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| allowed(&run(&host, &h, &req.body, VPC, NOW)));
        }
    });
    let mut b: Value = serde_json::from_str(&bundle_json()).unwrap();
    b["ClientKeys"].as_array_mut().unwrap().retain(|k| k["ClientKeyId"] != TEST_KEY_ID);
    host.configure(b.to_string().as_bytes()).unwrap();
    for _ in 0..6 {
        assert_eq!(denied(&run(&host, &h, &req.body, VPC, NOW)).1, "Unauthorized");
    }
}

#[test]
fn the_compact_form_is_enforced_by_every_vm_and_damage_is_refused() {
    let logs = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink_logs = Arc::clone(&logs);
    let host = FilterHost::new(
        wasm(),
        FilterHostConfig {
            max_vms: 3,
            log_sink: Some(Arc::new(move |level: LogLevel, msg: &str| {
                sink_logs.lock().unwrap().push((level, msg.to_string()))
            })),
            ..config(true)
        },
    )
    .unwrap();
    let compiled = policy_core::compile_bundle(&bundle_json()).unwrap();
    let compact = compiled.to_compact();
    host.configure(&compact).unwrap();
    let req = Req::encrypt("key-test");
    let h = req.headers(|_| {});
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| allowed(&run(&host, &h, &req.body, VPC, NOW)));
        }
    });
    assert!(logs.lock().unwrap().iter().any(|(_, m)| m.contains("loaded (compact form)")));
    // Damaged forms are refused with the reason, and the one in force stays.
    let mut flipped = compact.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x10;
    let mut newer = compact.clone();
    newer[8] = 9;
    for (bad, why) in [
        (flipped, "checksum"),
        (compact[..compact.len() - 5].to_vec(), "truncated"),
        (newer, "version 9"),
        (policy_core::COMPACT_MAGIC.to_vec(), "truncated"),
    ] {
        match filter_enforcer::prepare_compact(&host, &bad[..]) {
            Err(ConfigureError::Host(said)) => assert!(said.contains(why), "{why}: {said}"),
            other => panic!("{why}: {other:?}"),
        }
        assert!(host.configure(&bad).is_err());
    }
    allowed(&run(&host, &h, &req.body, VPC, NOW));
    // A new compact form reaches every VM: the key removed is refused on each.
    let mut b: Value = serde_json::from_str(&bundle_json()).unwrap();
    b["ClientKeys"].as_array_mut().unwrap().retain(|k| k["ClientKeyId"] != TEST_KEY_ID);
    let next = policy_core::compile_bundle(&b.to_string()).unwrap().to_compact();
    logs.lock().unwrap().clear();
    host.configure(&next).unwrap();
    for _ in 0..6 {
        assert_eq!(denied(&run(&host, &h, &req.body, VPC, NOW)).1, "Unauthorized");
    }
    // The key catalogue did not change: every VM kept its own and read the access section only.
    let kept = |logs: &[(LogLevel, String)]| logs.iter().filter(|(_, m)| m.contains("key catalogue kept")).count();
    assert!(kept(&logs.lock().unwrap()) >= 1, "{:?}", logs.lock().unwrap());

    // So much so that a VM holding the catalogue does not even read the rest of the form: given
    // only the bytes up to the catalogue's id, the checking VM (an idle one, holding it) accepts
    // them, while a fresh host, which has no catalogue, asks for the rest. (Only a check: a host
    // puts the whole form in force, which a VM started later can load.)
    let prefix = &next[..policy_core::compact_prefix_len(&next).unwrap()];
    filter_enforcer::prepare_compact(&host, prefix).unwrap();
    let fresh = host_with(config(true));
    match filter_enforcer::prepare_compact(&fresh, prefix) {
        Err(ConfigureError::Host(said)) => assert!(said.contains("not held here"), "{said}"),
        other => panic!("a VM without the catalogue accepted the prefix: {other:?}"),
    }
    // Cut anywhere else, the form is refused even by a VM that would not read the part cut.
    match filter_enforcer::prepare_compact(&host, &next[..next.len() - 1]) {
        Err(ConfigureError::Host(said)) => assert!(said.contains("truncated"), "{said}"),
        other => panic!("a cut form was accepted: {other:?}"),
    }
    assert_eq!(denied(&run(&host, &h, &req.body, VPC, NOW)).1, "Unauthorized");

    // The gateway hands the form out in its two parts (the catalogue's shared between
    // configurations): a fresh VM reads it whole across them, and decides as under the bytes whole.
    let parts = filter_enforcer::compact_config(&compiled);
    assert_eq!(parts.len(), compact.len());
    let fresh = host_with(config(true));
    let prepared = filter_enforcer::prepare_compact(&fresh, parts).unwrap();
    let under_parts = fresh.run_request_with(
        &prepared,
        &FilterRequest {
            headers: &h,
            body: &req.body,
            source_address: VPC,
            now_nanos: Some(nanos(NOW)),
            full_header_map: true,
            ..FilterRequest::default()
        },
    );
    allowed(&fail_closed(under_parts, ""));
}

// ---- hostcall failures and VM faults -----------------------------------------------------------

#[test]
fn unexpected_hostcall_statuses_fail_closed_without_trapping() {
    let req = Req::encrypt("key-test");
    let h = req.headers(|_| {});
    for call in [
        Hostcall::GetProperty,
        Hostcall::GetHeaderMapPairs,
        Hostcall::GetBufferBytes,
        Hostcall::GetCurrentTime,
        Hostcall::EditHeaderMap,
    ] {
        for status in [2, 10, 12, 99] {
            let host = host_with(config(true));
            host.inject_fault(Some(HostFault { call, status }));
            let (code, name) = (denied(&run(&host, &h, &req.body, VPC, NOW)).0, format!("{call:?} {status}"));
            assert_eq!(code, 500, "{name}");
            assert_eq!(host.stats().traps, 0, "{name}");
        }
    }
    // A failing local response: the filter cannot answer, the host fails closed.
    let host = host_with(config(true));
    host.inject_fault(Some(HostFault { call: Hostcall::SendLocalResponse, status: 10 }));
    assert_eq!(denied(&run(&host, &h, &req.body, "8.8.8.8:1", NOW)).1, "InternalFailure");
}

#[test]
fn verify_signature_failures() {
    let req = Req::encrypt("key-test");
    let h = req.headers(|_| {});
    // NOT_FOUND / UNIMPLEMENTED: the filter verifies in Wasm.
    for status in [1, 12] {
        let host = host_with(config(true));
        host.inject_fault(Some(HostFault { call: Hostcall::CallForeignFunction, status }));
        allowed(&run(&host, &h, &req.body, VPC, NOW));
    }
    // Any other error: the signature is not shown valid.
    for status in [2, 10, 99] {
        let host = host_with(config(true));
        host.inject_fault(Some(HostFault { call: Hostcall::CallForeignFunction, status }));
        assert_eq!(denied(&run(&host, &h, &req.body, VPC, NOW)).1, "SignatureNotMatch", "{status}");
    }
}

#[test]
fn fuel_exhaustion_replaces_the_vm_and_the_host_keeps_serving() {
    let host = host_with(FilterHostConfig { max_vms: 1, limit: GuestLimit::DEFAULT_FUEL, ..config(false) });
    let req = Req::encrypt("key-test");
    let h = req.headers(|_| {});
    allowed(&run(&host, &h, &req.body, VPC, NOW));
    host.set_request_budget(10_000);
    let (status, code, _, _) = denied(&run(&host, &h, &req.body, VPC, NOW));
    assert_eq!((status, code.as_str()), (500, "InternalFailure"));
    let after_trap = host.stats();
    assert_eq!(after_trap.traps, 1);
    let GuestLimit::Fuel { request, .. } = GuestLimit::DEFAULT_FUEL else { unreachable!() };
    host.set_request_budget(request);
    for _ in 0..3 {
        allowed(&run(&host, &h, &req.body, VPC, NOW));
    }
    let stats = host.stats();
    assert_eq!(stats.vm_restarts, 1, "{stats:?}");
    assert_eq!(stats.traps, 1);
}

#[test]
fn a_request_past_its_deadline_traps_and_the_vm_is_replaced() {
    // Epoch deadlines (the default kind): 5 ms per request, ticks of 1 ms. Hashing an almost 3 MB
    // body in wasm takes several times that; a small request takes well under a millisecond, with
    // room left for a descheduled moment while the other tests of this binary run beside it.
    let limit = GuestLimit::Deadline {
        request: Duration::from_millis(5),
        configure: Duration::from_secs(30),
        tick: Duration::from_millis(1),
    };
    let host = host_with(FilterHostConfig { max_vms: 1, limit, ..config(true) });
    let req = Req::encrypt("key-test");
    let h = req.headers(|_| {});
    allowed(&run(&host, &h, &req.body, VPC, NOW));
    let mut big = Req::encrypt("key-test");
    big.body = vec![7u8; 3 * 1024 * 1024 - 64];
    let (status, code, _, _) = denied(&run(&host, &big.headers(|_| {}), &big.body, VPC, NOW));
    assert_eq!((status, code.as_str()), (500, "InternalFailure"));
    assert_eq!(host.stats().traps, 1);
    // The budget is the host's to change: generous again, the same big request is decided (it is
    // not a valid Encrypt body, so it is denied for that, by the filter, not by the deadline).
    host.set_request_budget(10_000);
    let (status, code, _, _) = denied(&run(&host, &big.headers(|_| {}), &big.body, VPC, NOW));
    assert_ne!(code, "InternalFailure", "{status}");
    allowed(&run(&host, &h, &req.body, VPC, NOW));
    let stats = host.stats();
    assert_eq!((stats.traps, stats.vm_restarts), (1, 1), "{stats:?}");
}

#[test]
fn out_of_memory_traps_and_is_replaced() {
    let host = host_with(FilterHostConfig { memory_limit: 4 << 20, max_vms: 1, ..config(true) });
    let req = Req::encrypt("key-test");
    let h = req.headers(|_| {});
    allowed(&run(&host, &h, &req.body, VPC, NOW));
    let mut big = Req::encrypt("key-test");
    big.body = vec![0u8; 3 * 1024 * 1024 - 10];
    assert_eq!(denied(&run(&host, &big.headers(|_| {}), &big.body, VPC, NOW)).1, "InternalFailure");
    assert_eq!(host.stats().traps, 1);
    allowed(&run(&host, &h, &req.body, VPC, NOW));
    assert_eq!(host.stats().vm_restarts, 1);
}

#[test]
fn concurrent_requests() {
    let host = host_with(FilterHostConfig { max_vms: 3, ..config(true) });
    let req = Req::encrypt("key-test");
    let h = req.headers(|_| {});
    std::thread::scope(|s| {
        for t in 0..6 {
            let (host, h, body) = (&host, &h, &req.body);
            s.spawn(move || {
                for i in 0..10 {
                    if (t + i) % 2 == 0 {
                        allowed(&run(host, h, body, VPC, NOW));
                    } else {
                        assert_eq!(denied(&run(host, h, body, "8.8.8.8:1", NOW)).0, 403);
                    }
                }
            });
        }
    });
    let stats = host.stats();
    assert!(stats.vms_live <= 3 && stats.traps == 0, "{stats:?}");
}

// ---- the server's Enforcer over the host ---------------------------------------------------------

#[test]
fn enforcer_allows_with_the_caller_and_denies_with_the_server_request_id() {
    use aapkit_host::server::{Caller, EnforceOutcome, EnforceRequest, Enforcer};
    let wasm_enforcer = FilterEnforcer::new(wasm(), config(true)).unwrap();
    let enforcer: &dyn Enforcer = &wasm_enforcer;
    assert_eq!(enforcer.kind(), "wasm");
    let policy = enforcer.prepare(&bundle_json()).unwrap();
    let req = Req::encrypt("key-test");
    let headers = req.headers(|h| h.push(("x-request-id".into(), "client-chosen".into())));
    let check = |peer: &str| {
        enforcer.check_with(
            &policy,
            &EnforceRequest {
                door: Default::default(),
                headers: &headers,
                body: &req.body,
                peer: peer.parse().unwrap(),
                now: NOW,
                request_id: "srv-1",
            },
        )
    };
    match check("[fd00::7]:9000") {
        EnforceOutcome::Allow(caller) => assert_eq!(
            caller,
            Caller {
                client_key_id: TEST_KEY_ID.into(),
                aap: "app".into(),
                policy: "app-keys".into(),
                resource: "key/key-test".into(),
                qps_group: Some(policy_core::QpsGroup::Symmetric),
                authorized: aapkit_kms::Authorized {
                    generation: None,
                    resource: aapkit_kms::AuthorizedResource::Key { key_id: "key-test".into(), version_id: None },
                },
            }
        ),
        other => panic!("{other:?}"),
    }
    match check("8.8.8.8:1") {
        EnforceOutcome::Deny { status, body, authenticated, detail, .. } => {
            let e = wire::decode_error(&body).unwrap();
            assert_eq!(
                (status, e.error_code.as_str(), e.request_id.as_str()),
                (403, "Forbidden.NoPermission", "srv-1")
            );
            // The signature verified: the deny names the caller for the audit log, and the
            // per-policy trace is the operator's, not in the response.
            assert_eq!(authenticated.map(|a| a.client_key_id).as_deref(), Some(TEST_KEY_ID));
            assert!(detail.contains("app-keys") && detail.contains("8.8.8.8"), "{detail}");
            assert_eq!(e.error_message, "This operation for \"key-test\" is forbidden by permission system.");
            assert!(!body.windows(b"app-keys".len()).any(|w| w == b"app-keys"));
        }
        other => panic!("{other:?}"),
    }
    // A request not signed by the key it names is nobody's: no caller, whatever key id it sent.
    let mut tampered = req.headers(|_| {});
    tampered.push(("x-kms-extra".into(), "1".into())); // signed header added after signing
    let outcome = enforcer.check_with(
        &policy,
        &EnforceRequest {
            door: Default::default(),
            headers: &tampered,
            body: &req.body,
            peer: "[fd00::7]:9000".parse().unwrap(),
            now: NOW,
            request_id: "srv-2",
        },
    );
    match outcome {
        EnforceOutcome::Deny { status, authenticated, .. } => assert_eq!((status, authenticated), (401, None)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(enforcer.prepare("{"), Err(ConfigureError::Rejected(_))));
    // What the gateway does: compiled once natively, loaded by the filter as the compact form.
    let (policy, compiled) = enforcer.prepare_compiled(policy_core::compile_bundle(&bundle_json()).unwrap()).unwrap();
    assert!(compiled.bundle().is_none(), "the host keeps the compiled tables only");
    let allowed_request = EnforceRequest {
        door: Default::default(),
        headers: &headers,
        body: &req.body,
        peer: "[fd00::7]:9000".parse().unwrap(),
        now: NOW,
        request_id: "srv-3",
    };
    let outcome = enforcer.check_with(&policy, &allowed_request);
    assert!(matches!(outcome, EnforceOutcome::Allow(ref c) if c.client_key_id == TEST_KEY_ID), "{outcome:?}");

    // A module that refuses the compact form gets the JSON from then on. Stood in for by a host
    // whose configuration buffer fails: the filter refuses the compact form, the JSON too; once
    // the host behaves, the enforcer sends the JSON, which is accepted and decides alike.
    let logs = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&logs);
    let fallback = FilterEnforcer::new(
        wasm(),
        FilterHostConfig {
            log_sink: Some(Arc::new(move |_: LogLevel, msg: &str| sink.lock().unwrap().push(msg.to_string()))),
            ..config(true)
        },
    )
    .unwrap();
    fallback.host().inject_fault(Some(HostFault { call: Hostcall::GetBufferBytes, status: 2 }));
    assert!(fallback.prepare_compiled(policy_core::compile_bundle(&bundle_json()).unwrap()).is_err());
    fallback.host().inject_fault(None);
    let (policy, _) = fallback.prepare_compiled(policy_core::compile_bundle(&bundle_json()).unwrap()).unwrap();
    let loaded: Vec<String> = logs.lock().unwrap().iter().filter(|m| m.contains("bundle loaded")).cloned().collect();
    assert_eq!(loaded, ["aapkit: policy bundle loaded"], "the JSON, not the compact form");
    let outcome = fallback.check_with(&policy, &allowed_request);
    assert!(matches!(outcome, EnforceOutcome::Allow(ref c) if c.client_key_id == TEST_KEY_ID), "{outcome:?}");
}

#[test]
fn the_envoy_example_bundle_is_accepted() {
    // The `value: |` block of examples/envoy/envoy.yaml, de-indented.
    let yaml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/envoy/envoy.yaml")).unwrap();
    let mut lines = yaml.lines().skip_while(|l| l.trim() != "value: |").skip(1).peekable();
    let indent = lines.peek().map(|l| l.len() - l.trim_start().len()).unwrap();
    let json: String = lines
        .take_while(|l| l.len() - l.trim_start().len() >= indent && !l.trim().is_empty())
        .map(|l| format!("{}\n", &l[indent..]))
        .collect();
    let host = FilterHost::new(wasm(), config(true)).unwrap();
    host.configure(json.as_bytes()).unwrap();
}

// ---- the artifact ------------------------------------------------------------------------------

#[test]
fn release_module_fits_the_size_budget() {
    let len = wasm().len();
    assert!(len <= 600 * 1024, "the filter module is {len} bytes, over the 600 KiB budget");
}
