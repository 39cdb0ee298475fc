#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::*;
use aapkit_kms::keyring::{KeyRing, KeySpec, KeyState, SecretDataType};

// Which engine `open` uses on this thread: SQLite unless the PostgreSQL suite
// (`postgres_runs_the_store_suite`) is running the tests on its cluster.
thread_local! {
    static PG: std::cell::RefCell<Option<Arc<aapkit_testpg::PgCluster>>> = const { std::cell::RefCell::new(None) };
}

/// The location of the store of `dir` on this thread's engine: one PostgreSQL database per data
/// directory, so a test that reopens a directory reopens its database.
fn location(dir: &Path) -> StoreLocation {
    PG.with(|pg| match pg.borrow().as_ref() {
        None => StoreLocation::Sqlite,
        Some(cluster) => {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            dir.hash(&mut h);
            let name = format!("t{:016x}", h.finish());
            let exists =
                cluster.psql("postgres", &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'")).unwrap();
            if exists.is_empty() {
                cluster.create_database(&name).unwrap();
            }
            StoreLocation::Postgres(cluster.url(&name))
        }
    })
}

fn on_postgres() -> bool {
    PG.with(|pg| pg.borrow().is_some())
}

/// Waits out the generation hint of the per-request caches on PostgreSQL (another handle's write
/// reaches them within [`GENERATION_HINT_TTL`]; on SQLite at once).
fn settle() {
    if on_postgres() {
        std::thread::sleep(GENERATION_HINT_TTL + std::time::Duration::from_millis(50));
    }
}

fn try_open(dir: &Path, key: &MasterKey) -> Result<Store, StoreError> {
    Store::open_at_with_key(dir, &location(dir), key)
}

fn open(dir: &Path, key: &MasterKey) -> Store {
    try_open(dir, key).unwrap()
}

/// Runs `sql` on the store's connection, in a transaction of its own (tests that reach under the API).
fn raw_execute(store: &Store, sql: &str, params: &[&dyn db::Param]) -> usize {
    store.lock().run(db::TxMode::Write, |tx| tx.execute(sql, params)).unwrap()
}

fn raw_query<T: db::FromValue>(store: &Store, sql: &str, params: &[&dyn db::Param]) -> Vec<T> {
    store.lock().run(db::TxMode::Read, |tx| tx.query_map(sql, params, |r| r.get(0))).unwrap()
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

/// On SQLite a listener hears the commits of the handles sharing commits with its own (the
/// process's management API), and only configuration changes; another handle's commits are left
/// to the generation poll.
#[test]
fn a_sqlite_listener_hears_the_commits_of_handles_sharing_them() {
    if on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let master = MasterKey::generate().unwrap();
    let store = open(dir.path(), &master);
    let mut listener = store.change_listener().unwrap().unwrap();
    let short = std::time::Duration::from_millis(20);
    assert!(!listener.wait(short).unwrap(), "nothing was committed");
    let sharing = open(dir.path(), &master).sharing_commits_of(&store);
    let waiter = std::thread::spawn(move || {
        let heard = listener.wait(std::time::Duration::from_secs(10)).unwrap();
        (heard, listener)
    });
    sharing.create_network_rule(&rule("r1", &["10.0.0.0/8"])).unwrap();
    let (heard, mut listener) = waiter.join().unwrap();
    assert!(heard, "the commit through a sharing handle was not heard");
    assert!(!listener.wait(short).unwrap(), "one commit is heard once");
    // A handle that does not share commits (another process, in effect) is not heard.
    open(dir.path(), &master).create_network_rule(&rule("r2", &["10.0.0.0/8"])).unwrap();
    assert!(!listener.wait(short).unwrap());
    // Nor a failed write.
    assert!(sharing.create_network_rule(&rule("r1", &["10.0.0.0/8"])).is_err());
    assert!(!listener.wait(short).unwrap());
}

/// The lookups by name read their row alone, and the listings keep every ordered list in the
/// order it was given (links are ordered in memory since reloads stopped asking SQL to sort):
/// each lookup equals its entry in the listing, among many of its kind.
#[test]
fn lookups_by_name_agree_with_the_listings_and_keep_orders() {
    let (_dir, store) = fresh();
    for r in ["r3", "r1", "r2"] {
        store.create_network_rule(&rule(r, &["10.0.0.0/8"])).unwrap();
    }
    store.create_policy(&policy("pz", &["r3", "r1", "r2"])).unwrap();
    store.create_policy(&policy("pa", &["r2", "r3"])).unwrap();
    store.create_aap(&aap("app-b", &["pz", "pa"])).unwrap();
    store.create_aap(&aap("app-a", &["pa", "pz"])).unwrap();
    let mut ids = Vec::new();
    for a in ["app-b", "app-a", "app-b", "app-a"] {
        ids.push(store.insert_client_key(&client_key(a)).unwrap().client_key_id);
    }
    // Rows stored out of their order: the order is `position`, not the rows'.
    raw_execute(&store, "DELETE FROM policy_network_rules WHERE policy = 'pz'", params![]);
    for (rule, position) in [("r2", 3), ("r1", 2), ("r3", 1)] {
        raw_execute(
            &store,
            "INSERT INTO policy_network_rules(policy, rule, position) VALUES ('pz', ?1, ?2)",
            params![rule, position],
        );
    }
    let policies = store.list_policies().unwrap();
    assert_eq!(policies.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["pa", "pz"]);
    assert_eq!(policies[1].access_control_rules.network_rules, ["r3", "r1", "r2"]);
    for p in &policies {
        assert_eq!(&store.describe_policy(&p.name).unwrap(), p);
    }
    let aaps = store.list_aaps().unwrap();
    assert_eq!(aaps.iter().map(|a| a.policies.clone()).collect::<Vec<_>>(), [["pa", "pz"], ["pz", "pa"]]);
    for a in &aaps {
        assert_eq!(&store.describe_aap(&a.name).unwrap(), a);
    }
    for r in store.list_network_rules().unwrap() {
        assert_eq!(store.describe_network_rule(&r.name).unwrap(), r);
    }
    let keys = store.list_client_keys(None).unwrap();
    assert_eq!(keys.len(), 4);
    // Oldest first, then by id: the order the listing has always had.
    let mut expected = keys.iter().map(|k| (k.create_time.clone(), k.client_key_id.clone())).collect::<Vec<_>>();
    expected.sort();
    assert_eq!(keys.iter().map(|k| (k.create_time.clone(), k.client_key_id.clone())).collect::<Vec<_>>(), expected);
    for id in &ids {
        assert_eq!(store.get_client_key(id).unwrap().client_key_id, *id);
    }
    assert_eq!(store.list_client_keys(Some("app-a")).unwrap().len(), 2);
    assert!(matches!(store.describe_aap("app-c"), Err(StoreError::NotFound { .. })));
    assert!(matches!(store.describe_policy("p0"), Err(StoreError::NotFound { .. })));
    assert!(matches!(
        store.get_client_key("KAAP.00000000-0000-0000-0000-000000000000"),
        Err(StoreError::NotFound { .. })
    ));
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
    let err = try_open(dir.path(), &MasterKey::generate().unwrap()).err().unwrap();
    assert!(matches!(err, StoreError::MasterKey(_)), "{err}");
    assert!(err.to_string().contains("not the master key"), "{err}");
    assert!(try_open(dir.path(), &k1).is_ok());
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
        let blob_a: Vec<u8> =
            raw_query(&store, "SELECT sealed FROM key_versions WHERE key_id = ?1", params![a.key_id]).remove(0);
        raw_execute(&store, "UPDATE key_versions SET sealed = ?1 WHERE key_id = ?2", params![blob_a, b.key_id]);
        store.lock().run(db::TxMode::Write, db::bump_generation).unwrap();
    }
    settle();
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
    if on_postgres() {
        return;
    }
    let mode = fs::metadata(dir.path().join(DB_FILE)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let journal: String = raw_query(&store, "PRAGMA journal_mode", params![]).remove(0);
    assert_eq!(journal, "wal");
    let sync: i64 = raw_query(&store, "PRAGMA synchronous", params![]).remove(0);
    assert_eq!(sync, 2, "synchronous=FULL");
}

#[test]
fn schema_from_the_future_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate().unwrap();
    let store = open(dir.path(), &key);
    store.lock().run(db::TxMode::Write, |tx| db::meta_set(tx, "schema_version", &99i64)).unwrap();
    drop(store);
    let err = try_open(dir.path(), &key).err().unwrap();
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
    raw_execute(&store, "UPDATE keys SET deletion_date = 1 WHERE id = ?1", params![k.key_id]);
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
    assert!(matches!(
        store.create_network_rule(&too_many),
        Err(StoreError::InvalidParameter { param: "SourcePrivateIp", .. })
    ));
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
    assert!(matches!(
        store.create_policy(&policy("p41", &refs)),
        Err(StoreError::InvalidParameter { param: "AccessControlRules", .. })
    ));
    let bad_perm = PolicyInput { permissions: vec!["Admin".into()], ..policy("px", &[]) };
    assert!(store.create_policy(&bad_perm).err().unwrap().to_string().contains("Permissions"));
    let bad_res = PolicyInput { resources: vec!["key/*x".into()], ..policy("px", &[]) };
    assert!(store.create_policy(&bad_res).err().unwrap().to_string().contains("key/*x"));
    let bad_scope = PolicyInput { kms_instance: "default".into(), ..policy("px", &[]) };
    assert!(store.create_policy(&bad_scope).err().unwrap().to_string().contains("KmsInstance"));
    // A shared policy with only KeyUser could never allow anything (the shared gateway serves
    // GetSecretValue only): refused, naming Permissions; with SecretUser on secrets it is fine.
    let useless = PolicyInput { kms_instance: "shared".into(), ..policy("ps", &["r0"]) };
    let err = store.create_policy(&useless).err().unwrap();
    assert!(matches!(err, StoreError::InvalidParameter { param: "Permissions", .. }), "{err}");
    let shared = PolicyInput {
        kms_instance: "shared".into(),
        permissions: vec!["RbacPermission/Template/SecretUser".into()],
        resources: vec!["secret/*".into()],
        ..policy("ps", &["r0"])
    };
    store.create_policy(&shared).unwrap();
    // An update that would make it useless is refused and rolled back whole.
    let to_keys = PolicyUpdate {
        name: "ps".into(),
        permissions: None,
        resources: Some(vec!["key/*".into()]),
        network_rules: Some(vec!["r1".into()]),
        description: None,
        kms_instance: None,
    };
    let err = store.update_policy(&to_keys).err().unwrap();
    assert!(matches!(err, StoreError::InvalidParameter { param: "Resources", .. }), "{err}");
    assert_eq!(store.describe_policy("ps").unwrap().resources, vec!["secret/*".to_owned()]);

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
    assert!(matches!(
        store.create_aap(&aap("a", &["p1", "p2", "p3", "p4"])),
        Err(StoreError::InvalidParameter { param: "Policies", .. })
    ));
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
    assert!(matches!(
        store.insert_client_key(&client_key("a")),
        Err(StoreError::InvalidParameter { param: "AapName", .. })
    ));
    assert!(matches!(store.check_client_key_allowed("a"), Err(StoreError::InvalidParameter { param: "AapName", .. })));
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
    // A RAMRole AAP is accepted (its callers hold RAM-role sessions) but takes no client key.
    let ram = AapInput { authentication_method: "RAMRole".into(), ..aap("ram", &["p1"]) };
    store.create_aap(&ram).unwrap();
    let err = store.insert_client_key(&client_key("ram")).err().unwrap();
    assert_eq!(err.code(), "Rejected.UnexpectedState");
    assert!(err.to_string().contains("RAMRole"), "{err}");
    let other = AapInput { authentication_method: "Password".into(), ..aap("pw", &["p1"]) };
    let err = store.create_aap(&other).err().unwrap();
    assert!(err.to_string().contains("ClientKey") && err.to_string().contains("RAMRole"), "{err}");
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
    raw_execute(&store, "UPDATE keys SET deletion_date = 1 WHERE id = ?1", params![doomed.key_id]);

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
    let sealed: Vec<Vec<u8>> =
        raw_query(&store, "SELECT sealed FROM key_versions WHERE key_id = ?1", params![doomed.key_id]);
    assert_eq!(sealed.len(), 2);
    // The material is on disk before the purge (else the scan below proves nothing).
    assert!(on_postgres() || raw_files(d.path()).iter().any(|(_, b)| contains_bytes(b, &sealed[0])));

    let t0 = crate::time::now();
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
    let r = store.purge_deleted_keys(crate::time::now() + 400 * 86_400).unwrap();
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

// ---------------------------------------------------------------------------------------------
// Issue 12: what the KMS OpenAPI needs from the store.

fn events_of(store: &Store, t: ResourceType) -> Vec<ManagementEvent> {
    store.query_events(&EventQuery { resource_type: Some(t), limit: 100, ..Default::default() }).unwrap()
}

fn file_key() -> MasterKeySource {
    MasterKeySource::File
}

#[test]
fn the_account_is_made_once_and_never_changes_region() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = Store::init_in_region(&data, &file_key(), Some("ap-southeast-1")).unwrap();
    let a = store.account().unwrap();
    assert_eq!(a.region_id, "ap-southeast-1");
    assert_eq!(a.account_id.len(), 16);
    assert!(a.account_id.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(a.key_arn("key-1"), format!("acs:kms:ap-southeast-1:{}:key/key-1", a.account_id));
    drop(store);
    // Reopening (and re-running init without a region, or with the same one) keeps it.
    assert_eq!(Store::open(&data, &file_key()).unwrap().account().unwrap(), a);
    assert_eq!(Store::init(&data, &file_key()).unwrap().account().unwrap(), a);
    assert_eq!(Store::init_in_region(&data, &file_key(), Some("ap-southeast-1")).unwrap().account().unwrap(), a);
    let err = Store::init_in_region(&data, &file_key(), Some("cn-shanghai")).err().unwrap();
    assert!(matches!(err, StoreError::InvalidParameter { param: "RegionId", .. }), "{err}");
    // A malformed region is refused before anything is created.
    let other = dir.path().join("other");
    let err = Store::init_in_region(&other, &file_key(), Some("Hangzhou")).err().unwrap();
    assert!(matches!(err, StoreError::InvalidParameter { param: "RegionId", .. }), "{err}");
    assert!(!other.exists());
    // The default region.
    let (_d, fresh_store) = fresh();
    assert_eq!(fresh_store.account().unwrap().region_id, DEFAULT_REGION_ID);
}

#[test]
fn a_database_from_before_accounts_is_migrated_and_gets_an_account() {
    let dir = tempfile::tempdir().unwrap();
    {
        // Schema version 3, as the previous release wrote it, with an EC key and an AES key.
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        for step in &schema::MIGRATIONS[..3] {
            conn.execute_batch(step).unwrap();
        }
        conn.execute("INSERT INTO meta(name, value) VALUES ('schema_version', 3)", []).unwrap();
        for (id, spec) in [("key-ec", "EC_P256"), ("key-aes", "Aliyun_AES_256")] {
            conn.execute(
                "INSERT INTO keys(id, spec, state, description, created, deletion_date, initial_version, primary_version)
                 VALUES (?1, ?2, 'Enabled', '', 1700000000, NULL, 'v', 'v')",
                rusqlite::params![id, spec],
            )
            .unwrap();
        }
    }
    let store = open(dir.path(), &MasterKey::generate().unwrap());
    let account = store.account().unwrap();
    assert_eq!(account.region_id, DEFAULT_REGION_ID);
    assert_eq!(store.describe_key("key-ec").unwrap().key_usage, KEY_USAGE_SIGN);
    let aes = store.describe_key("key-aes").unwrap();
    assert_eq!(aes.key_usage, KEY_USAGE_ENCRYPT);
    assert_eq!(aes.creator, account.account_id);
    assert!(store.list_access_keys().unwrap().is_empty());
    assert_eq!(store.create_access_key("").unwrap().info.status, ACCESS_KEY_ENABLED);
}

#[test]
fn access_key_lifecycle_events_and_sealing() {
    let (d, mut store) = fresh();
    store.set_actor("cli:alice");
    let k = store.create_access_key("admin").unwrap();
    let id = k.info.access_key_id.clone();
    assert!(id.starts_with("LTAI") && id.len() == 24, "{id}");
    assert_eq!(k.secret.len(), 30);
    assert!(k.secret.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(k.info.status, "Enabled");
    assert_eq!(k.info.description, "admin");
    assert!(!format!("{k:?}").contains(k.secret.as_str()));
    let second = store.create_access_key("").unwrap();
    assert_ne!(second.secret.as_str(), k.secret.as_str());
    assert_eq!(store.list_access_keys().unwrap().len(), 2);

    let c = store.access_key_credential(&id).unwrap();
    assert_eq!((c.id.as_str(), c.secret.as_str(), c.enabled), (id.as_str(), k.secret.as_str(), true));
    assert!(!format!("{c:?}").contains(k.secret.as_str()));

    store.set_actor(id.clone());
    assert_eq!(store.set_access_key_enabled(&id, false).unwrap().status, "Disabled");
    assert!(!store.access_key_credential(&id).unwrap().enabled);
    assert_eq!(store.set_access_key_enabled(&id, true).unwrap().status, "Enabled");
    assert!(store.access_key_credential(&id).unwrap().enabled);
    store.delete_access_key(&id).unwrap();
    let err = store.access_key_credential(&id).err().unwrap();
    assert!(matches!(&err, StoreError::NotFound { kind: "access key", name } if *name == id), "{err}");
    assert!(matches!(store.delete_access_key(&id), Err(StoreError::NotFound { .. })));
    assert!(matches!(store.set_access_key_enabled("LTAInope", true), Err(StoreError::NotFound { .. })));
    assert!(matches!(store.access_key_credential(""), Err(StoreError::NotFound { .. })));
    let long = "d".repeat(validate::MAX_DESCRIPTION_LEN + 1);
    assert!(matches!(store.create_access_key(&long), Err(StoreError::InvalidParameter { param: "Description", .. })));

    // Events: who did what, never the secret.
    let events = events_of(&store, ResourceType::AccessKey);
    let ops: Vec<(&str, &str)> = events.iter().rev().map(|e| (e.operation.as_str(), e.actor.as_str())).collect();
    assert_eq!(
        ops,
        vec![
            ("CreateAccessKey", "cli:alice"),
            ("CreateAccessKey", "cli:alice"),
            ("DisableAccessKey", id.as_str()),
            ("EnableAccessKey", id.as_str()),
            ("DeleteAccessKey", id.as_str()),
        ]
    );
    assert_eq!(events[0].resource_type, "access-key");
    assert_eq!(events[0].before.as_ref().unwrap()["Status"], "Enabled");
    for e in &events {
        let text = serde_json::to_string(e).unwrap();
        assert!(!text.contains(k.secret.as_str()) && !text.contains(second.secret.as_str()), "{text}");
    }
    // The raw database holds the secrets sealed only.
    store.truncate_wal().unwrap();
    for (f, bytes) in raw_files(d.path()) {
        assert!(!contains_bytes(&bytes, second.secret.as_bytes()), "{f} holds an AccessKey secret");
        assert!(!contains_bytes(&bytes, k.secret.as_bytes()), "{f} holds a deleted AccessKey secret");
    }
    let blob: Vec<u8> =
        raw_query(&store, "SELECT sealed FROM access_keys WHERE id = ?1", params![second.info.access_key_id]).remove(0);
    // Bound to its row: under another id it does not open.
    assert!(store.sealer.open(&seal::access_key_aad("LTAIother"), &blob).is_err());
}

#[test]
fn the_credential_cache_follows_writes_of_other_handles() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate().unwrap();
    let server = open(dir.path(), &key);
    let cli = open(dir.path(), &key);
    let k = cli.create_access_key("").unwrap();
    let id = &k.info.access_key_id;
    assert!(server.access_key_credential(id).unwrap().enabled);
    cli.set_access_key_enabled(id, false).unwrap();
    settle();
    assert!(!server.access_key_credential(id).unwrap().enabled);
    cli.delete_access_key(id).unwrap();
    settle();
    assert!(server.access_key_credential(id).is_err());
}

#[test]
fn create_key_parameters_are_checked_and_describe_has_what_describekey_needs() {
    let (_d, store) = fresh();
    let g = store.generation().unwrap();
    let input = |spec: &str, usage: Option<&str>| KeyInput {
        key_spec: Some(spec.into()),
        key_usage: usage.map(str::to_owned),
        ..KeyInput::default()
    };
    for (bad, param) in [
        (input("Aliyun_AES_256", Some("SIGN/VERIFY")), "KeyUsage"),
        (input("EC_P256", Some("ENCRYPT/DECRYPT")), "KeyUsage"),
        (input("RSA_2048", Some("WRAP")), "KeyUsage"),
        (input("Aliyun_SM4", None), "KeySpec"),
        (KeyInput { origin: Some("EXTERNAL".into()), ..KeyInput::default() }, "Origin"),
        (KeyInput { protection_level: Some("HSM".into()), ..KeyInput::default() }, "ProtectionLevel"),
        (KeyInput { enable_automatic_rotation: true, ..KeyInput::default() }, "EnableAutomaticRotation"),
    ] {
        let err = store.create_key_with(&bad).err().unwrap();
        assert!(matches!(err, StoreError::InvalidParameter { param: p, .. } if p == param), "{param}: {err}");
    }
    assert_eq!(store.generation().unwrap(), g, "a refused CreateKey writes nothing");
    assert!(store.list_keys().unwrap().is_empty());

    let ec = store.create_key_with(&input("EC_P256", None)).unwrap();
    assert_eq!(ec.key_usage, "SIGN/VERIFY");
    let rsa = store.create_key_with(&input("RSA_2048", Some("SIGN/VERIFY"))).unwrap();
    assert_eq!(rsa.key_usage, "SIGN/VERIFY");
    let aes = store
        .create_key_with(&KeyInput {
            origin: Some("Aliyun_KMS".into()),
            protection_level: Some("SOFTWARE".into()),
            description: "d".into(),
            ..KeyInput::default()
        })
        .unwrap();
    let account = store.account().unwrap();
    assert_eq!(aes.key_spec, "Aliyun_AES_256");
    assert_eq!(aes.key_usage, "ENCRYPT/DECRYPT");
    assert_eq!((aes.origin.as_str(), aes.protection_level.as_str()), ("Aliyun_KMS", "SOFTWARE"));
    assert_eq!(aes.creator, account.account_id);
    assert_eq!(aes.arn, account.key_arn(&aes.key_id));
    assert_eq!(aes.description, "d");
}

#[test]
fn key_versions_and_update_alias() {
    let (_d, store) = fresh();
    let k = store.create_key(None, "").unwrap();
    let v1 = store.list_key_versions(&k.key_id).unwrap();
    assert_eq!(v1.len(), 1);
    assert_eq!(v1[0].key_version_id, k.primary_key_version);
    let v2 = store.create_key_version(&k.key_id).unwrap();
    assert_eq!(v2.key_id, k.key_id);
    assert_ne!(v2.key_version_id, v1[0].key_version_id);
    assert_eq!(store.describe_key(&k.key_id).unwrap().primary_key_version, v2.key_version_id);
    let all = store.list_key_versions(&k.key_id).unwrap();
    assert_eq!(
        all.iter().map(|v| v.key_version_id.as_str()).collect::<Vec<_>>(),
        vec![v1[0].key_version_id.as_str(), v2.key_version_id.as_str()],
        "oldest first"
    );
    assert!(matches!(store.list_key_versions("key-nope"), Err(StoreError::NotFound { .. })));
    let ec = store.create_key(Some("EC_P256"), "").unwrap();
    assert!(matches!(store.create_key_version(&ec.key_id), Err(StoreError::InvalidState(_))));

    let other = store.create_key(None, "").unwrap();
    store.create_alias("alias/app", &k.key_id).unwrap();
    let a = store.update_alias("alias/app", &other.key_id).unwrap();
    assert_eq!(a.key_id, other.key_id);
    assert_eq!(store.describe_key("alias/app").unwrap().key_id, other.key_id);
    assert_eq!(store.list_aliases(Some(&other.key_id)).unwrap().len(), 1);
    assert!(store.list_aliases(Some(&k.key_id)).unwrap().is_empty());
    assert!(matches!(store.update_alias("alias/none", &k.key_id), Err(StoreError::NotFound { kind: "alias", .. })));
    assert!(matches!(store.update_alias("alias/app", "key-nope"), Err(StoreError::NotFound { kind: "key", .. })));
    assert!(matches!(
        store.update_alias("app", &k.key_id),
        Err(StoreError::InvalidParameter { param: "AliasName", .. })
    ));
    assert!(matches!(store.update_alias("alias/app", ""), Err(StoreError::MissingParameter("KeyId"))));
    store.schedule_key_deletion(&k.key_id, 7).unwrap();
    assert!(matches!(store.update_alias("alias/app", &k.key_id), Err(StoreError::InvalidState(_))));
    assert_eq!(store.describe_key("alias/app").unwrap().key_id, other.key_id, "a refused update changes nothing");
    let ev = events_of(&store, ResourceType::Alias);
    assert_eq!(ev[0].operation, "UpdateAlias");
    assert_eq!(ev[0].before.as_ref().unwrap()["KeyId"], k.key_id.as_str());
    assert_eq!(ev[0].after.as_ref().unwrap()["KeyId"], other.key_id.as_str());
}

fn versioned(id: &str) -> SecretValueInput {
    SecretValueInput { version_id: Some(id.into()), ..text(id) }
}

#[test]
fn delete_restore_and_purge_secrets() {
    let (_d, store) = fresh();
    let k = store.create_key(None, "").unwrap();
    store.create_secret("db", &k.key_id, "", text("pw1")).unwrap();
    store.create_secret("tmp", &k.key_id, "", text("pw2")).unwrap();
    assert!(store.secret_value("db", None, None).unwrap().is_some());

    for (days, force) in [(Some(6), false), (Some(31), false), (Some(7), true)] {
        let err = store.delete_secret("db", days, force).err().unwrap();
        assert!(matches!(err, StoreError::InvalidParameter { param: "RecoveryWindowInDays", .. }), "{err}");
    }
    assert!(matches!(store.delete_secret("nope", None, false), Err(StoreError::NotFound { .. })));
    let before = crate::time::now();
    let del = store.delete_secret("db", None, false).unwrap();
    let planned = parse_time("PlannedDeleteTime", &del.planned_delete_time).unwrap();
    assert!((before + 30 * 86_400..=crate::time::now() + 30 * 86_400).contains(&planned), "default window 30 days");
    // Pending deletion: described with its time, listed, not served, not changeable.
    assert_eq!(
        store.describe_secret("db").unwrap().planned_delete_time.as_deref(),
        Some(del.planned_delete_time.as_str())
    );
    assert!(store.list_secrets().unwrap().iter().any(|s| s.secret_name == "db" && s.planned_delete_time.is_some()));
    assert!(store.secret_value("db", None, None).unwrap().is_none());
    assert!(!store.export_bundle_json("kst-test").unwrap().contains("\"db\""));
    assert!(matches!(store.put_secret_value("db", text("x")), Err(StoreError::InvalidState(_))));
    assert!(matches!(
        store.update_secret_version_stage(
            "db",
            "Blue",
            None,
            Some(&store.describe_secret("db").unwrap().versions[0].version_id)
        ),
        Err(StoreError::InvalidState(_))
    ));
    assert!(matches!(store.delete_secret("db", None, false), Err(StoreError::InvalidState(_))));
    assert!(matches!(store.create_secret("db", &k.key_id, "", text("x")), Err(StoreError::AlreadyExists { .. })));

    let restored = store.restore_secret("db").unwrap();
    assert_eq!(restored.planned_delete_time, None);
    assert_eq!(&store.secret_value("db", None, None).unwrap().unwrap().data[..], b"pw1");
    assert!(matches!(store.restore_secret("db"), Err(StoreError::InvalidState(_))));
    assert!(matches!(store.restore_secret("nope"), Err(StoreError::NotFound { .. })));

    // Force: gone now, the name free again.
    store.delete_secret("tmp", None, true).unwrap();
    assert!(matches!(store.describe_secret("tmp"), Err(StoreError::NotFound { .. })));
    store.create_secret("tmp", &k.key_id, "", text("again")).unwrap();

    // The purge destroys a secret whose window ended, and no other.
    store.delete_secret("db", Some(7), false).unwrap();
    let early = store.purge_deleted_keys(crate::time::now() + 6 * 86_400).unwrap();
    assert!(early.purged_secrets.is_empty());
    let report = store.purge_deleted_keys(crate::time::now() + 8 * 86_400).unwrap();
    assert_eq!(report.purged_secrets, vec!["db".to_string()]);
    assert!(matches!(store.describe_secret("db"), Err(StoreError::NotFound { .. })));
    assert!(store.describe_secret("tmp").is_ok());
    let ops: Vec<String> = events_of(&store, ResourceType::Secret).into_iter().map(|e| e.operation).collect();
    assert_eq!(ops[0], "PurgeSecret");
    assert!(ops.contains(&"RestoreSecret".to_string()) && ops.contains(&"DeleteSecret".to_string()));
}

#[test]
fn secret_version_ids_and_stages() {
    let (_d, store) = fresh();
    let k = store.create_key(None, "").unwrap();
    store.create_secret("s", &k.key_id, "", versioned("v1")).unwrap();
    store.put_secret_value("s", versioned("v2")).unwrap();
    store.put_secret_value("s", versioned("v3")).unwrap();
    let ids = |deprecated: bool| -> Vec<String> {
        store.list_secret_version_ids("s", deprecated).unwrap().into_iter().map(|v| v.version_id).collect()
    };
    assert_eq!(ids(false), vec!["v2", "v3"], "v1 has no stage left: deprecated");
    assert_eq!(ids(true), vec!["v1", "v2", "v3"]);
    assert!(matches!(store.list_secret_version_ids("nope", true), Err(StoreError::NotFound { .. })));

    let stages = |s: &SecretInfo| -> Vec<(String, Vec<String>)> {
        s.versions.iter().map(|v| (v.version_id.clone(), v.version_stages.clone())).collect()
    };
    let g = store.generation().unwrap();
    for (stage, remove, mv, param) in [
        ("ACSCurrent", Some("v3"), None, "VersionStage"),
        ("ACSCurrent", None, Some("v1"), "RemoveFromVersion"),
        ("ACSCurrent", Some("v2"), Some("v1"), "RemoveFromVersion"),
        ("ACSCurrent", Some("v3"), Some("v9"), "MoveToVersion"),
        ("ACSCurrent", Some("v9"), Some("v1"), "RemoveFromVersion"),
        ("bad/stage", None, Some("v1"), "VersionStage"),
    ] {
        let err = store.update_secret_version_stage("s", stage, remove, mv).err().unwrap();
        assert!(matches!(err, StoreError::InvalidParameter { param: p, .. } if p == param), "{param}: {err}");
    }
    assert!(matches!(store.update_secret_version_stage("s", "Blue", None, None), Err(StoreError::MissingParameter(_))));
    assert!(matches!(
        store.update_secret_version_stage("nope", "Blue", None, Some("v1")),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.generation().unwrap(), g, "refused updates write nothing");

    // Moving ACSCurrent back to v1 makes v3 ACSPrevious (and v2 loses it).
    let s = store.update_secret_version_stage("s", "ACSCurrent", Some("v3"), Some("v1")).unwrap();
    assert_eq!(
        stages(&s),
        vec![
            ("v1".to_string(), vec!["ACSCurrent".to_string()]),
            ("v2".to_string(), vec![]),
            ("v3".to_string(), vec!["ACSPrevious".to_string()]),
        ]
    );
    assert_eq!(&store.secret_value("s", None, None).unwrap().unwrap().data[..], b"v1");
    // A custom stage: attach, move (naming where it was), remove.
    store.update_secret_version_stage("s", "Blue", None, Some("v2")).unwrap();
    assert!(matches!(
        store.update_secret_version_stage("s", "Blue", None, Some("v3")),
        Err(StoreError::InvalidParameter { param: "RemoveFromVersion", .. })
    ));
    let s = store.update_secret_version_stage("s", "Blue", Some("v2"), Some("v3")).unwrap();
    assert_eq!(s.versions[2].version_stages, vec!["ACSPrevious", "Blue"]);
    let s = store.update_secret_version_stage("s", "Blue", Some("v3"), None).unwrap();
    assert_eq!(s.versions[2].version_stages, vec!["ACSPrevious"]);
    let ev = events_of(&store, ResourceType::Secret);
    assert_eq!(ev[0].operation, "UpdateSecretVersionStage");
}

#[test]
fn create_client_key_is_one_operation() {
    let (_d, store) = fresh();
    with_aap(&store);
    let (nb, na) = default_client_key_window(1_700_000_000).unwrap();
    assert_eq!(nb, 1_700_000_000);
    // Five calendar years (with one or two leap days).
    assert!((5 * 365 * 86_400 + 86_400..=5 * 365 * 86_400 + 2 * 86_400).contains(&(na - nb)), "{}", na - nb);
    let now = crate::time::now();
    let (nb, na) = default_client_key_window(now).unwrap();

    let g = store.generation().unwrap();
    for (aap_name, pw, nb2, na2, param) in [
        ("app", "short1", nb, na, "Password"),
        ("app", "onlyletters", nb, na, "Password"),
        ("app", "abcd1234", na, nb, "NotAfter"),
        ("bad name", "abcd1234", nb, na, "AapName"),
    ] {
        let err = store.create_client_key(aap_name, pw, nb2, na2).err().unwrap();
        assert!(matches!(err, StoreError::InvalidParameter { param: p, .. } if p == param), "{param}: {err}");
    }
    assert!(matches!(store.create_client_key("nope", "abcd1234", nb, na), Err(StoreError::NotFound { .. })));
    assert_eq!(store.generation().unwrap(), g);

    let created = store.create_client_key("app", "abcd1234", nb, na).unwrap();
    assert!(created.info.client_key_id.starts_with("KAAP."));
    assert_eq!(created.info.aap_name, "app");
    assert_eq!(created.info.not_before, format_time(nb));
    assert!(created.pkcs12.len() > 1000);
    assert!(!format!("{created:?}").contains(created.private_key_data().as_str()));
    let content: serde_json::Value = serde_json::from_str(&created.client_key_content().unwrap()).unwrap();
    assert_eq!(content["KeyId"], created.info.client_key_id.as_str());
    assert_eq!(content["PrivateKeyData"], created.private_key_data().as_str());
    let stored = store.get_client_key(&created.info.client_key_id).unwrap();
    assert!(stored.public_key_data.contains("BEGIN CERTIFICATE") && !stored.public_key_data.contains("PRIVATE"));
    store.create_client_key("app", "abcd1234", nb, na).unwrap();
    store.create_client_key("app", "abcd1234", nb, na).unwrap();
    let err = store.create_client_key("app", "abcd1234", nb, na).err().unwrap();
    assert!(matches!(err, StoreError::InvalidParameter { param: "AapName", .. }), "{err}");
    assert_eq!(store.list_client_keys(Some("app")).unwrap().len(), 3);
}

#[test]
fn a_refused_limit_leaves_nothing_behind() {
    let (_d, store) = fresh();
    store.create_network_rule(&rule("r", &["10.0.0.1"])).unwrap();
    for p in ["p1", "p2", "p3", "p4"] {
        store.create_policy(&policy(p, &["r"])).unwrap();
    }
    store.create_aap(&aap("a", &["p1"])).unwrap();
    let g = store.generation().unwrap();
    let err = store
        .update_aap(&AapUpdate {
            name: "a".into(),
            policies: Some(vec!["p1".into(), "p2".into(), "p3".into(), "p4".into()]),
            description: Some("changed".into()),
        })
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::InvalidParameter { param: "Policies", .. }), "{err}");
    assert_eq!(err.code(), "InvalidParameter");
    let a = store.describe_aap("a").unwrap();
    assert_eq!((a.policies, a.description), (vec!["p1".to_string()], String::new()));
    let ips: Vec<String> = (0..801).map(|i| format!("10.{}.{}.1", i / 256, i % 256)).collect();
    let err = store
        .update_network_rule(&NetworkRuleUpdate { name: "r".into(), source_private_ip: Some(ips), description: None })
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::InvalidParameter { param: "SourcePrivateIp", .. }), "{err}");
    assert_eq!(store.generation().unwrap(), g);
}

mod catalogue;
mod catalogue_log;
mod changelog;
mod ram_roles;

/// The store suite on PostgreSQL: one throwaway cluster (`initdb` in a temporary directory, removed
/// after), and every test above that is not about SQLite's files run on it, each with databases
/// of its own. PostgreSQL is part of the test set-up (`.ci/setup.sh` installs it): a machine
/// without it fails here rather than passing on one backend.
#[test]
fn postgres_runs_the_store_suite() {
    let cluster = Arc::new(aapkit_testpg::PgCluster::start().unwrap_or_else(|e| panic!("PostgreSQL: {e}")));
    let cases: &[(&str, fn())] = &[
        ("wrong_master_key_is_refused_clearly", wrong_master_key_is_refused_clearly),
        ("swapped_sealed_blobs_do_not_open", swapped_sealed_blobs_do_not_open),
        ("generation_bumps_on_writes_only", generation_bumps_on_writes_only),
        ("writes_survive_reopen_and_are_seen_by_other_handles", writes_survive_reopen_and_are_seen_by_other_handles),
        ("schema_from_the_future_is_refused", schema_from_the_future_is_refused),
        ("key_lifecycle", key_lifecycle),
        ("expired_pending_deletion_is_gone", expired_pending_deletion_is_gone),
        ("aliases", aliases),
        ("secrets_and_stages", secrets_and_stages),
        ("network_rule_validation_and_limits", network_rule_validation_and_limits),
        ("policy_validation_limits_and_references", policy_validation_limits_and_references),
        ("aap_limits_and_references", aap_limits_and_references),
        ("client_key_records_are_public_only", client_key_records_are_public_only),
        ("keyring_snapshot_is_cached_by_generation", keyring_snapshot_is_cached_by_generation),
        ("export_holds_the_catalogue_and_no_secrets", export_holds_the_catalogue_and_no_secrets),
        (
            "purge_destroys_material_after_the_window_and_leaves_no_trace_in_the_files",
            purge_destroys_material_after_the_window_and_leaves_no_trace_in_the_files,
        ),
        ("purge_skips_a_key_whose_deletion_was_cancelled", purge_skips_a_key_whose_deletion_was_cancelled),
        ("access_key_lifecycle_events_and_sealing", access_key_lifecycle_events_and_sealing),
        ("the_credential_cache_follows_writes_of_other_handles", the_credential_cache_follows_writes_of_other_handles),
        (
            "create_key_parameters_are_checked_and_describe_has_what_describekey_needs",
            create_key_parameters_are_checked_and_describe_has_what_describekey_needs,
        ),
        ("key_versions_and_update_alias", key_versions_and_update_alias),
        ("delete_restore_and_purge_secrets", delete_restore_and_purge_secrets),
        ("secret_version_ids_and_stages", secret_version_ids_and_stages),
        ("create_client_key_is_one_operation", create_client_key_is_one_operation),
        ("a_refused_limit_leaves_nothing_behind", a_refused_limit_leaves_nothing_behind),
        (
            "a_stored_policy_that_grants_nothing_is_left_out_of_the_bundle",
            a_stored_policy_that_grants_nothing_is_left_out_of_the_bundle,
        ),
        ("concurrent_handles_serialise_their_writes", concurrent_handles_serialise_their_writes),
    ];
    let ram_cases = ram_roles::CASES;
    let catalogue_cases = catalogue::CASES;
    let changelog_cases = changelog::CASES;
    let catalogue_log_cases = catalogue_log::CASES;
    let mut failed = Vec::new();
    for (name, case) in cases
        .iter()
        .chain(ram_cases.iter())
        .chain(catalogue_cases.iter())
        .chain(changelog_cases.iter())
        .chain(catalogue_log_cases.iter())
    {
        PG.with(|pg| *pg.borrow_mut() = Some(cluster.clone()));
        let outcome = std::panic::catch_unwind(case);
        PG.with(|pg| *pg.borrow_mut() = None);
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    assert!(failed.is_empty(), "on PostgreSQL, failed: {failed:?}");

    // One schema: the same tables and columns on both engines (PostgreSQL's key_versions spells
    // out the `rowid` SQLite keeps implicitly).
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate().unwrap();
    let sqlite = open(dir.path(), &key);
    let mut on_sqlite: Vec<(String, String)> = sqlite
        .lock()
        .run(db::TxMode::Read, |tx| {
            tx.query_map(
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .unwrap();
    PG.with(|pg| *pg.borrow_mut() = Some(cluster.clone()));
    let postgres = open(tempfile::tempdir().unwrap().path(), &key);
    PG.with(|pg| *pg.borrow_mut() = None);
    let mut on_postgres: Vec<(String, String)> = postgres
        .lock()
        .run(db::TxMode::Read, |tx| {
            tx.query_map(
                "SELECT table_name::TEXT, column_name::TEXT FROM information_schema.columns
                 WHERE table_schema = current_schema() AND NOT (table_name = 'key_versions' AND column_name = 'rowid')",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .unwrap();
    // `meta` is the one table laid out per engine (one typed value column each).
    on_sqlite.retain(|(t, _)| t != "meta");
    on_postgres.retain(|(t, _)| t != "meta");
    on_sqlite.sort();
    on_postgres.sort();
    assert_eq!(on_sqlite, on_postgres);
    assert!(cases.len() + ram_cases.len() >= 30);
}

/// Two handles (two gateways' connections) creating in parallel: every write lands once, each
/// bumps the generation once, and a name taken by one is refused to the other.
#[test]
fn concurrent_handles_serialise_their_writes() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate().unwrap();
    let a = Arc::new(open(dir.path(), &key));
    let b = Arc::new(open(dir.path(), &key));
    let g0 = a.generation().unwrap();
    let workers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .enumerate()
        .map(|(w, store)| {
            std::thread::spawn(move || {
                let mut taken = 0;
                for i in 0..20 {
                    store.create_network_rule(&rule(&format!("own-{w}-{i}"), &["10.0.0.1"])).unwrap();
                    if store.create_network_rule(&rule(&format!("contested-{i}"), &["10.0.0.2"])).is_ok() {
                        taken += 1;
                    }
                }
                taken
            })
        })
        .collect();
    let taken: i32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(taken, 20, "each contested name is created exactly once");
    assert_eq!(a.generation().unwrap(), g0 + 60);
    assert_eq!(b.list_network_rules().unwrap().len(), 60);
}

/// Stores, under the API, a policy `old` that grants nothing (a shared policy with only KeyUser), as
/// one stored before such policies were refused, and adds it to `aap`'s list, second.
fn store_policy_granting_nothing(store: &Store, aap: &str) {
    raw_execute(
        store,
        "INSERT INTO policies(name, kms_instance, permissions, resources, description, created)
         VALUES ('old', 'shared', '[\"RbacPermission/Template/CryptoServiceKeyUser\"]', '[\"key/*\"]', '', 0)",
        params![],
    );
    raw_execute(store, "INSERT INTO aap_policies(aap, policy, position) VALUES (?1, 'old', 1)", params![aap]);
}

/// A policy stored before such policies were refused (a shared policy with only KeyUser) is left
/// out of the bundle instead of making the configuration invalid; the AAP keeps its other policies.
#[test]
fn a_stored_policy_that_grants_nothing_is_left_out_of_the_bundle() {
    let (_d, store) = fresh();
    store.create_network_rule(&rule("r", &["10.0.0.1"])).unwrap();
    store.create_policy(&policy("good", &["r"])).unwrap();
    store.create_aap(&aap("a", &["good"])).unwrap();
    store_policy_granting_nothing(&store, "a");
    let json = store.export_bundle_json("kst-test").unwrap();
    let compiled = policy_core::compile_bundle(&json);
    assert!(compiled.is_ok(), "{json}");
    let bundle: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(bundle["Policies"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(bundle["ApplicationAccessPoints"][0]["Policies"], serde_json::json!(["good"]));
}
