#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod cli_support;
use cli_support::Env;

#[test]
fn key_lifecycle() {
    let env = Env::new();
    let k = &env.ok(&["key", "create", "--description", "main"]);
    let id = k["KeyId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("key-"));
    assert_eq!(k["KeySpec"], "Aliyun_AES_256");
    assert_eq!(k["KeyState"], "Enabled");
    assert_eq!(k["Description"], "main");
    let v1 = k["PrimaryKeyVersion"].as_str().unwrap().to_owned();
    assert_eq!(v1.len(), 36);

    let ec = &env.ok(&["key", "create", "--key-spec", "EC_P256"]);
    assert_eq!(ec["KeySpec"], "EC_P256");
    let list = env.ok(&["key", "list"]);
    assert_eq!(list["TotalCount"], 2);

    assert_eq!(env.ok(&["key", "disable", "--key-id", &id])["KeyState"], "Disabled");
    assert_eq!(env.ok(&["key", "enable", "--key-id", &id])["KeyState"], "Enabled");
    let pending = &env.ok(&["key", "schedule-deletion", "--key-id", &id, "--pending-window-in-days", "7"]);
    assert_eq!(pending["KeyState"], "PendingDeletion");
    assert!(pending["DeleteDate"].is_string());
    env.fails_with(&["key", "enable", "--key-id", &id], "Rejected.UnexpectedState");
    assert_eq!(env.ok(&["key", "cancel-deletion", "--key-id", &id])["KeyState"], "Enabled");

    let rotated = &env.ok(&["key", "rotate", "--key-id", &id]);
    assert_eq!(rotated["KeyVersions"].as_array().unwrap().len(), 2);
    assert_ne!(rotated["PrimaryKeyVersion"], v1.as_str());
    assert_eq!(rotated["InitialKeyVersion"], v1.as_str());

    let msg = env.fails_with(
        &["key", "schedule-deletion", "--key-id", &id, "--pending-window-in-days", "400"],
        "InvalidParameter",
    );
    assert!(msg.contains("PendingWindowInDays") && msg.contains("400"), "{msg}");
    let msg = env.fails_with(&["key", "create", "--key-spec", "DES"], "InvalidParameter");
    assert!(msg.contains("KeySpec") && msg.contains("DES"), "{msg}");
    env.fails_with(&["key", "describe", "--key-id", "key-missing"], "Forbidden.KeyNotFound");
}

#[test]
fn aliases() {
    let env = Env::new();
    let id = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    let a = env.ok(&["alias", "create", "--alias-name", "alias/app", "--key-id", &id]);
    assert_eq!(a["AliasName"], "alias/app");
    assert_eq!(a["KeyId"], id.as_str());
    env.fails_with(&["alias", "create", "--alias-name", "alias/app", "--key-id", &id], "Rejected.ResourceExist");
    let msg = env.fails_with(&["alias", "create", "--alias-name", "app", "--key-id", &id], "InvalidParameter");
    assert!(msg.contains("AliasName"), "{msg}");
    assert_eq!(env.ok(&["key", "describe", "--key-id", "alias/app"])["KeyId"], id.as_str());
    assert_eq!(env.ok(&["alias", "list"])["TotalCount"], 1);
    assert_eq!(env.ok(&["alias", "list", "--key-id", &id])["Aliases"][0]["AliasName"], "alias/app");
    env.ok(&["alias", "delete", "--alias-name", "alias/app"]);
    env.fails_with(&["alias", "delete", "--alias-name", "alias/app"], "Forbidden.KeyNotFound");
    assert_eq!(env.ok(&["alias", "list"])["TotalCount"], 0);
}

#[test]
fn human_output_and_usage_errors() {
    let env = Env::new();
    let out = env.run(&["key", "create"]);
    assert!(out.status.success());
    let text = cli_support::stdout(&out);
    assert!(text.contains("KeyId") && text.contains("Aliyun_AES_256"), "{text}");
    // Missing a required flag, unknown subcommand: usage errors, exit 2.
    assert_eq!(env.run(&["key", "describe"]).status.code(), Some(2));
    assert_eq!(env.run(&["key", "explode"]).status.code(), Some(2));
    assert_eq!(
        env.run(&["key", "schedule-deletion", "--key-id", "k", "--pending-window-in-days", "x"]).status.code(),
        Some(2)
    );
    // Help is not an error.
    assert_eq!(env.run(&["key", "--help"]).status.code(), Some(0));
}
