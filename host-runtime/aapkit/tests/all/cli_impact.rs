//! `aapkit diff` and `--dry-run`: the report, its exit status (0 no change, 4 narrowing only,
//! 5 some widening), and that a dry run changes nothing.

use serde_json::Value;

use super::cli_support::{client_key_create, s, stdout, Env, TEST_INSTANCE};

/// A key, a network rule `office` (10.20.0.0/16), a policy on `key/*` from it, an AAP and a client key.
fn world() -> Env {
    let env = Env::new();
    env.ok(&["key", "create"]);
    env.ok(&["network-rule", "create", "--name", "office", "--source-private-ip", "10.20.0.0/16"]);
    env.ok(&[
        "policy",
        "create",
        "--name",
        "p",
        "--kms-instance",
        TEST_INSTANCE,
        "--permissions",
        "RbacPermission/Template/CryptoServiceKeyUser",
        "--resources",
        "key/*",
        "--network-rules",
        "office",
    ]);
    env.ok(&["aap", "create", "--name", "app", "--policies", "p"]);
    let pw = env.write("pw.txt", b"Passw0rd-1234");
    env.ok(&client_key_create("app", s(&pw), s(&env.path("ck.json")), &[]));
    env
}

/// Runs `args` with --json; (exit status, JSON output).
fn run(env: &Env, args: &[&str]) -> (i32, Value) {
    let out = env.command().arg("--json").args(args).output().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn dry_runs_report_the_change_and_change_nothing() {
    let env = world();
    // Widening: the rule admits a second range.
    let (code, v) = run(
        &env,
        &[
            "--dry-run",
            "network-rule",
            "update",
            "--name",
            "office",
            "--source-private-ip",
            "10.20.0.0/16,10.30.0.0/16",
        ],
    );
    assert_eq!(code, 5, "{v}");
    assert_eq!(v["Verdict"], "Widening");
    let widened: Vec<&Value> =
        v["Changes"].as_array().unwrap().iter().filter(|c| c["After"]["Decision"] == "Allow").collect();
    assert!(!widened.is_empty(), "{v}");
    assert!(widened.iter().all(|c| c["Addresses"]["Summary"] == "10.30.0.0/16"), "{v}");
    // Nothing was changed.
    let rule = env.ok(&["network-rule", "describe", "--name", "office"]);
    assert_eq!(rule["SourcePrivateIp"], serde_json::json!(["10.20.0.0/16"]), "{rule}");

    // Narrowing: a smaller range; the text form names the addresses that lose access.
    let out = env
        .command()
        .args(["--dry-run", "network-rule", "update", "--name", "office", "--source-private-ip", "10.20.0.0/17"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("allow → deny") && text.contains("10.20.128.0/17"), "{text}");
    assert!(text.contains("narrowing only"), "{text}");

    // No change at all.
    let (code, v) =
        run(&env, &["--dry-run", "network-rule", "update", "--name", "office", "--description", "just words"]);
    assert_eq!((code, v["Verdict"].as_str()), (0, Some("NoChange")), "{v}");
    // A new client key grants what its AAP allows: widening; its file is not written.
    let pw = env.write("pw2.txt", b"Passw0rd-1234");
    let target = env.path("dry.json");
    let (code, v) = run(
        &env,
        &["--dry-run", "client-key", "create", "--aap", "app", "--password-file", s(&pw), "--output", s(&target)],
    );
    assert_eq!(code, 5, "{v}");
    assert!(!target.exists());
    assert_eq!(env.ok(&["client-key", "list", "--aap", "app"])["TotalCount"], 1);
    // A dry run of a command that changes no access is refused.
    env.fails(&["--dry-run", "key", "create"], 2);
}

#[test]
fn diff_compares_two_bundles_or_a_bundle_with_the_store() {
    let env = world();
    let old = env.path("old.json");
    env.ok(&["bundle", "export", "--output", s(&old)]);
    let mut b: Value = serde_json::from_slice(&std::fs::read(&old).unwrap()).unwrap();
    let (code, v) = run(&env, &["diff", s(&old), s(&old)]);
    assert_eq!((code, v["Changes"].as_array().map(Vec::len)), (0, Some(0)), "{v}");
    // The policy turned from `key/*` into one key: narrowing.
    b["Policies"][0]["Resources"] = serde_json::json!(["key/key-only"]);
    let new = env.write("new.json", b.to_string().as_bytes());
    let (code, v) = run(&env, &["diff", s(&old), s(&new)]);
    assert_eq!(code, 4, "{v}");
    let (code, v) = run(&env, &["diff", "--against-store", s(&new)]);
    assert_eq!(code, 4, "{v}");
    let (code, _) = run(&env, &["diff", s(&new), s(&old)]);
    assert_eq!(code, 5);
    // Each row carries a concrete example request.
    let example = &v["Changes"][0]["Example"];
    assert!(example["Caller"].as_str().unwrap().starts_with("KAAP."), "{v}");
    assert!(example["SourceIp"].as_str().unwrap().starts_with("10.20."), "{v}");
    // An invalid bundle is a usage error naming the problem.
    let bad = env.write("bad.json", br#"{"Policies": 7}"#);
    env.fails(&["diff", s(&old), s(&bad)], 2);
}
