//! Document errors, pinned: path, value and message for each kind of mistake; all errors are
//! collected; list fields accept arrays or strings holding arrays; export is canonical.

use policy_core::{compile_bundle, parse_bundle, Bundle};
use serde_json::{json, Value};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");

fn example() -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{DIR}example-bundle.json")).unwrap()).unwrap()
}

/// `(path, value, message)` of every error.
fn errors(doc: &str) -> Vec<(String, String, String)> {
    match parse_bundle(doc) {
        Ok(_) => Vec::new(),
        Err(e) => {
            e.errors().iter().map(|e| (e.path().to_owned(), e.value().to_owned(), e.message().to_owned())).collect()
        }
    }
}

fn errors_after(edit: impl FnOnce(&mut Value)) -> Vec<(String, String, String)> {
    let mut v = example();
    edit(&mut v);
    errors(&v.to_string())
}

fn one(path: &str, value: &str, message: &str) -> Vec<(String, String, String)> {
    vec![(path.into(), value.into(), message.into())]
}

#[test]
fn example_is_valid_and_round_trips() {
    let b = parse_bundle(&std::fs::read_to_string(format!("{DIR}example-bundle.json")).unwrap()).unwrap();
    // Export is the canonical array form, and parses back to the same bundle.
    let exported = b.to_json();
    assert!(!exported.contains("\"[\\\""), "lists are exported as arrays: {exported}");
    let again: Bundle = parse_bundle(&exported).unwrap();
    assert_eq!(again, b);
    assert!(b.compile().is_ok());
}

#[test]
fn docs_example_is_the_test_example() {
    let md = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/bundle-format.md")).unwrap();
    let start = md.find("<!-- example-bundle -->").expect("marker in docs/bundle-format.md");
    let rest = &md[start..];
    let json_start = rest.find("```json\n").unwrap() + 8;
    let json_end = rest[json_start..].find("```").unwrap();
    let doc: Value = serde_json::from_str(&rest[json_start..json_start + json_end]).unwrap();
    assert_eq!(doc, example());
}

#[test]
fn syntax_error() {
    let e = errors("{\"Policies\": [}");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, "$");
    assert!(e[0].2.starts_with("not valid JSON: "), "{}", e[0].2);
}

#[test]
fn unknown_and_duplicate_fields() {
    assert_eq!(
        errors(r#"{"Keys": [], "Secrets": [], "Foo": 1}"#),
        one(
            "$.Foo",
            "1",
            "unknown field `Foo`, expected one of `NetworkRules`, `Policies`, `ApplicationAccessPoints`, `ClientKeys`, `Keys`, `Secrets`, `Gateway`"
        )
    );
    assert_eq!(errors(r#"{"Keys": [], "Keys": []}"#), one("$.Keys", "[]", "duplicate key `Keys`"));
    let e = errors_after(|v| {
        v["Keys"][0]["Color"] = json!("red");
    });
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].0.as_str(), e[0].1.as_str()), ("$.Keys[0].Color", "\"red\""));
    // Duplicate keys inside a string-encoded object too.
    let e = errors_after(|v| {
        v["Policies"][0]["AccessControlRules"] = json!(r#"{"NetworkRules":["office"],"NetworkRules":["vpc-app"]}"#);
    });
    assert_eq!(
        e,
        one("$.Policies[0].AccessControlRules.NetworkRules", "[\"vpc-app\"]", "duplicate key `NetworkRules`")
    );
}

#[test]
fn type_and_format_errors() {
    assert_eq!(
        errors_after(|v| v["Policies"][1]["Resources"] = json!(["secret/app/*", "key/a*b"])),
        one("$.Policies[1].Resources[1]", "\"key/a*b\"", "`*` is allowed only as the last character")
    );
    assert_eq!(
        errors_after(|v| v["Policies"][0]["Resources"] = json!(["keys/x"])),
        one("$.Policies[0].Resources[0]", "\"keys/x\"", "a resource must start with `key/` or `secret/`")
    );
    assert_eq!(
        errors_after(|v| v["Policies"][0]["Permissions"] = json!("[\"RbacPermission/Template/KeyUser\"]")),
        one(
            "$.Policies[0].Permissions[0]",
            "\"RbacPermission/Template/KeyUser\"",
            "unknown permission, expected one of `RbacPermission/Template/CryptoServiceKeyUser`, `RbacPermission/Template/CryptoServiceSecretUser`, `RbacPermission/Template/SecretUser`"
        )
    );
    assert_eq!(
        errors_after(|v| v["NetworkRules"][0]["SourcePrivateIp"] = json!(["10.0.0.0/33"])),
        one(
            "$.NetworkRules[0].SourcePrivateIp[0]",
            "\"10.0.0.0/33\"",
            "not an IPv4/IPv6 address or CIDR block (e.g. `192.168.0.0/16`, `10.0.0.1`, `fd00::/8`)"
        )
    );
    assert_eq!(
        errors_after(|v| v["NetworkRules"][0]["SourcePrivateIp"] = json!("[\"10.0.0.0/8\"")),
        vec![(
            "$.NetworkRules[0].SourcePrivateIp".to_string(),
            "\"[\\\"10.0.0.0/8\\\"\"".to_string(),
            "expected an array or a string holding a JSON array; the string is not JSON: EOF while parsing a list at line 1 column 13".to_string()
        )]
    );
    assert_eq!(
        errors_after(|v| v["NetworkRules"][0]["Type"] = json!("Public")),
        one("$.NetworkRules[0].Type", "\"Public\"", "expected one of `Private`")
    );
    assert_eq!(
        errors_after(|v| v["ClientKeys"][0]["NotAfter"] = json!("2026-07-01 00:00:00")),
        one(
            "$.ClientKeys[0].NotAfter",
            "\"2026-07-01 00:00:00\"",
            "expected an ISO 8601 UTC time `yyyy-MM-ddTHH:mm:ssZ`"
        )
    );
    assert_eq!(
        errors_after(|v| v["Keys"][0]["KeyState"] = json!("Active")),
        one(
            "$.Keys[0].KeyState",
            "\"Active\"",
            "expected one of `Enabled`, `Disabled`, `PendingDeletion`, `PendingImport`"
        )
    );
    assert_eq!(
        errors_after(|v| v["Gateway"]["MaxSkewSeconds"] = json!(-5)),
        one("$.Gateway.MaxSkewSeconds", "-5", "expected an integer number of seconds from 1 to 86400")
    );
    assert_eq!(
        errors_after(|v| v["Secrets"] = json!({})),
        one("$.Secrets", "{}", "expected an array, found an object")
    );
    assert_eq!(
        errors_after(|v| {
            v["Policies"][0].as_object_mut().unwrap().remove("KmsInstance");
        }),
        one("$.Policies[0]", "", "missing field `KmsInstance`")
    );
}

#[test]
fn duplicates() {
    assert_eq!(
        errors_after(|v| v["Keys"][1]["KeyId"] = json!("key-app-001")),
        one("$.Keys[1].KeyId", "\"key-app-001\"", "duplicate key id `key-app-001` (first defined at $.Keys[0].KeyId)")
    );
    assert_eq!(
        errors_after(|v| v["Keys"][1]["Aliases"] = json!(["alias/app-main"])),
        one(
            "$.Keys[1].Aliases[0]",
            "\"alias/app-main\"",
            "duplicate alias `alias/app-main` (first defined at $.Keys[0].Aliases[0])"
        )
    );
    assert_eq!(
        errors_after(|v| v["Secrets"][1]["SecretName"] = json!("app/db-password")),
        one(
            "$.Secrets[1].SecretName",
            "\"app/db-password\"",
            "duplicate secret name `app/db-password` (first defined at $.Secrets[0].SecretName)"
        )
    );
    assert_eq!(
        errors_after(|v| v["NetworkRules"][1]["Name"] = json!("office")),
        vec![
            (
                "$.NetworkRules[1].Name".to_string(),
                "\"office\"".to_string(),
                "duplicate network rule name `office` (first defined at $.NetworkRules[0].Name)".to_string()
            ),
            // The references to the dropped name now dangle.
            (
                "$.Policies[0].AccessControlRules.NetworkRules[0]".to_string(),
                "\"vpc-app\"".to_string(),
                "unknown network rule `vpc-app`".to_string()
            ),
            (
                "$.Policies[1].AccessControlRules.NetworkRules[0]".to_string(),
                "\"vpc-app\"".to_string(),
                "unknown network rule `vpc-app`".to_string()
            ),
        ]
    );
    let e = errors_after(|v| v["ClientKeys"][1]["ClientKeyId"] = json!("KAAP.6b0d5f3e-2c1a-4d7e-9f00-0123456789ab"));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, "$.ClientKeys[1].ClientKeyId");
    let e = errors_after(|v| v["ApplicationAccessPoints"][1]["Name"] = json!("app"));
    assert_eq!(e[0].0, "$.ApplicationAccessPoints[1].Name");
    let e = errors_after(|v| v["Policies"][1]["Name"] = json!("app-keys"));
    assert_eq!(e[0].0, "$.Policies[1].Name");
    let e = errors_after(|v| v["Keys"][4]["KeyVersions"] = json!(["8e4f3c2a-0000-4000-8000-000000000001"]));
    assert_eq!(e, one("$.Keys[4].KeyVersions[0]", "\"8e4f3c2a-0000-4000-8000-000000000001\"", "duplicate key version id `8e4f3c2a-0000-4000-8000-000000000001` (first defined at $.Keys[0].KeyVersions[0])"));
}

#[test]
fn limits() {
    let ips: Vec<String> = (0..801).map(|i| format!("10.{}.{}.0/24", i / 256, i % 256)).collect();
    assert_eq!(
        errors_after(|v| v["NetworkRules"][0]["SourcePrivateIp"] = json!(ips)),
        one(
            "$.NetworkRules[0].SourcePrivateIp",
            "[801 entries]",
            "at most 800 IPs or CIDR blocks per network rule, found 801"
        )
    );
    let rules: Vec<String> = (0..41).map(|_| "office".to_string()).collect();
    assert_eq!(
        errors_after(|v| v["Policies"][0]["AccessControlRules"]["NetworkRules"] = json!(rules)),
        one(
            "$.Policies[0].AccessControlRules.NetworkRules",
            "[41 entries]",
            "at most 40 network rules per policy, found 41"
        )
    );
    assert_eq!(
        errors_after(|v| {
            v["Policies"].as_array_mut().unwrap().push(json!({"Name":"p4","Permissions":["RbacPermission/Template/CryptoServiceKeyUser"],"Resources":["key/*"],"KmsInstance":"kst-demo01","AccessControlRules":{"NetworkRules":[]}}));
            v["ApplicationAccessPoints"][0]["Policies"] = json!(["app-keys", "app-secrets", "shared-secrets", "p4"]);
        }),
        one("$.ApplicationAccessPoints[0].Policies", "[4 entries]", "at most 3 policies per AAP, found 4")
    );
    let e = errors_after(|v| {
        let mut k = v["ClientKeys"][0].clone();
        k["ClientKeyId"] = json!("KAAP.fourth");
        v["ClientKeys"][1]["AapName"] = json!("app");
        let mut k2 = k.clone();
        k2["ClientKeyId"] = json!("KAAP.third");
        v["ClientKeys"].as_array_mut().unwrap().push(k2);
        v["ClientKeys"].as_array_mut().unwrap().push(k);
    });
    assert_eq!(e, one("$.ClientKeys[5].AapName", "\"app\"", "at most 3 client keys per AAP"));
}

#[test]
fn references_and_semantics() {
    assert_eq!(
        errors_after(|v| v["ApplicationAccessPoints"][0]["Policies"] = json!(["app-keys", "nope"])),
        one("$.ApplicationAccessPoints[0].Policies[1]", "\"nope\"", "unknown policy `nope`")
    );
    assert_eq!(
        errors_after(|v| v["ClientKeys"][0]["AapName"] = json!("nope")),
        one("$.ClientKeys[0].AapName", "\"nope\"", "unknown AAP `nope`")
    );
    assert_eq!(
        errors_after(|v| v["Secrets"][0]["EncryptionKeyId"] = json!("key-nope")),
        one("$.Secrets[0].EncryptionKeyId", "\"key-nope\"", "unknown key id `key-nope`")
    );
    assert_eq!(
        errors_after(|v| v["Policies"][0]["KmsInstance"] = json!("instance-1")),
        one("$.Policies[0].KmsInstance", "\"instance-1\"", "expected a KMS instance id (`kst-...`) or `shared`")
    );
    assert_eq!(
        errors_after(|v| v["Policies"][0]["Permissions"] = json!(["RbacPermission/Template/SecretUser"])),
        one(
            "$.Policies[0].Permissions[0]",
            "\"RbacPermission/Template/SecretUser\"",
            "SecretUser applies only to the shared gateway (KmsInstance `shared`)"
        )
    );
    assert_eq!(
        errors_after(|v| v["Keys"][0]["KeySpec"] = json!("AES")),
        one("$.Keys[0].KeySpec", "\"AES\"", "unknown key spec, expected one of `Aliyun_AES_256`, `Aliyun_AES_192`, `Aliyun_AES_128`, `Aliyun_SM4`, `RSA_2048`, `RSA_3072`, `RSA_4096`, `EC_P256`, `EC_P256K`, `EC_SM2`")
    );
    assert_eq!(
        errors_after(|v| v["Keys"][0]["KeyVersions"] = json!(["v1"])),
        one("$.Keys[0].KeyVersions[0]", "\"v1\"", "a key version id is 36 visible ASCII characters (a UUID)")
    );
    assert_eq!(
        errors_after(|v| v["Keys"][0]["Aliases"] = json!(["app-main"])),
        one("$.Keys[0].Aliases[0]", "\"app-main\"", "an alias is `alias/` followed by a name")
    );
    assert_eq!(
        errors_after(|v| v["ClientKeys"][0]["ClientKeyId"] = json!("KAAP x")),
        one(
            "$.ClientKeys[0].ClientKeyId",
            "\"KAAP x\"",
            "a client key id is 1 to 128 of letters, digits, `.`, `_`, `-` (e.g. `KAAP.<uuid>`)"
        )
    );
    assert_eq!(
        errors_after(|v| v["ClientKeys"][0]["NotBefore"] = json!("2027-01-01T00:00:00Z")),
        one("$.ClientKeys[0].NotAfter", "\"2026-07-01T00:00:00Z\"", "NotAfter must be later than NotBefore")
    );
    assert_eq!(
        errors_after(|v| v["ApplicationAccessPoints"][1]["AuthenticationMethod"] = json!("RAMRole")),
        vec![
            (
                "$.ClientKeys[2].AapName".to_string(),
                "\"ops\"".to_string(),
                "the AAP's AuthenticationMethod is RAMRole; client keys need ClientKey".to_string()
            ),
            (
                "$.ClientKeys[3].AapName".to_string(),
                "\"ops\"".to_string(),
                "the AAP's AuthenticationMethod is RAMRole; client keys need ClientKey".to_string()
            ),
        ]
    );
    assert_eq!(
        errors_after(|v| v["Policies"][0]["Name"] = json!("app keys")),
        vec![
            (
                "$.Policies[0].Name".to_string(),
                "\"app keys\"".to_string(),
                "a policy name may contain only visible ASCII characters (no spaces)".to_string()
            ),
            (
                "$.ApplicationAccessPoints[0].Policies[0]".to_string(),
                "\"app-keys\"".to_string(),
                "unknown policy `app-keys`".to_string()
            ),
            (
                "$.ApplicationAccessPoints[1].Policies[0]".to_string(),
                "\"app-keys\"".to_string(),
                "unknown policy `app-keys`".to_string()
            ),
        ]
    );
}

#[test]
fn all_errors_are_collected_without_follow_ups() {
    let e = errors_after(|v| {
        v["Policies"][1]["Resources"] = json!(["key/a*b"]);
        v["Policies"][0] = json!(7); // a broken policy: no "unknown policy" noise for its name
        v["Keys"][0]["KeyState"] = json!("On");
        v["Secrets"][0]["Extra"] = json!(true);
        v["Gateway"]["Scope"] = json!("");
    });
    let paths: Vec<&str> = e.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(
        paths,
        ["$.Policies[0]", "$.Policies[1].Resources[0]", "$.Keys[0].KeyState", "$.Secrets[0].Extra", "$.Gateway.Scope"],
        "{e:#?}"
    );
}

#[test]
fn public_key_errors_surface_at_compile() {
    let mut v = example();
    v["ClientKeys"][0]["PublicKeyData"] = json!("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
    let e = compile_bundle(&v.to_string()).unwrap_err();
    assert_eq!(e.errors().len(), 1);
    assert_eq!(e.errors()[0].path(), "$.ClientKeys[0].PublicKeyData");
    assert!(e.errors()[0].message().starts_with("not a usable RSA public key or certificate: "));
    assert!(e.to_string().starts_with("1 error(s) in the policy bundle\n  $.ClientKeys[0].PublicKeyData: "));
}

#[test]
fn minimal_documents() {
    assert!(parse_bundle("{}").is_ok());
    assert_eq!(errors("[]"), one("$", "[]", "expected an object, found an array"));
}

/// `(path, line, column)` of every error.
fn spans(doc: &str) -> Vec<(String, u32, u32)> {
    let e = match compile_bundle(doc) {
        Ok(_) => return Vec::new(),
        Err(e) => e,
    };
    e.errors()
        .iter()
        .map(|e| {
            let s = e.span().expect("errors of a document have a span");
            assert!((s.end_line, s.end_column) >= (s.line, s.column), "{s:?}");
            (e.path().to_owned(), s.line, s.column)
        })
        .collect()
}

#[test]
fn errors_carry_the_line_and_column_of_the_value() {
    let doc = r#"{
  "NetworkRules": [
    {"Name": "n", "Type": "Private", "SourcePrivateIp": ["10.0.0.0/8",
                                                       "10.1.2.300"]}
  ],
  "Policies": [
    {
      "Name": "p",
      "Permissions": ["RbacPermission/Template/CryptoServiceKeyUser"],
      "Resources": "[\"key/a\", \"nope\"]",
      "KmsInstance": "kst-1",
      "AccessControlRules": {"NetworkRules": ["n", "missing"]}
    }
  ],
  "Keys": [{"KeyId": "k", "KeySpec": "Aliyun_AES_256", "KeyState": "Enabled", "KeyState": "Disabled"}],
  "Gateway": {"Scope": "kst-1"}
}"#;
    assert_eq!(
        spans(doc),
        [
            // a parse error: the bad item of a list
            ("$.NetworkRules[0].SourcePrivateIp[1]".to_owned(), 4, 56),
            // an item inside a string holding JSON: the string
            ("$.Policies[0].Resources[1]".to_owned(), 10, 20),
            // a duplicate key: the second occurrence
            ("$.Keys[0].KeyState".to_owned(), 15, 91),
            // a validation error
            ("$.Policies[0].AccessControlRules.NetworkRules[1]".to_owned(), 12, 52),
        ]
    );
}

#[test]
fn syntax_errors_and_missing_fields_have_a_place_too() {
    // serde_json's position of a syntax error (columns in characters, not bytes).
    assert_eq!(spans("{\n  \"Gateway\": {\"Scope\": \"é\" x}\n}"), [("$".to_owned(), 2, 28)]);
    // A missing field is reported at its object.
    assert_eq!(spans("{\"Gateway\":\n  {\"MaxSkewSeconds\": 5}}"), [("$.Gateway".to_owned(), 2, 3)]);
}

#[test]
fn public_key_errors_have_a_span_and_bundles_built_in_code_have_none() {
    let mut v = example();
    v["ClientKeys"][0]["PublicKeyData"] = json!("not a key");
    let text = serde_json::to_string_pretty(&v).unwrap();
    let line = text.lines().position(|l| l.contains("\"not a key\"")).unwrap() + 1;
    let s = spans(&text);
    assert_eq!(s.len(), 1);
    assert_eq!((s[0].0.as_str(), s[0].1 as usize), ("$.ClientKeys[0].PublicKeyData", line));

    let mut b = parse_bundle(&example().to_string()).unwrap();
    b.policies[0].name = String::new();
    let e = b.validate().unwrap_err();
    assert!(e.errors().iter().all(|e| e.span().is_none()));
}
