//! The audit log of client-key calls: a burst of allowed and denied calls against a real server
//! matches the audit rows exactly; the query filters; `client-key delete` and recent use.
use crate::cli_support;
use crate::ops_support;

use std::collections::BTreeMap;
use std::sync::Arc;

use ops_support::{audit_rows, encrypt_body, setup, Reply, Server, Signer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Allowed,
    NotInPolicy,
    BadSignature,
}

#[test]
fn burst_of_calls_matches_the_audit_log_exactly() {
    let st = setup();
    let server = Server::start(&st.env, &[]);
    let addr = server.addr;
    let signer = Arc::new(Signer::load(&st.key_file));

    // 4 threads, each a mix of allowed and denied calls.
    let mut handles = Vec::new();
    for t in 0..4 {
        let signer = signer.clone();
        let (aes, other) = (st.aes.clone(), st.other.clone());
        handles.push(std::thread::spawn(move || {
            let mut out: Vec<(Kind, Reply)> = Vec::new();
            for i in 0..15 {
                let kind = match (i + t) % 5 {
                    0..=2 => Kind::Allowed,
                    3 => Kind::NotInPolicy,
                    _ => Kind::BadSignature,
                };
                let reply = match kind {
                    Kind::Allowed => signer.call(addr, "Encrypt", &encrypt_body(&aes)),
                    Kind::NotInPolicy => signer.call(addr, "Encrypt", &encrypt_body(&other)),
                    Kind::BadSignature => signer.call_tampered(addr, "Encrypt", &encrypt_body(&aes)),
                };
                out.push((kind, reply));
            }
            out
        }));
    }
    let calls: Vec<(Kind, Reply)> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert_eq!(calls.len(), 60);
    // A bad signature proves nothing about who sent it: those calls leave no row (issue 10 §4).
    let unsigned = calls.iter().filter(|(k, _)| *k == Kind::BadSignature).count();
    assert_eq!(unsigned, 12);
    for (kind, r) in &calls {
        let want = match kind {
            Kind::Allowed => (200, ""),
            Kind::NotInPolicy => (403, "Forbidden.NoPermission"),
            Kind::BadSignature => (401, "SignatureNotMatch"),
        };
        assert_eq!((r.status, r.code.as_str()), want, "{kind:?}: {}", r.message);
        assert!(!r.request_id.is_empty());
    }

    // A clean shutdown commits every row before the process exits.
    server.terminate();
    let rows = audit_rows(&st.env, &["--client-key", &st.client_key_id]);
    let by_id: BTreeMap<String, &serde_json::Value> =
        rows.iter().map(|r| (r["RequestId"].as_str().unwrap().to_owned(), r)).collect();
    assert_eq!(rows.len(), calls.len() - unsigned, "one row per authenticated call, no more, no less");
    assert_eq!(by_id.len(), calls.len() - unsigned, "request ids are unique");
    for (kind, reply) in &calls {
        if *kind == Kind::BadSignature {
            assert!(!by_id.contains_key(&reply.request_id), "a row for an unauthenticated call");
            continue;
        }
        let row = by_id.get(&reply.request_id).unwrap_or_else(|| panic!("no audit row for {}", reply.request_id));
        assert_eq!(row["AccessKeyId"], st.client_key_id.as_str());
        assert_eq!(row["Api"], "Encrypt");
        assert_eq!(row["SourceIp"], "127.0.0.1");
        assert_eq!(row["HttpStatus"], reply.status);
        assert_eq!(row["ErrorCode"], reply.code.as_str());
        assert_eq!(row["Aap"], "app", "the AAP is recorded for denied calls too");
        assert!(row["LatencyUs"].as_u64().is_some());
        assert!(row["Time"].as_str().unwrap().ends_with('Z'));
        match kind {
            Kind::Allowed => {
                assert_eq!(row["Decision"], "Allow");
                assert_eq!(row["Resource"], format!("key/{}", st.aes));
                assert_eq!(row["Policy"], "p1");
            }
            Kind::NotInPolicy => {
                assert_eq!(row["Decision"], "Deny");
                assert_eq!(row["Resource"], format!("key/{}", st.other));
                // The caller was told less; the audit row keeps the per-policy account.
                let detail = row["Detail"].as_str().unwrap();
                assert!(detail.contains("policy \"p1\"") && detail.contains("AAP \"app\""), "{detail}");
                assert_eq!(
                    reply.message,
                    format!("This operation for \"{}\" is forbidden by permission system.", st.other)
                );
            }
            Kind::BadSignature => unreachable!(),
        }
    }

    // Filters.
    let allowed = calls.iter().filter(|(k, _)| *k == Kind::Allowed).count();
    let deny = audit_rows(&st.env, &["--decision", "deny"]);
    assert_eq!(deny.len(), calls.len() - allowed - unsigned);
    assert!(deny.iter().all(|r| r["Decision"] == "Deny"));
    assert_eq!(audit_rows(&st.env, &["--decision", "allow", "--api", "Encrypt"]).len(), allowed);
    assert_eq!(audit_rows(&st.env, &["--api", "Decrypt"]).len(), 0);
    assert_eq!(audit_rows(&st.env, &["--aap", "app", "--since", "1h"]).len(), calls.len() - unsigned);
    assert_eq!(audit_rows(&st.env, &["--aap", "other-app"]).len(), 0);
    assert_eq!(audit_rows(&st.env, &["--client-key", "KAAP.00000000-0000-0000-0000-000000000000"]).len(), 0);
    assert_eq!(audit_rows(&st.env, &["--until", "1h"]).len(), 0);
    assert_eq!(audit_rows(&st.env, &["--since", "2000-01-01T00:00:00Z", "--until", "2100-01-01T00:00:00Z"]).len(), 48);
    let limited = st.env.ok(&["audit", "query", "--limit", "5"]);
    assert_eq!(limited["AuditLogs"].as_array().unwrap().len(), 5);
    assert_eq!(limited["Count"], 5);
    // Newest first.
    let times: Vec<String> = rows.iter().map(|r| r["Time"].as_str().unwrap().to_owned()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));
    // Bad filter values are usage errors.
    st.env.fails(&["audit", "query", "--since", "yesterday"], 2);
    st.env.fails(&["audit", "query", "--decision", "maybe"], 2);

    // The key was used just now: deleting it needs --force, and says why.
    let msg =
        st.env.fails_with(&["client-key", "delete", "--client-key-id", &st.client_key_id], "Rejected.ResourceInUse");
    assert!(msg.contains("--force") && msg.contains("Encrypt"), "{msg}");
    st.env.ok(&["client-key", "get", "--client-key-id", &st.client_key_id]);
    let out = st
        .env
        .command()
        .args(["--json", "client-key", "delete", "--client-key-id", &st.client_key_id, "--force"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", cli_support::stderr(&out));
    assert!(cli_support::stderr(&out).contains("warning"), "{}", cli_support::stderr(&out));
    st.env.fails_with(&["client-key", "get", "--client-key-id", &st.client_key_id], "Forbidden.ResourceNotFound");
}

#[test]
fn unused_client_key_deletes_without_force_and_list_shows_days_to_expiry() {
    let st = setup();
    let (id, _) = ops_support::new_client_key(
        &st.env,
        "app",
        &["--not-before", "2024-01-01T00:00:00Z", "--not-after", "2099-01-01T00:00:00Z"],
    );
    let list = st.env.ok(&["client-key", "list", "--aap", "app"]);
    let keys = list["ClientKeys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let ours = keys.iter().find(|k| k["ClientKeyId"] == id.as_str()).unwrap();
    let days = ours["DaysToExpiry"].as_i64().unwrap();
    assert!((26_000..27_000).contains(&days), "{days}");
    // The default validity is 5 years.
    let first = keys.iter().find(|k| k["ClientKeyId"] == st.client_key_id.as_str()).unwrap();
    assert!((1_820..=1_827).contains(&first["DaysToExpiry"].as_i64().unwrap()), "{first}");
    let text = cli_support::stdout(&st.env.run(&["client-key", "list"]));
    assert!(text.contains("days to expiry"), "{text}");

    st.env.ok(&["client-key", "delete", "--client-key-id", &id]);
    st.env.fails_with(&["client-key", "delete", "--client-key-id", &id], "Forbidden.ResourceNotFound");
}

#[test]
fn retention_prunes_old_rows() {
    let st = setup();
    let server = Server::start(&st.env, &[]);
    let signer = Signer::load(&st.key_file);
    for _ in 0..3 {
        assert_eq!(signer.call(server.addr, "Encrypt", &encrypt_body(&st.aes)).status, 200);
    }
    server.terminate();
    assert_eq!(audit_rows(&st.env, &[]).len(), 3);
    // Age the rows and events by 200 days behind the store's back, then prune with 180 days.
    let db = rusqlite::Connection::open(st.env.data_dir().join("aapkit.db")).unwrap();
    db.execute("UPDATE audit_log SET time = time - 200 * 86400 WHERE id <= 2", []).unwrap();
    db.execute("UPDATE mgmt_events SET time = time - 200 * 86400 WHERE id = 1", []).unwrap();
    drop(db);
    let pruned = st.env.ok(&["audit", "prune"]);
    assert_eq!(pruned["AuditRows"], 2);
    assert_eq!(pruned["ManagementEvents"], 1);
    assert_eq!(audit_rows(&st.env, &[]).len(), 1);
    // The server prunes at start too (retention from its flag).
    let db = rusqlite::Connection::open(st.env.data_dir().join("aapkit.db")).unwrap();
    db.execute("UPDATE audit_log SET time = time - 40 * 86400", []).unwrap();
    drop(db);
    let server = Server::start(&st.env, &["--audit-retention-days", "30"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    server.terminate();
    assert_eq!(audit_rows(&st.env, &[]).len(), 0);
}
