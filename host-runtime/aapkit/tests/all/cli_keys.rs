use crate::cli_support;
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

/// `aapkit purge` destroys a key once its ScheduleKeyDeletion window has passed (AAPKIT_NOW moves
/// the purge's clock), and the sealed material is then in neither the database nor its WAL.
#[test]
fn purge_after_the_pending_window() {
    let env = Env::new();
    let id = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    let kept = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    env.ok(&["alias", "create", "--alias-name", "alias/doomed", "--key-id", &id]);
    let sealed: Vec<u8> = {
        let conn = rusqlite::Connection::open(env.data_dir().join("aapkit.db")).unwrap();
        conn.query_row("SELECT sealed FROM key_versions WHERE key_id = ?1", [&id], |r| r.get(0)).unwrap()
    };
    let on_disk = |needle: &[u8]| {
        ["aapkit.db", "aapkit.db-wal"]
            .iter()
            .any(|f| std::fs::read(env.data_dir().join(f)).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)))
    };
    assert!(on_disk(&sealed), "the scan must see the material before the purge");
    let d = env.ok(&["key", "schedule-deletion", "--key-id", &id, "--pending-window-in-days", "7"]);
    assert_eq!(d["KeyState"], "PendingDeletion");

    // Within the window (and with the real clock) nothing is purged.
    let r = env.ok(&["purge"]);
    assert_eq!(r["PurgedKeys"], serde_json::json!([]));
    assert_eq!(env.ok(&["key", "describe", "--key-id", &id])["KeyState"], "PendingDeletion");

    let in_8_days = time::OffsetDateTime::now_utc() + time::Duration::days(8);
    let when = in_8_days.format(&time::format_description::well_known::Rfc3339).unwrap();
    let out = env.command().env("AAPKIT_NOW", &when).args(["--json", "purge"]).output().unwrap();
    assert!(out.status.success(), "{}", cli_support::stderr(&out));
    assert!(cli_support::stderr(&out).contains("AAPKIT_NOW"), "the override is announced");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["PurgedKeys"], serde_json::json!([id]));
    assert_eq!(r["DestroyedKeyVersions"], 1);
    assert_eq!(r["WalTruncated"], true);

    assert!(!on_disk(&sealed[..32]), "sealed material survives the purge");
    env.fails_with(&["key", "describe", "--key-id", &id], "Forbidden.KeyNotFound");
    env.fails_with(&["key", "describe", "--key-id", "alias/doomed"], "Forbidden.KeyNotFound");
    env.fails_with(&["key", "cancel-deletion", "--key-id", &id], "Forbidden.KeyNotFound");
    let list = env.ok(&["key", "list"]);
    assert_eq!(list["TotalCount"], 1);
    assert_eq!(list["Keys"][0]["KeyId"], kept.as_str());
    let events = env.ok(&["audit", "events", "--resource-name", &id]);
    let purges = events["Events"].as_array().unwrap().iter().filter(|e| e["Operation"] == "PurgeKey").count();
    assert_eq!(purges, 1, "{events}");
}
