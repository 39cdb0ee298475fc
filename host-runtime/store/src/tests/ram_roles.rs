//! RAM roles and STS sessions.

use super::*;

fn with_ram_aap(store: &Store) {
    store.create_network_rule(&rule("r1", &["10.0.0.0/8"])).unwrap();
    store.create_policy(&policy("p1", &["r1"])).unwrap();
    store.create_aap(&AapInput { authentication_method: "RAMRole".into(), ..aap("ram-app", &["p1"]) }).unwrap();
}

fn oidc() -> OidcTrust {
    OidcTrust {
        provider_name: "ack-rrsa-c1".into(),
        issuer: "https://oidc.example.test/c1".into(),
        audiences: vec!["sts.aliyuncs.com".into()],
        subject: Some("system:serviceaccount:ns:*".into()),
        jwks: JwksSource::File("/etc/aapkit/jwks.json".into()),
    }
}

fn role(name: &str) -> RamRoleInput {
    RamRoleInput {
        name: name.into(),
        aap: "ram-app".into(),
        oidc: Some(oidc()),
        credentials_uri_token: true,
        max_session_duration: None,
        description: String::new(),
    }
}

#[test]
fn role_create_validates_binds_and_describes() {
    let (_d, store) = fresh();
    with_ram_aap(&store);
    store.create_aap(&aap("ck-app", &["p1"])).unwrap();
    let account = store.account().unwrap();

    let created = store.create_ram_role(&role("app.reader-1")).unwrap();
    let token = created.credentials_uri_token.as_ref().unwrap();
    // 32 random bytes, base64url without padding.
    assert_eq!(token.len(), 43);
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let info = &created.info;
    assert_eq!(info.arn, format!("acs:ram::{}:role/app.reader-1", account.account_id));
    assert_eq!(info.role_id.len(), 19);
    assert!(info.role_id.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(info.max_session_duration, 3600);
    assert!(info.credentials_uri_enabled);
    let o = info.oidc.as_ref().unwrap();
    assert_eq!(o.oidc_provider_arn, format!("acs:ram::{}:oidc-provider/ack-rrsa-c1", account.account_id));
    assert_eq!(o.jwks(), Some(JwksSource::File("/etc/aapkit/jwks.json".into())));
    assert_eq!(store.describe_ram_role("app.reader-1").unwrap(), *info);
    assert_eq!(store.list_ram_roles().unwrap(), vec![info.clone()]);
    assert_eq!(store.ram_role_by_arn(&info.arn).unwrap(), *info);
    assert_eq!(store.ram_role_by_arn("acs:ram::1:role/app.reader-1").unwrap_err().code(), "Forbidden.ResourceNotFound");
    assert_eq!(store.ram_role_by_arn("arn:aws:iam::1:role/x").unwrap_err().code(), "InvalidParameter");
    // JSON names.
    let v = serde_json::to_value(info).unwrap();
    for k in ["RoleName", "RoleId", "Arn", "AapName", "MaxSessionDuration", "OIDCTrust", "CredentialsUriEnabled"] {
        assert!(v.get(k).is_some(), "{k} in {v}");
    }
    assert!(v["OIDCTrust"].get("OIDCProviderArn").is_some() && v["OIDCTrust"].get("JwksUrl").is_none());

    // Refusals, each naming what is wrong.
    let cases: Vec<(RamRoleInput, &str)> = vec![
        (role("app.reader-1"), "already exists"),
        (RamRoleInput { aap: "ck-app".into(), ..role("r2") }, "RAMRole"),
        (RamRoleInput { aap: "nope".into(), ..role("r2") }, "AapName"),
        (RamRoleInput { name: "has_underscore".into(), ..role("x") }, "RoleName"),
        (RamRoleInput { name: "a".repeat(65), ..role("x") }, "RoleName"),
        (RamRoleInput { max_session_duration: Some(900), ..role("r2") }, "MaxSessionDuration"),
        (RamRoleInput { max_session_duration: Some(43_201), ..role("r2") }, "MaxSessionDuration"),
        (RamRoleInput { oidc: None, credentials_uri_token: false, ..role("r2") }, "nobody could assume"),
        (RamRoleInput { oidc: Some(OidcTrust { issuer: "ftp://x".into(), ..oidc() }), ..role("r2") }, "IssuerUrl"),
        (RamRoleInput { oidc: Some(OidcTrust { audiences: vec![], ..oidc() }), ..role("r2") }, "Audiences"),
        (
            RamRoleInput { oidc: Some(OidcTrust { subject: Some("a*b*".into()), ..oidc() }), ..role("r2") },
            "SubjectPattern",
        ),
        (
            RamRoleInput {
                oidc: Some(OidcTrust { jwks: JwksSource::File("rel/jwks.json".into()), ..oidc() }),
                ..role("r2")
            },
            "JwksFile",
        ),
        (
            RamRoleInput {
                oidc: Some(OidcTrust { jwks: JwksSource::Url("file:///x".into()), ..oidc() }),
                ..role("r2")
            },
            "JwksUrl",
        ),
    ];
    for (input, needle) in cases {
        let e = store.create_ram_role(&input).unwrap_err();
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
    // A role with only an OIDC trust has no token; max duration at the top of the range.
    let only_oidc = RamRoleInput { credentials_uri_token: false, max_session_duration: Some(43_200), ..role("r3") };
    let c = store.create_ram_role(&only_oidc).unwrap();
    assert!(c.credentials_uri_token.is_none() && !c.info.credentials_uri_enabled);
    // The bundle the server runs under still exports and compiles with a RAMRole AAP in it.
    let bundle = store.export_bundle_json("kst-test").unwrap();
    policy_core::compile_bundle(&bundle).unwrap();
    assert!(bundle.contains("\"RAMRole\""));
    // The AAP cannot go while roles are bound to it.
    let e = store.delete_aap("ram-app").unwrap_err();
    assert!(e.to_string().contains("RAM roles app.reader-1, r3"), "{e}");
}

#[test]
fn subject_patterns() {
    assert!(subject_matches("system:serviceaccount:ns:sa", "system:serviceaccount:ns:sa"));
    assert!(!subject_matches("system:serviceaccount:ns:sa", "system:serviceaccount:ns:sa2"));
    assert!(subject_matches("system:serviceaccount:ns:*", "system:serviceaccount:ns:any"));
    assert!(!subject_matches("system:serviceaccount:ns:*", "system:serviceaccount:other:any"));
    assert!(subject_matches("*", "anything"));
}

#[test]
fn credentials_uri_token_checks_and_rotates() {
    let (_d, store) = fresh();
    with_ram_aap(&store);
    let created = store.create_ram_role(&role("r1")).unwrap();
    let t1 = created.credentials_uri_token.unwrap();
    assert!(store.check_credentials_uri_token("r1", &t1).unwrap());
    assert!(!store.check_credentials_uri_token("r1", "wrong").unwrap());
    assert!(!store.check_credentials_uri_token("r1", "").unwrap());
    assert!(!store.check_credentials_uri_token("nope", &t1).unwrap());
    let g = store.generation().unwrap();
    let t2 = store.rotate_credentials_uri_token("r1").unwrap();
    assert!(store.generation().unwrap() > g);
    assert_ne!(t1.as_str(), t2.as_str());
    assert!(!store.check_credentials_uri_token("r1", &t1).unwrap());
    assert!(store.check_credentials_uri_token("r1", &t2).unwrap());
    // A role created without a token gets one by rotation.
    store.create_ram_role(&RamRoleInput { credentials_uri_token: false, ..role("r2") }).unwrap();
    assert!(!store.describe_ram_role("r2").unwrap().credentials_uri_enabled);
    let t3 = store.rotate_credentials_uri_token("r2").unwrap();
    assert!(store.check_credentials_uri_token("r2", &t3).unwrap());
    assert!(store.describe_ram_role("r2").unwrap().credentials_uri_enabled);
    assert_eq!(store.rotate_credentials_uri_token("nope").unwrap_err().code(), "Forbidden.ResourceNotFound");
}

#[test]
fn sessions_are_issued_sealed_looked_up_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &MasterKey::generate().unwrap());
    with_ram_aap(&store);
    store.create_ram_role(&role("r1")).unwrap();
    let now = 1_700_000_000;
    let g = store.generation().unwrap();
    let s = store.issue_session("r1", "pod-a@ns", 3600, now).unwrap();
    // Issuing is not a configuration change: the server does not reload per credential fetch.
    assert_eq!(store.generation().unwrap(), g);
    assert!(s.id.starts_with("STS.") && s.id.len() == 32, "{}", s.id);
    assert_eq!(s.secret.len(), 44);
    assert!(s.security_token.starts_with("CAIS") && s.security_token.len() > 200);
    assert_eq!((s.expires_at, s.expiration().as_str()), (now + 3600, "2023-11-14T23:13:20Z"));
    assert_eq!((s.role.as_str(), s.session_name.as_str(), s.aap.as_str()), ("r1", "pod-a@ns", "ram-app"));

    let got = store.session_credential(&s.id).unwrap();
    assert_eq!((got.secret.as_str(), got.security_token.as_str()), (s.secret.as_str(), s.security_token.as_str()));
    assert_eq!((got.expires_at, got.aap.as_str()), (s.expires_at, "ram-app"));
    // Cached: a second lookup agrees.
    assert_eq!(store.session_credential(&s.id).unwrap().secret.as_str(), s.secret.as_str());
    assert!(got.token_matches(&s.security_token) && !got.token_matches("CAISx") && !got.token_matches(""));
    assert!(!got.is_expired(now + 3599) && got.is_expired(now + 3600));
    assert!(!format!("{got:?}").contains(s.secret.as_str()));
    for unknown in ["STS.nope", "LTAIxxxx", ""] {
        assert!(matches!(store.session_credential(unknown), Err(StoreError::NotFound { .. })), "{unknown}");
    }

    // Sealed at rest: neither the secret nor the token is in the database files.
    let s2 = store.issue_session("r1", "other", 900, now).unwrap();
    for (name, bytes) in raw_files(dir.path()) {
        for needle in [s.secret.as_str(), s.security_token.as_str(), s2.secret.as_str(), s2.security_token.as_str()] {
            assert!(!contains_bytes(&bytes, needle.as_bytes()), "{name} holds a session secret");
        }
    }
    // Validation.
    for (dur, ok) in [(899, false), (900, true), (3600, true), (3601, false)] {
        assert_eq!(store.issue_session("r1", "s1", dur, now).is_ok(), ok, "{dur}");
    }
    for name in ["a", "has space", &"a".repeat(65), "x/y"] {
        assert_eq!(store.issue_session("r1", name, 900, now).unwrap_err().code(), "InvalidParameter", "{name}");
    }
    assert_eq!(store.issue_session("nope", "s1", 900, now).unwrap_err().code(), "Forbidden.ResourceNotFound");

    // The purge deletes expired sessions only.
    let r = store.purge_deleted_keys(now + 900).unwrap();
    assert_eq!(r.purged_sts_sessions, 2, "the two 900 s sessions");
    assert!(store.session_credential(&s.id).is_ok());
    assert!(matches!(store.session_credential(&s2.id), Err(StoreError::NotFound { .. })));
    assert_eq!(store.active_session_count("r1", now).unwrap(), 2);
}

#[test]
fn sealed_session_rows_are_bound_to_their_id() {
    let (_d, store) = fresh();
    with_ram_aap(&store);
    store.create_ram_role(&role("r1")).unwrap();
    let a = store.issue_session("r1", "a1", 900, 1).unwrap();
    let b = store.issue_session("r1", "b1", 900, 1).unwrap();
    raw_execute(
        &store,
        "UPDATE sts_sessions SET sealed_secret = (SELECT sealed_secret FROM sts_sessions WHERE id = ?1) WHERE id = ?2",
        params![a.id, b.id],
    );
    assert!(matches!(store.session_credential(&b.id), Err(StoreError::Unseal(_))));
    assert!(store.session_credential(&a.id).is_ok());
}

#[test]
fn deleting_a_role_revokes_its_sessions_and_records_events() {
    let (_d, store) = fresh();
    with_ram_aap(&store);
    store.create_ram_role(&role("r1")).unwrap();
    store.create_ram_role(&role("r2")).unwrap();
    let s1 = store.issue_session("r1", "s1", 3600, 1).unwrap();
    let s2 = store.issue_session("r2", "s2", 3600, 1).unwrap();
    // Warm the cache, then delete: the cached credential must not outlive the role.
    store.session_credential(&s1.id).unwrap();
    store.delete_ram_role("r1").unwrap();
    assert!(matches!(store.session_credential(&s1.id), Err(StoreError::NotFound { .. })));
    assert!(store.session_credential(&s2.id).is_ok());
    assert_eq!(store.delete_ram_role("r1").unwrap_err().code(), "Forbidden.ResourceNotFound");
    store.rotate_credentials_uri_token("r2").unwrap();

    let events = store
        .query_events(&EventQuery { resource_type: Some(ResourceType::RamRole), limit: 10, ..Default::default() })
        .unwrap();
    let ops: Vec<(&str, &str, &str)> =
        events.iter().map(|e| (e.operation.as_str(), e.action.as_str(), e.resource_name.as_str())).collect();
    assert_eq!(
        ops,
        vec![
            ("IssueCredentialsUriToken", "Update", "r2"),
            ("DeleteRole", "Delete", "r1"),
            ("CreateRole", "Create", "r2"),
            ("CreateRole", "Create", "r1"),
        ]
    );
    assert_eq!(events[0].resource_type, "ram-role");
    assert!(events[1].after.is_none() && events[1].before.as_ref().unwrap()["RoleName"] == "r1");
    // Event images never hold the token nor its hash.
    for e in &events {
        let text = format!("{:?}{:?}", e.before, e.after);
        assert!(!text.to_lowercase().contains("sha256") && !text.contains("Token\""), "{text}");
    }
    assert_eq!(ResourceType::parse("ram-role"), Some(ResourceType::RamRole));
}

#[test]
fn migration_adds_the_tables_to_an_existing_database() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate().unwrap();
    {
        let store = open(dir.path(), &key);
        with_ram_aap(&store);
    }
    // Wind the schema back to before step 5 (as a database from that release), then reopen.
    {
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.execute_batch(
            "DROP TABLE replay_nonces; DROP TABLE quota_gateways; DROP TABLE quota_buckets;
             DROP TABLE sts_sessions; DROP TABLE ram_roles; UPDATE meta SET value = 4 WHERE name = 'schema_version';",
        )
        .unwrap();
    }
    let store = open(dir.path(), &key);
    store.create_ram_role(&role("r1")).unwrap();
    assert_eq!(store.list_ram_roles().unwrap().len(), 1);
}

/// A role holds at most MAX_LIVE_SESSIONS_PER_ROLE unexpired sessions; expired ones make room.
#[test]
fn live_sessions_per_role_are_capped_and_expired_ones_make_room() {
    let (_d, store) = fresh();
    with_ram_aap(&store);
    store.create_ram_role(&role("r1")).unwrap();
    let now = 1_700_000_000;
    {
        // Rows written directly: issuing ten thousand sealed sessions one by one is slow.
        store
            .lock()
            .run(db::TxMode::Write, |tx| {
                for i in 0..MAX_LIVE_SESSIONS_PER_ROLE {
                    tx.execute(
                        "INSERT INTO sts_sessions(id, role, session_name, sealed_secret, sealed_token, expires, created)
                         VALUES (?1, 'r1', 's', ?4, ?4, ?2, ?3)",
                        params![format!("STS.fill{i}"), now + 3600, now, [0u8]],
                    )?;
                }
                Ok(())
            })
            .unwrap();
    }
    let err = store.issue_session("r1", "one-more", 900, now).unwrap_err();
    assert_eq!(err.code(), "Rejected.LimitExceeded", "{err}");
    // An hour later they have all expired: they are cleared and the session is issued.
    assert!(store.issue_session("r1", "later", 900, now + 3600).is_ok());
    let left: i64 = raw_query(&store, "SELECT COUNT(*) FROM sts_sessions", params![]).remove(0);
    assert_eq!(left, 1);
}

/// The tests above, for the PostgreSQL run of the suite.
pub(super) const CASES: &[(&str, fn())] = &[
    ("role_create_validates_binds_and_describes", role_create_validates_binds_and_describes),
    ("subject_patterns", subject_patterns),
    ("credentials_uri_token_checks_and_rotates", credentials_uri_token_checks_and_rotates),
    ("sessions_are_issued_sealed_looked_up_and_expire", sessions_are_issued_sealed_looked_up_and_expire),
    ("sealed_session_rows_are_bound_to_their_id", sealed_session_rows_are_bound_to_their_id),
    (
        "deleting_a_role_revokes_its_sessions_and_records_events",
        deleting_a_role_revokes_its_sessions_and_records_events,
    ),
    (
        "live_sessions_per_role_are_capped_and_expired_ones_make_room",
        live_sessions_per_role_are_capped_and_expired_ones_make_room,
    ),
];
