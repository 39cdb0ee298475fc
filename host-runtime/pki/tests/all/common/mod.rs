//! Helpers shared by the pki integration tests: external tools and verification.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

/// Runs a command, panics with its output if it fails, returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail; returns stdout + stderr.
pub fn run_failing(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(!out.status.success(), "{cmd:?} unexpectedly succeeded");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

pub fn openssl() -> Command {
    Command::new("openssl")
}

/// The venv Python with the official SDK (`AAPKIT_PYTHON`, default the CI venv). Missing is a
/// failure, not a skip: this is the test that proves the SDK loads our files.
pub fn sdk_python() -> PathBuf {
    let path = std::env::var_os("AAPKIT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root/.cache/aapkit/venv/bin/python"));
    assert!(
        path.exists(),
        "SDK Python not found at {}: create it with `python3 -m venv /root/.cache/aapkit/venv && \
         /root/.cache/aapkit/venv/bin/pip install 'alibabacloud-dkms-gcs==1.0.2' 'cryptography>=41,<42'` \
         or set AAPKIT_PYTHON",
        path.display()
    );
    path
}

/// Verifies an RSA PKCS#1 v1.5 SHA-256 signature with a SubjectPublicKeyInfo.
pub fn verify_rsa_sha256(spki: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, spki).verify(message, signature).is_ok()
}

pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

pub fn data_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}
