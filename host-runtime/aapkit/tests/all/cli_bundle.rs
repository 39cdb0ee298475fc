use crate::cli_support;
use crate::cli_support::client_key_create;
use cli_support::{s, with_aap, Env};

#[test]
fn export_to_stdout_and_file() {
    let env = Env::new();
    with_aap(&env);
    let key = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    env.ok(&["alias", "create", "--alias-name", "alias/app", "--key-id", &key]);
    let f = env.write("v", b"do-not-export-me");
    env.ok(&["secret", "create", "--secret-name", "app/db", "--encryption-key-id", &key, "--secret-data-file", s(&f)]);

    let pw = env.write("pw", b"Passw0rd-1");
    let ck = env.ok(&client_key_create("app", s(&pw), s(&env.path("ck.json")), &[]));

    let out = env.run(&["bundle", "export", "--scope", "kst-test"]);
    assert!(out.status.success(), "{}", cli_support::stderr(&out));
    let text = cli_support::stdout(&out);
    assert!(!text.contains("do-not-export-me"));
    let b: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(b["Gateway"]["Scope"], "kst-test");
    assert_eq!(b["ApplicationAccessPoints"][0]["Name"], "app");
    assert_eq!(b["Keys"][0]["Aliases"][0], "alias/app");
    assert_eq!(b["Secrets"][0]["SecretName"], "app/db");
    assert_eq!(b["ClientKeys"][0]["ClientKeyId"], ck["ClientKeyId"]);
    assert!(b["ClientKeys"][0]["PublicKeyData"].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(!text.contains("PRIVATE") && !text.contains("PrivateKeyData"));
    // What the CLI exports, policy-core accepts.
    policy_core::compile_bundle(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));

    let path = env.path("bundle.json");
    // By default the bundle decides this data directory's instance (a `shared` scope would refuse
    // every Instance API request; shared-gateway requests are decided in scope `shared` anyway).
    let r = env.ok(&["bundle", "export", "--output", s(&path)]);
    assert_eq!(r["Scope"], super::cli_support::TEST_INSTANCE);
    assert!(r["Generation"].as_u64().unwrap() >= 7);
    let b: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(b["Gateway"]["Scope"], super::cli_support::TEST_INSTANCE);
    env.fails_with(&["bundle", "export", "--scope", "nowhere"], "InvalidParameter");
}
