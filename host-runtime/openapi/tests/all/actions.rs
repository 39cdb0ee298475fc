//! Actions: the response shapes of the 3.3.1 models, validation with the parameter named, and
//! nothing half-written.

use crate::harness::{Harness, INSTANCE};

fn setup_policy(h: &Harness) {
    h.ok(
        "CreateNetworkRule",
        &[("Name", "lo"), ("Type", "Private"), ("SourcePrivateIp", "[\"127.0.0.1\",\"10.0.0.0/8\"]")],
    );
    let key = h.ok("CreateKey", &[("KeySpec", "Aliyun_AES_256")]);
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    h.ok(
        "CreatePolicy",
        &[
            ("Name", "p1"),
            ("KmsInstance", INSTANCE),
            ("Permissions", "[\"RbacPermission/Template/CryptoServiceKeyUser\"]"),
            ("Resources", &format!("[\"key/{key_id}\"]")),
            ("AccessControlRules", "{\"NetworkRules\":[\"lo\"]}"),
        ],
    );
}

#[test]
fn the_aap_family_round_trips_with_the_model_shapes() {
    let h = Harness::new();
    setup_policy(&h);
    let created = h.ok(
        "CreatePolicy",
        &[
            ("Name", "p2"),
            ("KmsInstance", INSTANCE),
            ("Permissions", "[\"RbacPermission/Template/CryptoServiceKeyUser\"]"),
            ("Resources", "[\"key/*\"]"),
            ("AccessControlRules", "{\"NetworkRules\":[\"lo\"]}"),
            ("Description", "two"),
        ],
    );
    assert!(created["Permissions"].is_string(), "CreatePolicy types the lists as JSON text: {created}");
    let described = h.ok("DescribePolicy", &[("Name", "p2")]);
    assert_eq!(described["Permissions"], serde_json::json!(["RbacPermission/Template/CryptoServiceKeyUser"]));
    assert_eq!(described["Resources"], serde_json::json!(["key/*"]));
    assert_eq!(described["AccessControlRules"], "{\"NetworkRules\":[\"lo\"]}");
    assert!(described["Arn"].as_str().unwrap().starts_with("acs:kms:cn-hangzhou:"));

    let aap = h.ok(
        "CreateApplicationAccessPoint",
        &[("Name", "app"), ("Policies", "[\"p1\",\"p2\"]"), ("AuthenticationMethod", "ClientKey")],
    );
    assert_eq!(aap["Policies"], "[\"p1\",\"p2\"]");
    let listed = h.ok("ListApplicationAccessPoints", &[]);
    assert_eq!(listed["ApplicationAccessPoints"]["ApplicationAccessPoint"][0]["Name"], "app");
    assert_eq!(listed["TotalCount"], 1);

    let ck = h.ok("CreateClientKey", &[("AapName", "app"), ("Password", "Passw0rd-1")]);
    let id = ck["ClientKeyId"].as_str().unwrap();
    assert!(id.starts_with("KAAP."));
    assert!(ck["PrivateKeyData"].as_str().unwrap().len() > 1000);
    let keys = h.ok("ListClientKeys", &[("AapName", "app")]);
    assert!(keys["ClientKeys"].is_array(), "a plain array: {keys}");
    assert_eq!(keys["ClientKeys"][0]["ClientKeyId"], id);
    let got = h.ok("GetClientKey", &[("ClientKeyId", id)]);
    assert!(got["PublicKeyData"].as_str().unwrap().contains("BEGIN CERTIFICATE"));

    h.ok("UpdatePolicy", &[("Name", "p2"), ("Resources", "[\"key/abc*\"]")]);
    assert_eq!(h.ok("DescribePolicy", &[("Name", "p2")])["Resources"], serde_json::json!(["key/abc*"]));
    let (status, code, _) = h.err("DeletePolicy", &[("Name", "p2")]);
    assert_eq!((status, code.as_str()), (409, "Rejected.ResourceInUse"));
    h.ok("DeleteClientKey", &[("ClientKeyId", id)]);
    h.ok("DeleteApplicationAccessPoint", &[("Name", "app")]);
    h.ok("DeletePolicy", &[("Name", "p2")]);
    let (status, code, _) = h.err("DescribePolicy", &[("Name", "p2")]);
    assert_eq!((status, code.as_str()), (404, "Forbidden.ResourceNotFound"));
}

#[test]
fn bad_parameters_are_named_and_leave_nothing_behind() {
    let h = Harness::new();
    setup_policy(&h);
    let (status, code, msg) = h.err(
        "CreatePolicy",
        &[
            ("Name", "bad"),
            ("KmsInstance", INSTANCE),
            ("Permissions", "RbacPermission/Template/CryptoServiceKeyUser"),
            ("Resources", "[\"key/*\"]"),
            ("AccessControlRules", "{\"NetworkRules\":[\"lo\"]}"),
        ],
    );
    assert_eq!((status, code.as_str()), (400, "InvalidParameter"));
    assert!(msg.contains("Permissions"), "{msg}");

    let (_, code, msg) =
        h.err("CreateApplicationAccessPoint", &[("Name", "a4"), ("Policies", "[\"p1\",\"p1b\",\"p1c\",\"p1d\"]")]);
    assert_eq!(code, "InvalidParameter", "{msg}");
    assert!(msg.contains("Policies"), "{msg}");

    let (_, code, msg) =
        h.err("CreateNetworkRule", &[("Name", "wide"), ("Type", "Private"), ("SourcePrivateIp", "[\"not-an-ip\"]")]);
    assert_eq!(code, "InvalidParameter");
    assert!(msg.contains("SourcePrivateIp"), "{msg}");

    h.ok("CreateApplicationAccessPoint", &[("Name", "app"), ("Policies", "[\"p1\"]")]);
    let (_, code, msg) = h.err("CreateClientKey", &[("AapName", "app"), ("Password", "short")]);
    assert_eq!(code, "InvalidParameter");
    assert!(msg.contains("Password"), "{msg}");
    let (_, code, _) = h.err("CreateClientKey", &[("AapName", "app")]);
    assert_eq!(code, "MissingParameter");

    let store = h.store();
    assert_eq!(store.list_policies().unwrap().len(), 1);
    assert_eq!(store.list_network_rules().unwrap().len(), 1);
    assert_eq!(store.list_aaps().unwrap().len(), 1);
    assert!(store.list_client_keys(None).unwrap().is_empty());
}

#[test]
fn lists_are_paged_and_wrapped() {
    let h = Harness::new();
    for i in 0..12 {
        h.ok("CreateKey", &[("Description", &format!("k{i}"))]);
    }
    let page2 = h.ok("ListKeys", &[("PageNumber", "2"), ("PageSize", "5")]);
    assert_eq!(page2["TotalCount"], 12);
    assert_eq!(page2["PageNumber"], 2);
    assert_eq!(page2["Keys"]["Key"].as_array().unwrap().len(), 5);
    assert!(page2["Keys"]["Key"][0]["KeyArn"].as_str().unwrap().contains(":key/"));
    let (_, code, msg) = h.err("ListKeys", &[("PageSize", "1000")]);
    assert_eq!(code, "InvalidParameter");
    assert!(msg.contains("PageSize"));
}

#[test]
fn keys_aliases_and_versions() {
    let h = Harness::new();
    let k = h.ok("CreateKey", &[("KeySpec", "Aliyun_AES_256"), ("Description", "main")]);
    let meta = &k["KeyMetadata"];
    let id = meta["KeyId"].as_str().unwrap().to_owned();
    assert_eq!(meta["KeyState"], "Enabled");
    assert_eq!(meta["KeyUsage"], "ENCRYPT/DECRYPT");
    assert_eq!(meta["DKMSInstanceId"], INSTANCE);
    let v = h.ok("CreateKeyVersion", &[("KeyId", &id)]);
    let versions = h.ok("ListKeyVersions", &[("KeyId", &id)]);
    assert_eq!(versions["TotalCount"], 2);
    assert_eq!(versions["KeyVersions"]["KeyVersion"][1]["KeyVersionId"], v["KeyVersion"]["KeyVersionId"]);
    let other = h.ok("CreateKey", &[])["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    h.ok("CreateAlias", &[("AliasName", "alias/main"), ("KeyId", &id)]);
    h.ok("UpdateAlias", &[("AliasName", "alias/main"), ("KeyId", &other)]);
    let by_key = h.ok("ListAliasesByKeyId", &[("KeyId", &other)]);
    assert_eq!(by_key["Aliases"]["Alias"][0]["AliasName"], "alias/main");
    assert!(by_key["Aliases"]["Alias"][0]["AliasArn"].as_str().unwrap().ends_with(":alias/main"));
    h.ok("DeleteAlias", &[("AliasName", "alias/main")]);
    h.ok("DisableKey", &[("KeyId", &id)]);
    assert_eq!(h.ok("DescribeKey", &[("KeyId", &id)])["KeyMetadata"]["KeyState"], "Disabled");
    h.ok("EnableKey", &[("KeyId", &id)]);
    h.ok("ScheduleKeyDeletion", &[("KeyId", &id), ("PendingWindowInDays", "7")]);
    assert_eq!(h.ok("DescribeKey", &[("KeyId", &id)])["KeyMetadata"]["KeyState"], "PendingDeletion");
    h.ok("CancelKeyDeletion", &[("KeyId", &id)]);
    let (_, code, _) = h.err("ScheduleKeyDeletion", &[("KeyId", &id), ("PendingWindowInDays", "3")]);
    assert_eq!(code, "InvalidParameter");
    let (status, code, _) = h.err("DescribeKey", &[("KeyId", "key-nope")]);
    assert_eq!((status, code.as_str()), (404, "Forbidden.KeyNotFound"));
    let (_, code, _) = h.err("CreateKey", &[("DKMSInstanceId", "kst-other")]);
    assert_eq!(code, "Forbidden.ResourceNotFound");
}

#[test]
fn secrets_lifecycle_with_the_value_in_a_form_body() {
    let h = Harness::new();
    let key = h.ok("CreateKey", &[])["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let r = h.send(&h.v3_with(
        "CreateSecret",
        &[("SecretName", "db/pw"), ("VersionId", "v1"), ("EncryptionKeyId", &key), ("SecretDataType", "text")],
        &[("SecretData", "s3cret value & more")],
        crate::harness::NOW,
        &h.ak,
        &h.secret,
    ));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["VersionId"], "v1");
    let put = h.send(&h.v3_with(
        "PutSecretValue",
        &[("SecretName", "db/pw"), ("VersionId", "v2")],
        &[("SecretData", "second")],
        crate::harness::NOW,
        &h.ak,
        &h.secret,
    ));
    assert_eq!(put.status, 200, "{}", put.json);
    assert_eq!(put.json["VersionStages"]["VersionStage"], serde_json::json!(["ACSCurrent"]));
    let ids = h.ok("ListSecretVersionIds", &[("SecretName", "db/pw")]);
    assert_eq!(ids["TotalCount"], 2);
    assert_eq!(ids["SecretName"], "db/pw");
    h.ok(
        "UpdateSecretVersionStage",
        &[
            ("SecretName", "db/pw"),
            ("VersionStage", "ACSCurrent"),
            ("RemoveFromVersion", "v2"),
            ("MoveToVersion", "v1"),
        ],
    );
    let list = h.ok("ListSecrets", &[]);
    assert_eq!(list["SecretList"]["Secret"][0]["SecretName"], "db/pw");
    let deleted = h.ok("DeleteSecret", &[("SecretName", "db/pw"), ("RecoveryWindowInDays", "7")]);
    assert!(deleted["PlannedDeleteTime"].as_str().unwrap().ends_with('Z'));
    assert!(h.ok("DescribeSecret", &[("SecretName", "db/pw")])["PlannedDeleteTime"].is_string());
    h.ok("RestoreSecret", &[("SecretName", "db/pw")]);
    assert!(h.ok("DescribeSecret", &[("SecretName", "db/pw")]).get("PlannedDeleteTime").is_none());
    let (_, code, _) = h.err("CreateSecret", &[("SecretName", "x"), ("VersionId", "v1"), ("EncryptionKeyId", &key)]);
    assert_eq!(code, "MissingParameter", "SecretData is required");
}

#[test]
fn the_local_instance_is_visible() {
    let h = Harness::new();
    let got = h.ok("GetKmsInstance", &[("KmsInstanceId", INSTANCE)]);
    assert_eq!(got["KmsInstance"]["InstanceId"], INSTANCE);
    assert!(got["KmsInstance"]["SecretNum"].is_string());
    assert!(got["KmsInstance"]["KeyNum"].is_number());
    let (status, code, _) = h.err("GetKmsInstance", &[("KmsInstanceId", "kst-nope")]);
    assert_eq!((status, code.as_str()), (404, "Forbidden.ResourceNotFound"));
    let list = h.ok("ListKmsInstances", &[]);
    assert_eq!(list["KmsInstances"]["KmsInstance"][0]["KmsInstanceId"], INSTANCE);
}

/// `x-aapkit-dry-run: true`: the diff of the change, and nothing written.
#[test]
fn a_dry_run_reports_the_impact_and_changes_nothing() {
    let h = Harness::new();
    setup_policy(&h);
    h.ok(
        "CreateApplicationAccessPoint",
        &[("Name", "app"), ("Policies", "[\"p1\"]"), ("AuthenticationMethod", "ClientKey")],
    );
    h.ok("CreateClientKey", &[("AapName", "app"), ("Password", "Passw0rd-1")]);
    let generation = h.store().generation().unwrap();
    let dry = [("x-aapkit-dry-run", "true")];
    let widen = [("Name", "lo"), ("SourcePrivateIp", "[\"127.0.0.1\",\"10.0.0.0/8\",\"192.168.0.0/16\"]")];
    let (ak, secret) = (h.ak.clone(), h.secret.clone());
    let r = h.send(&h.v3_full("UpdateNetworkRule", &widen, &[], crate::harness::NOW, &ak, &secret, &dry));
    assert_eq!(r.status, 200, "{}", r.json);
    let v = &r.json;
    assert_eq!(v["DryRun"], true);
    assert_eq!(v["Impact"]["Verdict"], "Widening", "{v}");
    let rows = v["Impact"]["Changes"].as_array().unwrap();
    assert!(rows.iter().all(|c| c["Addresses"]["Summary"] == "192.168.0.0/16"), "{v}");
    // Nothing changed: the rule, the generation.
    let rule = h.ok("DescribeNetworkRule", &[("Name", "lo")]);
    assert!(!rule.to_string().contains("192.168"), "{rule}");
    assert_eq!(h.store().generation().unwrap(), generation);
    // A refused change is refused in a dry run too; a dry run of a read is refused.
    let r = h.send(&h.v3_full("DeletePolicy", &[("Name", "nope")], &[], crate::harness::NOW, &ak, &secret, &dry));
    assert_eq!(r.status, 404, "{}", r.json);
    let r = h.send(&h.v3_full("ListKeys", &[], &[], crate::harness::NOW, &ak, &secret, &dry));
    assert_eq!((r.status, r.code()), (400, "InvalidParameter".to_owned()), "{}", r.json);
}
