//! Shared pieces of the operations tests: a data directory with one AAP and client key, a running
//! `aapkit serve` (plain HTTP, native enforcer unless told otherwise), and a client that signs
//! requests exactly like the SDKs (string-to-sign from policy-core, RSASSA-PKCS1-v1_5 SHA-256).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::cli_support::{s, Env};

pub const INSTANCE: &str = "kst-opstest000000001";
pub const PASSWORD: &str = "Ops-passw0rd";

pub struct Setup {
    pub env: Env,
    /// A key the policy allows.
    pub aes: String,
    /// A key the policy does not name.
    pub other: String,
    pub client_key_id: String,
    pub key_file: PathBuf,
}

/// init; two AES keys; rule `loopback`; policy `p1` (KeyUser on `aes` only); AAP `app`; a client key.
pub fn setup() -> Setup {
    setup_in(Env::bare())
}

/// [`setup`] in `env` (e.g. an environment on PostgreSQL).
pub fn setup_in(env: Env) -> Setup {
    env.ok(&["init", "--instance-id", INSTANCE]);
    let aes = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    let other = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    env.ok(&["network-rule", "create", "--name", "loopback", "--source-private-ip", "127.0.0.1/32"]);
    env.ok(&[
        "policy",
        "create",
        "--name",
        "p1",
        "--kms-instance",
        INSTANCE,
        "--permissions",
        "RbacPermission/Template/CryptoServiceKeyUser",
        "--resources",
        &format!("key/{aes}"),
        "--network-rules",
        "loopback",
    ]);
    env.ok(&["aap", "create", "--name", "app", "--policies", "p1"]);
    let (client_key_id, key_file) = new_client_key(&env, "app", &[]);
    Setup { env, aes, other, client_key_id, key_file }
}

pub fn new_client_key(env: &Env, aap: &str, extra: &[&str]) -> (String, PathBuf) {
    let pw = env.write("password.txt", PASSWORD.as_bytes());
    let n = std::fs::read_dir(env.dir.path()).unwrap().count();
    let out = env.path(&format!("clientKey_{aap}_{n}.json"));
    let mut args = vec!["client-key", "create", "--aap", aap, "--password-file", s(&pw), "--output", s(&out)];
    args.extend_from_slice(extra);
    let v = env.ok(&args);
    (v["ClientKeyId"].as_str().unwrap().to_owned(), out)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `aapkit serve`.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Server {
    /// Starts `serve --plain-http --enforcer native` on a free port, plus `extra` flags.
    pub fn start(env: &Env, extra: &[&str]) -> Server {
        Server::start_with(env, &["--enforcer", "native"], extra)
    }

    pub fn start_with(env: &Env, enforcer: &[&str], extra: &[&str]) -> Server {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log = env.path(&format!("serve-{port}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = env
            .command()
            .env_remove("AAPKIT_ENFORCER")
            .env_remove("AAPKIT_QPS_SPEC")
            .arg("serve")
            .args(["--plain-http", "--listen", &addr.to_string()])
            .args(enforcer)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let mut server = Server { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("aapkit serve exited ({status}): {}", server.log_text());
            }
            if TcpStream::connect(addr).is_ok() {
                return server;
            }
            assert!(Instant::now() < deadline, "aapkit serve did not listen in 60 s: {}", server.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits for a clean exit (the audit log is committed by then).
    pub fn terminate(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "serve exited with {status}: {}", self.log_text());
                return self.log_text();
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM: {}", self.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signs Instance API requests with a client key file.
pub struct Signer {
    pub client_key_id: String,
    key: aws_lc_rs::rsa::KeyPair,
}

/// One response, as the test needs it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub request_id: String,
    /// The `ErrorCode` of an error body, empty on success.
    pub code: String,
    pub message: String,
    pub at: Instant,
}

impl Signer {
    pub fn load(key_file: &std::path::Path) -> Signer {
        let content = std::fs::read_to_string(key_file).unwrap();
        let (id, pkcs8) = aapkit_pki::client_key::load_client_key(&content, PASSWORD).unwrap();
        Signer { client_key_id: id, key: aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8).unwrap() }
    }

    /// The SDK's headers for `api` with `body`, signed (or with a wrong signature if `tamper`).
    pub fn headers(&self, api: &str, body: &[u8], host: &str, tamper: bool) -> Vec<(String, String)> {
        use base64::Engine as _;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut h: Vec<(String, String)> = vec![
            ("accept".into(), "application/x-protobuf".into()),
            ("host".into(), host.into()),
            ("date".into(), policy_core::format_rfc1123(now)),
            ("x-kms-apiversion".into(), "dkms-gcs-0.2".into()),
            ("x-kms-apiname".into(), api.into()),
            ("x-kms-signaturemethod".into(), "RSA_PKCS1_SHA_256".into()),
            ("x-kms-acccesskeyid".into(), self.client_key_id.clone()),
            ("content-type".into(), "application/x-protobuf".into()),
            ("content-sha256".into(), hex::encode_upper(Sha256::digest(body))),
        ];
        let view: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let sts = policy_core::string_to_sign(&policy_core::HttpRequestView { method: "POST", headers: &view, body });
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                sts.as_bytes(),
                &mut sig,
            )
            .unwrap();
        if tamper {
            sig[10] ^= 0x55;
        }
        h.push(("authorization".into(), format!("Bearer {}", base64::engine::general_purpose::STANDARD.encode(sig))));
        h
    }

    pub fn call(&self, addr: SocketAddr, api: &str, body: &[u8]) -> Reply {
        send(addr, &self.headers(api, body, &addr.to_string(), false), body)
    }

    pub fn call_tampered(&self, addr: SocketAddr, api: &str, body: &[u8]) -> Reply {
        send(addr, &self.headers(api, body, &addr.to_string(), true), body)
    }
}

pub fn encrypt_body(key_id: &str) -> Vec<u8> {
    aapkit_kms::proto::EncryptRequest { key_id: key_id.into(), plaintext: b"audit me".to_vec(), ..Default::default() }
        .encode_to_vec()
}

pub fn data_key_pair_body(key_id: &str) -> Vec<u8> {
    aapkit_kms::proto::GenerateDataKeyPairRequest {
        key_id: key_id.into(),
        key_pair_spec: "EC_P256".into(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// One HTTP/1.1 POST / over a fresh connection (plain HTTP).
pub fn send(addr: SocketAddr, headers: &[(String, String)], body: &[u8]) -> Reply {
    send_over(TcpStream::connect(addr).unwrap(), headers, body)
}

/// [`send`] over a connection the caller made (e.g. from another source address).
pub fn send_over(mut stream: TcpStream, headers: &[(String, String)], body: &[u8]) -> Reply {
    let mut req = String::from("POST / HTTP/1.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(req.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let at = Instant::now();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("no header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = &raw[split + 4..];
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_owned())
        })
    };
    let (code, message, body_rid) = if status == 200 {
        (String::new(), String::new(), None)
    } else {
        // Bodies are not chunked for our responses (full bodies have a content-length).
        match policy_core::wire::decode_error(body) {
            Ok(e) => (e.error_code, e.error_message, Some(e.request_id)),
            Err(_) => (String::new(), String::new(), None),
        }
    };
    let request_id = header("x-kms-requestid").or(body_rid).unwrap_or_default();
    Reply { status, request_id, code, message, at }
}

/// GET over plain HTTP; returns (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// `aapkit audit query --json` with `args`; the rows.
pub fn audit_rows(env: &Env, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["audit", "query", "--limit", "100000"];
    all.extend_from_slice(args);
    env.ok(&all)["AuditLogs"].as_array().unwrap().clone()
}
