//! Reloads that patch the key catalogue from the change log ([`crate::catalogue`]): a patched read
//! gives exactly the ring and the bundle entries a whole read gives, and whenever the patch
//! cannot be trusted the read is whole.

use super::catalogue::served;
use super::changelog::Dice;
use super::*;
use crate::catalogue::{Catalogue, CatalogueRead};
use aapkit_kms::keyring::IndexedKeyRing;

const SCOPE: &str = "kst-test";

/// What a whole read gives now, made apart from the handle's cache.
fn whole(store: &Store) -> (IndexedKeyRing, (Vec<policy_core::Key>, Vec<policy_core::Secret>)) {
    store
        .lock()
        .run(db::TxMode::Read, |tx| {
            let c = Catalogue::read(tx, &store.sealer)?.parts();
            Ok((c.ring, (c.keys, c.secrets)))
        })
        .unwrap()
}

/// Reads as a reload does (the catalogue kept when `known` is current) and checks what it read
/// against a whole read and the export; returns how the catalogue was read and its generation.
fn reload(store: &Store, known: Option<u64>, what: &str) -> (CatalogueRead, Option<u64>) {
    let read = store.config_snapshot_since(SCOPE, known).unwrap();
    if read.catalogue == CatalogueRead::Kept {
        assert!(read.ring.is_none() && read.bundle.keys.is_empty(), "{what}");
        return (read.catalogue, read.catalogue_generation);
    }
    let ring = read.ring.as_ref().unwrap_or_else(|| panic!("{what}: no ring"));
    let (whole_ring, (keys, secrets)) = whole(store);
    assert_eq!(served(store, ring), served(store, &whole_ring), "{what}: the ring differs ({:?})", read.catalogue);
    assert_eq!(read.bundle.keys, keys, "{what}: the keys differ ({:?})", read.catalogue);
    assert_eq!(read.bundle.secrets, secrets, "{what}: the secrets differ ({:?})", read.catalogue);
    let exported = store.export_bundle(SCOPE).unwrap();
    assert_eq!((&read.bundle.keys, &read.bundle.secrets), (&exported.keys, &exported.secrets), "{what}");
    (read.catalogue, read.catalogue_generation)
}

/// One random call on keys, aliases or secrets (sometimes on the access part instead), valid or
/// not; returns what it was.
fn random_change(store: &Store, dice: &mut Dice, step: usize) -> String {
    let keys: Vec<String> = store.list_keys().unwrap().into_iter().map(|k| k.key_id).collect();
    let aliases: Vec<String> = store.list_aliases(None).unwrap().into_iter().map(|a| a.alias_name).collect();
    let secrets: Vec<String> = store.list_secrets().unwrap().into_iter().map(|s| s.secret_name).collect();
    let prefix = ["a-", "m-", "z-"][step % 3];
    let key = |d: &mut Dice| d.pick(&keys).cloned().unwrap_or_default();
    match dice.below(16) {
        0 | 1 => format!("create key: {:?}", store.create_key(None, "").map(|k| k.key_id)),
        2 => format!("rotate: {:?}", store.create_key_version(&key(dice)).map(|_| ())),
        3 => format!("disable: {:?}", store.disable_key(&key(dice)).map(|_| ())),
        4 => format!("enable: {:?}", store.enable_key(&key(dice)).map(|_| ())),
        5 => format!("schedule deletion: {:?}", store.schedule_key_deletion(&key(dice), 7).map(|_| ())),
        6 => format!("cancel deletion: {:?}", store.cancel_key_deletion(&key(dice)).map(|_| ())),
        7 => {
            format!("create alias: {:?}", store.create_alias(&format!("alias/{prefix}{step}"), &key(dice)).map(|_| ()))
        }
        8 => match dice.pick(&aliases) {
            Some(a) => format!("update alias {a}: {:?}", store.update_alias(a, &key(dice)).map(|_| ())),
            None => "no alias to update".into(),
        },
        9 => match dice.pick(&aliases) {
            Some(a) => format!("delete alias {a}: {:?}", store.delete_alias(a)),
            None => "no alias to delete".into(),
        },
        10 => format!(
            "create secret: {:?}",
            store.create_secret(&format!("{prefix}s{step}"), &key(dice), "", text("one")).map(|_| ())
        ),
        11 => match dice.pick(&secrets) {
            Some(s) => format!("put {s}: {:?}", store.put_secret_value(s, text(&format!("v{step}"))).map(|_| ())),
            None => "no secret to put".into(),
        },
        12 => match dice.pick(&secrets) {
            Some(s) => {
                let versions = store.describe_secret(s).map(|i| i.versions).unwrap_or_default();
                let to = versions.first().map(|v| v.version_id.clone()).unwrap_or_default();
                let from = versions.last().map(|v| v.version_id.clone());
                let moved = store.update_secret_version_stage(s, STAGE_CURRENT, from.as_deref(), Some(&to));
                format!("move the current stage of {s}: {:?}", moved.map(|_| ()))
            }
            None => "no secret to stage".into(),
        },
        13 => match dice.pick(&secrets) {
            Some(s) => {
                let force = dice.below(2) == 0;
                let deleted = store.delete_secret(s, (!force).then_some(7), force);
                format!("delete secret {s} (force {force}): {:?}", deleted.map(|_| ()))
            }
            None => "no secret to delete".into(),
        },
        14 => match dice.pick(&secrets) {
            Some(s) => format!("restore {s}: {:?}", store.restore_secret(s).map(|_| ())),
            None => "no secret to restore".into(),
        },
        // Outside the catalogue: the log rows a catalogue patch steps over.
        _ => format!("create access key: {:?}", store.create_access_key("").map(|_| ())),
    }
}

/// Random sequences of changes, one to four between reloads: every reload after the first either
/// keeps the catalogue (nothing in it changed) or patches it, and gives what a whole read gives.
#[test]
fn patched_catalogues_equal_whole_reads() {
    let mut secret_versions_put = 0;
    for seed in [7_u64, 0xcafe, 0x1234_5678] {
        let (_d, store) = fresh();
        with_aap(&store);
        let (first, mut known) = reload(&store, None, "first read");
        assert_eq!(first, CatalogueRead::Whole);
        let mut dice = Dice(seed);
        let mut log = Vec::new();
        let (mut patched, mut kept) = (0, 0);
        let steps = if on_postgres() { 50 } else { 100 };
        for step in 0..steps {
            for _ in 0..1 + dice.below(4) {
                log.push(random_change(&store, &mut dice, log.len()));
            }
            let what = format!("seed {seed} step {step}, after {:?}", &log[log.len().saturating_sub(4)..]);
            let (how, catalogue) = reload(&store, known, &what);
            match how {
                CatalogueRead::Patched { .. } => patched += 1,
                CatalogueRead::Kept => kept += 1,
                CatalogueRead::Whole => panic!("{what}: read whole"),
            }
            known = catalogue;
        }
        assert!(patched > steps / 2 && kept > 0, "seed {seed}: {patched} patched, {kept} kept");
        let errors = log.iter().filter(|l| l.contains("Err(")).count();
        assert!(errors > 0 && errors < log.len() / 2, "seed {seed}: {errors} of {} calls refused", log.len());
        let made = |call: &str| log.iter().filter(|l| l.starts_with(call) && l.contains("Ok(")).count();
        let counts = (made("create key"), made("create secret"), made("create alias"));
        assert!(counts.0 > 5 && counts.1 > 0 && counts.2 > 0, "seed {seed}: {counts:?} made");
        secret_versions_put += made("put ");
    }
    assert!(secret_versions_put > 0, "no secret value was put");
}

/// Each reason not to trust a patch gives a whole read, and a correct one.
#[test]
fn a_catalogue_that_cannot_be_patched_is_read_whole() {
    let (_d, store) = fresh();
    with_aap(&store);
    let k = store.create_key(None, "").unwrap().key_id;
    assert_eq!(reload(&store, None, "first").0, CatalogueRead::Whole);
    store.create_key_version(&k).unwrap();
    assert_eq!(reload(&store, None, "a rotation").0, CatalogueRead::Patched { changes: 1 });

    // A key whose deletion window ended (no write marks it) is read whole until its purge.
    let doomed = store.create_key(None, "").unwrap().key_id;
    store.create_alias("alias/doomed", &doomed).unwrap();
    store.create_secret("under-doomed", &doomed, "", text("x")).unwrap();
    store.schedule_key_deletion(&doomed, 7).unwrap();
    assert_eq!(reload(&store, None, "pending deletion").0, CatalogueRead::Patched { changes: 4 });
    raw_execute(&store, "UPDATE keys SET deletion_date = 1 WHERE id = ?1", params![doomed]);
    store.create_key(None, "").unwrap();
    assert_eq!(reload(&store, None, "window ended").0, CatalogueRead::Whole);
    store.purge_deleted_keys(crate::time::now()).unwrap();
    let (how, _) = reload(&store, None, "purged");
    assert!(matches!(how, CatalogueRead::Patched { .. }), "after the purge: {how:?}");

    // A row added outside the API beside a logged change: the counts differ.
    // (A change to `k` itself would read its aliases again and find it.)
    raw_execute(&store, "INSERT INTO aliases(name, key_id, created) VALUES ('alias/unlogged', ?1, 0)", params![k]);
    store.create_key(None, "").unwrap();
    assert_eq!(reload(&store, None, "an unlogged alias").0, CatalogueRead::Whole);
    assert_eq!(
        store.config_snapshot(SCOPE).unwrap().1.resolve_key("alias/unlogged").unwrap().unwrap().key_id,
        k,
        "the whole read did not see the unlogged alias"
    );

    // Another history: the row the reader holds has another token.
    let g = i64::try_from(store.generation().unwrap()).unwrap();
    raw_execute(&store, "UPDATE config_changes SET token = token + 1 WHERE generation = ?1", params![g]);
    store.create_key_version(&k).unwrap();
    assert_eq!(reload(&store, None, "another history").0, CatalogueRead::Whole);

    // Access changes between two catalogue changes are stepped over, not counted against it.
    for _ in 0..=crate::changelog::MAX_PATCHED_CHANGES {
        store.create_access_key("").unwrap();
    }
    store.create_key_version(&k).unwrap();
    let (how, _) = reload(&store, None, "far behind on the access part");
    assert_eq!(
        how,
        CatalogueRead::Patched { changes: usize::try_from(crate::changelog::MAX_PATCHED_CHANGES).unwrap() + 2 }
    );
}

/// More changed resources than a patch reads: the catalogue is read whole. (SQLite only: hundreds
/// of commits.)
#[test]
fn too_many_changed_resources_read_whole() {
    let (_d, store) = fresh();
    reload(&store, None, "first");
    for _ in 0..=crate::catalogue::MAX_PATCHED_RESOURCES {
        store.create_key(None, "").unwrap();
    }
    assert_eq!(reload(&store, None, "many keys").0, CatalogueRead::Whole);
    store.create_key(None, "").unwrap();
    assert_eq!(reload(&store, None, "one more").0, CatalogueRead::Patched { changes: 1 });
}

pub(super) const CASES: &[(&str, fn())] = &[
    ("patched_catalogues_equal_whole_reads", patched_catalogues_equal_whole_reads),
    ("a_catalogue_that_cannot_be_patched_is_read_whole", a_catalogue_that_cannot_be_patched_is_read_whole),
];
