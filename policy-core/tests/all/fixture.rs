//! The decision-fixture format (`tests/fixtures/decisions/*.json` at the repository root) and its
//! check, shared by policy-core's `decisions` test and the cross-crate `fixture_parity` test (which
//! includes this file by path), so both read the fixtures one way.
//!
//! Each file: `{ "bundle": "<path from the repo root>", "cases": [ { "name", "request":
//! AccessRequestDoc, "expect": { "Allowed", "ErrorCode"?, "HttpStatus"?, "Policy"?,
//! "FailedChecks"? } } ] }`; absent expectations are not checked.

use std::path::Path;

use policy_core::{AccessRequestDoc, DecisionReport, FailedCheck};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureFile {
    pub bundle: String,
    pub cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub request: AccessRequestDoc,
    pub expect: Expect,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Expect {
    pub allowed: bool,
    pub error_code: Option<String>,
    pub http_status: Option<u16>,
    pub policy: Option<String>,
    pub failed_checks: Option<Vec<FailedCheck>>,
}

/// Every fixture file under `<repo_root>/tests/fixtures/decisions`, by file name, in name order.
pub fn fixture_files(repo_root: &Path) -> Vec<(String, FixtureFile)> {
    let dir = repo_root.join("tests/fixtures/decisions");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let fx = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, fx)
        })
        .collect()
}

/// The fixture's expectations hold for `report` (absent ones are not checked).
pub fn check_expect(report: &DecisionReport, expect: &Expect, ctx: &str) {
    assert_eq!(report.allowed, expect.allowed, "{ctx}: Allowed");
    if let Some(code) = &expect.error_code {
        assert_eq!(report.error_code.as_ref(), Some(code), "{ctx}: ErrorCode");
    }
    if let Some(s) = expect.http_status {
        assert_eq!(report.http_status, s, "{ctx}: HttpStatus");
    }
    if let Some(p) = &expect.policy {
        assert_eq!(report.policy.as_ref(), Some(p), "{ctx}: Policy");
    }
    if let Some(fc) = &expect.failed_checks {
        assert_eq!(&report.failed_checks, fc, "{ctx}: FailedChecks");
    }
}
