//! Unauthenticated traffic at a real server (issue 10 §4): it leaves no audit row it could forge,
//! cannot block a revocation, is counted in the metrics and rate-limited per source address
//! before the enforcer; and audit records print escaped, never interpreted by the terminal.
use crate::cli_support;
use crate::ops_support;

use std::net::{IpAddr, SocketAddr, TcpStream};

use ops_support::{audit_rows, encrypt_body, free_port, http_get, send, send_over, setup, Server, Signer};

/// An Encrypt request that names the real client key but carries no signature at all.
fn unsigned_headers(client_key_id: &str, body: &[u8]) -> Vec<(String, String)> {
    use sha2::Digest as _;
    vec![
        ("date".into(), policy_core::format_rfc1123(time::OffsetDateTime::now_utc().unix_timestamp())),
        ("x-kms-apiversion".into(), "dkms-gcs-0.2".into()),
        ("x-kms-apiname".into(), "Encrypt".into()),
        ("x-kms-signaturemethod".into(), "RSA_PKCS1_SHA_256".into()),
        ("x-kms-acccesskeyid".into(), client_key_id.into()),
        ("content-type".into(), "application/x-protobuf".into()),
        ("content-sha256".into(), hex::encode_upper(sha2::Sha256::digest(body))),
        ("authorization".into(), "Bearer AAAA".into()),
    ]
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
}

#[test]
fn a_forged_key_id_leaves_no_audit_row_and_does_not_block_delete() {
    let st = setup();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let server = Server::start(&st.env, &["--admin-listen", &admin.to_string()]);
    let signer = Signer::load(&st.key_file);
    let body = encrypt_body(&st.aes);
    // A bad signature and no signature, both naming the real key.
    let r = signer.call_tampered(server.addr, "Encrypt", &body);
    assert_eq!((r.status, r.code.as_str()), (401, "SignatureNotMatch"), "{}", r.message);
    let r = send(server.addr, &unsigned_headers(&st.client_key_id, &body), &body);
    assert_eq!((r.status, r.code.as_str()), (401, "SignatureNotMatch"), "{}", r.message);

    let (status, text) = http_get(admin, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(metric(&text, "aapkit_unauthenticated_requests_total{reason=\"bad_signature\"}"), Some(2.0), "{text}");
    assert_eq!(metric(&text, "aapkit_unauthenticated_requests_total{reason=\"unknown_client_key\"}"), Some(0.0));
    let log = server.terminate();
    assert!(log.contains("unauthenticated request") && log.contains("bad_signature"), "{log}");

    assert!(audit_rows(&st.env, &[]).is_empty(), "no row for calls whose signature did not verify");
    // The key was never used by its holder: deleting it needs no --force.
    st.env.ok(&["client-key", "delete", "--client-key-id", &st.client_key_id]);
}

#[test]
fn recent_use_counts_only_authenticated_calls() {
    // Rows written before this rule may name a key the caller did not hold (migration 3 marks
    // their denied rows unauthenticated): they do not make `client-key delete` refuse.
    let st = setup();
    st.env.ok(&["client-key", "list"]); // opens (and migrates) the store
    let db = rusqlite::Connection::open(st.env.data_dir().join("aapkit.db")).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let insert = |authenticated: i64| {
        db.execute(
            "INSERT INTO audit_log(time, request_id, access_key_id, aap, api, resource, source_ip, allowed, status,
                                   error_code, latency_us, policy, authenticated)
             VALUES (?1, 'r', ?2, 'app', 'Encrypt', '', '192.0.2.9', 0, 401, 'SignatureNotMatch', 1, '', ?3)",
            rusqlite::params![now, st.client_key_id, authenticated],
        )
        .unwrap();
    };
    insert(0);
    let (id2, _) = ops_support::new_client_key(&st.env, "app", &[]);
    st.env.ok(&["client-key", "delete", "--client-key-id", &st.client_key_id]);
    // An authenticated call (even a denied one) does count.
    db.execute(
        "INSERT INTO audit_log(time, request_id, access_key_id, aap, api, resource, source_ip, allowed, status,
                               error_code, latency_us, policy, authenticated)
         VALUES (?1, 'r2', ?2, 'app', 'Encrypt', '', '127.0.0.1', 0, 403, 'Forbidden.NoPermission', 1, '', 1)",
        rusqlite::params![now, id2],
    )
    .unwrap();
    st.env.fails_with(&["client-key", "delete", "--client-key-id", &id2], "Rejected.ResourceInUse");
}

#[test]
fn audit_records_print_escaped_in_text_and_json() {
    let st = setup();
    st.env.ok(&["client-key", "list"]);
    let db = rusqlite::Connection::open(st.env.data_dir().join("aapkit.db")).unwrap();
    let forged_key = "KAAP.x\u{1b}[2K\r2030-01-01T00:00:00Z  r  KAAP.admin  allow Encrypt\nnext";
    let api = "Encrypt\u{202e}\u{7f}\u{9b}31m";
    let detail = "line one\nline two \u{1b}]0;title\u{7}";
    db.execute(
        "INSERT INTO audit_log(time, request_id, access_key_id, aap, api, resource, source_ip, allowed, status,
                               error_code, latency_us, policy, detail)
         VALUES (1700000000, 'req-\u{2066}x', ?1, 'app', ?2, 'key/k\u{1b}[0m', '127.0.0.1', 0, 403,
                 'Forbidden.NoPermission', 5, '', ?3)",
        rusqlite::params![forged_key, api, detail],
    )
    .unwrap();
    db.execute(
        "INSERT INTO mgmt_events(time, actor, action, resource_type, resource_name, operation, before, after)
         VALUES (1700000000, ?1, 'Create', 'key', ?2, 'CreateKey', NULL, ?3)",
        rusqlite::params![
            "ops\u{1b}[31m\nroot",
            "key-\u{2067}x",
            serde_json::json!({ "Name": "a\u{202e}b\u{1b}" }).to_string()
        ],
    )
    .unwrap();
    drop(db);

    let unsafe_char =
        |c: char| (c.is_control() && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    // Text: one line per record, every control visible as an escape.
    let out = st.env.run(&["audit", "query"]);
    assert!(out.status.success());
    let text = cli_support::stdout(&out);
    assert!(!text.chars().any(unsafe_char), "{text:?}");
    assert_eq!(text.lines().count(), 1, "a record is one line: {text:?}");
    assert!(text.contains("KAAP.x\\x1b[2K\\r2030") && text.contains("allow Encrypt\\nnext"), "{text}");
    assert!(text.contains("Encrypt\\u{202e}\\x7f\\x9b31m") && text.contains("req-\\u{2066}x"), "{text}");
    assert!(text.contains("detail: line one\\nline two \\x1b]0;title\\x07"), "{text}");
    let out = st.env.run(&["audit", "events", "--resource-type", "key"]);
    assert!(out.status.success());
    let text = cli_support::stdout(&out);
    assert!(!text.chars().any(unsafe_char), "{text:?}");
    assert!(text.contains("ops\\x1b[31m\\nroot") && text.contains("key-\\u{2067}x"), "{text}");

    // JSON: the same values, with the controls as \u escapes (none raw on the terminal).
    for args in [&["audit", "query"][..], &["audit", "events", "--resource-type", "key"]] {
        let out = st.env.command().arg("--json").args(args).output().unwrap();
        assert!(out.status.success());
        let raw = cli_support::stdout(&out);
        assert!(!raw.chars().any(unsafe_char), "{raw:?}");
        assert!(raw.contains("\\u001b"), "{raw}");
    }
    let rows = audit_rows(&st.env, &[]);
    assert_eq!(rows[0]["AccessKeyId"], forged_key);
    assert_eq!(rows[0]["Api"], api);
    assert_eq!(rows[0]["Detail"], detail);
    let raw = cli_support::stdout(&st.env.command().args(["--json", "audit", "query"]).output().unwrap());
    assert!(raw.contains("\\u202e") && raw.contains("\\u007f") && raw.contains("\\u009b"), "{raw}");
}

/// A connection to `addr` from the local address `from` (another loopback address).
fn connect_from(from: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(from, 0).into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket.into()
}

#[test]
fn failing_addresses_are_throttled_before_authentication_and_others_are_not() {
    let st = setup();
    // The policy's network rule must admit the second address too.
    st.env.ok(&["network-rule", "update", "--name", "loopback", "--source-private-ip", "127.0.0.0/8"]);
    let server = Server::start(&st.env, &["--preauth-burst", "3", "--preauth-rate", "0.01"]);
    let signer = Signer::load(&st.key_file);
    let body = encrypt_body(&st.aes);
    for _ in 0..3 {
        assert_eq!(signer.call_tampered(server.addr, "Encrypt", &body).status, 401);
    }
    // The 4th failure's request is refused before the enforcer, as the SDKs expect a throttle.
    let r = signer.call_tampered(server.addr, "Encrypt", &body);
    assert_eq!((r.status, r.code.as_str()), (429, "Rejected.Throttling"), "{}", r.message);
    assert!(!r.request_id.is_empty());
    // While the address is over its budget, everything from it waits (no enforcer work at all).
    assert_eq!(signer.call(server.addr, "Encrypt", &body).status, 429);

    // Another address is not affected, and its signed calls cost it nothing.
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let headers = |tamper| signer.headers("Encrypt", &body, &server.addr.to_string(), tamper);
    for _ in 0..5 {
        let r = send_over(connect_from(other, server.addr), &headers(false), &body);
        assert_eq!(r.status, 200, "{}", r.message);
    }
    let r = send_over(connect_from(other, server.addr), &headers(true), &body);
    assert_eq!((r.status, r.code.as_str()), (401, "SignatureNotMatch"));
    server.terminate();

    // The refused requests named the key but never authenticated: no row.
    let rows = audit_rows(&st.env, &[]);
    assert_eq!(rows.len(), 5, "only the signed calls from 127.0.0.2");
    assert!(rows.iter().all(|r| r["SourceIp"] == "127.0.0.2" && r["Decision"] == "Allow"));
}

#[test]
fn the_limit_can_be_turned_off() {
    let st = setup();
    for bad in ["NaN", "-1", "fast"] {
        let out = st.env.run(&["serve", "--plain-http", "--listen", "127.0.0.1:0", &format!("--preauth-rate={bad}")]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(cli_support::stderr(&out).contains("not a rate"), "{}", cli_support::stderr(&out));
    }
    let server = Server::start(&st.env, &["--preauth-rate", "0", "--preauth-burst", "1"]);
    let signer = Signer::load(&st.key_file);
    let body = encrypt_body(&st.aes);
    for _ in 0..4 {
        assert_eq!(signer.call_tampered(server.addr, "Encrypt", &body).status, 401);
    }
    assert_eq!(signer.call(server.addr, "Encrypt", &body).status, 200);
}
