use crate::cli_support;
use cli_support::{s, Env};

#[test]
fn secrets_create_put_describe() {
    let env = Env::new();
    let key = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    let f = env.write("v1.txt", b"hunter2-first");
    let c = env.ok(&[
        "secret",
        "create",
        "--secret-name",
        "app/db",
        "--encryption-key-id",
        &key,
        "--secret-data-file",
        s(&f),
        "--version-id",
        "v1",
        "--description",
        "database",
    ]);
    assert_eq!(c["SecretName"], "app/db");
    assert_eq!(c["EncryptionKeyId"], key.as_str());
    assert_eq!(c["Versions"][0]["VersionStages"], serde_json::json!(["ACSCurrent"]));

    // --secret-data works but warns about the process list.
    let out = env
        .command()
        .args([
            "--json",
            "secret",
            "put-value",
            "--secret-name",
            "app/db",
            "--secret-data",
            "hunter2-second",
            "--version-id",
            "v2",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", cli_support::stderr(&out));
    assert!(cli_support::stderr(&out).contains("warning"));
    let put: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(put["VersionId"], "v2");
    assert_eq!(put["VersionStages"], serde_json::json!(["ACSCurrent"]));

    let d = env.ok(&["secret", "describe", "--secret-name", "app/db"]);
    let stages: Vec<_> = d["Versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["VersionId"].clone(), v["VersionStages"].clone()))
        .collect();
    assert_eq!(stages[0], (serde_json::json!("v1"), serde_json::json!(["ACSPrevious"])));
    assert_eq!(stages[1], (serde_json::json!("v2"), serde_json::json!(["ACSCurrent"])));
    let raw = cli_support::stdout(&env.run(&["--json", "secret", "describe", "--secret-name", "app/db"]));
    assert!(!raw.contains("hunter2"), "values are never printed");
    let human = cli_support::stdout(&env.run(&["secret", "describe", "--secret-name", "app/db"]));
    assert!(human.contains("ACSPrevious") && !human.contains("hunter2"), "{human}");

    env.fails_with(
        &["secret", "put-value", "--secret-name", "app/db", "--secret-data-file", s(&f), "--version-id", "v1"],
        "Rejected.ResourceExist",
    );
    let custom = env.ok(&[
        "secret",
        "put-value",
        "--secret-name",
        "app/db",
        "--secret-data-file",
        s(&f),
        "--version-stages",
        r#"["Canary"]"#,
    ]);
    assert_eq!(custom["VersionStages"], serde_json::json!(["Canary"]));

    // Binary values: base64 on the command line.
    let b = env.ok(&[
        "secret",
        "create",
        "--secret-name",
        "bin",
        "--encryption-key-id",
        &key,
        "--secret-data-type",
        "binary",
        "--secret-data",
        "AAECAw==",
    ]);
    assert_eq!(b["Versions"][0]["SecretDataType"], "binary");
    let (_, err) = env.fails(
        &[
            "secret",
            "create",
            "--secret-name",
            "bin2",
            "--encryption-key-id",
            &key,
            "--secret-data-type",
            "binary",
            "--secret-data",
            "%%%",
        ],
        2,
    );
    assert!(err.contains("base64"), "{err}");

    assert_eq!(env.ok(&["secret", "list"])["TotalCount"], 2);
    env.fails_with(&["secret", "describe", "--secret-name", "nope"], "Forbidden.ResourceNotFound");
    env.fails_with(
        &["secret", "create", "--secret-name", "x", "--encryption-key-id", "key-nope", "--secret-data-file", s(&f)],
        "Forbidden.KeyNotFound",
    );
    let msg = env.fails_with(
        &["secret", "create", "--secret-name", "bad name", "--encryption-key-id", &key, "--secret-data-file", s(&f)],
        "InvalidParameter",
    );
    assert!(msg.contains("SecretName"), "{msg}");
    // A value source is required, and only one.
    assert_eq!(
        env.run(&["secret", "create", "--secret-name", "x", "--encryption-key-id", &key]).status.code(),
        Some(2)
    );
}

/// --secret-data-file keeps every byte, a trailing newline included (binary-safe, no guessing);
/// a text value ending in a newline gets a warning, and --help says so.
#[test]
fn secret_data_file_keeps_the_trailing_newline_and_warns() {
    use aapkit_kms::keyring::KeyRing;
    let env = Env::new();
    let help = cli_support::stdout(&env.run(&["secret", "create", "--help"]));
    assert!(help.contains("trailing newline"), "{help}");
    let key = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    let f = env.write("v.txt", b"hunter2\n");
    let out = env
        .command()
        .args(["--json", "secret", "create", "--secret-name", "nl", "--encryption-key-id", &key])
        .args(["--secret-data-file", s(&f)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", cli_support::stderr(&out));
    let err = cli_support::stderr(&out);
    assert!(err.contains("newline") && err.contains("kept"), "{err}");
    let g = env.write("w.txt", b"no-newline");
    let out = env
        .command()
        .args(["--json", "secret", "create", "--secret-name", "plain", "--encryption-key-id", &key])
        .args(["--secret-data-file", s(&g)])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!cli_support::stderr(&out).contains("newline"), "no warning without a newline");

    let store = aapkit_store::Store::open(&env.data_dir(), &Default::default()).unwrap();
    let v = store.secret_value("nl", None, None).unwrap().unwrap();
    assert_eq!(&v.data[..], b"hunter2\n");
}
