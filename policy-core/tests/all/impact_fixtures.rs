//! Change-impact fixture pairs (`tests/fixtures/impact/*.json`, made by `generate.py` there): each
//! change's report, rendered as rows, against the reviewed expectation beside it
//! (`*.expected.txt`), and the verdict the rows imply. `UPDATE_EXPECT=1` rewrites the expectations
//! (then review the diff).

use policy_core::compile_bundle;
use policy_core::impact::{diff_bundles, format_report, Verdict};
use serde_json::Value;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

#[test]
fn fixture_pairs_report_their_expected_rows() {
    let dir = format!("{ROOT}/tests/fixtures/impact");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{name}")).unwrap()).unwrap();
        let old = std::fs::read_to_string(format!("{ROOT}/{}", case["Old"].as_str().unwrap())).unwrap();
        let old = compile_bundle(&old).unwrap();
        let new = compile_bundle(&case["New"].to_string()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let report = diff_bundles(&old, &new);
        let text = format_report(&report);
        let expected_path = format!("{dir}/{}", name.replace(".json", ".expected.txt"));
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&expected_path, &text).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|e| panic!("{expected_path}: {e}"));
        assert_eq!(text, expected, "{name}: {}", case["Comment"]);
        let widens = report.changes.iter().any(|c| c.widens());
        assert_eq!(report.verdict == Verdict::Widening, widens, "{name}");
        assert!(!report.changes.is_empty(), "{name}: a fixture change must change something");
    }
}
