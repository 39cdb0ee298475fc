//! The handler's responses against the shapes the clients read (reference: the STS SDK models
//! and alibabacloud-credentials' providers; docs/ram-roles.md).

use aapkit_store::{AapInput, JwksSource, MasterKey, NetworkRuleInput, OidcTrust, PolicyInput, RamRoleInput, Store};
use aapkit_sts::{FileJwks, Sts, StsRequest, StsResponse, CREDENTIALS_URI_PATH};
use serde_json::{json, Value};

use crate::issuer::*;

struct Fixture {
    _dir: tempfile::TempDir,
    sts: Sts,
    issuer: Issuer,
    token: String,
    role_arn: String,
    provider_arn: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with_key(&dir.path().join("data"), &MasterKey::generate().unwrap()).unwrap();
    store
        .create_network_rule(&NetworkRuleInput {
            name: "r1".into(),
            network_type: "Private".into(),
            source_private_ip: vec!["10.0.0.0/8".into()],
            description: String::new(),
        })
        .unwrap();
    store
        .create_policy(&PolicyInput {
            name: "p1".into(),
            permissions: vec!["RbacPermission/Template/SecretUser".into()],
            resources: vec!["secret/*".into()],
            kms_instance: "shared".into(),
            network_rules: vec!["r1".into()],
            description: String::new(),
        })
        .unwrap();
    store
        .create_aap(&AapInput {
            name: "ram-app".into(),
            policies: vec!["p1".into()],
            authentication_method: "RAMRole".into(),
            description: String::new(),
        })
        .unwrap();
    let issuer = Issuer::new();
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, issuer.jwks()).unwrap();
    let created = store
        .create_ram_role(&RamRoleInput {
            name: "App-Reader".into(),
            aap: "ram-app".into(),
            oidc: Some(OidcTrust {
                provider_name: "ack-rrsa-c1".into(),
                issuer: ISSUER.into(),
                audiences: vec![AUDIENCE.into()],
                subject: Some("system:serviceaccount:apps:*".into()),
                jwks: JwksSource::File(jwks_path.to_str().unwrap().into()),
            }),
            credentials_uri_token: true,
            max_session_duration: Some(7200),
            description: String::new(),
        })
        .unwrap();
    let account = store.account().unwrap().account_id;
    Fixture {
        token: created.credentials_uri_token.unwrap().to_string(),
        role_arn: created.info.arn,
        provider_arn: format!("acs:ram::{account}:oidc-provider/ack-rrsa-c1"),
        sts: Sts::new(store, Box::new(FileJwks), "sts.aliyuncs.com"),
        _dir: dir,
        issuer,
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn query(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

fn get(sts: &Sts, path: &str, q: &str) -> (StsResponse, Value) {
    let req = StsRequest { method: "GET", path, query: q, headers: &[], body: &[] };
    let r = sts.handle(&req, NOW, "req-1");
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    (r, v)
}

/// The query CRED's `oidc_role_arn` provider sends (alibabacloud-credentials 1.0.12 `provider/oidc.py`).
fn oidc_query(f: &Fixture, token: &str, extra: &[(&str, &str)]) -> String {
    let mut p = vec![
        ("Action", "AssumeRoleWithOIDC"),
        ("Format", "JSON"),
        ("Version", "2015-04-01"),
        ("DurationSeconds", "3600"),
        ("RoleArn", f.role_arn.as_str()),
        ("OIDCProviderArn", f.provider_arn.as_str()),
        ("OIDCToken", token),
        ("RoleSessionName", "credentials-python-1767225600"),
        ("Timestamp", "2026-01-01T00:00:00Z"),
    ];
    for (k, v) in extra {
        p.retain(|(n, _)| n != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    query(&p)
}

fn is_alibaba_time(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[test]
fn assume_role_with_oidc_returns_the_models_shape() {
    let f = fixture();
    let jwt = f.issuer.rs256(&Issuer::claims());
    let (r, v) = get(&f.sts, "/", &oidc_query(&f, &jwt, &[]));
    assert_eq!(r.status, 200, "{v}");
    assert_eq!(v["RequestId"], "req-1");
    let c = &v["Credentials"];
    let id = c["AccessKeyId"].as_str().unwrap();
    assert!(id.starts_with("STS."));
    assert_eq!(c["Expiration"], "2026-01-01T01:00:00Z");
    assert!(is_alibaba_time(c["Expiration"].as_str().unwrap()));
    let account = f.role_arn.split(':').nth(3).unwrap();
    assert_eq!(
        v["AssumedRoleUser"]["Arn"],
        format!("acs:ram::{account}:role/app-reader/credentials-python-1767225600")
    );
    assert!(v["AssumedRoleUser"]["AssumedRoleId"].as_str().unwrap().ends_with(":credentials-python-1767225600"));
    let info = &v["OIDCTokenInfo"];
    assert_eq!(info["Subject"], SUBJECT);
    assert_eq!(info["Issuer"], ISSUER);
    assert_eq!(info["ClientIds"], AUDIENCE);
    assert_eq!(info["ExpirationTime"], "2026-01-01T01:00:00Z");
    assert_eq!(info["IssuanceTime"], "2025-12-31T23:59:00Z");
    // The issued session is what the KMS endpoint will look up.
    let s = f.sts.store().session_credential(id).unwrap();
    assert_eq!(s.secret.as_str(), c["AccessKeySecret"].as_str().unwrap());
    assert!(s.token_matches(c["SecurityToken"].as_str().unwrap()));
    assert_eq!((s.role.as_str(), s.aap.as_str()), ("App-Reader", "ram-app"));
    assert_eq!((r.role.as_deref(), r.access_key_id.as_deref()), (Some("App-Reader"), Some(id)));

    // The STS SDK's form: POST, ES256 token, no DurationSeconds (default 3600 within the role's 7200).
    let jwt = f.issuer.es256(&Issuer::claims());
    let body = oidc_query(&f, &jwt, &[("DurationSeconds", ""), ("Format", "json")]);
    let headers = vec![("content-type".to_string(), "application/x-www-form-urlencoded".to_string())];
    let req = StsRequest { method: "POST", path: "/", query: "", headers: &headers, body: body.as_bytes() };
    let r = f.sts.handle(&req, NOW, "req-2");
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(r.status, 200, "{v}");
    assert_eq!(v["Credentials"]["Expiration"], "2026-01-01T01:00:00Z");
    // A longer session up to the role's maximum.
    let (r, v) = get(&f.sts, "/", &oidc_query(&f, &jwt, &[("DurationSeconds", "7200")]));
    assert_eq!((r.status, v["Credentials"]["Expiration"].as_str()), (200, Some("2026-01-01T02:00:00Z")));
}

fn expect_error(f: &Fixture, q: &str, status: u16, code: &str) -> Value {
    let (r, v) = get(&f.sts, "/", q);
    assert_eq!((r.status, v["Code"].as_str().unwrap()), (status, code), "{v}");
    for k in ["RequestId", "HostId", "Code", "Message", "Recommend"] {
        assert!(v.get(k).is_some(), "{k} in {v}");
    }
    assert!(v.get("Credentials").is_none());
    v
}

#[test]
fn refusals_carry_sts_codes() {
    let f = fixture();
    let good = f.issuer.rs256(&Issuer::claims());
    let mut c = Issuer::claims();
    c["exp"] = json!(NOW - 3600);
    c["iat"] = json!(NOW - 7200);
    let v = expect_error(&f, &oidc_query(&f, &f.issuer.rs256(&c), &[]), 401, "AuthenticationFail.OIDCToken.Expired");
    assert_eq!(v["Message"], "This JsonWebToken is expired.");
    let other = Issuer::new();
    expect_error(
        &f,
        &oidc_query(&f, &other.rs256(&Issuer::claims()), &[]),
        401,
        "AuthenticationFail.OIDCToken.InvalidSignature",
    );
    let mut c = Issuer::claims();
    c["aud"] = json!("kubernetes");
    expect_error(&f, &oidc_query(&f, &f.issuer.rs256(&c), &[]), 401, "AuthenticationFail.OIDCToken.AudienceNotMatch");
    let mut c = Issuer::claims();
    c["iss"] = json!("https://evil.example");
    expect_error(&f, &oidc_query(&f, &f.issuer.rs256(&c), &[]), 401, "AuthenticationFail.OIDCToken.IssuerNotMatch");
    let mut c = Issuer::claims();
    c["sub"] = json!("system:serviceaccount:kube-system:default");
    expect_error(&f, &oidc_query(&f, &f.issuer.rs256(&c), &[]), 401, "AuthenticationFail.NoPermission");
    let none = f.issuer.sign(&json!({"alg":"none"}), &Issuer::claims());
    expect_error(&f, &oidc_query(&f, &none, &[]), 401, "AuthenticationFail.OIDCToken.Invalid");
    let wrong_provider = f.provider_arn.replace("ack-rrsa-c1", "other");
    let v = expect_error(
        &f,
        &oidc_query(&f, &good, &[("OIDCProviderArn", &wrong_provider)]),
        401,
        "AuthenticationFail.NoPermission",
    );
    assert_eq!(v["Message"], "No such OIDC Provider registered.");
    expect_error(
        &f,
        &oidc_query(&f, &good, &[("OIDCProviderArn", "provider")]),
        400,
        "InvalidParameter.OIDCProviderArn",
    );
    let missing_role = f.role_arn.replace("App-Reader", "Nope");
    expect_error(&f, &oidc_query(&f, &good, &[("RoleArn", &missing_role)]), 404, "EntityNotExist.Role");
    expect_error(&f, &oidc_query(&f, &good, &[("RoleArn", "nonsense")]), 400, "InvalidParameter.RoleArn");
    expect_error(&f, &oidc_query(&f, &good, &[("OIDCToken", "")]), 400, "MissingParameter");
    expect_error(&f, &oidc_query(&f, &good, &[("DurationSeconds", "100")]), 400, "InvalidParameter.DurationSeconds");
    expect_error(&f, &oidc_query(&f, &good, &[("DurationSeconds", "7201")]), 400, "InvalidParameter.DurationSeconds");
    expect_error(&f, &oidc_query(&f, &good, &[("DurationSeconds", "x")]), 400, "InvalidParameter.DurationSeconds");
    expect_error(&f, &oidc_query(&f, &good, &[("RoleSessionName", "a b")]), 400, "InvalidParameter.RoleSessionName");
    expect_error(
        &f,
        &oidc_query(&f, &good, &[("Policy", "{\"Version\":\"1\"}")]),
        400,
        "InvalidParameter.PolicyGrammar",
    );
    expect_error(&f, &oidc_query(&f, &good, &[("Version", "2016-01-20")]), 400, "InvalidVersion");
    expect_error(&f, &oidc_query(&f, &good, &[("Action", "AssumeRole")]), 404, "InvalidAction.NotFound");
    expect_error(&f, &format!("{}&Action=again", oidc_query(&f, &good, &[])), 400, "InvalidParameter");
    // Nothing was issued by any of these.
    assert!(f.sts.store().active_session_count("App-Reader", NOW).unwrap() == 0);
}

#[test]
fn credentials_uri_flow() {
    let f = fixture();
    let q = query(&[("role", "App-Reader"), ("token", &f.token)]);
    let (r, v) = get(&f.sts, CREDENTIALS_URI_PATH, &q);
    assert_eq!(r.status, 200, "{v}");
    // Flat: exactly what URLCredentialsProvider reads, plus LastUpdated.
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = vec!["AccessKeyId", "AccessKeySecret", "Code", "Expiration", "LastUpdated", "SecurityToken"];
    want.sort();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    assert_eq!(keys_sorted, want);
    assert_eq!(v["Code"], "Success");
    assert_eq!(v["Expiration"], "2026-01-01T02:00:00Z", "the role's MaxSessionDuration");
    assert_eq!(v["LastUpdated"], "2026-01-01T00:00:00Z");
    let s = f.sts.store().session_credential(v["AccessKeyId"].as_str().unwrap()).unwrap();
    assert_eq!(s.session_name, "credentials-uri");

    for bad in [query(&[("role", "App-Reader"), ("token", "wrong")]), query(&[("role", "Nope"), ("token", &f.token)])] {
        let (r, v) = get(&f.sts, CREDENTIALS_URI_PATH, &bad);
        assert_eq!((r.status, v["Code"].as_str()), (403, Some("Forbidden.CredentialsUriToken")), "{v}");
        assert!(v.get("AccessKeyId").is_none());
    }
    let (r, _) = get(&f.sts, CREDENTIALS_URI_PATH, &query(&[("role", "App-Reader")]));
    assert_eq!(r.status, 400);
    let req = StsRequest { method: "POST", path: CREDENTIALS_URI_PATH, query: &q, headers: &[], body: &[] };
    assert_eq!(f.sts.handle(&req, NOW, "x").status, 404);

    // Rotating the token, then deleting the role: the old token, then every session, stop working.
    let t2 = f.sts.store().rotate_credentials_uri_token("App-Reader").unwrap();
    assert_eq!(get(&f.sts, CREDENTIALS_URI_PATH, &q).0.status, 403);
    let q2 = query(&[("role", "App-Reader"), ("token", &t2)]);
    assert_eq!(get(&f.sts, CREDENTIALS_URI_PATH, &q2).0.status, 200);
    f.sts.store().delete_ram_role("App-Reader").unwrap();
    assert!(f.sts.store().session_credential(&s.id).is_err());
    assert_eq!(get(&f.sts, CREDENTIALS_URI_PATH, &q2).0.status, 403);
    let jwt = f.issuer.rs256(&Issuer::claims());
    let (r, v) = get(&f.sts, "/", &oidc_query(&f, &jwt, &[]));
    assert_eq!((r.status, v["Code"].as_str()), (404, Some("EntityNotExist.Role")));
}

#[test]
fn an_unreadable_jwks_is_a_server_failure_that_says_nothing() {
    let f = fixture();
    let path = f._dir.path().join("jwks.json");
    std::fs::write(&path, "not json").unwrap();
    let jwt = f.issuer.rs256(&Issuer::claims());
    let (r, v) = get(&f.sts, "/", &oidc_query(&f, &jwt, &[]));
    assert_eq!((r.status, v["Code"].as_str()), (500, Some("InternalError")));
    assert!(!v["Message"].as_str().unwrap().contains("jwks"));
    assert!(r.error_detail.unwrap().contains("JWKS"));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(get(&f.sts, "/", &oidc_query(&f, &jwt, &[])).0.status, 500);
}
