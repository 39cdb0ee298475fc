use crate::cli_support;
use cli_support::Env;

const KEY_USER: &str = "RbacPermission/Template/CryptoServiceKeyUser";

#[test]
fn network_rules() {
    let env = Env::new();
    // Repeated flags, JSON arrays and comma lists all work.
    let r = env.ok(&[
        "network-rule",
        "create",
        "--name",
        "r1",
        "--source-private-ip",
        "10.0.0.1",
        "--source-private-ip",
        r#"["192.168.0.0/24","fd00::/8"]"#,
        "--source-private-ip",
        "172.16.0.1,172.16.0.2",
        "--description",
        "office",
    ]);
    assert_eq!(r["Name"], "r1");
    assert_eq!(r["Type"], "Private");
    assert_eq!(
        r["SourcePrivateIp"],
        serde_json::json!(["10.0.0.1", "192.168.0.0/24", "fd00::/8", "172.16.0.1", "172.16.0.2"])
    );
    let msg = env.fails_with(
        &["network-rule", "create", "--name", "r2", "--source-private-ip", "10.0.0.999"],
        "InvalidParameter",
    );
    assert!(msg.contains("SourcePrivateIp") && msg.contains("10.0.0.999"), "{msg}");
    let msg = env.fails_with(
        &["network-rule", "create", "--name", "r2", "--type", "Public", "--source-private-ip", "10.0.0.1"],
        "InvalidParameter",
    );
    assert!(msg.contains("Type"), "{msg}");
    env.fails_with(
        &["network-rule", "create", "--name", "r1", "--source-private-ip", "10.0.0.1"],
        "Rejected.ResourceExist",
    );
    let (_, err) = env.fails(&["network-rule", "create", "--name", "r2", "--source-private-ip", "[10.0.0.1]"], 2);
    assert!(err.contains("source-private-ip"), "{err}");

    let u = env.ok(&["network-rule", "update", "--name", "r1", "--source-private-ip", "10.1.0.0/16"]);
    assert_eq!(u["SourcePrivateIp"], serde_json::json!(["10.1.0.0/16"]));
    assert_eq!(u["Description"], "office", "unchanged fields stay");
    assert_eq!(env.ok(&["network-rule", "describe", "--name", "r1"])["SourcePrivateIp"][0], "10.1.0.0/16");
    assert_eq!(env.ok(&["network-rule", "list"])["TotalCount"], 1);
    env.fails_with(&["network-rule", "describe", "--name", "nope"], "Forbidden.ResourceNotFound");
    env.ok(&["network-rule", "delete", "--name", "r1"]);
    env.fails_with(&["network-rule", "delete", "--name", "r1"], "Forbidden.ResourceNotFound");
}

#[test]
fn policies_and_references() {
    let env = Env::new();
    env.ok(&["network-rule", "create", "--name", "r1", "--source-private-ip", "10.0.0.0/8"]);
    env.ok(&["network-rule", "create", "--name", "r2", "--source-private-ip", "10.0.0.0/8"]);
    let p = env.ok(&[
        "policy",
        "create",
        "--name",
        "p1",
        "--kms-instance",
        "kst-abc",
        "--permissions",
        &format!(r#"["{KEY_USER}","RbacPermission/Template/CryptoServiceSecretUser"]"#),
        "--resources",
        "key/*",
        "--resources",
        "secret/app/*",
        "--access-control-rules",
        r#"{"NetworkRules":["r1"]}"#,
    ]);
    assert_eq!(p["KmsInstance"], "kst-abc");
    assert_eq!(p["Permissions"].as_array().unwrap().len(), 2);
    assert_eq!(p["Resources"], serde_json::json!(["key/*", "secret/app/*"]));
    assert_eq!(p["AccessControlRules"]["NetworkRules"], serde_json::json!(["r1"]));

    let base = ["policy", "create", "--name", "p2", "--kms-instance", "kst-abc", "--permissions", KEY_USER];
    fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [base, extra].concat()
    }
    let msg = env.fails_with(&with(&base, &["--resources", "key/*x"]), "InvalidParameter");
    assert!(msg.contains("Resources") && msg.contains("key/*x"), "{msg}");
    let msg = env.fails_with(&with(&base, &["--resources", "key/*", "--network-rules", "ghost"]), "InvalidParameter");
    assert!(msg.contains("ghost"), "{msg}");
    let msg = env.fails_with(
        &with(&base, &["--resources", "key/*", "--access-control-rules", r#"{"Rules":[]}"#]),
        "InvalidParameter",
    );
    assert!(msg.contains("AccessControlRules"), "{msg}");
    let msg = env.fails_with(
        &[
            "policy",
            "create",
            "--name",
            "p2",
            "--kms-instance",
            "kst-abc",
            "--permissions",
            "Admin",
            "--resources",
            "key/*",
        ],
        "InvalidParameter",
    );
    assert!(msg.contains("Permissions") && msg.contains("Admin"), "{msg}");
    let msg = env.fails_with(
        &[
            "policy",
            "create",
            "--name",
            "p2",
            "--kms-instance",
            "default",
            "--permissions",
            KEY_USER,
            "--resources",
            "key/*",
        ],
        "InvalidParameter",
    );
    assert!(msg.contains("KmsInstance"), "{msg}");

    let u = env.ok(&["policy", "update", "--name", "p1", "--network-rules", r#"["r1","r2"]"#, "--description", "d"]);
    assert_eq!(u["AccessControlRules"]["NetworkRules"], serde_json::json!(["r1", "r2"]));
    assert_eq!(u["Resources"], serde_json::json!(["key/*", "secret/app/*"]));
    let msg = env.fails_with(&["policy", "update", "--name", "p1", "--kms-instance", "shared"], "InvalidParameter");
    assert!(msg.contains("KmsInstance"), "{msg}");
    assert_eq!(env.ok(&["policy", "describe", "--name", "p1"])["Description"], "d");
    assert_eq!(env.ok(&["policy", "list"])["TotalCount"], 1);

    // A rule in use by a policy cannot be deleted.
    let msg = env.fails_with(&["network-rule", "delete", "--name", "r2"], "Rejected.ResourceInUse");
    assert!(msg.contains("p1"), "{msg}");
}

#[test]
fn aaps() {
    let env = Env::new();
    env.ok(&["network-rule", "create", "--name", "r", "--source-private-ip", "10.0.0.1"]);
    for p in ["p1", "p2", "p3", "p4"] {
        env.ok(&[
            "policy",
            "create",
            "--name",
            p,
            "--kms-instance",
            "shared",
            "--permissions",
            "RbacPermission/Template/SecretUser",
            "--resources",
            "secret/*",
            "--network-rules",
            "r",
        ]);
    }
    // A shared policy that only names keys could never allow anything: refused, saying why.
    let msg = env.fails_with(
        &[
            "policy",
            "create",
            "--name",
            "useless",
            "--kms-instance",
            "shared",
            "--permissions",
            KEY_USER,
            "--resources",
            "key/*",
            "--network-rules",
            "r",
        ],
        "InvalidParameter",
    );
    assert!(msg.contains("GetSecretValue"), "{msg}");
    env.fails_with(&["aap", "create", "--name", "a", "--policies", r#"["p1","p2","p3","p4"]"#], "InvalidParameter");
    let msg = env.fails_with(&["aap", "create", "--name", "a", "--policies", "nope"], "InvalidParameter");
    assert!(msg.contains("Policies") && msg.contains("nope"), "{msg}");
    let a = env.ok(&["aap", "create", "--name", "a", "--policies", "p1", "--policies", "p2", "--description", "app"]);
    assert_eq!(a["AuthenticationMethod"], "ClientKey");
    assert_eq!(a["Policies"], serde_json::json!(["p1", "p2"]));
    let msg = env.fails_with(&["policy", "delete", "--name", "p1"], "Rejected.ResourceInUse");
    assert!(msg.contains("\"a\"") || msg.contains(" a"), "{msg}");
    let u = env.ok(&["aap", "update", "--name", "a", "--policies", "p3"]);
    assert_eq!(u["Policies"], serde_json::json!(["p3"]));
    assert_eq!(u["Description"], "app");
    env.ok(&["policy", "delete", "--name", "p1"]);
    assert_eq!(env.ok(&["aap", "describe", "--name", "a"])["Policies"][0], "p3");
    assert_eq!(env.ok(&["aap", "list"])["ApplicationAccessPoints"][0]["Name"], "a");
    // RAMRole AAPs are accepted (their callers hold RAM-role sessions: `aapkit ram-role`).
    let ram = env.ok(&["aap", "create", "--name", "ram", "--policies", "p4", "--authentication-method", "RAMRole"]);
    assert_eq!(ram["AuthenticationMethod"], "RAMRole");
    env.ok(&["aap", "delete", "--name", "ram"]);
    env.fails_with(
        &["aap", "create", "--name", "x", "--policies", "p4", "--authentication-method", "Password"],
        "InvalidParameter",
    );
    env.ok(&["aap", "delete", "--name", "a"]);
    env.fails_with(&["aap", "describe", "--name", "a"], "Forbidden.ResourceNotFound");
}

/// `Type=Private` means private: public addresses are refused with the entry named, on create and
/// update; the private ranges (RFC 1918, 100.64/10, ULA, loopback, link-local) are accepted.
#[test]
fn network_rules_accept_only_private_ranges() {
    let env = Env::new();
    for public in ["8.8.8.8", "0.0.0.0/0", "203.0.113.0/24", "172.32.0.0/16", "2001:db8::/32", "::/0", "::ffff:1.2.3.4"]
    {
        let msg = env.fails_with(
            &["network-rule", "create", "--name", "pub", "--source-private-ip", &format!("10.0.0.1,{public}")],
            "InvalidParameter",
        );
        assert!(msg.contains("SourcePrivateIp") && msg.contains(public) && msg.contains("private"), "{public}: {msg}");
    }
    env.fails_with(&["network-rule", "describe", "--name", "pub"], "Forbidden.ResourceNotFound");
    let ok = env.ok(&[
        "network-rule",
        "create",
        "--name",
        "priv",
        "--source-private-ip",
        r#"["10.1.0.0/16","172.16.0.0/12","192.168.1.1","100.64.0.0/10","127.0.0.1","169.254.0.0/16","fd12::/16","::1","fe80::/64"]"#,
    ]);
    assert_eq!(ok["SourcePrivateIp"].as_array().unwrap().len(), 9);
    let msg = env.fails_with(
        &["network-rule", "update", "--name", "priv", "--source-private-ip", "1.1.1.0/24"],
        "InvalidParameter",
    );
    assert!(msg.contains("1.1.1.0/24"), "{msg}");
    assert_eq!(env.ok(&["network-rule", "describe", "--name", "priv"])["SourcePrivateIp"][0], "10.1.0.0/16");
}
