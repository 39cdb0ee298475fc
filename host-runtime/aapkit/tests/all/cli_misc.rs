use crate::cli_support;
use std::os::unix::fs::PermissionsExt;

use cli_support::Env;

#[test]
fn init_then_serve_preconditions() {
    let env = Env::bare();
    // serve before init: a usage error that says what to do.
    let out = env.run(&["serve", "--enforcer", "native"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(cli_support::stderr(&out).contains("init"), "{}", cli_support::stderr(&out));

    let out = env.run(&["--json", "init", "--instance-id", "kst-clitest0000001"]);
    assert!(out.status.success(), "{}", cli_support::stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["InstanceId"], "kst-clitest0000001");
    for f in ["ca.pem", "server.pem", "server.key", "instance.json", "master.key", "aapkit.db"] {
        assert!(env.data_dir().join(f).exists(), "{f}");
    }
    // A second init with another instance id is refused; with the same id it is a no-op refusal
    // to overwrite the CA.
    let out = env.run(&["init", "--instance-id", "kst-other000000001"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(cli_support::stderr(&out).contains("already serves"), "{}", cli_support::stderr(&out));
    let out = env.run(&["init"]);
    assert_eq!(out.status.code(), Some(2));

    // Bad instance ids are rejected with the parameter named.
    let env2 = Env::bare();
    let out = env2.run(&["init", "--instance-id", "shared"]);
    assert_ne!(out.status.code(), Some(0));
    let out = env2.run(&["init", "--instance-id", "not-an-instance"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(cli_support::stderr(&out).contains("InstanceId"), "{}", cli_support::stderr(&out));
}

#[test]
fn data_dir_from_env_and_master_key_file() {
    let env = Env::bare();
    let dir = env.path("from-env");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_aapkit"))
            .env_remove("AAPKIT_MASTER_KEY")
            .env("AAPKIT_DATA_DIR", &dir)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--json", "init", "--instance-id", "kst-fromenv"]);
    assert!(out.status.success(), "{}", cli_support::stderr(&out));
    let out = run(&["--json", "key", "create"]);
    assert!(out.status.success(), "{}", cli_support::stderr(&out));
    let key = dir.join("master.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert!(dir.join("aapkit.db").exists());

    // A master key readable by others is refused.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aapkit"))
        .env_remove("AAPKIT_MASTER_KEY")
        .args(["--data-dir", dir.to_str().unwrap(), "key", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(cli_support::stderr(&out).contains("chmod 600"), "{}", cli_support::stderr(&out));
}

#[test]
fn master_key_from_env_must_match() {
    let env = Env::bare();
    let k1 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="; // 32 × 0x01
    let k2 = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="; // 32 × 0x02
    let run = |k: &str, args: &[&str]| env.command().env("AAPKIT_MASTER_KEY", k).args(args).output().unwrap();
    assert!(run(k1, &["init", "--instance-id", "kst-envkey"]).status.success());
    assert!(run(k1, &["key", "create"]).status.success());
    assert!(!env.data_dir().join("master.key").exists(), "no key file when the key comes from the environment");
    assert!(run(k1, &["key", "list"]).status.success());
    let out = run(k2, &["key", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(cli_support::stderr(&out).contains("master key"), "{}", cli_support::stderr(&out));
    let out = run("not-base64", &["key", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(cli_support::stderr(&out).contains("AAPKIT_MASTER_KEY"));
}

#[test]
fn concurrent_cli_writers() {
    let env = Env::new();
    env.ok(&["key", "list"]);
    let children: Vec<_> = (0..6)
        .map(|_| env.command().args(["key", "create"]).stdout(std::process::Stdio::null()).spawn().unwrap())
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(env.ok(&["key", "list"])["TotalCount"], 6);
}

/// Every store command before `init` says to run it, exits non-zero, and creates nothing.
#[test]
fn commands_before_init_refuse_and_create_nothing() {
    let env = Env::bare();
    for args in [
        &["key", "list"][..],
        &["key", "create"],
        &["secret", "list"],
        &["network-rule", "list"],
        &["aap", "list"],
        &["client-key", "list"],
        &["audit", "events"],
        &["purge"],
        &["access-key", "list"],
        &["access-key", "create"],
        &["account"],
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", cli_support::stderr(&out));
        let err = cli_support::stderr(&out);
        assert!(err.contains("aapkit") && err.contains("init` first"), "{args:?}: {err}");
        assert!(!env.data_dir().exists(), "{args:?} created {}", env.data_dir().display());
    }
    // Also when the directory exists but holds no database: nothing is created inside it.
    std::fs::create_dir(env.data_dir()).unwrap();
    let out = env.run(&["key", "create"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_dir(env.data_dir()).unwrap().count(), 0, "nothing may be created");
}
