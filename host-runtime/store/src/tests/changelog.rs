//! The change log and reloads that patch the access part from it ([`crate::changelog`]): a patched
//! read gives exactly what a whole read gives, and whenever the log cannot vouch for a patch the
//! read is whole.

use super::*;
use crate::changelog::AccessRead;

const SCOPE: &str = "kst-test";

/// A small deterministic generator (xorshift64*), so a failing sequence can be replayed.
pub(super) struct Dice(pub(super) u64);

impl Dice {
    pub(super) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }

    pub(super) fn pick<'a>(&mut self, names: &'a [String]) -> Option<&'a String> {
        (!names.is_empty()).then(|| &names[self.below(names.len())])
    }
}

/// The access part a whole read gives now (the export), without the generation.
fn whole_access(store: &Store) -> policy_core::Bundle {
    let mut bundle = store.export_bundle(SCOPE).unwrap();
    bundle.keys.clear();
    bundle.secrets.clear();
    bundle
}

/// Reads as a reload does (the catalogue skipped when `known` is current) and checks the access
/// part against a whole read's; returns how it was read and the catalogue generation.
fn reload(store: &Store, known: Option<u64>, what: &str) -> (AccessRead, Option<u64>) {
    let read = store.config_snapshot_since(SCOPE, known).unwrap();
    assert_eq!(read.generation, store.generation().unwrap(), "{what}");
    let mut got = read.bundle;
    assert_eq!(got.gateway.as_ref().unwrap().generation, Some(read.generation), "{what}");
    got.gateway.as_mut().unwrap().generation = None;
    got.keys.clear();
    got.secrets.clear();
    assert_eq!(got, whole_access(store), "{what}: the access part differs from a whole read's ({:?})", read.access);
    (read.access, read.catalogue_generation)
}

/// One random control-plane call, valid or not (a refused call changes nothing and logs
/// nothing); returns what it was.
fn random_change(store: &Store, dice: &mut Dice, step: usize) -> String {
    let rules: Vec<String> = store.list_network_rules().unwrap().into_iter().map(|r| r.name).collect();
    let policies: Vec<String> = store.list_policies().unwrap().into_iter().map(|p| p.name).collect();
    let aaps: Vec<String> = store.list_aaps().unwrap().into_iter().map(|a| a.name).collect();
    let keys: Vec<String> = store.list_client_keys(None).unwrap().into_iter().map(|k| k.client_key_id).collect();
    // Names that sort before, between and after the existing ones.
    let fresh = |prefix: &str| format!("{}{prefix}{step}", ["a-", "m-", "z-"][step % 3]);
    let ips = |d: &mut Dice| vec![format!("10.{}.0.0/16", d.below(200)), format!("192.168.{}.1", d.below(200))];
    let some = |d: &mut Dice, names: &[String]| {
        let mut out: Vec<String> = (0..1 + d.below(2)).filter_map(|_| d.pick(names).cloned()).collect();
        out.dedup();
        out
    };
    match dice.below(14) {
        0 => {
            let name = fresh("rule");
            let ips = ips(dice);
            let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
            format!("create rule {name}: {:?}", store.create_network_rule(&rule(&name, &ips)).map(|_| ()))
        }
        1 => match dice.pick(&rules) {
            Some(name) => {
                let update = NetworkRuleUpdate {
                    name: name.clone(),
                    source_private_ip: Some(ips(dice)),
                    description: Some(format!("step {step}")),
                };
                format!("update rule {name}: {:?}", store.update_network_rule(&update).map(|_| ()))
            }
            None => "no rule to update".into(),
        },
        2 => match dice.pick(&rules) {
            Some(name) => format!("delete rule {name}: {:?}", store.delete_network_rule(name)),
            None => "no rule to delete".into(),
        },
        3 | 4 => {
            let name = fresh("policy");
            let chosen = some(dice, &rules);
            let chosen: Vec<&str> = chosen.iter().map(String::as_str).collect();
            format!("create policy {name}: {:?}", store.create_policy(&policy(&name, &chosen)).map(|_| ()))
        }
        5 => match dice.pick(&policies) {
            Some(name) => {
                let update = PolicyUpdate {
                    name: name.clone(),
                    permissions: None,
                    resources: Some(vec![format!("key/step-{step}"), "secret/*".into()]),
                    network_rules: Some(some(dice, &rules)),
                    description: Some(format!("step {step}")),
                    kms_instance: None,
                };
                format!("update policy {name}: {:?}", store.update_policy(&update).map(|_| ()))
            }
            None => "no policy to update".into(),
        },
        6 => match dice.pick(&policies) {
            Some(name) => format!("delete policy {name}: {:?}", store.delete_policy(name)),
            None => "no policy to delete".into(),
        },
        7 => {
            let name = fresh("aap");
            let chosen = some(dice, &policies);
            let chosen: Vec<&str> = chosen.iter().map(String::as_str).collect();
            format!("create aap {name}: {:?}", store.create_aap(&aap(&name, &chosen)).map(|_| ()))
        }
        8 => match dice.pick(&aaps) {
            Some(name) => {
                let update = AapUpdate {
                    name: name.clone(),
                    policies: Some(some(dice, &policies)),
                    description: Some(format!("step {step}")),
                };
                format!("update aap {name}: {:?}", store.update_aap(&update).map(|_| ()))
            }
            None => "no aap to update".into(),
        },
        9 => match dice.pick(&aaps) {
            Some(name) => format!("delete aap {name}: {:?}", store.delete_aap(name)),
            None => "no aap to delete".into(),
        },
        10 | 11 => match dice.pick(&aaps) {
            Some(name) => {
                format!("add client key to {name}: {:?}", store.insert_client_key(&client_key(name)).map(|_| ()))
            }
            None => "no aap for a client key".into(),
        },
        12 => match dice.pick(&keys) {
            Some(id) => format!("delete client key {id}: {:?}", store.delete_client_key(id)),
            None => "no client key to delete".into(),
        },
        // Outside the access part: a key (the catalogue) and an access key (not in the bundle).
        _ => {
            if dice.below(2) == 0 {
                format!("create key: {:?}", store.create_key(None, "").map(|_| ()))
            } else {
                format!("create access key: {:?}", store.create_access_key("").map(|_| ()))
            }
        }
    }
}

/// Random sequences of changes, one to four between reloads: every reload after the first is
/// patched, and gives what a whole read gives.
#[test]
fn patched_reloads_equal_whole_reads() {
    for seed in [1_u64, 0x5eed, 0xdead_beef] {
        let (_d, store) = fresh();
        with_aap(&store);
        store.insert_client_key(&client_key("app")).unwrap();
        let (first, mut known) = reload(&store, None, "first read");
        assert_eq!(first, AccessRead::Whole);
        let mut dice = Dice(seed);
        let mut log = Vec::new();
        let mut patched_changes = 0;
        let steps = if on_postgres() { 50 } else { 120 };
        for step in 0..steps {
            let before = store.generation().unwrap();
            for _ in 0..1 + dice.below(4) {
                log.push(random_change(&store, &mut dice, log.len()));
            }
            let moved = store.generation().unwrap() - before;
            let what = format!("seed {seed} step {step}, after {:?}", &log[log.len().saturating_sub(4)..]);
            let (how, catalogue) = reload(&store, known, &what);
            assert_eq!(how, AccessRead::Patched { changes: usize::try_from(moved).unwrap() }, "{what}");
            patched_changes += moved;
            known = catalogue;
        }
        assert!(patched_changes > steps, "seed {seed}: only {patched_changes} changes were made");
        let errors = log.iter().filter(|l| l.contains("Err(")).count();
        assert!(errors > 0 && errors < log.len() / 2, "seed {seed}: {errors} of {} calls refused", log.len());
    }
}

/// Each way the log can fail to vouch for a patch gives a whole read, and a correct one.
#[test]
fn a_log_that_cannot_vouch_gives_a_whole_read() {
    let (_d, store) = fresh();
    with_aap(&store);
    // One logged change to the client keys: an AAP holds at most three.
    let add_key = |s: &Store| {
        let held = s.list_client_keys(Some("app")).unwrap();
        if held.len() == 3 {
            s.delete_client_key(&held[0].client_key_id).unwrap();
        } else {
            s.insert_client_key(&client_key("app")).unwrap();
        }
    };
    add_key(&store);
    reload(&store, None, "first");
    add_key(&store);
    assert_eq!(reload(&store, None, "logged").0, AccessRead::Patched { changes: 1 });
    // Nothing changed: patched from no rows.
    assert_eq!(reload(&store, None, "unchanged").0, AccessRead::Patched { changes: 0 });

    // The row of the generation the reader holds has another token: another history (a database
    // restored from a backup and written again reuses generation numbers).
    let g = i64::try_from(store.generation().unwrap()).unwrap();
    raw_execute(&store, "UPDATE config_changes SET token = token + 1 WHERE generation = ?1", params![g]);
    add_key(&store);
    assert_eq!(reload(&store, None, "another history").0, AccessRead::Whole);

    // A gap in the log.
    add_key(&store);
    add_key(&store);
    let g = i64::try_from(store.generation().unwrap()).unwrap();
    assert_eq!(raw_execute(&store, "DELETE FROM config_changes WHERE generation = ?1", params![g - 1]), 1);
    assert_eq!(reload(&store, None, "a gap").0, AccessRead::Whole);

    // A generation without its row (the read after it cannot be checked later, so the next is whole too).
    add_key(&store);
    let g = i64::try_from(store.generation().unwrap()).unwrap();
    assert_eq!(raw_execute(&store, "DELETE FROM config_changes WHERE generation = ?1", params![g]), 1);
    assert_eq!(reload(&store, None, "no row for the generation").0, AccessRead::Whole);
    add_key(&store);
    assert_eq!(reload(&store, None, "after an unlogged read").0, AccessRead::Whole);
    add_key(&store);
    assert_eq!(reload(&store, None, "logged again").0, AccessRead::Patched { changes: 1 });

    // A row written outside `Store::write` and a logged change beside it: the counts differ.
    raw_execute(
        &store,
        "INSERT INTO network_rules(name, type, source_private_ip, description, created)
         VALUES ('unlogged', 'Private', '[\"10.1.1.1\"]', '', 0)",
        params![],
    );
    add_key(&store);
    assert_eq!(reload(&store, None, "an unlogged row").0, AccessRead::Whole);

    // Too far behind to patch.
    for _ in 0..=crate::changelog::MAX_PATCHED_CHANGES {
        store.create_access_key("").unwrap();
    }
    assert_eq!(reload(&store, None, "far behind").0, AccessRead::Whole);

    // A policy that grants nothing (stored before such policies were refused) involved.
    store_policy_granting_nothing(&store, "app");
    add_key(&store);
    assert_eq!(reload(&store, None, "a policy left out").0, AccessRead::Whole);
    add_key(&store);
    assert_eq!(reload(&store, None, "beside it").0, AccessRead::Patched { changes: 1 });
    store
        .update_policy(&PolicyUpdate {
            name: "old".into(),
            permissions: Some(vec!["RbacPermission/Template/CryptoServiceSecretUser".into()]),
            resources: Some(vec!["secret/*".into()]),
            network_rules: None,
            description: None,
            kms_instance: None,
        })
        .unwrap();
    assert_eq!(reload(&store, None, "the left-out policy mended").0, AccessRead::Whole);
    assert_eq!(whole_access(&store).application_access_points[0].policies, ["p1", "old"]);

    // A generation moved back (the database wound back to an older copy).
    add_key(&store);
    reload(&store, None, "before winding back");
    let g = i64::try_from(store.generation().unwrap()).unwrap();
    store.lock().run(db::TxMode::Write, |tx| db::meta_set(tx, "generation", &(g - 1))).unwrap();
    assert_eq!(reload(&store, None, "wound back").0, AccessRead::Whole);
}

/// A dry run's change is rolled back with its log row; the next real change patches from the log.
#[test]
fn a_dry_run_logs_nothing() {
    let (_d, mut store) = fresh();
    with_aap(&store);
    reload(&store, None, "first");
    let rows = |s: &Store| raw_query::<i64>(s, "SELECT COUNT(*) FROM config_changes", params![])[0];
    let before = rows(&store);
    store.dry_run(SCOPE, |s| s.insert_client_key(&client_key("app"))).unwrap();
    assert_eq!(rows(&store), before);
    store.insert_client_key(&client_key("app")).unwrap();
    assert_eq!(reload(&store, None, "after the dry run").0, AccessRead::Patched { changes: 1 });
}

/// The log keeps its last [`crate::changelog::KEPT_CHANGES`] rows. (SQLite only: a thousand commits.)
#[test]
fn the_log_keeps_its_last_rows() {
    let (_d, store) = fresh();
    let kept = i64::try_from(crate::changelog::KEPT_CHANGES).unwrap();
    for _ in 0..kept + 10 {
        store.create_access_key("").unwrap();
    }
    let g = i64::try_from(store.generation().unwrap()).unwrap();
    let held: Vec<i64> = raw_query(&store, "SELECT generation FROM config_changes ORDER BY generation", params![]);
    assert_eq!(held, ((g - kept + 1)..=g).collect::<Vec<_>>());
}

pub(super) const CASES: &[(&str, fn())] = &[
    ("patched_reloads_equal_whole_reads", patched_reloads_equal_whole_reads),
    ("a_log_that_cannot_vouch_gives_a_whole_read", a_log_that_cannot_vouch_gives_a_whole_read),
    ("a_dry_run_logs_nothing", a_dry_run_logs_nothing),
];
