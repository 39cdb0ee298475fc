//! Shared helpers for aapkit's cross-crate integration tests.

use std::path::PathBuf;

/// The repository root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `aapkit` binary: `AAPKIT_BIN`, else the one cargo built next to this test executable
/// (`cargo test --workspace` builds it before running any test).
pub fn aapkit_bin() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("AAPKIT_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/deps/<test> -> target/<profile>/aapkit
    let candidate = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("aapkit"))
        .ok_or("cannot locate the target directory")?;
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(format!(
            "the aapkit binary is not at {}; run `cargo build -p aapkit` or set AAPKIT_BIN",
            candidate.display()
        ))
    }
}

/// The filter module built by `scripts/build-wasm.sh`.
pub fn filter_wasm() -> Result<PathBuf, String> {
    let p = match std::env::var_os("AAPKIT_FILTER_WASM") {
        Some(p) => PathBuf::from(p),
        None => {
            let target =
                std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"));
            target.join("wasm32-wasip1/wasm-release/aapkit_filter.wasm")
        }
    };
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "the filter module is not at {}; build it with scripts/build-wasm.sh or set AAPKIT_FILTER_WASM",
            p.display()
        ))
    }
}

/// The Python of the venv with the official SDK (made by .ci/setup.sh).
pub fn sdk_python() -> Result<PathBuf, String> {
    let p = match std::env::var_os("AAPKIT_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => {
            let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
            PathBuf::from(home).join(".cache/aapkit/venv/bin/python")
        }
    };
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!("no Python venv with the KMS SDK at {}; run .ci/setup.sh or set AAPKIT_PYTHON", p.display()))
    }
}
