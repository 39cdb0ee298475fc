#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod cli_support;
use std::os::unix::fs::PermissionsExt;

use cli_support::Env;

#[test]
fn unwired_subcommands_exit_2() {
    let env = Env::new();
    for cmd in ["init", "serve", "eval"] {
        let out = env.run(&[cmd, "--anything", "x"]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        assert!(cli_support::stderr(&out).contains("not yet wired"), "{cmd}");
    }
}

#[test]
fn data_dir_from_env_and_master_key_file() {
    let env = Env::new();
    let dir = env.path("from-env");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aapkit"))
        .env_remove("AAPKIT_MASTER_KEY")
        .env("AAPKIT_DATA_DIR", &dir)
        .args(["--json", "key", "create"])
        .output()
        .unwrap();
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
    assert!(
        cli_support::stderr(&out).contains("chmod 600"),
        "{}",
        cli_support::stderr(&out)
    );
}

#[test]
fn master_key_from_env_must_match() {
    let env = Env::new();
    let k1 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="; // 32 × 0x01
    let k2 = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="; // 32 × 0x02
    let run = |k: &str, args: &[&str]| env.command().env("AAPKIT_MASTER_KEY", k).args(args).output().unwrap();
    assert!(run(k1, &["key", "create"]).status.success());
    assert!(
        !env.data_dir().join("master.key").exists(),
        "no key file when the key comes from the environment"
    );
    assert!(run(k1, &["key", "list"]).status.success());
    let out = run(k2, &["key", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        cli_support::stderr(&out).contains("master key"),
        "{}",
        cli_support::stderr(&out)
    );
    let out = run("not-base64", &["key", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(cli_support::stderr(&out).contains("AAPKIT_MASTER_KEY"));
}

#[test]
fn concurrent_cli_writers() {
    let env = Env::new();
    env.ok(&["key", "list"]);
    let children: Vec<_> = (0..6)
        .map(|_| {
            env.command()
                .args(["key", "create"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(env.ok(&["key", "list"])["TotalCount"], 6);
}
