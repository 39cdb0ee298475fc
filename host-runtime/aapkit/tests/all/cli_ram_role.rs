//! `aapkit ram-role`: RAM roles bound to a RAMRole AAP.

use super::cli_support::{client_key_create, Env};

fn with_ram_aap(env: &Env) {
    env.ok(&["network-rule", "create", "--name", "r1", "--source-private-ip", "10.0.0.0/8"]);
    env.ok(&[
        "policy",
        "create",
        "--name",
        "shared-read",
        "--permissions",
        "RbacPermission/Template/SecretUser",
        "--resources",
        "secret/*",
        "--kms-instance",
        "shared",
        "--access-control-rules",
        r#"{"NetworkRules":["r1"]}"#,
    ]);
    env.ok(&["aap", "create", "--name", "ram-app", "--policies", "shared-read", "--authentication-method", "RAMRole"]);
}

#[test]
fn ram_role_lifecycle() {
    let env = Env::new();
    with_ram_aap(&env);
    let jwks = env.write("jwks.json", br#"{"keys":[]}"#);
    let account = env.ok(&["account"])["AccountId"].as_str().unwrap().to_owned();
    let r = env.ok(&[
        "ram-role",
        "create",
        "--name",
        "App-Reader",
        "--aap",
        "ram-app",
        "--oidc-issuer",
        "https://oidc.example.test/c1",
        "--oidc-audience",
        "sts.aliyuncs.com",
        "--oidc-subject",
        "system:serviceaccount:apps:*",
        "--oidc-jwks-file",
        jwks.to_str().unwrap(),
        "--credentials-uri-token",
        "--max-session-duration",
        "7200",
    ]);
    assert_eq!(r["RoleName"], "App-Reader");
    assert_eq!(r["Arn"], format!("acs:ram::{account}:role/App-Reader"));
    assert_eq!(r["AapName"], "ram-app");
    assert_eq!(r["MaxSessionDuration"], 7200);
    assert_eq!(r["OIDCTrust"]["OIDCProviderArn"], format!("acs:ram::{account}:oidc-provider/App-Reader"));
    assert_eq!(r["OIDCTrust"]["JwksFile"], jwks.to_str().unwrap());
    let token = r["CredentialsUriToken"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 43);

    // Shown once: never in describe, list or the events.
    let d = env.ok(&["ram-role", "describe", "--name", "App-Reader"]);
    assert_eq!(d["Role"]["CredentialsUriEnabled"], true);
    assert!(!d.to_string().contains(&token));
    let l = env.ok(&["ram-role", "list"]);
    assert_eq!(l["TotalCount"], 1);
    assert_eq!(l["Roles"]["Role"][0]["RoleName"], "App-Reader");
    let t2 = env.ok(&["ram-role", "issue-token", "--name", "App-Reader"]);
    let t2 = t2["CredentialsUriToken"].as_str().unwrap();
    assert_ne!(t2, token);

    // A RAMRole AAP takes no client key; a ClientKey AAP takes no role; nor does a role without trust.
    let pw = env.write("pw.txt", b"Passw0rd-1234");
    let out = env.path("ck.json");
    env.fails_with(
        &client_key_create("ram-app", pw.to_str().unwrap(), out.to_str().unwrap(), &[]),
        "Rejected.UnexpectedState",
    );
    env.ok(&["aap", "create", "--name", "ck-app", "--policies", "shared-read"]);
    let msg = env.fails_with(
        &["ram-role", "create", "--name", "x", "--aap", "ck-app", "--credentials-uri-token"],
        "Rejected.UnexpectedState",
    );
    assert!(msg.contains("RAMRole"), "{msg}");
    env.fails_with(&["ram-role", "create", "--name", "x", "--aap", "ram-app"], "InvalidParameter");
    env.fails_with(
        &["ram-role", "create", "--name", "bad_name", "--aap", "ram-app", "--credentials-uri-token"],
        "InvalidParameter",
    );
    // Usage: an issuer needs a JWKS source and an audience.
    env.fails(
        &[
            "ram-role",
            "create",
            "--name",
            "x",
            "--aap",
            "ram-app",
            "--oidc-issuer",
            "https://i",
            "--oidc-audience",
            "a",
        ],
        2,
    );
    env.fails(&["ram-role", "create", "--name", "x", "--aap", "ram-app", "--oidc-issuer", "https://i"], 2);
    // Only a URL-trust role with a relative file made absolute.
    let u = env.ok(&[
        "ram-role",
        "create",
        "--name",
        "url-role",
        "--aap",
        "ram-app",
        "--oidc-issuer",
        "https://oidc.example.test/c2",
        "--oidc-audience",
        "sts.aliyuncs.com",
        "--oidc-provider-name",
        "ack-rrsa-c2",
        "--oidc-jwks-url",
        "https://oidc.example.test/c2/keys",
    ]);
    assert_eq!(u["OIDCTrust"]["JwksUrl"], "https://oidc.example.test/c2/keys");
    assert!(u.get("CredentialsUriToken").is_none() && u["CredentialsUriEnabled"] == false);

    // The AAP cannot be deleted while roles use it; deleting the roles frees it.
    env.fails_with(&["aap", "delete", "--name", "ram-app"], "Rejected.ResourceInUse");
    env.ok(&["ram-role", "delete", "--name", "App-Reader"]);
    env.ok(&["ram-role", "delete", "--name", "url-role"]);
    env.fails_with(&["ram-role", "describe", "--name", "App-Reader"], "Forbidden.ResourceNotFound");
    env.ok(&["aap", "delete", "--name", "ram-app"]);

    let events = env.ok(&["audit", "events", "--resource-type", "ram-role"]);
    let text = events.to_string();
    assert!(!text.contains(&token) && !text.contains(t2), "a token leaked into the events");
    let ops: Vec<&str> =
        events["Events"].as_array().unwrap().iter().map(|e| e["Operation"].as_str().unwrap()).collect();
    assert_eq!(ops, vec!["DeleteRole", "DeleteRole", "CreateRole", "IssueCredentialsUriToken", "CreateRole"]);
}
