//! Data-driven decisions: `tests/fixtures/decisions/*.json` at the repository root (shared with
//! the wasm and browser tests; the format is in `fixture.rs`).

use policy_core::{compile_bundle, AccessRequestDoc, CompiledBundle};

use crate::fixture::{check_expect, fixture_files};

#[test]
fn decision_fixtures() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut ran = 0;
    let mut codes = std::collections::BTreeSet::new();
    for (file, fx) in fixture_files(std::path::Path::new(root)) {
        let bundle = compile_bundle(&std::fs::read_to_string(format!("{root}/{}", fx.bundle)).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", fx.bundle));
        // The same cases on the compact form a gateway's VMs load: the same reports, word for word.
        let compact = CompiledBundle::from_compact(&bundle.to_compact()).unwrap();
        for c in fx.cases {
            let r = c.request.evaluate(&bundle).unwrap_or_else(|e| panic!("{}: {e}", c.name));
            let ctx = format!("{file} / {}: {r:#?}", c.name);
            check_expect(&r, &c.expect, &ctx);
            assert_eq!(c.request.evaluate(&compact).unwrap(), r, "compact form: {ctx}");
            assert_eq!(r.message.is_some(), !r.allowed);
            if let Some(code) = r.error_code {
                codes.insert(code);
            }
            ran += 1;
        }
    }
    assert!(ran >= 30, "only {ran} cases");
    // Every code a decision can produce is covered.
    for code in [
        "Unauthorized",
        "Forbidden.NoPermission",
        "Forbidden.KeyNotFound",
        "Forbidden.ResourceNotFound",
        "Rejected.Disabled",
        "Rejected.PendingDeletion",
        "Rejected.PendingImport",
        "MissingParameter",
    ] {
        assert!(codes.contains(code), "no fixture for {code}");
    }
}

#[test]
fn deny_messages() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let bundle =
        compile_bundle(&std::fs::read_to_string(format!("{root}/policy-core/tests/data/example-bundle.json")).unwrap())
            .unwrap();
    let eval = |json: &str| serde_json::from_str::<AccessRequestDoc>(json).unwrap().evaluate(&bundle).unwrap();
    let r = eval(
        r#"{"ClientKeyId":"KAAP.6b0d5f3e-2c1a-4d7e-9f00-0123456789ab","Api":"Encrypt","Resource":"key-app-001","SourceIp":"8.8.8.8","Time":"2025-01-01T00:00:00Z"}"#,
    );
    assert_eq!(
        r.message.unwrap(),
        "This operation for \"key-app-001\" is forbidden by permission system. (Encrypt needs CryptoServiceKeyUser on the key; AAP \"app\": policy \"app-keys\" does not allow source 8.8.8.8 in its network rules; policy \"app-secrets\" does not list \"key-app-001\" in its Resources; policy \"shared-secrets\" is for scope \"shared\", not \"kst-demo01\")"
    );
    assert_eq!(r.trace[0].network, "Fail");
    assert_eq!(r.trace[2].role, "NotEvaluated");
    let r = eval(
        r#"{"ClientKeyId":"KAAP.dead0000-0000-0000-0000-000000000000","Api":"Encrypt","Resource":"key-app-001","SourceIp":"172.16.0.1","Time":"2025-01-01T00:00:00Z"}"#,
    );
    assert_eq!(
        r.message.unwrap(),
        "The AccessKey ID \"KAAP.dead0000-0000-0000-0000-000000000000\" has expired: the client key's NotAfter was 2020-01-01T00:00:00Z."
    );
    let r = eval(
        r#"{"ClientKeyId":"KAAP.6b0d5f3e-2c1a-4d7e-9f00-0123456789ab","Api":"Encrypt","Resource":"key-app-002","SourceIp":"172.16.0.1","Time":"2025-01-01T00:00:00Z"}"#,
    );
    assert_eq!(r.message.unwrap(), "The request was rejected because the key state is Disabled.");
    let r = eval(
        r#"{"ClientKeyId":"KAAP.6b0d5f3e-2c1a-4d7e-9f00-0123456789ab","Api":"GetSecretValue","Resource":"app/db-password","SourceIp":"172.16.0.1","Time":"2025-01-01T00:00:00Z"}"#,
    );
    assert_eq!(r.resource.as_deref(), Some("app/db-password"));
    assert_eq!(r.qps_group.as_deref(), Some("GetSecretValue"));
    let bad = serde_json::from_str::<AccessRequestDoc>(
        r#"{"ClientKeyId":"x","Api":"Nope","SourceIp":"1.1.1.1","Time":"2025-01-01T00:00:00Z"}"#,
    )
    .unwrap()
    .evaluate(&bundle);
    assert_eq!(bad.unwrap_err().to_string(), "Api: unknown API name `Nope`");
    assert!(serde_json::from_str::<AccessRequestDoc>(
        r#"{"ClientKeyId":"x","Api":"Encrypt","SourceIp":"1.1.1.1","Time":"t","Extra":1}"#
    )
    .is_err());
}
