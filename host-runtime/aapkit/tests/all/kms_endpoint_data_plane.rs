//! The KMS endpoint's data plane over a real `aapkit serve`, with both enforcers: client-key
//! GetSecretValue on the shared gateway (RPC v1 SHA256withRSA, signed here as the Secrets Manager
//! client signs), RAM-role sessions from the credentials URI (ACS3 and RPC v1 HMAC with the
//! SecurityToken), the account AccessKey, and the audit rows they leave. The official clients run
//! the same paths in tests/e2e (test_shared_gateway_sdk.py, test_ram_role_sdk.py).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use base64::Engine as _;
use policy_core::openapi as sig;
use serde_json::Value;

use super::cli_support::{s, Env};
use super::ops_support::{audit_rows, free_port, new_client_key, Server, PASSWORD};

const INSTANCE: &str = "kst-dataplane00000001";

fn http(addr: SocketAddr, method: &str, target: &str, headers: &[(String, String)]) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: 0\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())))
}

fn now_iso() -> String {
    policy_core::format_iso8601(time::OffsetDateTime::now_utc().unix_timestamp())
}

fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The query of an RPC v1 request with `params`, signed by `sign` over the StringToSign.
fn signed_query(method: &str, params: &[(&str, &str)], sign: impl Fn(&str) -> String) -> String {
    let string_to_sign = sig::rpc_v1_string_to_sign(method, params);
    let signature = sign(&string_to_sign);
    let mut all: Vec<(&str, &str)> = params.to_vec();
    all.push(("Signature", &signature));
    all.iter()
        .map(|(k, v)| format!("{}={}", sig::percent_encode(k), sig::percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A client key's GetSecretValue, as SMC1 sends it (`client_key` credentials).
fn client_key_get(
    addr: SocketAddr,
    key: &(String, aws_lc_rs::rsa::KeyPair),
    secret: &str,
    nonce: &str,
) -> (u16, Value) {
    let ts = now_iso();
    let params = [
        ("AccessKeyId", key.0.as_str()),
        ("Action", "GetSecretValue"),
        ("FetchExtendedConfig", "True"),
        ("Format", "JSON"),
        ("RegionId", "cn-hangzhou"),
        ("SecretName", secret),
        ("SignatureMethod", "SHA256withRSA"),
        ("SignatureNonce", nonce),
        ("SignatureType", "PRIVATEKEY"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", &ts),
        ("Version", "2016-01-20"),
        ("VersionStage", "ACSCurrent"),
    ];
    let query = signed_query("POST", &params, |sts| {
        let mut out = vec![0u8; key.1.public_modulus_len()];
        key.1
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                sts.as_bytes(),
                &mut out,
            )
            .unwrap();
        base64::engine::general_purpose::STANDARD.encode(out)
    });
    http(addr, "POST", &format!("/?{query}"), &[])
}

/// A session's (or AccessKey's) call signed ACS3-HMAC-SHA256 as the management SDK signs it.
fn acs3_call(
    addr: SocketAddr,
    action: &str,
    query: &[(&str, &str)],
    ak: &str,
    secret: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let host = addr.to_string();
    let date = now_iso();
    let nonce = nonce();
    let body_hash = sig::sha256_hex(b"");
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), host),
        ("x-acs-action".into(), action.into()),
        ("x-acs-version".into(), "2016-01-20".into()),
        ("x-acs-date".into(), date),
        ("x-acs-signature-nonce".into(), nonce),
        ("x-acs-content-sha256".into(), body_hash.clone()),
    ];
    if let Some(t) = token {
        headers.push(("x-acs-security-token".into(), t.into()));
        headers.push(("x-acs-accesskey-id".into(), ak.into()));
    }
    headers.sort();
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let view: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let canonical = sig::acs3_canonical_request("POST", "/", query, &view, &names, &body_hash).unwrap();
    let sts = sig::acs3_string_to_sign(sig::ACS3_HMAC_SHA256, &canonical);
    let signature = sig::sign_acs3_hmac_sha256(secret.as_bytes(), &sts);
    let authorization =
        format!("ACS3-HMAC-SHA256 Credential={ak},SignedHeaders={},Signature={signature}", names.join(";"));
    let mut sent: Vec<(String, String)> = headers.into_iter().filter(|(k, _)| k != "host").collect();
    sent.push(("authorization".into(), authorization));
    let qs = query.iter().map(|(k, v)| format!("{k}={}", sig::percent_encode(v))).collect::<Vec<_>>().join("&");
    http(addr, "POST", &format!("/?{qs}"), &sent)
}

/// A session's GetSecretValue signed RPC v1 HMAC-SHA1 (the older core SDK, Terraform).
fn rpc_hmac_get(addr: SocketAddr, secret_name: &str, ak: &str, secret: &str, token: &str) -> (u16, Value) {
    let (ts, nonce) = (now_iso(), nonce());
    let params = [
        ("AccessKeyId", ak),
        ("Action", "GetSecretValue"),
        ("Format", "JSON"),
        ("SecretName", secret_name),
        ("SecurityToken", token),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", nonce.as_str()),
        ("SignatureVersion", "1.0"),
        ("Timestamp", ts.as_str()),
        ("Version", "2016-01-20"),
    ];
    let query = signed_query("POST", &params, |sts| sig::sign_rpc_v1_hmac_sha1(secret.as_bytes(), sts));
    http(addr, "POST", &format!("/?{query}"), &[])
}

fn load_key(path: &std::path::Path) -> (String, aws_lc_rs::rsa::KeyPair) {
    let content = std::fs::read_to_string(path).unwrap();
    let (id, pkcs8) = aapkit_pki::client_key::load_client_key(&content, PASSWORD).unwrap();
    (id, aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8).unwrap())
}

struct World {
    env: Env,
    shared: (String, aws_lc_rs::rsa::KeyPair),
    instance_only: (String, aws_lc_rs::rsa::KeyPair),
    role_token: String,
    admin: (String, String),
}

/// Secrets `app/db` and `ops/root` under one key; a shared SecretUser policy on `secret/app/*` from
/// loopback; AAPs `shared-app` (client key), `inst-app` (instance policy only, client key) and
/// `role-app` (RAM role `Reader`, credentials-URI token).
fn world() -> World {
    let env = Env::bare();
    env.ok(&["init", "--instance-id", INSTANCE]);
    let admin_file: Value =
        serde_json::from_str(&std::fs::read_to_string(env.data_dir().join("admin-access-key.json")).unwrap()).unwrap();
    let admin = (
        admin_file["AccessKeyId"].as_str().unwrap().to_owned(),
        admin_file["AccessKeySecret"].as_str().unwrap().to_owned(),
    );
    let key = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    for (name, value) in [("app/db", "db-password-1"), ("ops/root", "root-secret")] {
        let f = env.write(&format!("{}.txt", name.replace('/', "_")), value.as_bytes());
        env.ok(&["secret", "create", "--secret-name", name, "--encryption-key-id", &key, "--secret-data-file", s(&f)]);
    }
    env.ok(&["network-rule", "create", "--name", "loopback", "--source-private-ip", "127.0.0.1/32"]);
    let policy = |name: &str, scope: &str, perms: &str, resources: &str| {
        env.ok(&[
            "policy",
            "create",
            "--name",
            name,
            "--kms-instance",
            scope,
            "--permissions",
            perms,
            "--resources",
            resources,
            "--network-rules",
            "loopback",
        ]);
    };
    policy("shared-app", "shared", "RbacPermission/Template/CryptoServiceSecretUser", "secret/app/*");
    policy(
        "inst-app",
        INSTANCE,
        r#"["RbacPermission/Template/CryptoServiceSecretUser","RbacPermission/Template/CryptoServiceKeyUser"]"#,
        &format!(r#"["secret/app/*","key/{key}"]"#),
    );
    env.ok(&["aap", "create", "--name", "shared-app", "--policies", "shared-app"]);
    env.ok(&["aap", "create", "--name", "inst-app", "--policies", "inst-app"]);
    env.ok(&["aap", "create", "--name", "role-app", "--policies", "shared-app", "--authentication-method", "RAMRole"]);
    let role = env.ok(&["ram-role", "create", "--name", "Reader", "--aap", "role-app", "--credentials-uri-token"]);
    let role_token = role["CredentialsUriToken"].as_str().unwrap().to_owned();
    let shared = load_key(&new_client_key(&env, "shared-app", &[]).1);
    let instance_only = load_key(&new_client_key(&env, "inst-app", &[]).1);
    World { env, shared, instance_only, role_token, admin }
}

fn start(w: &World, enforcer: &[&str]) -> (Server, SocketAddr) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = Server::start_with(&w.env, enforcer, &["--openapi-listen", &listen, "--openapi-plain-http"]);
    let addr: SocketAddr = listen.parse().unwrap();
    for _ in 0..600 {
        if TcpStream::connect(addr).is_ok() {
            return (server, addr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the KMS endpoint did not listen: {}", server.log_text());
}

fn enforcers() -> Vec<Vec<String>> {
    let mut all = vec![vec!["--enforcer".to_owned(), "native".to_owned()]];
    match aapkit_tests::filter_wasm() {
        Ok(wasm) => all.push(vec![
            "--enforcer".into(),
            "wasm".into(),
            "--filter-wasm".into(),
            wasm.to_string_lossy().into_owned(),
        ]),
        Err(_) => {
            eprintln!("wasm enforcer skipped: no aapkit_filter.wasm (scripts/build-wasm.sh or AAPKIT_FILTER_WASM)")
        }
    }
    all
}

fn code(v: &Value) -> &str {
    v["Code"].as_str().unwrap_or_default()
}

#[test]
fn client_keys_sessions_and_the_account_read_secrets_on_the_kms_endpoint() {
    let w = world();
    for enforcer in enforcers() {
        let args: Vec<&str> = enforcer.iter().map(String::as_str).collect();
        let (server, addr) = start(&w, &args);
        let kind = args[1];

        // A client key with a shared policy reads `app/db`; the shape is the one SMC1 parses.
        let n = nonce();
        let (status, v) = client_key_get(addr, &w.shared, "app/db", &n);
        assert_eq!(status, 200, "{kind}: {v}");
        assert_eq!(v["SecretData"], "db-password-1");
        assert_eq!(v["SecretDataType"], "text");
        assert_eq!(v["VersionStages"]["VersionStage"][0], "ACSCurrent");
        assert!(v["RequestId"].as_str().is_some_and(|id| !id.is_empty()));
        // The same signed request again: the nonce is spent.
        let (status, v) = client_key_get(addr, &w.shared, "app/db", &n);
        assert_eq!((status, code(&v)), (400, "SignatureNonceUsed"), "{kind}: {v}");
        // Outside the policy's resources; an instance-only AAP; an unknown key; a missing secret.
        let (status, v) = client_key_get(addr, &w.shared, "ops/root", &nonce());
        assert_eq!((status, code(&v)), (403, "Forbidden.NoPermission"), "{kind}: {v}");
        assert!(!v["Message"].as_str().unwrap().contains("shared-app"), "the caller learns no policy name: {v}");
        let (status, v) = client_key_get(addr, &w.instance_only, "app/db", &nonce());
        assert_eq!((status, code(&v)), (403, "Forbidden.NoPermission"), "{kind}: {v}");
        let stranger =
            (format!("KAAP.{}", uuid::Uuid::new_v4()), load_key(&new_client_key(&w.env, "inst-app", &[]).1).1);
        let (status, v) = client_key_get(addr, &stranger, "app/db", &nonce());
        assert_eq!((status, code(&v)), (404, "InvalidAccessKeyId.NotFound"), "{kind}: {v}");
        let (status, v) = client_key_get(addr, &w.shared, "app/none", &nonce());
        assert_eq!((status, code(&v)), (404, "Forbidden.ResourceNotFound"), "{kind}: {v}");

        // A RAM-role session from the credentials URI.
        let (status, cred) = http(addr, "GET", &format!("/v1/credentials?role=Reader&token={}", w.role_token), &[]);
        assert_eq!(status, 200, "{kind}: {cred}");
        assert_eq!(cred["Code"], "Success");
        let (ak, sk, tok) = (
            cred["AccessKeyId"].as_str().unwrap(),
            cred["AccessKeySecret"].as_str().unwrap(),
            cred["SecurityToken"].as_str().unwrap(),
        );
        assert!(ak.starts_with("STS."));
        let read = [("SecretName", "app/db"), ("VersionStage", "ACSCurrent")];
        let (status, v) = acs3_call(addr, "GetSecretValue", &read, ak, sk, Some(tok));
        assert_eq!(status, 200, "{kind}: {v}");
        assert_eq!(v["SecretData"], "db-password-1");
        let (status, v) = rpc_hmac_get(addr, "app/db", ak, sk, tok);
        assert_eq!(status, 200, "{kind}: {v}");
        // The AAP's policies bound the session; no token, a wrong token, management: refused.
        let (status, v) = acs3_call(addr, "GetSecretValue", &[("SecretName", "ops/root")], ak, sk, Some(tok));
        assert_eq!((status, code(&v)), (403, "Forbidden.NoPermission"), "{kind}: {v}");
        let (status, v) = acs3_call(addr, "GetSecretValue", &read, ak, sk, None);
        assert_eq!((status, code(&v)), (400, "MissingSecurityToken"), "{kind}: {v}");
        let (status, v) = acs3_call(addr, "GetSecretValue", &read, ak, sk, Some("CAISwrong"));
        assert_eq!((status, code(&v)), (400, "InvalidSecurityToken.MismatchWithAccessKey"), "{kind}: {v}");
        let (status, v) = acs3_call(addr, "ListKeys", &[], ak, sk, Some(tok));
        assert_eq!((status, code(&v)), (403, "Forbidden.NoPermission"), "{kind}: {v}");
        let (status, v) = http(addr, "GET", "/v1/credentials?role=Reader&token=wrong", &[]);
        assert_ne!(status, 200, "{kind}: {v}");

        // The account's AccessKey reads any secret.
        let (status, v) =
            acs3_call(addr, "GetSecretValue", &[("SecretName", "ops/root")], &w.admin.0, &w.admin.1, None);
        assert_eq!(status, 200, "{kind}: {v}");
        assert_eq!(v["SecretData"], "root-secret");

        server.terminate();
    }
    // Audited like Instance API calls: the client key, and the session with its role.
    let rows = audit_rows(&w.env, &["--api", "GetSecretValue"]);
    let by = |id: &str| rows.iter().filter(|r| r["AccessKeyId"] == id).count();
    assert!(by(&w.shared.0) >= 2, "{rows:?}");
    assert!(
        rows.iter().any(|r| r["AccessKeyId"].as_str().unwrap().starts_with("STS.")
            && r["Detail"].as_str().unwrap().contains("ram-role Reader")
            && r["Aap"] == "role-app"),
        "{rows:?}"
    );
}
