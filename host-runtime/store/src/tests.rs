#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::*;
use aapkit_kms::keyring::{KeyRing, KeySpec, KeyState, SecretDataType};

fn open(dir: &Path, key: &MasterKey) -> Store {
    Store::open_with_key(dir, key).unwrap()
}

fn fresh() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &MasterKey::generate().unwrap());
    (dir, store)
}

fn text(v: &str) -> SecretValueInput {
    SecretValueInput {
        data: Zeroizing::new(v.as_bytes().to_vec()),
        data_type: SecretDataType::Text,
        version_id: None,
        version_stages: vec![],
    }
}

fn rule(name: &str, ips: &[&str]) -> NetworkRuleInput {
    NetworkRuleInput {
        name: name.into(),
        network_type: "Private".into(),
        source_private_ip: ips.iter().map(|s| s.to_string()).collect(),
        description: String::new(),
    }
}

fn policy(name: &str, rules: &[&str]) -> PolicyInput {
    PolicyInput {
        name: name.into(),
        permissions: vec!["RbacPermission/Template/CryptoServiceKeyUser".into()],
        resources: vec!["key/*".into()],
        kms_instance: "kst-test".into(),
        network_rules: rules.iter().map(|s| s.to_string()).collect(),
        description: String::new(),
    }
}

fn aap(name: &str, policies: &[&str]) -> AapInput {
    AapInput {
        name: name.into(),
        policies: policies.iter().map(|s| s.to_string()).collect(),
        authentication_method: "ClientKey".into(),
        description: String::new(),
    }
}

const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

fn client_key(aap: &str) -> NewClientKey {
    NewClientKey {
        client_key_id: format!("KAAP.{}", uuid::Uuid::new_v4()),
        aap_name: aap.into(),
        key_algorithm: "RSA_2048".into(),
        public_key_data: CERT.into(),
        not_before: 1_700_000_000,
        not_after: 1_900_000_000,
    }
}

/// A network rule, a policy and an AAP named `app`.
fn with_aap(store: &Store) {
    store.create_network_rule(&rule("r1", &["10.0.0.0/8"])).unwrap();
    store.create_policy(&policy("p1", &["r1"])).unwrap();
    store.create_aap(&aap("app", &["p1"])).unwrap();
}

#[test]
fn seal_round_trip_and_aad_binding() {
    let k = MasterKey::generate().unwrap();
    let s = seal::Sealer::new(&k).unwrap();
    let blob = s.seal("row/a", b"material").unwrap();
    assert_eq!(s.open("row/a", &blob).unwrap().as_slice(), b"material");
    assert!(s.open("row/b", &blob).is_err(), "AAD must bind the blob to its row");
    let other = seal::Sealer::new(&MasterKey::generate().unwrap()).unwrap();
    assert!(other.open("row/a", &blob).is_err());
    let mut tampered = blob.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(s.open("row/a", &tampered).is_err());
    assert!(s.open("row/a", &blob[..10]).is_err());
    assert!(s.open("row/a", &[]).is_err());
    // Nonces are random: equal plaintexts give different blobs.
    assert_ne!(blob, s.seal("row/a", b"material").unwrap());
}

#[test]
fn wrong_master_key_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let k1 = MasterKey::generate().unwrap();
    drop(open(dir.path(), &k1));
    let err = Store::open_with_key(dir.path(), &MasterKey::generate().unwrap()).err().unwrap();
    assert!(matches!(err, StoreError::MasterKey(_)), "{err}");
    assert!(err.to_string().contains("not the master key"), "{err}");
    assert!(Store::open_with_key(dir.path(), &k1).is_ok());
}

#[test]
fn master_key_file_is_created_private_and_wide_modes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(seal::MASTER_KEY_FILE);
    let k1 = MasterKey::load_or_create_file(&path).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let k2 = MasterKey::load_or_create_file(&path).unwrap();
    assert_eq!(k1.0[..], k2.0[..], "the second load reads the same key");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let err = MasterKey::load_or_create_file(&path).err().unwrap();
    assert!(err.to_string().contains("0644"), "{err}");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(&path, b"short").unwrap();
    assert!(MasterKey::load_or_create_file(&path).is_err());
}

#[test]
fn master_key_from_base64() {
    assert!(
        MasterKey::from_base64(&base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32])).is_ok()
    );
    assert!(MasterKey::from_base64("AAAA").is_err());
    assert!(MasterKey::from_base64("not base64!").is_err());
}

#[test]
fn swapped_sealed_blobs_do_not_open() {
    let (_d, store) = fresh();
    let a = store.create_key(None, "").unwrap();
    let b = store.create_key(None, "").unwrap();
    assert!(store.keyring_snapshot().is_ok());
    {
        let conn = store.lock();
        let blob_a: Vec<u8> =
            conn.query_row("SELECT sealed FROM key_versions WHERE key_id = ?1", [&a.key_id], |r| r.get(0)).unwrap();
        conn.execute("UPDATE key_versions SET sealed = ?1 WHERE key_id = ?2", rusqlite::params![blob_a, b.key_id])
            .unwrap();
        conn.execute("UPDATE meta SET value = value + 1 WHERE name = 'generation'", []).unwrap();
    }
    let err = store.keyring_snapshot().err().unwrap();
    assert!(matches!(err, StoreError::Unseal(_)), "{err}");
    assert!(store.resolve_key(&a.key_id).is_err(), "the request path sees a store error, not wrong material");
}

#[test]
fn generation_bumps_on_writes_only() {
    let (_d, store) = fresh();
    let g0 = store.generation().unwrap();
    let k = store.create_key(None, "").unwrap();
    let g1 = store.generation().unwrap();
    assert_eq!(g1, g0 + 1);
    store.list_keys().unwrap();
    store.describe_key(&k.key_id).unwrap();
    assert_eq!(store.generation().unwrap(), g1);
    // A refused write changes nothing.
    assert!(store.create_alias("bad", &k.key_id).is_err());
    assert!(store.delete_alias("alias/none").is_err());
    assert_eq!(store.generation().unwrap(), g1);
    store.create_alias("alias/a", &k.key_id).unwrap();
    assert_eq!(store.generation().unwrap(), g1 + 1);
}

#[test]
fn writes_survive_reopen_and_are_seen_by_other_handles() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate().unwrap();
    let reader = open(dir.path(), &key);
    let g = reader.generation().unwrap();
    let (key_id, version) = {
        let writer = open(dir.path(), &key);
        let k = writer.create_key(Some("EC_P256"), "durable").unwrap();
        writer.create_secret("db/password", &writer.create_key(None, "").unwrap().key_id, "", text("s3cret")).unwrap();
        (k.key_id, k.primary_key_version)
    };
    assert_eq!(reader.generation().unwrap(), g + 3, "another process's writes are visible");
    drop(reader);
    let store = open(dir.path(), &key);
    let k = store.describe_key(&key_id).unwrap();
    assert_eq!(k.description, "durable");
    let rec = store.resolve_key(&key_id).unwrap().unwrap();
    assert_eq!(rec.spec, KeySpec::EcP256);
    assert!(!rec.version(&version).unwrap().material.is_empty());
    let s = store.secret_value("db/password", None, None).unwrap().unwrap();
    assert_eq!(s.data.as_slice(), b"s3cret");
    let mode = fs::metadata(dir.path().join(DB_FILE)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let journal: String = store.lock().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(journal, "wal");
    let sync: i64 = store.lock().query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
}

#[test]
fn schema_from_the_future_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate().unwrap();
    open(dir.path(), &key).lock().execute("UPDATE meta SET value = 99 WHERE name = 'schema_version'", []).unwrap();
    let err = Store::open_with_key(dir.path(), &key).err().unwrap();
    assert!(matches!(err, StoreError::SchemaTooNew { found: 99, .. }), "{err}");
}

#[test]
fn key_lifecycle() {
    let (_d, store) = fresh();
    let k = store.create_key(None, "main").unwrap();
    assert_eq!(k.key_spec, "Aliyun_AES_256");
    assert_eq!(k.key_state, "Enabled");
    assert!(k.key_id.starts_with("key-"));
    assert_eq!(k.primary_key_version.len(), 36);
    assert_eq!(store.disable_key(&k.key_id).unwrap().key_state, "Disabled");
    assert_eq!(store.resolve_key(&k.key_id).unwrap().unwrap().state, KeyState::Disabled);
    assert_eq!(store.enable_key(&k.key_id).unwrap().key_state, "Enabled");
    for bad in [0, 6, 367] {
        let err = store.schedule_key_deletion(&k.key_id, bad).err().unwrap();
        assert!(err.to_string().contains("PendingWindowInDays"), "{err}");
    }
    let pending = store.schedule_key_deletion(&k.key_id, 7).unwrap();
    assert_eq!(pending.key_state, "PendingDeletion");
    assert!(pending.delete_date.is_some());
    assert!(store.enable_key(&k.key_id).is_err());
    assert!(store.rotate_key(&k.key_id).is_err());
    assert_eq!(store.cancel_key_deletion(&k.key_id).unwrap().key_state, "Enabled");
    assert!(store.cancel_key_deletion(&k.key_id).is_err());

    let rotated = store.rotate_key(&k.key_id).unwrap();
    assert_eq!(rotated.key_versions.len(), 2);
    assert_eq!(rotated.initial_key_version, k.primary_key_version);
    assert_ne!(rotated.primary_key_version, k.primary_key_version);
    let rec = store.key_by_version(&k.primary_key_version).unwrap().unwrap();
    assert_eq!(rec.key_id, k.key_id);
    assert_eq!(rec.primary_version_id, rotated.primary_key_version);
    assert_ne!(rec.versions[0].material.as_slice(), rec.versions[1].material.as_slice());
    assert_eq!(rec.versions[0].material.len(), 32);

    let rsa = store.create_key(Some("RSA_2048"), "").unwrap();
    assert!(store.rotate_key(&rsa.key_id).is_err(), "asymmetric keys are not rotated");
    let err = store.create_key(Some("AES_128"), "").err().unwrap();
    assert!(err.to_string().contains("KeySpec") && err.to_string().contains("AES_128"), "{err}");
    let err = store.describe_key("key-missing").err().unwrap();
    assert_eq!(err.code(), "Forbidden.KeyNotFound");
}

#[test]
fn expired_pending_deletion_is_gone() {
    let (_d, store) = fresh();
    let k = store.create_key(None, "").unwrap();
    store.create_alias("alias/old", &k.key_id).unwrap();
    store.schedule_key_deletion(&k.key_id, 7).unwrap();
    store.lock().execute("UPDATE keys SET deletion_date = 1 WHERE id = ?1", [&k.key_id]).unwrap();
    assert!(store.describe_key(&k.key_id).is_err());
    assert!(store.list_keys().unwrap().is_empty());
    assert!(store.list_aliases(None).unwrap().is_empty());
    // The alias name is free again.
    let k2 = store.create_key(None, "").unwrap();
    store.create_alias("alias/old", &k2.key_id).unwrap();
    assert_eq!(store.resolve_key("alias/old").unwrap().unwrap().key_id, k2.key_id);
}

#[test]
fn aliases() {
    let (_d, store) = fresh();
    let k = store.create_key(None, "").unwrap();
    let a = store.create_alias("alias/app-key", &k.key_id).unwrap();
    assert_eq!(a.key_id, k.key_id);
    let err = store.create_alias("alias/app-key", &k.key_id).err().unwrap();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    assert!(store.create_alias("app-key", &k.key_id).is_err());
    assert_eq!(store.create_alias("alias/x", "key-nope").err().unwrap().code(), "Forbidden.KeyNotFound");
    assert_eq!(store.describe_key("alias/app-key").unwrap().key_id, k.key_id);
    assert_eq!(store.describe_key(&k.key_id).unwrap().aliases, vec!["alias/app-key".to_string()]);
    assert_eq!(store.resolve_key("alias/app-key").unwrap().unwrap().key_id, k.key_id);
    assert_eq!(store.list_aliases(Some(&k.key_id)).unwrap().len(), 1);
    store.delete_alias("alias/app-key").unwrap();
    assert!(store.resolve_key("alias/app-key").unwrap().is_none());
    assert!(store.delete_alias("alias/app-key").is_err());
}

#[test]
fn secrets_and_stages() {
    let (_d, store) = fresh();
    let k = store.create_key(None, "").unwrap();
    let s = store
        .create_secret("app/db", &k.key_id, "db", SecretValueInput { version_id: Some("v1".into()), ..text("one") })
        .unwrap();
    assert_eq!(s.versions.len(), 1);
    assert_eq!(s.versions[0].version_stages, vec!["ACSCurrent"]);
    assert!(store.create_secret("app/db", &k.key_id, "", text("x")).is_err());
    let v2 =
        store.put_secret_value("app/db", SecretValueInput { version_id: Some("v2".into()), ..text("two") }).unwrap();
    assert_eq!(v2.version_stages, vec!["ACSCurrent"]);
    store.put_secret_value("app/db", SecretValueInput { version_id: Some("v3".into()), ..text("three") }).unwrap();
    let d = store.describe_secret("app/db").unwrap();
    let stages: Vec<_> = d.versions.iter().map(|v| (v.version_id.as_str(), v.version_stages.clone())).collect();
    assert_eq!(
        stages,
        vec![("v1", vec![]), ("v2", vec!["ACSPrevious".to_string()]), ("v3", vec!["ACSCurrent".to_string()])]
    );
    assert_eq!(store.secret_value("app/db", None, None).unwrap().unwrap().data.as_slice(), b"three");
    assert_eq!(store.secret_value("app/db", None, Some("ACSPrevious")).unwrap().unwrap().data.as_slice(), b"two");
    assert_eq!(store.secret_value("app/db", Some("v1"), None).unwrap().unwrap().data.as_slice(), b"one");
    assert!(store
        .put_secret_value("app/db", SecretValueInput { version_id: Some("v1".into()), ..text("dup") })
        .is_err());
    // A custom stage moves without touching ACSCurrent.
    store
        .put_secret_value(
            "app/db",
            SecretValueInput { version_id: Some("v4".into()), version_stages: vec!["Canary".into()], ..text("four") },
        )
        .unwrap();
    assert_eq!(store.secret_value("app/db", None, None).unwrap().unwrap().data.as_slice(), b"three");
    assert_eq!(store.secret_value("app/db", None, Some("Canary")).unwrap().unwrap().data.as_slice(), b"four");

    let bin = SecretValueInput {
        data: Zeroizing::new(vec![0, 159, 146, 150]),
        data_type: SecretDataType::Binary,
        version_id: None,
        version_stages: vec![],
    };
    store.create_secret("bin", &k.key_id, "", bin).unwrap();
    let rec = store.secret_value("bin", None, None).unwrap().unwrap();
    assert_eq!(rec.data_type, SecretDataType::Binary);
    assert_eq!(rec.encryption_key_id, k.key_id);
    let not_utf8 = SecretValueInput { data_type: SecretDataType::Text, ..bin_value() };
    assert!(store.create_secret("t", &k.key_id, "", not_utf8).is_err());
    let big = SecretValueInput { data: Zeroizing::new(vec![b'a'; validate::MAX_SECRET_BYTES + 1]), ..text("") };
    assert!(store.create_secret("big", &k.key_id, "", big).is_err());

    let rsa = store.create_key(Some("EC_P256"), "").unwrap();
    let err = store.create_secret("s2", &rsa.key_id, "", text("x")).err().unwrap();
    assert!(err.to_string().contains("EncryptionKeyId"), "{err}");
    assert_eq!(store.describe_secret("nope").err().unwrap().code(), "Forbidden.ResourceNotFound");
    assert!(store.create_secret("acs/x", &k.key_id, "", text("x")).is_err());
    assert_eq!(store.list_secrets().unwrap().len(), 2);
}

fn bin_value() -> SecretValueInput {
    SecretValueInput {
        data: Zeroizing::new(vec![0xff, 0xfe]),
        data_type: SecretDataType::Binary,
        version_id: None,
        version_stages: vec![],
    }
}

#[test]
fn network_rule_validation_and_limits() {
    let (_d, store) = fresh();
    let r = store.create_network_rule(&rule("r1", &["10.0.0.1", "192.168.0.0/24", "fd00::/8"])).unwrap();
    assert_eq!(r.source_private_ip, vec!["10.0.0.1", "192.168.0.0/24", "fd00::/8"]);
    assert!(store.create_network_rule(&rule("r1", &["10.0.0.1"])).is_err());
    let err = store.create_network_rule(&rule("r2", &["10.0.0.1", "10.0.0.300"])).err().unwrap();
    assert!(err.to_string().contains("SourcePrivateIp") && err.to_string().contains("10.0.0.300"), "{err}");
    let public = NetworkRuleInput { network_type: "Public".into(), ..rule("r3", &["10.0.0.1"]) };
    assert!(store.create_network_rule(&public).err().unwrap().to_string().contains("Type"));
    let ips: Vec<String> = (0..801).map(|i| format!("10.{}.{}.1", i / 256, i % 256)).collect();
    let many = NetworkRuleInput { source_private_ip: ips[..800].to_vec(), ..rule("r800", &[]) };
    store.create_network_rule(&many).unwrap();
    let too_many = NetworkRuleInput { source_private_ip: ips, ..rule("r801", &[]) };
    assert!(matches!(store.create_network_rule(&too_many), Err(StoreError::LimitExceeded(_))));
    let upd = store
        .update_network_rule(&NetworkRuleUpdate {
            name: "r1".into(),
            source_private_ip: Some(vec!["10.1.0.0/16".into()]),
            description: Some("d".into()),
        })
        .unwrap();
    assert_eq!(upd.source_private_ip, vec!["10.1.0.0/16"]);
    assert_eq!(upd.description, "d");
    assert_eq!(
        store
            .update_network_rule(&NetworkRuleUpdate { name: "zz".into(), source_private_ip: None, description: None })
            .err()
            .unwrap()
            .code(),
        "Forbidden.ResourceNotFound"
    );
}

#[test]
fn policy_validation_limits_and_references() {
    let (_d, store) = fresh();
    let err = store.create_policy(&policy("p", &["missing"])).err().unwrap();
    assert!(err.to_string().contains("AccessControlRules") && err.to_string().contains("missing"), "{err}");
    let names: Vec<String> = (0..41).map(|i| format!("r{i}")).collect();
    for n in &names {
        store.create_network_rule(&rule(n, &["10.0.0.1"])).unwrap();
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    store.create_policy(&policy("p40", &refs[..40])).unwrap();
    assert!(matches!(store.create_policy(&policy("p41", &refs)), Err(StoreError::LimitExceeded(_))));
    let bad_perm = PolicyInput { permissions: vec!["Admin".into()], ..policy("px", &[]) };
    assert!(store.create_policy(&bad_perm).err().unwrap().to_string().contains("Permissions"));
    let bad_res = PolicyInput { resources: vec!["key/*x".into()], ..policy("px", &[]) };
    assert!(store.create_policy(&bad_res).err().unwrap().to_string().contains("key/*x"));
    let bad_scope = PolicyInput { kms_instance: "default".into(), ..policy("px", &[]) };
    assert!(store.create_policy(&bad_scope).err().unwrap().to_string().contains("KmsInstance"));
    let shared = PolicyInput { kms_instance: "shared".into(), ..policy("ps", &["r0"]) };
    store.create_policy(&shared).unwrap();

    // Update: KmsInstance is immutable, rules are re-checked.
    let same = PolicyUpdate {
        name: "ps".into(),
        permissions: None,
        resources: Some(vec!["secret/app/*".into()]),
        network_rules: Some(vec!["r1".into()]),
        description: None,
        kms_instance: Some("shared".into()),
    };
    let p = store.update_policy(&same).unwrap();
    assert_eq!(p.resources, vec!["secret/app/*"]);
    assert_eq!(p.access_control_rules.network_rules, vec!["r1"]);
    let moved = PolicyUpdate { kms_instance: Some("kst-other".into()), ..same };
    assert!(store.update_policy(&moved).err().unwrap().to_string().contains("KmsInstance"));

    // A rule in use cannot be deleted; an unused one can.
    let err = store.delete_network_rule("r1").err().unwrap();
    assert!(matches!(err, StoreError::InUse { .. }) && err.to_string().contains("ps"), "{err}");
    store.delete_network_rule("r40").unwrap();
    assert_eq!(store.delete_network_rule("r40").err().unwrap().code(), "Forbidden.ResourceNotFound");
    store.delete_policy("p40").unwrap();
}

#[test]
fn aap_limits_and_references() {
    let (_d, store) = fresh();
    store.create_network_rule(&rule("r", &["10.0.0.1"])).unwrap();
    for p in ["p1", "p2", "p3", "p4"] {
        store.create_policy(&policy(p, &["r"])).unwrap();
    }
    assert!(matches!(store.create_aap(&aap("a", &["p1", "p2", "p3", "p4"])), Err(StoreError::LimitExceeded(_))));
    assert!(store.create_aap(&aap("a", &[])).is_err());
    assert!(store.create_aap(&aap("a", &["nope"])).err().unwrap().to_string().contains("nope"));
    let a = store.create_aap(&aap("a", &["p1", "p2", "p3"])).unwrap();
    assert_eq!(a.policies, vec!["p1", "p2", "p3"]);
    let bad_method = AapInput { authentication_method: "Password".into(), ..aap("b", &["p1"]) };
    assert!(store.create_aap(&bad_method).err().unwrap().to_string().contains("AuthenticationMethod"));
    let err = store.delete_policy("p1").err().unwrap();
    assert!(matches!(err, StoreError::InUse { .. }) && err.to_string().contains("\"p1\""), "{err}");
    let a = store
        .update_aap(&AapUpdate { name: "a".into(), policies: Some(vec!["p4".into()]), description: Some("x".into()) })
        .unwrap();
    assert_eq!(a.policies, vec!["p4"]);
    store.delete_policy("p1").unwrap();

    // Client keys: at most 3; AAP deletion refused while keys exist.
    let keys: Vec<_> = (0..3).map(|_| store.insert_client_key(&client_key("a")).unwrap()).collect();
    assert!(matches!(store.insert_client_key(&client_key("a")), Err(StoreError::LimitExceeded(_))));
    assert!(matches!(store.check_client_key_allowed("a"), Err(StoreError::LimitExceeded(_))));
    assert_eq!(store.list_client_keys(Some("a")).unwrap().len(), 3);
    assert!(matches!(store.delete_aap("a"), Err(StoreError::InUse { .. })));
    for k in &keys {
        assert_eq!(store.get_client_key(&k.client_key_id).unwrap().aap_name, "a");
        store.delete_client_key(&k.client_key_id).unwrap();
    }
    assert_eq!(store.delete_client_key(&keys[0].client_key_id).err().unwrap().code(), "Forbidden.ResourceNotFound");
    store.delete_aap("a").unwrap();
    assert_eq!(store.describe_aap("a").err().unwrap().code(), "Forbidden.ResourceNotFound");
}

#[test]
fn client_key_records_are_public_only() {
    let (_d, store) = fresh();
    with_aap(&store);
    let private = NewClientKey {
        public_key_data: "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----".into(),
        ..client_key("app")
    };
    assert!(store.insert_client_key(&private).is_err());
    let bad_id = NewClientKey { client_key_id: "KAAP.1234".into(), ..client_key("app") };
    assert!(store.insert_client_key(&bad_id).err().unwrap().to_string().contains("ClientKeyId"));
    let backwards = NewClientKey { not_after: 1, ..client_key("app") };
    assert!(store.insert_client_key(&backwards).err().unwrap().to_string().contains("NotAfter"));
    assert_eq!(store.insert_client_key(&client_key("nope")).err().unwrap().code(), "Forbidden.ResourceNotFound");
    let k = store.insert_client_key(&client_key("app")).unwrap();
    assert_eq!(k.not_before, "2023-11-14T22:13:20Z");
    assert_eq!(k.key_origin, "KMS_PROVIDED");
    // RAMRole is not served by this gateway: refused at creation, naming what is supported.
    let ram = AapInput { authentication_method: "RAMRole".into(), ..aap("ram", &["p1"]) };
    let err = store.create_aap(&ram).err().unwrap();
    assert!(err.to_string().contains("ClientKey") && err.to_string().contains("not supported"), "{err}");
}

#[test]
fn keyring_snapshot_is_cached_by_generation() {
    let (_d, store) = fresh();
    let k = store.create_key(None, "").unwrap();
    let (g1, r1) = store.keyring_snapshot().unwrap();
    let (g2, r2) = store.keyring_snapshot().unwrap();
    assert_eq!(g1, g2);
    assert!(Arc::ptr_eq(&r1, &r2));
    store.disable_key(&k.key_id).unwrap();
    let (g3, r3) = store.keyring_snapshot().unwrap();
    assert!(g3 > g2);
    assert_eq!(r3.resolve_key(&k.key_id).unwrap().unwrap().state, KeyState::Disabled);
}

#[test]
fn export_holds_the_catalogue_and_no_secrets() {
    let (_d, store) = fresh();
    with_aap(&store);
    let k = store.create_key(None, "").unwrap();
    store.create_alias("alias/app", &k.key_id).unwrap();
    store.create_secret("app/db", &k.key_id, "", text("TOP-SECRET-VALUE")).unwrap();
    let generated = aapkit_pki::generate(
        "app",
        "Passw0rd-1",
        ::time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        ::time::OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap(),
    )
    .unwrap();
    let ck = store
        .insert_client_key(&NewClientKey {
            client_key_id: generated.key_id.clone(),
            public_key_data: generated.certificate_pem.clone(),
            ..client_key("app")
        })
        .unwrap();
    // A secret whose key is gone leaves the catalogue.
    let doomed = store.create_key(None, "").unwrap();
    store.create_secret("orphan", &doomed.key_id, "", text("x")).unwrap();
    store.schedule_key_deletion(&doomed.key_id, 7).unwrap();
    store.lock().execute("UPDATE keys SET deletion_date = 1 WHERE id = ?1", [&doomed.key_id]).unwrap();

    let json = store.export_bundle_json("kst-test").unwrap();
    // The exporter and policy-core's parser agree: the document parses and compiles cleanly.
    let parsed = policy_core::parse_bundle(&json).unwrap_or_else(|e| panic!("{e}\n{json}"));
    parsed.compile().unwrap_or_else(|e| panic!("{e}\n{json}"));
    assert_eq!(parsed, store.export_bundle("kst-test").unwrap());
    let (g, _) = store.export_bundle_at("kst-test").unwrap();
    assert_eq!(g, store.generation().unwrap());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["Gateway"]["Scope"], "kst-test");
    assert_eq!(v["NetworkRules"][0]["Name"], "r1");
    assert_eq!(v["Policies"][0]["AccessControlRules"]["NetworkRules"][0], "r1");
    assert_eq!(v["ApplicationAccessPoints"][0]["Policies"][0], "p1");
    assert_eq!(v["ClientKeys"][0]["ClientKeyId"], ck.client_key_id.as_str());
    assert_eq!(v["Keys"][0]["KeyId"], k.key_id.as_str());
    assert_eq!(v["Keys"][0]["Aliases"][0], "alias/app");
    assert_eq!(v["Keys"][0]["KeyVersions"][0], k.primary_key_version.as_str());
    assert_eq!(v["Secrets"][0]["EncryptionKeyId"], k.key_id.as_str());
    assert_eq!(v["Secrets"].as_array().unwrap().len(), 1, "{json}");
    assert!(!json.contains("TOP-SECRET-VALUE"));
    assert!(!json.contains("PRIVATE"));
    assert!(store.export_bundle_json("bogus").is_err());
}

/// Whether `needle` occurs anywhere in `hay`.
fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The database and WAL files' bytes, read raw (what an attacker with the disk would see).
fn raw_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    ["aapkit.db", "aapkit.db-wal"]
        .iter()
        .filter_map(|f| std::fs::read(dir.join(f)).ok().map(|b| (f.to_string(), b)))
        .collect()
}

#[test]
fn purge_destroys_material_after_the_window_and_leaves_no_trace_in_the_files() {
    let (d, store) = fresh();
    let doomed = store.create_key(None, "doomed").unwrap();
    store.rotate_key(&doomed.key_id).unwrap();
    store.create_alias("alias/doomed", &doomed.key_id).unwrap();
    let kept = store.create_key(None, "kept").unwrap();
    // A secret under the doomed key keeps its (tombstoned) reference valid.
    store.create_secret("s1", &doomed.key_id, "", text("secret-marker")).unwrap();
    let sealed: Vec<Vec<u8>> = {
        let conn = store.lock();
        let mut stmt = conn.prepare("SELECT sealed FROM key_versions WHERE key_id = ?1").unwrap();
        let rows = stmt.query_map(params![doomed.key_id], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(sealed.len(), 2);
    // The material is on disk before the purge (else the scan below proves nothing).
    assert!(raw_files(d.path()).iter().any(|(_, b)| contains_bytes(b, &sealed[0])));

    let t0 = time::now();
    store.schedule_key_deletion(&doomed.key_id, 7).unwrap();
    // Inside the window nothing is destroyed, and a cancel stays possible.
    let r = store.purge_deleted_keys(t0 + 6 * 86_400).unwrap();
    assert!(r.purged_keys.is_empty());
    assert_eq!(store.describe_key(&doomed.key_id).unwrap().key_versions.len(), 2);

    let g = store.generation().unwrap();
    let r = store.purge_deleted_keys(t0 + 8 * 86_400).unwrap();
    assert_eq!(r.purged_keys, vec![doomed.key_id.clone()]);
    assert_eq!(r.destroyed_key_versions, 2);
    assert!(r.wal_truncated);
    assert!(store.generation().unwrap() > g, "the server must reload");
    // A second run finds nothing left to do.
    assert!(store.purge_deleted_keys(t0 + 9 * 86_400).unwrap().purged_keys.is_empty());

    // Gone for every reader: describe, list, aliases, cancel, the gateway's key ring.
    assert_eq!(store.describe_key(&doomed.key_id).err().unwrap().code(), "Forbidden.KeyNotFound");
    assert_eq!(store.describe_key("alias/doomed").err().unwrap().code(), "Forbidden.KeyNotFound");
    assert!(store.list_keys().unwrap().iter().all(|k| k.key_id != doomed.key_id));
    assert!(store.cancel_key_deletion(&doomed.key_id).is_err());
    assert!(store.resolve_key(&doomed.key_id).unwrap().is_none());
    assert!(store.resolve_key(&kept.key_id).unwrap().is_some());
    // One management event per purged key.
    let events = store
        .query_events(&EventQuery { resource_name: Some(doomed.key_id.clone()), limit: 100, ..Default::default() })
        .unwrap();
    assert_eq!(events.iter().filter(|e| e.operation == "PurgeKey").count(), 1);

    // Not in the database file, not in the WAL: secure_delete zeroed the cells, the checkpoint
    // truncated the WAL.
    for (name, bytes) in raw_files(d.path()) {
        for blob in &sealed {
            assert!(!contains_bytes(&bytes, blob), "a sealed key version survives in {name}");
            // Not even a 32-byte run of it (the nonce and first ciphertext bytes).
            assert!(!contains_bytes(&bytes, &blob[..32]), "part of a sealed key version survives in {name}");
        }
    }
    drop(store);
    for (name, bytes) in raw_files(d.path()) {
        for blob in &sealed {
            assert!(!contains_bytes(&bytes, &blob[..32]), "after close: part of a sealed key version in {name}");
        }
    }
}

#[test]
fn purge_skips_a_key_whose_deletion_was_cancelled() {
    let (_d, store) = fresh();
    let k = store.create_key(None, "").unwrap();
    store.schedule_key_deletion(&k.key_id, 7).unwrap();
    store.cancel_key_deletion(&k.key_id).unwrap();
    let r = store.purge_deleted_keys(time::now() + 400 * 86_400).unwrap();
    assert!(r.purged_keys.is_empty());
    assert_eq!(store.describe_key(&k.key_id).unwrap().key_state, "Enabled");
}

#[test]
fn open_refuses_an_uninitialised_directory_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let err = Store::open(&data, &Default::default()).err().unwrap();
    assert!(matches!(err, StoreError::NotInitialised { .. }), "{err}");
    assert!(err.to_string().contains("aapkit") && err.to_string().contains("init"), "{err}");
    assert!(!data.exists());
}

#[test]
fn sealing_never_reallocates_the_plaintext_copy() {
    // The blob is built in one buffer sized up front: a reallocation would have freed an unwiped
    // copy of the plaintext.
    let sealer = seal::Sealer::new(&MasterKey::generate().unwrap()).unwrap();
    for len in [0usize, 1, 31, 32, 1000, 30 * 1024] {
        let plain = vec![0x5a; len];
        let blob = sealer.seal("aad", &plain).unwrap();
        assert_eq!(blob.len(), 1 + 12 + len + 16);
        assert_eq!(blob.capacity(), blob.len(), "len {len}: the buffer grew");
        assert_eq!(&sealer.open("aad", &blob).unwrap()[..], &plain[..]);
    }
}
