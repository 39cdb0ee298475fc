//! The catalogue generation and reloads that skip an unchanged key catalogue
//! ([`Store::config_snapshot_since`]).

use super::*;
use aapkit_kms::keyring::IndexedKeyRing;

const SCOPE: &str = "kst-test";

/// A change made through the store's API, by name in a test's list.
type Change<'a> = Box<dyn Fn(&Store) + 'a>;

/// The store's catalogue generation, as a full read reports it.
fn catalogue(store: &Store) -> Option<u64> {
    store.config_snapshot_since(SCOPE, None).unwrap().catalogue_generation
}

/// The bundle without its catalogue part (what a read that skipped the catalogue returns).
fn access_part(mut bundle: policy_core::Bundle) -> policy_core::Bundle {
    bundle.keys.clear();
    bundle.secrets.clear();
    bundle
}

/// The bundle a full read gives now, with the generation it reflects (`export_bundle_at`).
fn exported(store: &Store) -> policy_core::Bundle {
    let (g, bundle) = store.export_bundle_at(SCOPE).unwrap();
    assert_eq!(bundle.gateway.as_ref().unwrap().generation, Some(g));
    bundle
}

/// Everything `ring` serves for the store's keys, aliases and secret versions, material and values
/// included (hex), in a fixed order: two rings that give the same lines serve the same.
pub(super) fn served(store: &Store, ring: &IndexedKeyRing) -> Vec<String> {
    let mut out = vec![format!("keys {}", ring.key_count())];
    let names: Vec<String> = raw_query(store, "SELECT id FROM keys ORDER BY id", params![]);
    let aliases: Vec<String> = raw_query(store, "SELECT name FROM aliases ORDER BY name", params![]);
    for name in names.iter().chain(&aliases) {
        match ring.resolve_key(name).unwrap() {
            None => out.push(format!("{name}: none")),
            Some(k) => {
                out.push(format!(
                    "{name}: {} {:?} {:?} {} {}",
                    k.key_id, k.spec, k.state, k.initial_version_id, k.primary_version_id
                ));
                for v in &k.versions {
                    out.push(format!("  {} {}", v.version_id, hex::encode(v.material.as_slice())));
                    assert_eq!(ring.key_by_version(&v.version_id).unwrap().unwrap().key_id, k.key_id);
                }
            }
        }
    }
    for s in store.list_secrets().unwrap() {
        for v in &s.versions {
            match ring.secret_value(&s.secret_name, Some(&v.version_id), None).unwrap() {
                None => out.push(format!("{}/{}: none", s.secret_name, v.version_id)),
                Some(r) => out.push(format!(
                    "{}/{}: {:?} {:?} {} {} {}",
                    s.secret_name,
                    v.version_id,
                    r.stages,
                    r.data_type,
                    r.create_time,
                    r.encryption_key_id,
                    hex::encode(r.data.as_slice())
                )),
            }
        }
    }
    out
}

/// A configuration with every kind of catalogue entry: an AAP (rule, policy), a client key, two
/// keys (one rotated, with an alias), a secret with two versions.
fn populated(store: &Store) -> KeyInfo {
    with_aap(store);
    store.insert_client_key(&client_key("app")).unwrap();
    let k = store.create_key(None, "").unwrap();
    store.rotate_key(&k.key_id).unwrap();
    store.create_alias("alias/app", &k.key_id).unwrap();
    store.create_key(Some("EC_P256"), "").unwrap();
    store.create_secret("app/db", &k.key_id, "", text("v1")).unwrap();
    store.put_secret_value("app/db", text("v2")).unwrap();
    k
}

/// Asserts that a read with `known` skipped the catalogue: no ring, no keys or secrets, and an
/// access part equal to a full read's.
fn assert_skipped(store: &Store, known: u64, what: &str) {
    let read = store.config_snapshot_since(SCOPE, Some(known)).unwrap();
    assert_eq!(read.generation, store.generation().unwrap(), "{what}");
    assert_eq!(read.catalogue_generation, Some(known), "{what}: the catalogue generation moved");
    assert!(read.ring.is_none(), "{what}: the catalogue was read although it did not change");
    assert!(read.bundle.keys.is_empty() && read.bundle.secrets.is_empty(), "{what}");
    assert_eq!(read.bundle, access_part(exported(store)), "{what}: the access part differs from a full read's");
    let full = store.config_snapshot_since(SCOPE, None).unwrap();
    assert_eq!(access_part(full.bundle), read.bundle, "{what}");
}

/// Asserts that a read with `known` read the whole catalogue, and gives what `config_snapshot`
/// gives.
fn assert_full(store: &Store, known: Option<u64>, what: &str) -> ConfigRead {
    let read = store.config_snapshot_since(SCOPE, known).unwrap();
    let ring = read.ring.as_ref().unwrap_or_else(|| panic!("{what}: the catalogue was not read"));
    let (g, full_ring, full_bundle) = store.config_snapshot(SCOPE).unwrap();
    assert_eq!(read.generation, g, "{what}");
    assert_eq!(read.bundle, full_bundle, "{what}: the bundle differs from config_snapshot's");
    assert_eq!(read.bundle, exported(store), "{what}");
    assert_eq!(served(store, ring), served(store, &full_ring), "{what}: the ring differs from config_snapshot's");
    read
}

#[test]
fn access_changes_leave_the_catalogue_and_a_reload_skips_it() {
    let (_d, store) = fresh();
    populated(&store);
    let first = assert_full(&store, None, "first read");
    let c = first.catalogue_generation.unwrap();
    assert!(!first.bundle.keys.is_empty() && !first.bundle.secrets.is_empty());
    // Nothing changed at all: skipped too.
    assert_skipped(&store, c, "no change");

    let changes: Vec<(&str, Change<'_>)> = vec![
        (
            "client key added",
            Box::new(|s| {
                s.insert_client_key(&client_key("app")).unwrap();
            }),
        ),
        (
            "policy edited",
            Box::new(|s| {
                s.update_policy(&PolicyUpdate {
                    name: "p1".into(),
                    permissions: None,
                    resources: Some(vec!["key/*".into(), "secret/*".into()]),
                    network_rules: None,
                    description: Some("edited".into()),
                    kms_instance: None,
                })
                .unwrap();
            }),
        ),
        (
            "AAP edited",
            Box::new(|s| {
                s.create_policy(&policy("p2", &["r1"])).unwrap();
                s.update_aap(&AapUpdate {
                    name: "app".into(),
                    policies: Some(vec!["p1".into(), "p2".into()]),
                    description: Some("edited".into()),
                })
                .unwrap();
            }),
        ),
        (
            "network rule edited",
            Box::new(|s| {
                s.update_network_rule(&NetworkRuleUpdate {
                    name: "r1".into(),
                    source_private_ip: Some(vec!["10.0.0.0/8".into(), "192.168.1.0/24".into()]),
                    description: None,
                })
                .unwrap();
            }),
        ),
        // Not in the bundle at all: only the generation moves.
        (
            "access key created",
            Box::new(|s| {
                s.create_access_key("").unwrap();
            }),
        ),
    ];
    let without_generation = |mut b: policy_core::Bundle| {
        b.gateway.as_mut().unwrap().generation = None;
        b
    };
    for (what, change) in changes {
        let before = access_part(exported(&store));
        let g = store.generation().unwrap();
        change(&store);
        assert!(store.generation().unwrap() > g, "{what}: not a configuration change");
        assert_eq!(catalogue(&store), Some(c), "{what} moved the catalogue generation");
        let after = access_part(exported(&store));
        if what != "access key created" {
            // Else comparing the access part with a full read's would prove little.
            assert_ne!(without_generation(before), without_generation(after), "{what} left the bundle unchanged");
        }
        assert_skipped(&store, c, what);
    }
    // A reader that knows nothing, or an older value, reads everything.
    assert_full(&store, None, "unknown");
    assert_full(&store, Some(c - 1), "older");
    assert_full(&store, Some(c + 1000), "unrelated");
}

#[test]
fn catalogue_changes_move_it_and_force_a_full_read() {
    let (_d, store) = fresh();
    with_aap(&store);
    let mut known = catalogue(&store).unwrap();
    let key = std::cell::RefCell::new(String::new());
    let k = || key.borrow().clone();
    let changes: Vec<(&str, Change<'_>)> = vec![
        ("key created", Box::new(|s| *key.borrow_mut() = s.create_key(None, "").unwrap().key_id)),
        (
            "alias created",
            Box::new(|s| {
                s.create_alias("alias/a", &k()).unwrap();
            }),
        ),
        (
            "alias updated",
            Box::new(|s| {
                let other = s.create_key(None, "").unwrap().key_id;
                s.update_alias("alias/a", &other).unwrap();
            }),
        ),
        ("alias deleted", Box::new(|s| s.delete_alias("alias/a").unwrap())),
        (
            "key version created",
            Box::new(|s| {
                s.create_key_version(&k()).unwrap();
            }),
        ),
        (
            "key disabled",
            Box::new(|s| {
                s.disable_key(&k()).unwrap();
            }),
        ),
        (
            "key enabled",
            Box::new(|s| {
                s.enable_key(&k()).unwrap();
            }),
        ),
        (
            "secret created",
            Box::new(|s| {
                s.create_secret("s1", &k(), "", text("one")).unwrap();
            }),
        ),
        (
            "secret value put",
            Box::new(|s| {
                s.put_secret_value("s1", versioned("v2")).unwrap();
            }),
        ),
        (
            "secret stage moved",
            Box::new(|s| {
                let first = s.describe_secret("s1").unwrap().versions[0].version_id.clone();
                s.update_secret_version_stage("s1", STAGE_CURRENT, Some("v2"), Some(&first)).unwrap();
            }),
        ),
        (
            "secret deleted",
            Box::new(|s| {
                s.delete_secret("s1", Some(7), false).unwrap();
            }),
        ),
        (
            "secret restored",
            Box::new(|s| {
                s.restore_secret("s1").unwrap();
            }),
        ),
        (
            "secret force-deleted",
            Box::new(|s| {
                s.delete_secret("s1", None, true).unwrap();
            }),
        ),
        (
            "key deletion scheduled",
            Box::new(|s| {
                s.schedule_key_deletion(&k(), 7).unwrap();
            }),
        ),
        (
            "key deletion cancelled",
            Box::new(|s| {
                s.cancel_key_deletion(&k()).unwrap();
            }),
        ),
    ];
    for (what, change) in changes {
        let before = store.export_bundle(SCOPE).unwrap();
        let ring_before = served(&store, &store.config_snapshot(SCOPE).unwrap().1);
        change(&store);
        let g = store.generation().unwrap();
        assert_eq!(catalogue(&store), Some(g), "{what} did not move the catalogue generation to its own");
        let read = assert_full(&store, Some(known), what);
        assert_eq!(read.catalogue_generation, Some(g), "{what}");
        // The change is visible in what the full read gave (else the test proves nothing).
        assert!(
            read.bundle != before || served(&store, read.ring.as_ref().unwrap()) != ring_before,
            "{what} changed neither the bundle nor the ring"
        );
        assert_skipped(&store, g, what);
        known = g;
    }
}

#[test]
fn purges_move_it_and_an_ended_deletion_window_is_read_before_its_purge() {
    let (_d, store) = fresh();
    with_aap(&store);
    let doomed = store.create_key(None, "").unwrap();
    store.create_alias("alias/doomed", &doomed.key_id).unwrap();
    store.create_secret("under-doomed", &doomed.key_id, "", text("x")).unwrap();
    let kept = store.create_key(None, "").unwrap();
    store.create_secret("gone", &kept.key_id, "", text("y")).unwrap();
    store.delete_secret("gone", Some(7), false).unwrap();
    store.schedule_key_deletion(&doomed.key_id, 7).unwrap();
    let c = catalogue(&store).unwrap();
    assert_skipped(&store, c, "inside the window");

    // The window ends (no write marks it): the key leaves every read, so the reload reads it all.
    raw_execute(&store, "UPDATE keys SET deletion_date = 1 WHERE id = ?1", params![doomed.key_id]);
    assert_eq!(catalogue(&store), Some(c));
    let read = assert_full(&store, Some(c), "window ended, not purged");
    assert!(read.bundle.keys.iter().all(|k| k.key_id != doomed.key_id), "the expired key is still listed");
    assert!(read.ring.as_ref().unwrap().resolve_key(&doomed.key_id).unwrap().is_none());
    assert!(read.bundle.secrets.iter().all(|s| s.secret_name != "under-doomed"));

    // The purge destroys both (a catalogue write each): from then on the reload may skip again.
    let report = store.purge_deleted_keys(crate::time::now() + 31 * 86_400).unwrap();
    assert_eq!(report.purged_keys, vec![doomed.key_id.clone()]);
    assert_eq!(report.purged_secrets, vec!["gone".to_owned()]);
    let g = store.generation().unwrap();
    assert_eq!(catalogue(&store), Some(g), "the purge did not move the catalogue generation");
    assert_full(&store, Some(c), "after the purge");
    assert_skipped(&store, g, "after the purge");
}

#[test]
fn a_store_without_the_record_always_reads_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate().unwrap();
    let store = open(dir.path(), &key);
    populated(&store);
    let c = catalogue(&store).unwrap();
    // A database from before the record (or one it was removed from).
    assert_eq!(raw_execute(&store, "DELETE FROM meta WHERE name = 'catalogue_generation'", params![]), 1);
    for known in [None, Some(c), Some(store.generation().unwrap())] {
        let read = assert_full(&store, known, "no record");
        assert_eq!(read.catalogue_generation, None);
    }
    // A change that leaves the catalogue does not make one up; reopening does not either.
    store.create_policy(&policy("p2", &["r1"])).unwrap();
    drop(store);
    let store = open(dir.path(), &key);
    assert_eq!(catalogue(&store), None);
    assert_full(&store, Some(c), "no record, after an access change");
    // The next catalogue change records it again.
    store.create_key(None, "").unwrap();
    let g = store.generation().unwrap();
    assert_eq!(catalogue(&store), Some(g));
    assert_skipped(&store, g, "recorded again");
}

#[test]
fn a_full_read_equals_config_snapshot() {
    let (_d, store) = fresh();
    // Empty, then populated (with a secret whose key's window ended, left out of the bundle).
    assert_full(&store, None, "empty store");
    populated(&store);
    let doomed = store.create_key(None, "").unwrap();
    store.create_secret("orphan", &doomed.key_id, "", text("x")).unwrap();
    store.schedule_key_deletion(&doomed.key_id, 7).unwrap();
    raw_execute(&store, "UPDATE keys SET deletion_date = 1 WHERE id = ?1", params![doomed.key_id]);
    let read = assert_full(&store, None, "populated");
    assert_eq!(read.catalogue_generation, Some(store.generation().unwrap()));
    assert_eq!(read.bundle.keys.len(), 2);
    assert_eq!(read.bundle.secrets.len(), 1);
    assert_eq!(read.ring.as_ref().unwrap().key_count(), 2);
    // A scope is checked as config_snapshot checks it.
    assert!(store.config_snapshot_since("bogus", None).is_err());
    assert!(store.config_snapshot_since("bogus", read.catalogue_generation).is_err());
}

#[test]
fn a_dry_run_leaves_the_catalogue_generation() {
    let (_d, mut store) = fresh();
    populated(&store);
    let c = catalogue(&store).unwrap();
    let (_, after) = store.dry_run(SCOPE, |s| s.create_key(None, "")).unwrap();
    assert_eq!(after.keys.len(), 3, "the dry run's bundle has the new key");
    assert_eq!(catalogue(&store), Some(c));
    assert_skipped(&store, c, "after a dry run");
}

/// `touches_catalogue` is true exactly for the types whose writes reach the catalogue tables.
#[test]
fn catalogue_resource_types() {
    let touching: Vec<ResourceType> = ResourceType::ALL.into_iter().filter(|t| t.touches_catalogue()).collect();
    assert_eq!(touching, vec![ResourceType::Key, ResourceType::Alias, ResourceType::Secret]);
}

/// The audit as a test: outside the schema's migrations, SQL that writes a catalogue table appears
/// only in keys.rs and secrets.rs, whose every write is a `Store::write` of a catalogue type (and
/// neither uses a plain write); migrate.rs's copy writes every table and sets the record itself.
/// A new statement anywhere else fails here until it is covered.
#[test]
fn only_catalogue_changes_write_the_catalogue_tables() {
    const TABLES: [&str; 6] = ["keys", "aliases", "key_versions", "secrets", "secret_versions", "secret_stages"];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: Vec<PathBuf> = fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    assert!(files.len() > 15, "{files:?}");
    let mut writers = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name == "tests.rs" {
            continue;
        }
        let text = fs::read_to_string(path).unwrap();
        let words: Vec<String> = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '{' || c == '}'))
            .filter(|w| !w.is_empty())
            .map(|w| w.to_ascii_lowercase())
            .collect();
        for pair in words.windows(3) {
            let target = match (pair[0].as_str(), pair[1].as_str()) {
                ("insert", "into") | ("delete", "from") => pair[2].as_str(),
                ("update", t) => t,
                _ => continue,
            };
            if TABLES.contains(&target) || target.starts_with('{') {
                writers.push((name.clone(), target.to_owned()));
            }
        }
    }
    writers.sort();
    writers.dedup();
    let mut files_writing: Vec<&str> = writers.iter().map(|(f, _)| f.as_str()).collect();
    files_writing.dedup();
    // audit_log.rs: `DELETE FROM {table}` over audit_log and mgmt_events only (checked below).
    assert_eq!(files_writing, ["audit_log.rs", "keys.rs", "migrate.rs", "schema.rs", "secrets.rs"], "{writers:?}");
    let audit = fs::read_to_string(src.join("audit_log.rs")).unwrap();
    assert!(audit.contains(r#"[("audit_log", 0usize), ("mgmt_events", 1)]"#));
    let migrate = fs::read_to_string(src.join("migrate.rs")).unwrap();
    assert!(migrate.contains("crate::set_catalogue_generation(tx, next)?"));
    for file in ["keys.rs", "secrets.rs"] {
        let text = fs::read_to_string(src.join(file)).unwrap();
        assert!(!text.contains("write_plain") && !text.contains("TxMode::Write"), "{file} writes outside Store::write");
        let mut writes = 0;
        for (i, _) in text.match_indices("self.write(") {
            let call = &text[i..text.len().min(i + 200)];
            let ty = call.split("ResourceType::").nth(1).and_then(|r| r.split(',').next()).unwrap_or("?");
            let ty = ResourceType::ALL.into_iter().find(|t| format!("{t:?}") == ty);
            assert!(ty.is_some_and(|t| t.touches_catalogue()), "{file}: {}", &call[..call.len().min(100)]);
            writes += 1;
        }
        assert!(writes >= 5, "{file}: {writes} writes");
    }
}

/// A database of the previous release (schema 6, no record) gets the record at the current
/// generation when it is opened; a wound-back database keeps the one it has.
#[test]
fn the_migration_starts_the_record_at_the_current_generation() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        for step in &schema::MIGRATIONS[..6] {
            conn.execute_batch(step).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO meta(name, value) VALUES ('schema_version', 6);
             UPDATE meta SET value = 41 WHERE name = 'generation';",
        )
        .unwrap();
    }
    let key = MasterKey::generate().unwrap();
    let store = Store::open_with_key(dir.path(), &key).unwrap();
    assert_eq!(store.generation().unwrap(), 41);
    assert_eq!(catalogue(&store), Some(41));
    assert_skipped(&store, 41, "migrated");
    assert_eq!(schema::MIGRATIONS.len(), schema::PG_MIGRATIONS.len());
    // Wound back past the step again (as `migration_adds_the_tables_to_an_existing_database`
    // does): the record it has is kept, and the step runs again without failing.
    store.create_key(None, "").unwrap();
    assert_eq!(catalogue(&store), Some(42));
    raw_execute(&store, "UPDATE meta SET value = 6 WHERE name = 'schema_version'", params![]);
    raw_execute(&store, "UPDATE meta SET value = 50 WHERE name = 'generation'", params![]);
    drop(store);
    let store = Store::open_with_key(dir.path(), &key).unwrap();
    assert_eq!(catalogue(&store), Some(42));
    let version: Vec<i64> = raw_query(&store, "SELECT value FROM meta WHERE name = 'schema_version'", params![]);
    assert_eq!(version, vec![SCHEMA_VERSION]);
}

/// A copy into a new store (`aapkit store migrate`) writes the catalogue outside `Store::write`: a
/// reader of the target that held its empty catalogue reads it again.
#[test]
fn a_copy_moves_the_targets_catalogue_generation() {
    let key = MasterKey::generate().unwrap();
    let (source_dir, target_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = open(source_dir.path(), &key);
    populated(&source);
    let target = open(target_dir.path(), &key);
    let before = target.config_snapshot_since(SCOPE, None).unwrap();
    let known = before.catalogue_generation.unwrap();
    assert!(before.bundle.keys.is_empty());
    let report = source.copy_into(&target).unwrap();
    assert_eq!(catalogue(&target), Some(report.generation));
    let read = assert_full(&target, Some(known), "after the copy");
    assert_eq!(read.bundle.keys.len(), 2);
    let mut copied = read.bundle;
    let mut original = source.export_bundle(SCOPE).unwrap();
    copied.gateway.as_mut().unwrap().generation = None;
    original.gateway.as_mut().unwrap().generation = None;
    assert_eq!(copied, original);
}

/// The cases above that run on PostgreSQL too (`postgres_runs_the_store_suite`); the migration
/// case builds a SQLite file, and the source scan and the type list need no engine.
pub(super) const CASES: &[(&str, fn())] = &[
    (
        "access_changes_leave_the_catalogue_and_a_reload_skips_it",
        access_changes_leave_the_catalogue_and_a_reload_skips_it,
    ),
    ("catalogue_changes_move_it_and_force_a_full_read", catalogue_changes_move_it_and_force_a_full_read),
    (
        "purges_move_it_and_an_ended_deletion_window_is_read_before_its_purge",
        purges_move_it_and_an_ended_deletion_window_is_read_before_its_purge,
    ),
    ("a_store_without_the_record_always_reads_in_full", a_store_without_the_record_always_reads_in_full),
    ("a_full_read_equals_config_snapshot", a_full_read_equals_config_snapshot),
    ("a_dry_run_leaves_the_catalogue_generation", a_dry_run_leaves_the_catalogue_generation),
    ("a_copy_moves_the_targets_catalogue_generation", a_copy_moves_the_targets_catalogue_generation),
];
