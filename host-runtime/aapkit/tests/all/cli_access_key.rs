//! Issue 12 on the CLI: the account, AccessKeys (init's admin key, create/list/disable/enable/
//! delete), and the key and secret commands the KMS OpenAPI also has.
use std::os::unix::fs::PermissionsExt;

use crate::cli_support;

use cli_support::{s, Env};
use serde_json::Value;

fn credentials_file(path: &std::path::Path) -> Value {
    assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600, "{}", path.display());
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut names: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, vec!["AccessKeyId", "AccessKeySecret", "AccountId", "RegionId"]);
    v
}

#[test]
fn init_creates_the_account_and_one_admin_access_key() {
    let env = Env::bare();
    let init = env.ok(&["init", "--instance-id", "kst-aktest", "--region-id", "ap-southeast-1"]);
    let id = init["AccessKeyId"].as_str().unwrap().to_owned();
    let secret = init["AccessKeySecret"].as_str().unwrap().to_owned();
    assert!(id.starts_with("LTAI") && id.len() == 24, "{init}");
    assert_eq!(secret.len(), 30);
    assert_eq!(init["RegionId"], "ap-southeast-1");
    let account_id = init["AccountId"].as_str().unwrap().to_owned();
    assert!(account_id.len() == 16 && account_id.bytes().all(|b| b.is_ascii_digit()), "{init}");
    let file = env.data_dir().join("admin-access-key.json");
    assert_eq!(init["AccessKeyFile"], s(&file));
    let creds = credentials_file(&file);
    assert_eq!(
        (&creds["AccessKeyId"], &creds["AccessKeySecret"], &creds["AccountId"], &creds["RegionId"]),
        (&init["AccessKeyId"], &init["AccessKeySecret"], &init["AccountId"], &init["RegionId"])
    );
    let account = env.ok(&["account"]);
    assert_eq!(
        (account["AccountId"].as_str(), account["RegionId"].as_str()),
        (Some(&*account_id), Some("ap-southeast-1"))
    );

    // Re-running init (here with --force, which gets past the existing CA) makes no second key,
    // and the region cannot change.
    let again = env.ok(&["init", "--force"]);
    assert!(again.get("AccessKeyId").is_none() && again.get("AccessKeySecret").is_none(), "{again}");
    assert_eq!(again["AccountId"], account_id.as_str());
    assert_eq!(env.ok(&["access-key", "list"])["TotalCount"], 1);
    let msg = env.fails_with(&["init", "--force", "--region-id", "cn-shanghai"], "InvalidParameter");
    assert!(msg.contains("RegionId"), "{msg}");

    // The human output shows the secret once and says where the file is.
    let env2 = Env::bare();
    let out = env2.run(&["init", "--instance-id", "kst-aktest2"]);
    assert!(out.status.success(), "{}", cli_support::stderr(&out));
    let text = cli_support::stdout(&out);
    let creds = credentials_file(&env2.data_dir().join("admin-access-key.json"));
    assert!(text.contains(creds["AccessKeySecret"].as_str().unwrap()), "{text}");
    assert!(text.contains("admin-access-key.json") && text.contains("cn-hangzhou"), "{text}");
    // A malformed region: refused, nothing created.
    let env3 = Env::bare();
    let msg = env3.fails_with(&["init", "--region-id", "Hangzhou"], "InvalidParameter");
    assert!(msg.contains("RegionId"), "{msg}");
    assert!(!env3.data_dir().exists());
}

#[test]
fn access_key_commands() {
    let env = Env::new();
    let created = env.ok(&["access-key", "create", "--description", "ci"]);
    let id = created["AccessKeyId"].as_str().unwrap().to_owned();
    let secret = created["AccessKeySecret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 30);
    assert_eq!(created["RegionId"], "cn-hangzhou");

    let out = env.path("ak.json");
    let to_file = env.ok(&["access-key", "create", "--output", s(&out)]);
    assert!(to_file.get("AccessKeySecret").is_none(), "{to_file}");
    let creds = credentials_file(&out);
    assert_eq!(creds["AccessKeyId"], to_file["AccessKeyId"]);
    // Never overwritten.
    env.fails(&["access-key", "create", "--output", s(&out)], 2);

    let list = env.ok(&["access-key", "list"]);
    assert_eq!(list["TotalCount"], 3);
    let text = list.to_string();
    assert!(!text.contains(&secret) && !text.contains(creds["AccessKeySecret"].as_str().unwrap()), "{text}");
    assert!(list["AccessKeys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["AccessKeyId"] == id.as_str() && k["Description"] == "ci"));

    assert_eq!(env.ok(&["access-key", "disable", "--access-key-id", &id])["Status"], "Disabled");
    assert_eq!(env.ok(&["access-key", "enable", "--access-key-id", &id])["Status"], "Enabled");
    env.ok(&["access-key", "delete", "--access-key-id", &id]);
    env.fails_with(&["access-key", "delete", "--access-key-id", &id], "Forbidden.ResourceNotFound");
    env.fails_with(&["access-key", "disable", "--access-key-id", "LTAInope"], "Forbidden.ResourceNotFound");
    assert_eq!(env.ok(&["access-key", "list"])["TotalCount"], 2);

    // Events name the actor and hold no secret.
    let events = env.ok(&["audit", "events", "--resource-type", "access-key"]);
    let text = events.to_string();
    assert!(!text.contains(&secret), "{text}");
    let ops: Vec<&str> =
        events["Events"].as_array().unwrap().iter().map(|e| e["Operation"].as_str().unwrap()).collect();
    assert_eq!(
        ops,
        vec![
            "DeleteAccessKey",
            "EnableAccessKey",
            "DisableAccessKey",
            "CreateAccessKey",
            "CreateAccessKey",
            "CreateAccessKey"
        ]
    );
}

#[test]
fn key_and_secret_commands_of_the_openapi() {
    let env = Env::new();
    let k1 = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    let k2 = env.ok(&["key", "create", "--key-spec", "RSA_2048", "--key-usage", "SIGN/VERIFY"]);
    assert_eq!(k2["KeyUsage"], "SIGN/VERIFY");
    let msg = env.fails_with(&["key", "create", "--key-usage", "SIGN/VERIFY"], "InvalidParameter");
    assert!(msg.contains("KeyUsage"), "{msg}");
    env.fails_with(&["key", "create", "--origin", "EXTERNAL"], "InvalidParameter");
    let v2 = env.ok(&["key", "create-version", "--key-id", &k1])["PrimaryKeyVersion"].as_str().unwrap().to_owned();
    let versions = env.ok(&["key", "list-versions", "--key-id", &k1]);
    assert_eq!(versions["TotalCount"], 2);
    assert_eq!(versions["KeyVersions"][1]["KeyVersionId"], v2.as_str());

    let k3 = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    env.ok(&["alias", "create", "--alias-name", "alias/app", "--key-id", &k1]);
    assert_eq!(env.ok(&["alias", "update", "--alias-name", "alias/app", "--key-id", &k3])["KeyId"], k3.as_str());
    env.fails_with(&["alias", "update", "--alias-name", "alias/none", "--key-id", &k3], "Forbidden.KeyNotFound");

    let value = env.write("v", b"hunter2");
    env.ok(&[
        "secret",
        "create",
        "--secret-name",
        "db",
        "--encryption-key-id",
        &k1,
        "--secret-data-file",
        s(&value),
        "--version-id",
        "v1",
    ]);
    env.ok(&["secret", "put-value", "--secret-name", "db", "--secret-data-file", s(&value), "--version-id", "v2"]);
    env.ok(&["secret", "put-value", "--secret-name", "db", "--secret-data-file", s(&value), "--version-id", "v3"]);
    assert_eq!(env.ok(&["secret", "list-version-ids", "--secret-name", "db"])["TotalCount"], 2);
    assert_eq!(env.ok(&["secret", "list-version-ids", "--secret-name", "db", "--include-deprecated"])["TotalCount"], 3);
    let s1 = env.ok(&[
        "secret",
        "update-version-stage",
        "--secret-name",
        "db",
        "--version-stage",
        "ACSCurrent",
        "--remove-from-version",
        "v3",
        "--move-to-version",
        "v1",
    ]);
    assert_eq!(s1["Versions"][0]["VersionStages"], serde_json::json!(["ACSCurrent"]));
    assert_eq!(s1["Versions"][2]["VersionStages"], serde_json::json!(["ACSPrevious"]));
    env.fails_with(
        &[
            "secret",
            "update-version-stage",
            "--secret-name",
            "db",
            "--version-stage",
            "ACSCurrent",
            "--remove-from-version",
            "v1",
        ],
        "InvalidParameter",
    );

    let del = env.ok(&["secret", "delete", "--secret-name", "db", "--recovery-window-in-days", "7"]);
    assert!(del["PlannedDeleteTime"].as_str().unwrap().ends_with('Z'), "{del}");
    assert_eq!(env.ok(&["secret", "describe", "--secret-name", "db"])["PlannedDeleteTime"], del["PlannedDeleteTime"]);
    env.fails_with(
        &["secret", "put-value", "--secret-name", "db", "--secret-data-file", s(&value)],
        "Rejected.UnexpectedState",
    );
    env.fails_with(&["secret", "delete", "--secret-name", "db", "--recovery-window-in-days", "31"], "InvalidParameter");
    let restored = env.ok(&["secret", "restore", "--secret-name", "db"]);
    assert!(restored.get("PlannedDeleteTime").is_none(), "{restored}");
    env.ok(&["secret", "delete", "--secret-name", "db", "--force-delete-without-recovery"]);
    env.fails_with(&["secret", "describe", "--secret-name", "db"], "Forbidden.ResourceNotFound");
    // The window and force go together in no call.
    env.fails(
        &[
            "secret",
            "delete",
            "--secret-name",
            "x",
            "--recovery-window-in-days",
            "7",
            "--force-delete-without-recovery",
        ],
        2,
    );
}
