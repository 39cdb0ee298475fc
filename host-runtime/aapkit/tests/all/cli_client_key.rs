use crate::cli_support;
use crate::cli_support::client_key_create;
use aapkit_pki::client_key::load_client_key;
use aapkit_store::{NewClientKey, Store};
use cli_support::{s, with_aap, Env};

#[test]
fn create_validates_before_generating() {
    let env = Env::new();
    with_aap(&env);
    let out = env.path("ck.json");
    let o = s(&out);
    let msg = env.fails_with(
        &["client-key", "create", "--aap", "app", "--password", "short", "--output", o],
        "InvalidParameter",
    );
    assert!(
        msg.contains("Password") && !msg.contains("short"),
        "names the parameter, never echoes the password: {msg}"
    );
    let (_, err) = env.fails(
        &["client-key", "create", "--aap", "app", "--password-env", "AAPKIT_TEST_NO_SUCH_VAR", "--output", o],
        2,
    );
    assert!(err.contains("AAPKIT_TEST_NO_SUCH_VAR"), "{err}");
    // Exactly one password source.
    assert_eq!(env.run(&["client-key", "create", "--aap", "app", "--output", o]).status.code(), Some(2));
    assert_eq!(
        env.run(&[
            "client-key",
            "create",
            "--aap",
            "app",
            "--password",
            "abcd1234",
            "--password-env",
            "X",
            "--output",
            o
        ])
        .status
        .code(),
        Some(2)
    );
    // NotBefore and NotAfter go together.
    let pw = env.write("pw", b"Passw0rd-1\n");
    assert_eq!(
        env.run(&[
            "client-key",
            "create",
            "--aap",
            "app",
            "--password-file",
            s(&pw),
            "--not-before",
            "2025-01-01T00:00:00Z",
            "--output",
            o
        ])
        .status
        .code(),
        Some(2)
    );
    let msg = env.fails_with(
        &client_key_create(
            "app",
            s(&pw),
            o,
            &["--not-before", "2026-01-01T00:00:00Z", "--not-after", "2025-01-01T00:00:00Z"],
        ),
        "InvalidParameter",
    );
    assert!(msg.contains("NotAfter"), "{msg}");
    let msg = env.fails_with(
        &client_key_create("app", s(&pw), o, &["--not-before", "yesterday", "--not-after", "2025-01-01T00:00:00Z"]),
        "InvalidParameter",
    );
    assert!(msg.contains("NotBefore"), "{msg}");
    env.fails_with(&client_key_create("ghost", s(&pw), o, &[]), "Forbidden.ResourceNotFound");
    assert!(!out.exists(), "nothing is written on failure");
}

#[test]
fn create_writes_a_private_file_and_a_public_record() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    with_aap(&env);
    let out = env.path("ck.json");
    let result = env
        .command()
        .env("CK_PW", "Passw0rd-1")
        .args(["--json", "client-key", "create", "--aap", "app", "--password-env", "CK_PW", "--output", s(&out)])
        .args(["--not-before", "2024-01-01T00:00:00Z", "--not-after", "2030-01-01T00:00:00Z"])
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", cli_support::stderr(&result));
    let v: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    let id = v["ClientKeyId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("KAAP.") && id.len() == 41, "{id}");
    assert_eq!(v["NotBefore"], "2024-01-01T00:00:00Z");
    assert_eq!(v["NotAfter"], "2030-01-01T00:00:00Z");

    // The ClientKeyContent file: mode 0600, the SDK's shape, and never echoed on stdout.
    let content: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(content["KeyId"], id.as_str());
    let pkcs12 = content["PrivateKeyData"].as_str().unwrap();
    assert!(pkcs12.len() > 1000);
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!cli_support::stdout(&result).contains(pkcs12));

    // The store holds the certificate only.
    let got = env.ok(&["client-key", "get", "--client-key-id", &id]);
    assert_eq!(got["AapName"], "app");
    assert_eq!(got["KeyAlgorithm"], "RSA_2048");
    assert!(got["PublicKeyData"].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    let db = std::fs::read(env.data_dir().join("aapkit.db")).unwrap();
    assert!(!db.windows(11).any(|w| w == b"PRIVATE KEY"));

    // The output file is never overwritten.
    let (_, err) =
        env.fails(&["client-key", "create", "--aap", "app", "--password", "Passw0rd-1", "--output", s(&out)], 2);
    assert!(err.contains("exists"), "{err}");
    assert_eq!(env.ok(&["client-key", "list", "--aap", "app"])["TotalCount"], 1);
}

#[test]
fn list_get_delete_and_limits() {
    let env = Env::new();
    with_aap(&env);
    let ids: Vec<String> = {
        let store = Store::open(&env.data_dir(), &Default::default()).unwrap();
        (0..3)
            .map(|_| {
                store
                    .insert_client_key(&NewClientKey {
                        client_key_id: format!("KAAP.{}", uuid::Uuid::new_v4()),
                        aap_name: "app".into(),
                        key_algorithm: "RSA_2048".into(),
                        public_key_data: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----".into(),
                        not_before: 1_700_000_000,
                        not_after: 1_900_000_000,
                    })
                    .unwrap()
                    .client_key_id
            })
            .collect()
    };
    let list = env.ok(&["client-key", "list", "--aap", "app"]);
    assert_eq!(list["TotalCount"], 3);
    assert_eq!(list["ClientKeys"][0]["KeyAlgorithm"], "RSA_2048");
    assert_eq!(list["ClientKeys"][0]["NotBefore"], "2023-11-14T22:13:20Z");
    assert_eq!(env.ok(&["client-key", "list"])["TotalCount"], 3);
    assert_eq!(env.ok(&["client-key", "get", "--client-key-id", &ids[0]])["AapName"], "app");

    let pw = env.write("pw", b"Passw0rd-1");
    let msg = env.fails_with(&client_key_create("app", s(&pw), s(&env.path("o")), &[]), "InvalidParameter");
    assert!(msg.contains("AapName") && msg.contains("at most 3"), "{msg}");
    assert!(!env.path("o").exists(), "a refused create writes no file");
    env.fails_with(&["aap", "delete", "--name", "app"], "Rejected.ResourceInUse");
    for id in &ids {
        env.ok(&["client-key", "delete", "--client-key-id", id, "--force"]);
    }
    env.fails_with(&["client-key", "delete", "--client-key-id", &ids[0]], "Forbidden.ResourceNotFound");
    env.fails_with(&["client-key", "list", "--aap", "ghost"], "Forbidden.ResourceNotFound");
    env.ok(&["aap", "delete", "--name", "app"]);
}

/// A validity window that has already ended is refused unless --allow-expired; the help says
/// NotBefore and NotAfter go together, and so does the behaviour.
#[test]
fn expired_window_needs_a_flag_and_dates_go_together() {
    let env = Env::new();
    with_aap(&env);
    let pw = env.write("pw", b"Passw0rd-1\n");
    let o = env.path("old.json");
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = ["client-key", "create", "--aap", "app", "--password-file", s(&pw), "--output", s(&o)]
            .iter()
            .map(|x| x.to_string())
            .collect();
        a.extend(["--not-before", "2020-01-01T00:00:00Z", "--not-after", "2021-01-01T00:00:00Z"].map(String::from));
        a.extend(extra.iter().map(|x| x.to_string()));
        a
    };
    let plain = args(&[]);
    let plain: Vec<&str> = plain.iter().map(String::as_str).collect();
    let msg = env.fails_with(&plain, "InvalidParameter");
    assert!(msg.contains("NotAfter") && msg.contains("--allow-expired"), "{msg}");
    assert!(!o.exists(), "no private key is written for a refused key");
    assert_eq!(env.ok(&["client-key", "list"])["TotalCount"], 0);
    let forced = args(&["--allow-expired"]);
    let forced: Vec<&str> = forced.iter().map(String::as_str).collect();
    let k = env.ok(&forced);
    assert_eq!(k["NotAfter"], "2021-01-01T00:00:00Z");

    // Help: both or neither, no promise that one defaults alone.
    let out = env.run(&["client-key", "create", "--help"]);
    let help = cli_support::stdout(&out);
    assert!(help.contains("--allow-expired"), "{help}");
    assert!(!help.contains("5 years after NotBefore"), "{help}");
    assert!(help.matches("or neither").count() >= 2, "{help}");
    // And the behaviour: one alone is a usage error.
    let o2 = env.path("one.json");
    let out = env.run(&client_key_create("app", s(&pw), s(&o2), &["--not-after", "2030-01-01T00:00:00Z"]));
    assert_eq!(out.status.code(), Some(2), "{}", cli_support::stderr(&out));
}

/// --password-file drops one trailing newline (documented in --help): a key made from a file
/// written by `echo` opens with the password without it.
#[test]
fn password_file_strips_one_trailing_newline() {
    let env = Env::new();
    with_aap(&env);
    let out = env.run(&["client-key", "create", "--help"]);
    assert!(cli_support::stdout(&out).contains("trailing newline"), "{}", cli_support::stdout(&out));
    let pw = env.write("pw", b"Passw0rd-1\r\n");
    let o = env.path("ck.json");
    env.ok(&client_key_create("app", s(&pw), s(&o), &[]));
    let content = std::fs::read_to_string(&o).unwrap();
    assert!(load_client_key(&content, "Passw0rd-1").is_ok(), "the password is the line without its newline");
    assert!(load_client_key(&content, "Passw0rd-1\r\n").is_err());
}
