//! The filter end to end through the wasmtime host: `FilterHost::run_request` with the built filter
//! module (`$AAPKIT_FILTER_WASM`, else `$CARGO_TARGET_DIR/wasm32-wasip1/wasm-release/aapkit_filter.wasm`)
//! configured with the example bundle plus one client key whose private half this target holds.
//!
//! Inputs are structured, mostly valid Instance API requests: the fuzzer picks the operation, the
//! resource, extra protobuf, header edits before signing, whether to sign (a real RSA signature
//! with the test key), header and body edits after signing, and the source address.
//! Properties: the host never panics; every outcome (host failures answered as the gateway answers
//! them, `filter_enforcer::fail_closed`: 500 InternalFailure) is either `Continue` — only ever for a
//! request that carries the test key's valid signature, with the filter's `x-aapkit-client-key`
//! naming it — or a `LocalResponse` whose body is a protobuf `Error` with a known KMS code and that
//! code's HTTP status (a body over 3 MB is a bare 413).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use aapkit_kms::proto;
use aapkit_host::server::filter_enforcer::{fail_closed, host_config};
use proxy_wasm_host::{FilterHost, FilterHostConfig, FilterOutcome, FilterRequest};
use arbitrary::Arbitrary;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use policy_core::wire::put_bytes;
use policy_core::{Api, ErrorCode, HttpRequestView};
use prost::Message;

const BUNDLE: &str = include_str!("../../../policy-core/tests/data/example-bundle.json");
const PUBLIC: &str = include_str!("../../../policy-core/tests/data/keys/test-rsa2048-pkcs1-pub.pem");
const PRIVATE: &str = include_str!("../../../policy-core/tests/data/keys/test-rsa2048.pem");
const TEST_KEY_ID: &str = "KAAP.7e570000-0000-4000-8000-000000000001";
/// 2024-05-01T12:00:00Z.
const NOW: i64 = 1_714_564_800;

struct Fixture {
    host: FilterHost,
    key: RsaKeyPair,
    keys: Vec<String>,
    versions: Vec<String>,
    secrets: Vec<String>,
}

fn wasm_path() -> PathBuf {
    aapkit_tests::filter_wasm().unwrap_or_else(|e| panic!("{e}"))
}

fn strings(v: &serde_json::Value, list: &str, field: &str) -> Vec<String> {
    v[list].as_array().into_iter().flatten().filter_map(|x| x[field].as_str().map(str::to_owned)).collect()
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let path = wasm_path();
        let wasm = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("filter module at {}: {e} (run scripts/build-wasm.sh)", path.display()));
        let mut b: serde_json::Value = serde_json::from_str(BUNDLE).unwrap_or_default();
        if let Some(keys) = b["ClientKeys"].as_array_mut() {
            keys.push(serde_json::json!({"ClientKeyId": TEST_KEY_ID, "AapName": "app", "PublicKeyData": PUBLIC,
                "NotBefore": "2020-01-01T00:00:00Z", "NotAfter": "2040-01-01T00:00:00Z"}));
        }
        // aapkit's settings, without the verify_signature offload (as before the host split).
        let config = FilterHostConfig { max_vms: 1, ..host_config(false) };
        let host = FilterHost::new(&wasm, config).unwrap_or_else(|e| panic!("filter host: {e}"));
        host.configure(b.to_string().as_bytes()).unwrap_or_else(|e| panic!("bundle: {e:?}"));
        let b64: String = PRIVATE.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_default();
        let key = RsaKeyPair::from_pkcs8(&der).unwrap_or_else(|e| panic!("test key: {e}"));
        let mut keys = strings(&b, "Keys", "KeyId");
        keys.extend(["alias/app-main".to_owned(), "alias/signer".to_owned()]);
        let versions = b["Keys"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|k| k["KeyVersions"].as_array().cloned().unwrap_or_default())
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect();
        Fixture { host, key, keys, versions, secrets: strings(&b, "Secrets", "SecretName") }
    })
}

#[derive(Arbitrary, Debug)]
enum Resource {
    Key(u8),
    Version(u8),
    Secret(u8),
    Raw(Vec<u8>),
    None,
}

#[derive(Arbitrary, Debug)]
enum Edit {
    Set(u8, String),
    Remove(u8),
    Add(String, String),
    Duplicate(u8),
    UpperName(u8),
    AppendBody(Vec<u8>),
    TruncateBody(u8),
}

#[derive(Arbitrary, Debug)]
enum Source {
    V4([u8; 4], u16),
    V6([u8; 16], u16),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    api: u8,
    /// Another key id than the test key's (then no valid signature is possible).
    other_key_id: Option<String>,
    resource: Resource,
    extra: Vec<u8>,
    date_offset: i16,
    before: Vec<Edit>,
    sign: bool,
    after: Vec<Edit>,
    source: Source,
    trailers: Vec<(String, String)>,
}

fn pick(list: &[String], i: u8) -> String {
    if list.is_empty() {
        String::new()
    } else {
        list[usize::from(i) % list.len()].clone()
    }
}

fn apply(edits: &[Edit], headers: &mut Vec<(String, String)>, body: &mut Vec<u8>) {
    for e in edits.iter().take(8) {
        let n = headers.len().max(1);
        match e {
            Edit::Set(i, v) if !headers.is_empty() => headers[usize::from(*i) % n].1 = v.clone(),
            Edit::Remove(i) if !headers.is_empty() => {
                headers.remove(usize::from(*i) % n);
            }
            Edit::Add(k, v) => headers.push((k.clone(), v.clone())),
            Edit::Duplicate(i) if !headers.is_empty() => {
                let h = headers[usize::from(*i) % n].clone();
                headers.push(h);
            }
            Edit::UpperName(i) if !headers.is_empty() => {
                let i = usize::from(*i) % n;
                headers[i].0 = headers[i].0.to_ascii_uppercase();
            }
            Edit::AppendBody(b) => body.extend_from_slice(b),
            Edit::TruncateBody(k) => body.truncate(body.len().saturating_sub(usize::from(*k))),
            _ => {}
        }
    }
}

// The module is compiled (and the bundle configured) once, before fuzzing starts: in an
// unoptimised build Cranelift takes longer than libFuzzer's per-input timeout.
fuzz_target!(init: {
    let _ = fixture();
}, |input: Input| {
    let f = fixture();
    let api = Api::ALL[usize::from(input.api) % Api::ALL.len()];
    let mut body = Vec::new();
    match &input.resource {
        Resource::Key(i) => {
            let n = if matches!(api, Api::Decrypt | Api::AdvanceDecrypt) { 2 } else { 1 };
            put_bytes(&mut body, n, pick(&f.keys, *i).as_bytes());
        }
        Resource::Version(i) => {
            let mut blob = vec![b'$', 0, 2];
            blob.extend_from_slice(pick(&f.versions, *i).as_bytes());
            blob.extend_from_slice(&[7; 12 + 16 + 5]);
            put_bytes(&mut body, 1, &blob);
        }
        Resource::Secret(i) => put_bytes(&mut body, 1, pick(&f.secrets, *i).as_bytes()),
        Resource::Raw(b) => put_bytes(&mut body, 1, b),
        Resource::None => {}
    }
    body.extend_from_slice(&input.extra);
    let sha = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body);
    let key_id = input.other_key_id.clone().unwrap_or_else(|| TEST_KEY_ID.to_owned());
    let mut headers: Vec<(String, String)> = vec![
        ("accept".into(), "application/x-protobuf".into()),
        ("content-type".into(), "application/x-protobuf".into()),
        ("content-length".into(), body.len().to_string()),
        ("content-sha256".into(), hex::encode_upper(sha.as_ref())),
        ("date".into(), policy_core::format_rfc1123(NOW + i64::from(input.date_offset))),
        ("x-kms-apiname".into(), api.name().into()),
        ("x-kms-apiversion".into(), "dkms-gcs-0.2".into()),
        ("x-kms-signaturemethod".into(), "RSA_PKCS1_SHA_256".into()),
        ("x-kms-acccesskeyid".into(), key_id),
    ];
    apply(&input.before, &mut headers, &mut body);
    if input.sign {
        let view: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let sts = policy_core::string_to_sign(&HttpRequestView { method: "POST", headers: &view, body: &body });
        let mut sig = vec![0u8; f.key.public_modulus_len()];
        if f.key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), sts.as_bytes(), &mut sig).is_err() {
            return;
        }
        let b64 = base64::engine::general_purpose::STANDARD.encode(sig);
        headers.push(("authorization".into(), format!("Bearer {b64}")));
    } else {
        headers.push(("authorization".into(), "Bearer c2lnbmF0dXJl".into()));
    }
    apply(&input.after, &mut headers, &mut body);

    let source = match &input.source {
        Source::V4(ip, port) => std::net::SocketAddr::from((*ip, *port)).to_string(),
        Source::V6(ip, port) => std::net::SocketAddr::from((*ip, *port)).to_string(),
        Source::Raw(s) => s.clone(),
    };
    let trailers: Vec<(String, String)> = input.trailers.iter().take(4).cloned().collect();
    let req = FilterRequest {
        headers: &headers,
        body: &body,
        source_address: &source,
        now_nanos: Some(NOW as u64 * 1_000_000_000),
        trailers: &trailers,
        ..FilterRequest::default()
    };
    match fail_closed(f.host.run_request(&req), "") {
        FilterOutcome::Continue { added_headers, .. } => {
            assert!(input.sign, "Continue for a request without a valid signature: {headers:?}");
            let named = added_headers.iter().find(|(k, _)| k == "x-aapkit-client-key").map(|(_, v)| v.as_str());
            assert_eq!(named, Some(TEST_KEY_ID), "the allow names the signing client key");
        }
        FilterOutcome::LocalResponse { status: 413, body, .. } if body.is_empty() => {}
        FilterOutcome::LocalResponse { status, body, .. } => {
            let err = proto::Error::decode(body.as_slice())
                .unwrap_or_else(|e| panic!("status {status}: the body is not a protobuf Error: {e}"));
            let code = ErrorCode::from_wire(&err.error_code)
                .unwrap_or_else(|| panic!("status {status}: unknown error code {:?}", err.error_code));
            assert_eq!(code.http_status(), status, "{code:?} with status {status}");
            assert_eq!(err.status_code, i32::from(status), "Error.StatusCode");
            assert!(!err.error_message.is_empty() || code == ErrorCode::InternalFailure, "{code:?} without a message");
        }
        FilterOutcome::Failed(why) => unreachable!("fail_closed answers every failure: {why}"),
    }
});
