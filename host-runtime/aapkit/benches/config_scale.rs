//! Configuration at scale in the gateway's filter VMs (issue 16, goal 1), for the bundle rows of
//! `policy-core/benches/support/rows.rs`:
//!
//! - cold: a fresh VM configured with the JSON bundle (what each VM did before) against one loading
//!   the compact form, with the VM's linear memory afterwards (the guest is capped at 64 MiB);
//! - change to enforced: a running host of 4 VMs (the gateway's default on 2 cores), warmed; each
//!   change adds or removes one client key, and every other one also edits a policy; the clock runs
//!   from the new bundle in hand (what the store read) to every VM having decided a request under
//!   it. First changes to the access part only: the store reads no keys then, so the host compiles
//!   the access part over the previous key catalogue (`Bundle::into_compiled_over`, public keys
//!   from the previous change's cache) and writes its compact form (the catalogue section is
//!   written once and kept); prepare checks it in an idle VM, which keeps its catalogue and reads
//!   only the access section; each other VM does the same on its next request. Then the same
//!   changes each also adding or removing a key: the catalogue changes, so the host compiles the
//!   whole bundle and every VM loads the whole form, which is what every change cost before (the
//!   baseline of the ratio). Every VM's answer is checked: the client key added is known, the one
//!   removed is `Unauthorized`.
//!
//! - the store's part: the row in a SQLite store and in a PostgreSQL one (a throwaway cluster with
//!   `fsync` off: what is timed are reads, and 100,000 keys are created one transaction each), the
//!   same kind of changes committed, each read back as the gateway's reload reads it
//!   (`config_snapshot_since`, which skips the unchanged key catalogue and patches the access part
//!   it read last from the store's change log), against the whole read of a handle holding nothing.
//!   With the VMs' figures above, that is a change from its commit to every VM (less the change
//!   notification, measured by the cluster bench). Then changes to keys (a key created, an alias
//!   set, a key version added), each read back with the catalogue patched from the change log,
//!   against the same whole read.
//!
//! A bench binary, not criterion: the quantities are latencies of whole reconfigurations and memory.
//! Needs the filter module (`cargo build -p aapkit-filter --target wasm32-wasip1 --profile
//! wasm-release`, or AAPKIT_FILTER_WASM). Run: `cargo bench -p aapkit --bench config_scale`;
//! `AAPKIT_BENCH_QUICK=1`: the first row, a few changes (CI's smoke test).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use aapkit_host::server::filter_enforcer::{compact_config, host_config, prepare_compact};
use aapkit_store::{
    AapInput, AccessRead, CatalogueRead, MasterKey, NetworkRuleInput, NewClientKey, PolicyInput, PolicyUpdate, Store,
    StoreLocation,
};
use aapkit_testpg::PgCluster;
use policy_core::{Bundle, ClientKey, ResourcePattern};
use proxy_wasm_host::{FilterHost, FilterHostConfig, FilterOutcome, FilterRequest, PreparedConfig};
use serde_json::Value;

#[path = "../../../policy-core/benches/support/rows.rs"]
mod rows;

/// The SDK-signed vector's client key: the request every VM decides after each change.
const VECTOR_KEY: &str = "key_for_unit_test";
const VMS: usize = 4;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Vector {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    now_nanos: u64,
}

fn vector() -> Vector {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(repo("policy-core/tests/data/sdk-signed-encrypt.json")).unwrap())
            .unwrap();
    let headers = v["request"]["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap().to_string()))
        .collect();
    let body = hex::decode(v["request"]["body_hex"].as_str().unwrap()).unwrap();
    let now = policy_core::parse_rfc1123("Thu, 06 Feb 2020 07:32:54 GMT").unwrap();
    Vector { headers, body, now_nanos: u64::try_from(now).unwrap() * 1_000_000_000 }
}

/// Whether a VM, deciding the vector under `config`, knew its client key.
fn knows_the_key(host: &FilterHost, config: &PreparedConfig, v: &Vector) -> bool {
    let req = FilterRequest {
        headers: &v.headers,
        body: &v.body,
        source_address: "10.0.0.1:5000",
        now_nanos: Some(v.now_nanos),
        ..FilterRequest::default()
    };
    match host.run_request_with(config, &req) {
        FilterOutcome::Continue { .. } => true,
        FilterOutcome::LocalResponse { body, .. } => {
            policy_core::wire::decode_error(&body).unwrap().error_code != "Unauthorized"
        }
        FilterOutcome::Failed(e) => panic!("the filter failed: {e}"),
    }
}

fn vector_client_key(template: &ClientKey) -> ClientKey {
    ClientKey { client_key_id: VECTOR_KEY.into(), aap_name: "aap-vector".into(), ..template.clone() }
}

/// The row's bundle with an access point of its own for the vector's key (an AAP holds at most
/// three client keys), at generation 1.
fn bench_bundle(row: &rows::Row) -> Bundle {
    let mut bundle = rows::bundle(row);
    let mut aap = bundle.application_access_points[0].clone();
    aap.name = "aap-vector".into();
    bundle.application_access_points.push(aap);
    bundle.gateway.as_mut().unwrap().generation = Some(1);
    bundle
}

/// One change: add the vector's key (even steps) or remove it (odd), and on odd steps also edit
/// a policy. Returns whether the key is in the bundle afterwards.
fn change(bundle: &mut Bundle, step: usize) -> bool {
    let add = step.is_multiple_of(2);
    if add {
        let key = vector_client_key(&bundle.client_keys[0]);
        bundle.client_keys.push(key);
    } else {
        bundle.client_keys.retain(|k| k.client_key_id != VECTOR_KEY);
        let p = bundle.policies.iter_mut().find(|p| p.name == "p-keys").unwrap();
        p.resources.push(ResourcePattern::parse(&format!("key/edited-{step}")).unwrap());
    }
    let g = bundle.gateway.as_mut().unwrap();
    g.generation = Some(g.generation.unwrap_or(0) + 1);
    add
}

/// Runs `changes` changes on a warmed host and times each from the new bundle in hand to every VM
/// having decided under it. Access changes are compiled as the gateway does when its store reports
/// the catalogue unchanged: the bundle without keys and secrets, over the previous catalogue.
/// Catalogue changes also add (even steps) or remove (odd) a key, and compile the whole bundle.
#[allow(clippy::too_many_arguments)]
fn change_to_enforced(
    h: &FilterHost,
    v: &Vector,
    first: &PreparedConfig,
    bundle: &mut Bundle,
    previous: &mut policy_core::CompiledBundle,
    keys: &mut policy_core::PublicKeyCache,
    changes: usize,
    catalogue: bool,
) -> (Vec<Duration>, Vec<(Duration, Duration, Duration)>) {
    let slot: Mutex<Option<(PreparedConfig, bool)>> = Mutex::new(Some((first.clone(), false)));
    let start = Barrier::new(VMS + 1);
    let done = Barrier::new(VMS + 1);
    let wrong = Arc::new(Mutex::new(Vec::new()));
    let mut totals = Vec::new();
    let mut parts = Vec::new();
    let mut failure = None;
    std::thread::scope(|s| {
        for w in 0..VMS {
            let (slot, start, done, wrong) = (&slot, &start, &done, Arc::clone(&wrong));
            s.spawn(move || loop {
                start.wait();
                let Some((config, expect)) = slot.lock().unwrap().clone() else { return };
                if knows_the_key(h, &config, v) != expect {
                    wrong.lock().unwrap().push(w);
                }
                done.wait();
            });
        }
        // Warm every VM under the configuration in force.
        start.wait();
        done.wait();
        for step in 0..changes {
            let expect = change(bundle, step);
            if catalogue {
                if step.is_multiple_of(2) {
                    let mut key = bundle.keys[0].clone();
                    key.key_id = format!("key-added-{step}");
                    key.aliases.clear();
                    key.key_versions.clear();
                    bundle.keys.push(key);
                } else {
                    bundle.keys.pop();
                }
            }
            // The store's read, not timed: the whole bundle, or its access part only.
            let next = if catalogue {
                bundle.clone()
            } else {
                Bundle {
                    network_rules: bundle.network_rules.clone(),
                    policies: bundle.policies.clone(),
                    application_access_points: bundle.application_access_points.clone(),
                    client_keys: bundle.client_keys.clone(),
                    keys: Vec::new(),
                    secrets: Vec::new(),
                    gateway: bundle.gateway.clone(),
                }
            };
            let t0 = Instant::now();
            // A failure must release the workers before it is reported, or they wait forever.
            let compiled =
                if catalogue { next.into_compiled_with(keys) } else { next.into_compiled_over(previous, keys) };
            let prepared = compiled.map_err(|e| e.to_string()).and_then(|mut compiled| {
                compiled.drop_source();
                // As the gateway does: in two parts, the catalogue's shared and not copied.
                let config = compact_config(&compiled);
                let t1 = Instant::now();
                prepare_compact(h, config).map(|p| (p, t1, compiled)).map_err(|e| e.to_string())
            });
            let (prepared, t1, compiled) = match prepared {
                Ok(p) => p,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            *previous = compiled;
            let t2 = Instant::now();
            *slot.lock().unwrap() = Some((prepared, expect));
            start.wait();
            done.wait();
            let t3 = Instant::now();
            totals.push(t3 - t0);
            if std::env::var_os("AAPKIT_BENCH_STEPS").is_some() {
                println!(
                    "    step {step}: {:.1} ms ({:.1} + {:.1} + {:.1})",
                    ms(t3 - t0),
                    ms(t1 - t0),
                    ms(t2 - t1),
                    ms(t3 - t2)
                );
            }
            parts.push((t1 - t0, t2 - t1, t3 - t2));
        }
        *slot.lock().unwrap() = None;
        start.wait();
    });
    if let Some(e) = failure {
        panic!("a change was not prepared: {e}");
    }
    let wrong = wrong.lock().unwrap();
    assert!(wrong.is_empty(), "VMs {wrong:?} decided under an old configuration");
    totals.sort();
    (totals, parts)
}

fn host(wasm: &[u8]) -> FilterHost {
    FilterHost::new(wasm, FilterHostConfig { max_vms: VMS, ..host_config(true) }).unwrap()
}

fn main() {
    let quick = std::env::var_os("AAPKIT_BENCH_QUICK").is_some();
    let path = aapkit_tests::filter_wasm().unwrap_or_else(|e| panic!("{e}"));
    let wasm = std::fs::read(&path).unwrap();
    let v = vector();
    let changes = if quick { 4 } else { 40 };
    println!("config_scale: {} VMs, {changes} changes per row", VMS);
    // AAPKIT_BENCH_ROW=<n>: that row alone (0-based).
    let only: Option<usize> = std::env::var("AAPKIT_BENCH_ROW").ok().and_then(|r| r.parse().ok());
    let rows = rows::ROWS.iter().enumerate().filter(|(i, _)| only.is_none_or(|o| o == *i)).map(|(_, r)| r);
    // The store's part runs on PostgreSQL too: one throwaway cluster, a database per row.
    let pg = PgCluster::start().unwrap();
    for (n, row) in rows.take(if quick { 1 } else { rows::ROWS.len() }).enumerate() {
        let mut bundle = bench_bundle(row);
        let json = serde_json::to_string(&bundle).unwrap();

        // Cold: a fresh host each time, so the VM that configures is new; its memory after.
        let cold = |config: &[u8]| {
            let h = host(&wasm);
            let t = Instant::now();
            let ok = h.prepare(config);
            let took = t.elapsed();
            let memory = h.idle_vm_memory().into_iter().max().unwrap_or(0);
            (ok.map(|_| ()).map_err(|e| e.to_string()), took, memory)
        };
        let (json_ok, json_took, json_mem) = cold(json.as_bytes());
        let t = Instant::now();
        let mut compiled = bundle.clone().into_compiled().unwrap();
        compiled.drop_source();
        let compact = compiled.to_compact();
        let host_once = t.elapsed();
        let mut compact_cold = Vec::new();
        let mut compact_mem = 0;
        for _ in 0..if quick { 2 } else { 5 } {
            let (ok, took, mem) = cold(&compact);
            ok.unwrap();
            compact_cold.push(took);
            compact_mem = compact_mem.max(mem);
        }
        compact_cold.sort();
        let json_cold = match &json_ok {
            Ok(()) => format!("{:.1} ms, VM memory {:.1} MiB", ms(json_took), mib(json_mem)),
            // The cause is the error's last line (wasmtime's message ends the chain).
            Err(e) => format!(
                "refused after {:.1} ms: {}",
                ms(json_took),
                e.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim()
            ),
        };
        println!(
            "{}: compact form {:.1} MiB (JSON {:.1} MiB); host compile + to_compact once: {:.1} ms\n  \
             cold VM, JSON: {json_cold}\n  cold VM, compact form: median {:.1} ms (of {}), VM memory {:.1} MiB",
            row.name,
            mib(compact.len()),
            mib(json.len()),
            ms(host_once),
            ms(percentile(&compact_cold, 0.5)),
            compact_cold.len(),
            mib(compact_mem),
        );

        // Change to enforced on a running host of VMS warmed VMs, one worker thread per VM: first
        // changes to the access part (what the issue names: a client key, a policy), then changes
        // that also add or remove a key (the catalogue changes: the whole path, and the baseline).
        let h = host(&wasm);
        let first = prepare_compact(&h, compact_config(&compiled)).unwrap();
        let mut previous = compiled;
        // The gateway keeps the client keys' parsed public keys from one change to the next.
        let mut keys = policy_core::PublicKeyCache::default();
        bundle.clone().into_compiled_with(&mut keys).unwrap();
        let mut results = Vec::new();
        for catalogue in [false, true] {
            let (totals, parts) =
                change_to_enforced(&h, &v, &first, &mut bundle, &mut previous, &mut keys, changes, catalogue);
            results.push((catalogue, totals, parts));
        }
        let whole_p50 = results.iter().find(|r| r.0).map(|r| percentile(&r.1, 0.5)).unwrap();
        for (catalogue, totals, parts) in &results {
            let median = |f: fn(&(Duration, Duration, Duration)) -> Duration| {
                let mut d: Vec<Duration> = parts.iter().map(f).collect();
                d.sort();
                percentile(&d, 0.5)
            };
            println!(
                "  change to enforced in all {VMS} VMs, {}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, \
                 p50 / catalogue change's {:.3} (medians: compile + to_compact {:.1} ms, prepare {:.1} ms, \
                 the other VMs' loads {:.1} ms)",
                if *catalogue { "key added or removed (the catalogue changes)" } else { "client key or policy" },
                ms(percentile(totals, 0.5)),
                ms(percentile(totals, 0.99)),
                ms(totals[totals.len() - 1]),
                percentile(totals, 0.5).as_secs_f64() / whole_p50.as_secs_f64(),
                ms(median(|p| p.0)),
                ms(median(|p| p.1)),
                ms(median(|p| p.2)),
            );
        }
        println!("  VM memory after: {:.1} MiB max", mib(h.idle_vm_memory().into_iter().max().unwrap_or(0)));
        store_reads(row, changes, "SQLite", &StoreLocation::Sqlite);
        let db = pg.create_database(&format!("row{n}")).unwrap();
        store_reads(row, changes, "PostgreSQL", &StoreLocation::Postgres(db));
    }
}

/// The store's part of a change: the row's configuration in the store at `location` (its keys,
/// network rules, policies, access points and client keys; no secrets), then `changes` committed
/// changes as above (a client key inserted or deleted, every other one also a policy edited), each read
/// back as the gateway's reload reads it: `config_snapshot_since` with the catalogue in force,
/// which skips the keys and reads again only the access rows the change log names. The baseline
/// is the whole read (what every reload did before), by a handle holding nothing.
fn store_reads(row: &rows::Row, changes: usize, kind: &str, location: &StoreLocation) {
    const INSTANCE: &str = "kst-bench0000000000001";
    let dir = tempfile::tempdir().unwrap();
    let master = MasterKey::generate().unwrap();
    let store = Store::open_at_with_key(dir.path(), location, &master).unwrap();
    // The row's own bundle, through the store's API (keys get the store's ids; secrets are left out).
    let bundle = rows::bundle(row);
    let t = Instant::now();
    for _ in 0..row.keys {
        store.create_key(None, "").unwrap();
    }
    for r in &bundle.network_rules {
        store
            .create_network_rule(&NetworkRuleInput {
                name: r.name.clone(),
                network_type: "Private".into(),
                source_private_ip: r.source_private_ip.iter().map(ToString::to_string).collect(),
                description: String::new(),
            })
            .unwrap();
    }
    for p in &bundle.policies {
        store
            .create_policy(&PolicyInput {
                name: p.name.clone(),
                kms_instance: INSTANCE.into(),
                permissions: p.permissions.iter().map(|x| x.template().to_owned()).collect(),
                resources: p.resources.iter().map(ToString::to_string).collect(),
                network_rules: p.access_control_rules.network_rules.clone(),
                description: String::new(),
            })
            .unwrap();
    }
    // One more access point, for the client keys the changes add.
    let spare_aap = "aap-spare";
    for (name, policies) in bundle
        .application_access_points
        .iter()
        .map(|a| (a.name.as_str(), &a.policies))
        .chain([(spare_aap, &bundle.application_access_points[0].policies)])
    {
        store
            .create_aap(&AapInput {
                name: name.into(),
                authentication_method: "ClientKey".into(),
                policies: policies.clone(),
                description: String::new(),
            })
            .unwrap();
    }
    let client_key = |id: String, aap: &str, template: &policy_core::ClientKey| NewClientKey {
        client_key_id: id,
        aap_name: aap.into(),
        key_algorithm: "RSA_2048".into(),
        public_key_data: template.public_key_data.clone(),
        not_before: template.not_before,
        not_after: template.not_after,
    };
    for k in &bundle.client_keys {
        store.insert_client_key(&client_key(k.client_key_id.clone(), &k.aap_name, k)).unwrap();
    }
    let populated = t.elapsed();

    // The baselines' reads, each by a handle of its own (the reloading handle keeps the access part
    // it read last and patches it from the change log): with `known` None, the whole read; with the
    // catalogue in force, every access row (what a reload read before the change log).
    let samples = if changes > 4 { 5 } else { 1 };
    let unpatched = |known: Option<u64>| {
        let mut took: Vec<Duration> = (0..samples)
            .map(|_| {
                let fresh = Store::open_at_with_key(dir.path(), location, &master).unwrap();
                let t = Instant::now();
                let read = fresh.config_snapshot_since(INSTANCE, known).unwrap();
                let took = t.elapsed();
                assert_eq!(read.ring.is_some(), known.is_none());
                assert_eq!(read.access, AccessRead::Whole);
                took
            })
            .collect();
        took.sort();
        took
    };
    let whole_reads = unpatched(None);
    // The reloading handle's first read, at start-up.
    let catalogue = store.config_snapshot_since(INSTANCE, None).unwrap().catalogue_generation;
    let mut reads = Vec::new();
    for step in 0..changes {
        let spare = format!("KAAP.ffffffff-0000-0000-0000-{step:012}");
        if step.is_multiple_of(2) {
            store.insert_client_key(&client_key(spare, spare_aap, &bundle.client_keys[0])).unwrap();
        } else {
            store.delete_client_key(&format!("KAAP.ffffffff-0000-0000-0000-{:012}", step - 1)).unwrap();
            let p_keys = bundle.policies.iter().find(|p| p.name == "p-keys").unwrap();
            let mut resources: Vec<String> = p_keys.resources.iter().map(ToString::to_string).collect();
            resources.push(format!("key/edited-{step}"));
            store
                .update_policy(&PolicyUpdate {
                    name: "p-keys".into(),
                    permissions: None,
                    resources: Some(resources),
                    network_rules: None,
                    description: None,
                    kms_instance: None,
                })
                .unwrap();
        }
        let t = Instant::now();
        let read = store.config_snapshot_since(INSTANCE, catalogue).unwrap();
        reads.push(t.elapsed());
        assert!(read.ring.is_none() && read.bundle.keys.is_empty(), "an access change read the key catalogue");
        let logged = if step.is_multiple_of(2) { 1 } else { 2 };
        assert_eq!(read.access, AccessRead::Patched { changes: logged }, "the access part was read whole");
        assert_eq!(read.bundle.client_keys.len(), row.client_keys + usize::from(step.is_multiple_of(2)));
    }
    reads.sort();
    let unlogged = unpatched(catalogue);

    let p50 = percentile(&reads, 0.5).as_secs_f64();
    println!(
        "  store ({kind}, populated in {:.1} s): the access change read back p50 {:.1} ms, p99 {:.1} ms; \
         every access row read {:.1} ms, the whole read {:.1} ms (medians of {}); p50 / every access row {:.3}, \
         / whole read {:.4}",
        populated.as_secs_f64(),
        ms(percentile(&reads, 0.5)),
        ms(percentile(&reads, 0.99)),
        ms(percentile(&unlogged, 0.5)),
        ms(percentile(&whole_reads, 0.5)),
        whole_reads.len(),
        p50 / percentile(&unlogged, 0.5).as_secs_f64(),
        p50 / percentile(&whole_reads, 0.5).as_secs_f64(),
    );

    // Changes to the key catalogue: a key created, an alias set on it, a version added to it, in
    // turn, each read back as the reload reads it (the catalogue patched from the change log: the
    // key read again and unsealed, the ring and the bundle's key list rebuilt from the records
    // held). Baseline: the whole read above.
    let mut known = catalogue;
    let mut key_reads = Vec::new();
    let mut created = String::new();
    for step in 0..changes {
        match step % 3 {
            0 => created = store.create_key(None, "").unwrap().key_id,
            1 => {
                store.create_alias(&format!("alias/bench-{step}"), &created).unwrap();
            }
            _ => {
                store.create_key_version(&created).unwrap();
            }
        }
        let t = Instant::now();
        let read = store.config_snapshot_since(INSTANCE, known).unwrap();
        key_reads.push(t.elapsed());
        // (The first patch also steps over the access changes above.)
        assert!(matches!(read.catalogue, CatalogueRead::Patched { .. }), "the catalogue was read {:?}", read.catalogue);
        assert_eq!(read.access, AccessRead::Patched { changes: 1 });
        assert_eq!(read.bundle.keys.len(), row.keys + step / 3 + 1);
        known = read.catalogue_generation;
    }
    key_reads.sort();
    println!(
        "  store ({kind}): the key change read back p50 {:.1} ms, p99 {:.1} ms; p50 / whole read {:.4}",
        ms(percentile(&key_reads, 0.5)),
        ms(percentile(&key_reads, 0.99)),
        percentile(&key_reads, 0.5).as_secs_f64() / percentile(&whole_reads, 0.5).as_secs_f64(),
    );
}
