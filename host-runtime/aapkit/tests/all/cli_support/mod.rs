//! Runs the built `aapkit` binary against a temporary data directory.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub struct Env {
    pub dir: tempfile::TempDir,
    /// `--store` for every command (`None`: the data directory's SQLite database).
    pub store: Option<String>,
}

/// The instance id `Env::new` initialises with (the scope `with_aap`'s policy names).
pub const TEST_INSTANCE: &str = "kst-test";

impl Env {
    /// A temporary data directory, initialised (`aapkit init`): commands refuse to run before.
    pub fn new() -> Env {
        let env = Env::bare();
        env.ok(&["init", "--instance-id", TEST_INSTANCE]);
        env
    }

    /// A temporary directory whose data directory does not exist yet (tests of `init` itself).
    pub fn bare() -> Env {
        Env { dir: tempfile::tempdir().unwrap(), store: None }
    }

    /// Like [`Env::bare`], with every command on the store at `url`.
    pub fn bare_on(url: &str) -> Env {
        Env { dir: tempfile::tempdir().unwrap(), store: Some(url.to_owned()) }
    }

    /// Another gateway of the same deployment: a copy of this data directory (master key, CA,
    /// server certificate, instance id) on the same store.
    pub fn copy(&self) -> Env {
        let other = Env { dir: tempfile::tempdir().unwrap(), store: self.store.clone() };
        let status = Command::new("cp").arg("-a").arg(self.data_dir()).arg(other.data_dir()).status().unwrap();
        assert!(status.success());
        other
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_aapkit"));
        c.env_remove("AAPKIT_MASTER_KEY")
            .env_remove("AAPKIT_DATA_DIR")
            .env_remove("AAPKIT_ACTOR")
            .arg("--data-dir")
            .arg(self.data_dir());
        // Tests run gateways side by side: each one's KMS endpoint on a port of its own.
        c.env("AAPKIT_OPENAPI_LISTEN", "127.0.0.1:0");
        match &self.store {
            Some(url) => c.env("AAPKIT_STORE", url),
            None => c.env_remove("AAPKIT_STORE"),
        };
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// Runs with `--json`, expects success, returns the parsed stdout.
    pub fn ok(&self, args: &[&str]) -> Value {
        let out = self.command().arg("--json").args(args).output().unwrap();
        assert!(out.status.success(), "{args:?} failed: {}\n{}", stderr(&out), stdout(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {}", stdout(&out)))
    }

    /// Runs with `--json`, expects exit code `code`; returns the `{"Code","Message"}` object and stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> (Value, String) {
        let out = self.command().arg("--json").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}\n{}", stderr(&out), stdout(&out));
        let err = stderr(&out);
        assert!(!err.trim().is_empty(), "{args:?}: an error must be explained on stderr");
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (v, err)
    }

    /// Fails with exit 1 and the given Alibaba error code; returns the message.
    pub fn fails_with(&self, args: &[&str], code: &str) -> String {
        let (v, _) = self.fails(args, 1);
        assert_eq!(v["Code"], code, "{args:?}: {v}");
        v["Message"].as_str().unwrap().to_owned()
    }

    pub fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `client-key create --aap AAP --password-file PASSWORD --output OUTPUT` and `extra`.
pub fn client_key_create<'a>(aap: &'a str, password: &'a str, output: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["client-key", "create", "--aap", aap, "--password-file", password, "--output", output];
    args.extend_from_slice(extra);
    args
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A network rule `r1`, a policy `p1` (scope kst-test) and an AAP `app`.
pub fn with_aap(env: &Env) {
    env.ok(&["network-rule", "create", "--name", "r1", "--source-private-ip", "10.0.0.0/8"]);
    env.ok(&[
        "policy",
        "create",
        "--name",
        "p1",
        "--kms-instance",
        "kst-test",
        "--permissions",
        "RbacPermission/Template/CryptoServiceKeyUser",
        "--resources",
        "key/*",
        "--network-rules",
        "r1",
    ]);
    env.ok(&["aap", "create", "--name", "app", "--policies", "p1"]);
}
