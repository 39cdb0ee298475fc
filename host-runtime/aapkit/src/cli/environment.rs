//! What the CLI takes from the process environment, in one place: library code reads none, the
//! CLI reads these and passes the values in.

use zeroize::Zeroizing;

use super::CliError;
use aapkit_store::{MasterKeySource, MASTER_KEY_ENV};

/// The master key: `AAPKIT_MASTER_KEY` when set (base64 of 32 bytes), else the key file.
pub fn master_key_source() -> Result<MasterKeySource, CliError> {
    match std::env::var(MASTER_KEY_ENV) {
        Ok(v) => Ok(MasterKeySource::Base64(Zeroizing::new(v))),
        Err(std::env::VarError::NotPresent) => Ok(MasterKeySource::File),
        Err(std::env::VarError::NotUnicode(_)) => Err(CliError::Usage(format!("{MASTER_KEY_ENV} is not valid UTF-8"))),
    }
}

/// Who the management events name: `AAPKIT_ACTOR` when set, else `cli:<OS user>` (`USER`,
/// `LOGNAME`, else `uid:<n>`). The prefix tells CLI changes apart from the OpenAPI's, whose
/// events name the caller's AccessKeyId.
pub fn actor() -> String {
    if let Some(a) = std::env::var("AAPKIT_ACTOR").ok().filter(|a| !a.trim().is_empty()) {
        return a.trim().to_owned();
    }
    format!("cli:{}", os_user())
}

fn os_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Some(u) = std::env::var(var).ok().filter(|u| !u.is_empty()) {
            return u;
        }
    }
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata("/proc/self") {
        Ok(m) => format!("uid:{}", m.uid()),
        Err(_) => "unknown".to_owned(),
    }
}

/// `AAPKIT_WASM_PERFMAP` set: name the filter's functions for `perf` (build feature `wasm-profiling`).
pub fn wasm_perf_map() -> bool {
    std::env::var_os("AAPKIT_WASM_PERFMAP").is_some()
}
