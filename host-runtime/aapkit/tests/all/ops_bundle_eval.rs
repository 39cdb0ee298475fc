//! Bundle export and offline evaluation: export a bundle from a store, decide allowed and denied
//! requests against it with `aapkit eval`, check exit codes (0 allow, 3 deny, 1/2 errors) and the
//! per-policy trace of `--json`.
use crate::cli_support;
use crate::cli_support::client_key_create;

use std::io::Write;
use std::process::Stdio;

use cli_support::{s, Env};
use serde_json::{json, Value};

const INSTANCE: &str = "kst-evaltest00000001";

struct Fixture {
    env: Env,
    bundle: std::path::PathBuf,
    client_key: String,
    allowed_key: String,
    other_key: String,
}

fn fixture() -> Fixture {
    let env = Env::bare();
    env.ok(&["init", "--instance-id", INSTANCE]);
    let allowed_key = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    let other_key = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    env.ok(&["network-rule", "create", "--name", "vpc", "--source-private-ip", "10.0.0.0/8"]);
    env.ok(&["network-rule", "create", "--name", "office", "--source-private-ip", "192.168.10.0/24"]);
    let key_user = "RbacPermission/Template/CryptoServiceKeyUser";
    env.ok(&[
        "policy",
        "create",
        "--name",
        "keys-from-vpc",
        "--kms-instance",
        INSTANCE,
        "--permissions",
        key_user,
        "--resources",
        &format!("key/{allowed_key}"),
        "--network-rules",
        "vpc",
    ]);
    env.ok(&[
        "policy",
        "create",
        "--name",
        "other-scope",
        "--kms-instance",
        "kst-elsewhere0000001",
        "--permissions",
        key_user,
        "--resources",
        "key/*",
        "--network-rules",
        "office",
    ]);
    env.ok(&["aap", "create", "--name", "app", "--policies", "keys-from-vpc", "--policies", "other-scope"]);
    let pw = env.write("pw.txt", b"Ev4l-passw0rd");
    let out = env.path("ck.json");
    let client_key = env.ok(&client_key_create(
        "app",
        s(&pw),
        s(&out),
        &["--not-before", "2024-01-01T00:00:00Z", "--not-after", "2030-01-01T00:00:00Z"],
    ))["ClientKeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let bundle = env.path("bundle.json");
    let exported = env.ok(&["bundle", "export", "--scope", INSTANCE, "--output", s(&bundle)]);
    assert_eq!(exported["Scope"], INSTANCE);
    let text = std::fs::read_to_string(&bundle).unwrap();
    assert!(!text.contains("PRIVATE KEY"), "the bundle holds no private keys");
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed["Gateway"]["Scope"], INSTANCE);
    Fixture { env, bundle, client_key, allowed_key, other_key }
}

fn request(f: &Fixture, key: &str, ip: &str, time: &str) -> Value {
    json!({"ClientKeyId": f.client_key, "Api": "Encrypt", "Resource": key, "SourceIp": ip, "Time": time})
}

/// Runs `eval --json` with the request in a file; returns (exit code, report).
fn eval(f: &Fixture, req: &Value) -> (i32, Value) {
    let path = f.env.write("req.json", req.to_string().as_bytes());
    let out = f.env.run(&["--json", "eval", "--bundle", s(&f.bundle), "--request", s(&path)]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap(), report)
}

#[test]
fn eval_allow_and_deny_with_traces() {
    let f = fixture();
    let now = "2025-06-01T00:00:00Z";

    let (code, r) = eval(&f, &request(&f, &f.allowed_key, "10.1.2.3", now));
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["Allowed"], true);
    assert_eq!(r["Aap"], "app");
    assert_eq!(r["Policy"], "keys-from-vpc");
    assert_eq!(r["QpsGroup"], "Symmetric");

    // Outside every network rule: both policies are traced, each with the check that failed.
    let (code, r) = eval(&f, &request(&f, &f.allowed_key, "172.16.0.9", now));
    assert_eq!(code, 3, "{r}");
    assert_eq!(
        (r["Allowed"].as_bool(), r["ErrorCode"].as_str(), r["HttpStatus"].as_u64()),
        (Some(false), Some("Forbidden.NoPermission"), Some(403))
    );
    let trace = r["Trace"].as_array().unwrap();
    assert_eq!(trace.len(), 2, "{r}");
    let by_policy = |name: &str| trace.iter().find(|t| t["Policy"] == name).unwrap().clone();
    let vpc = by_policy("keys-from-vpc");
    assert_eq!(
        (vpc["Scope"].as_str(), vpc["Role"].as_str(), vpc["Resource"].as_str(), vpc["Network"].as_str()),
        (Some("Pass"), Some("Pass"), Some("Pass"), Some("Fail"))
    );
    assert_eq!(by_policy("other-scope")["Scope"], "Fail");
    let failed = r["FailedChecks"].as_array().unwrap();
    assert!(failed.contains(&json!({"Policy": "keys-from-vpc", "Check": "Network"})), "{r}");
    assert!(failed.contains(&json!({"Policy": "other-scope", "Check": "Scope"})), "{r}");

    // A key the policy does not name.
    let (code, r) = eval(&f, &request(&f, &f.other_key, "10.1.2.3", now));
    assert_eq!(code, 3);
    assert_eq!(
        r["Trace"].as_array().unwrap().iter().find(|t| t["Policy"] == "keys-from-vpc").unwrap()["Resource"],
        "Fail"
    );

    // Client key validity and existence.
    let (code, r) = eval(&f, &request(&f, &f.allowed_key, "10.1.2.3", "2031-01-01T00:00:00Z"));
    assert_eq!((code, r["ErrorCode"].as_str(), r["HttpStatus"].as_u64()), (3, Some("Unauthorized"), Some(404)));
    assert!(r["Message"].as_str().unwrap().contains("expired"), "{r}");
    let mut unknown = request(&f, &f.allowed_key, "10.1.2.3", now);
    unknown["ClientKeyId"] = json!("KAAP.00000000-0000-0000-0000-000000000000");
    assert_eq!(eval(&f, &unknown).0, 3);

    // Text output: the verdict and the trace table.
    let path = f.env.write("req.json", request(&f, &f.allowed_key, "172.16.0.9", now).to_string().as_bytes());
    let out = f.env.run(&["eval", "--bundle", s(&f.bundle), "--request", s(&path)]);
    assert_eq!(out.status.code(), Some(3));
    let text = cli_support::stdout(&out);
    assert!(text.starts_with("DENY   Forbidden.NoPermission (HTTP 403)"), "{text}");
    assert!(text.contains("keys-from-vpc") && text.contains("Fail"), "{text}");

    // The request from stdin, and the data directory's own bundle when --bundle is absent.
    let mut child = f
        .env
        .command()
        .args(["--json", "eval", "--request", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(request(&f, &f.allowed_key, "10.9.9.9", now).to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", cli_support::stdout(&out));
}

#[test]
fn eval_errors_are_not_decisions() {
    let f = fixture();
    let good = request(&f, &f.allowed_key, "10.1.2.3", "2025-06-01T00:00:00Z");
    // An unknown field in the request: usage error (2), not a deny (3).
    let mut bad = good.clone();
    bad["Extra"] = json!(1);
    assert_eq!(eval(&f, &bad).0, 2);
    let mut bad_ip = good.clone();
    bad_ip["SourceIp"] = json!("not-an-ip");
    assert_eq!(eval(&f, &bad_ip).0, 2);
    // A broken bundle: 2, with the JSON path at fault.
    let broken = f.env.write("broken.json", br#"{"Policies":[{"Name":"x"}]}"#);
    let req = f.env.write("req.json", good.to_string().as_bytes());
    let out = f.env.run(&["eval", "--bundle", s(&broken), "--request", s(&req)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(cli_support::stderr(&out).contains("$.Policies[0]"), "{}", cli_support::stderr(&out));
    // Missing files: 1.
    let out = f.env.run(&["eval", "--bundle", s(&f.env.path("nope.json")), "--request", s(&req)]);
    assert_eq!(out.status.code(), Some(1));
    let out = f.env.run(&["eval", "--bundle", s(&f.bundle), "--request", s(&f.env.path("nope.json"))]);
    assert_eq!(out.status.code(), Some(1));
}
