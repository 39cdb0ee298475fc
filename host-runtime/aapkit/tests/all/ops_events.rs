//! Management events: every create, update and delete of keys, aliases, secrets, network rules,
//! policies, AAPs and client keys is recorded with actor, before and after, and no secret material.
use crate::cli_support;

use cli_support::{s, Env};
use serde_json::Value;

const SECRET_VALUE: &str = "pl41n-s3cret-v4lue-xyz";
const SECRET_VALUE_2: &str = "s3cond-v4lue-abc";
const PASSWORD: &str = "Ev3nts-passw0rd";

fn ok_as(env: &Env, actor: &str, args: &[&str]) -> Value {
    let out = env.command().env("AAPKIT_ACTOR", actor).arg("--json").args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", cli_support::stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn events(env: &Env, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["audit", "events", "--limit", "1000"];
    all.extend_from_slice(args);
    env.ok(&all)["Events"].as_array().unwrap().clone()
}

#[test]
fn every_change_is_an_event_without_secret_material() {
    let env = Env::new();
    let alice = |args: &[&str]| ok_as(&env, "alice", args);
    let key = alice(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    alice(&["key", "disable", "--key-id", &key]);
    alice(&["key", "enable", "--key-id", &key]);
    alice(&["key", "rotate", "--key-id", &key]);
    alice(&["alias", "create", "--alias-name", "alias/ev", "--key-id", &key]);
    alice(&["secret", "create", "--secret-name", "db/pw", "--secret-data", SECRET_VALUE, "--encryption-key-id", &key]);
    alice(&["secret", "put-value", "--secret-name", "db/pw", "--secret-data", SECRET_VALUE_2]);
    alice(&["network-rule", "create", "--name", "r1", "--source-private-ip", "10.0.0.0/8"]);
    alice(&["network-rule", "update", "--name", "r1", "--source-private-ip", "10.0.0.0/16"]);
    alice(&[
        "policy",
        "create",
        "--name",
        "p1",
        "--kms-instance",
        "kst-ev",
        "--permissions",
        "RbacPermission/Template/CryptoServiceKeyUser",
        "--resources",
        "key/*",
        "--network-rules",
        "r1",
    ]);
    alice(&["policy", "update", "--name", "p1", "--resources", &format!("key/{key}")]);
    alice(&["aap", "create", "--name", "app", "--policies", "p1"]);
    alice(&["aap", "update", "--name", "app", "--description", "the app"]);
    let pw = env.write("pw.txt", PASSWORD.as_bytes());
    let out = env.path("ck.json");
    let ck =
        ok_as(&env, "bob", &["client-key", "create", "--aap", "app", "--password-file", s(&pw), "--output", s(&out)])
            ["ClientKeyId"]
            .as_str()
            .unwrap()
            .to_owned();
    ok_as(&env, "bob", &["client-key", "delete", "--client-key-id", &ck]);
    alice(&["aap", "delete", "--name", "app"]);
    alice(&["policy", "delete", "--name", "p1"]);
    alice(&["network-rule", "delete", "--name", "r1"]);
    alice(&["alias", "delete", "--alias-name", "alias/ev"]);
    alice(&["key", "schedule-deletion", "--key-id", &key, "--pending-window-in-days", "7"]);

    // A refused change leaves no event (it rolled back with its transaction).
    env.fails(&["network-rule", "delete", "--name", "no-such-rule"], 1);

    let all = events(&env, &[]);
    let summary: Vec<(String, String, String)> = all
        .iter()
        .rev()
        .map(|e| {
            (
                e["ResourceType"].as_str().unwrap().to_owned(),
                e["Action"].as_str().unwrap().to_owned(),
                e["Operation"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(&str, &str, &str)> = vec![
        // `init`'s admin AccessKey.
        ("access-key", "Create", "CreateAccessKey"),
        ("key", "Create", "CreateKey"),
        ("key", "Update", "DisableKey"),
        ("key", "Update", "EnableKey"),
        ("key", "Update", "CreateKeyVersion"),
        ("alias", "Create", "CreateAlias"),
        ("secret", "Create", "CreateSecret"),
        ("secret", "Update", "PutSecretValue"),
        ("network-rule", "Create", "CreateNetworkRule"),
        ("network-rule", "Update", "UpdateNetworkRule"),
        ("policy", "Create", "CreatePolicy"),
        ("policy", "Update", "UpdatePolicy"),
        ("aap", "Create", "CreateApplicationAccessPoint"),
        ("aap", "Update", "UpdateApplicationAccessPoint"),
        ("client-key", "Create", "CreateClientKey"),
        ("client-key", "Delete", "DeleteClientKey"),
        ("aap", "Delete", "DeleteApplicationAccessPoint"),
        ("policy", "Delete", "DeletePolicy"),
        ("network-rule", "Delete", "DeleteNetworkRule"),
        ("alias", "Delete", "DeleteAlias"),
        ("key", "Update", "ScheduleKeyDeletion"),
    ];
    let want: Vec<(String, String, String)> =
        want.into_iter().map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned())).collect();
    assert_eq!(summary, want);

    // Actors.
    assert!(all.iter().filter(|e| e["ResourceType"] == "client-key").all(|e| e["Actor"] == "bob"));
    let by_alice = |e: &&Value| e["ResourceType"] != "client-key" && e["ResourceType"] != "access-key";
    assert!(all.iter().filter(by_alice).all(|e| e["Actor"] == "alice"));
    // Without AAPKIT_ACTOR the CLI names itself and the OS user.
    let init = all.iter().find(|e| e["ResourceType"] == "access-key").unwrap();
    assert!(init["Actor"].as_str().unwrap().starts_with("cli:"), "{init}");
    assert_eq!(events(&env, &["--actor", "bob"]).len(), 2);

    // Before and after images.
    let policy = events(&env, &["--resource-type", "policy", "--since", "1d"]);
    assert_eq!(policy.len(), 3);
    let (delete, update, create) = (&policy[0], &policy[1], &policy[2]);
    assert!(create["Before"].is_null());
    assert_eq!(create["After"]["Resources"], serde_json::json!(["key/*"]));
    assert_eq!(update["Before"]["Resources"], serde_json::json!(["key/*"]));
    assert_eq!(update["After"]["Resources"], serde_json::json!([format!("key/{key}")]));
    assert_eq!(update["After"]["AccessControlRules"]["NetworkRules"], serde_json::json!(["r1"]));
    assert_eq!(delete["Before"]["Name"], "p1");
    assert!(delete["After"].is_null());
    let disable = events(&env, &["--resource-type", "key", "--action", "update"]);
    let disable = disable.iter().find(|e| e["Operation"] == "DisableKey").unwrap();
    assert_eq!(
        (disable["Before"]["KeyState"].as_str(), disable["After"]["KeyState"].as_str()),
        (Some("Enabled"), Some("Disabled"))
    );
    // Keys named by alias are recorded under the key id.
    assert!(events(&env, &["--resource-type", "key"]).iter().all(|e| e["ResourceName"] == key.as_str()));
    assert_eq!(events(&env, &["--resource-type", "alias", "--resource-name", "alias/ev"]).len(), 2);
    let put = events(&env, &["--resource-type", "secret", "--action", "Update"]);
    assert_eq!(put[0]["After"]["Versions"].as_array().unwrap().len(), 2);

    // No secret material anywhere: secret values, the client key's private key or password,
    // sealed key material.
    let dump = serde_json::to_string(&all).unwrap();
    for forbidden in [SECRET_VALUE, SECRET_VALUE_2, PASSWORD, "PRIVATE KEY", "PrivateKeyData", "Sealed", "SecretData\""]
    {
        assert!(!dump.contains(forbidden), "{forbidden} found in the events");
    }
    let private = std::fs::read_to_string(&out).unwrap();
    let private: Value = serde_json::from_str(&private).unwrap();
    let pk = private["PrivateKeyData"].as_str().unwrap();
    assert!(!dump.contains(&pk[..40]));

    // Filters reject bad values.
    env.fails(&["audit", "events", "--resource-type", "widget"], 2);
    env.fails(&["audit", "events", "--action", "Explode"], 2);
    assert!(events(&env, &["--until", "1d"]).is_empty());
}
