//! Configuration at scale (issue 16), for the four bundle rows of `support/rows.rs`:
//!
//! - `compile_bundle` on the JSON bundle: what every VM of the gateway and every Envoy worker ran on
//!   each change before the compact form (the baseline of every ratio);
//! - `Bundle::compile` on the typed bundle the store reads: what the gateway now runs once per
//!   change;
//! - `to_compact`, and `from_compact`: what each VM now runs on a change or a cold start;
//! - for a change to the access part only: the host's `into_compiled_over` and `to_compact_parts`,
//!   and each VM's `from_compact_over` with the catalogue it holds.
//!
//! A counting global allocator measures the memory each form holds and the peak while building it
//! (beyond its input). This is native (64-bit) memory: the wasm32 guest's is at most this.
//!
//! Run: `cargo bench -p aapkit-policy-core --bench scale`. `AAPKIT_BENCH_QUICK=1` runs the first
//! row only, with few samples (CI runs it so, as a smoke test that asserts the forms agree).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use policy_core::*;

#[path = "support/counting.rs"]
mod counting;
#[path = "support/rows.rs"]
mod rows;
use counting::{measured, mib};
use rows::ROWS;

fn benches(c: &mut Criterion) {
    let quick = std::env::var_os("AAPKIT_BENCH_QUICK").is_some();
    let mut group = c.benchmark_group("scale");
    if quick {
        group.sample_size(10).measurement_time(Duration::from_millis(500)).warm_up_time(Duration::from_millis(100));
    }
    for row in ROWS.iter().take(if quick { 1 } else { ROWS.len() }) {
        let bundle = rows::bundle(row);
        let json = serde_json::to_string(&bundle).unwrap();

        let (from_json, json_held, json_peak) = measured(|| compile_bundle(&json).unwrap());
        let (lean, lean_held, _) = measured(|| {
            let mut b = compile_bundle(&json).unwrap();
            b.drop_source();
            b
        });
        let compact = from_json.to_compact();
        let (loaded, compact_held, compact_peak) = measured(|| CompiledBundle::from_compact(&compact).unwrap());
        // The forms are the same tables: a smoke test as much as a bench.
        assert!(loaded.same_compiled(&from_json) && lean.same_compiled(&from_json), "{}", row.name);
        assert_eq!(loaded.to_compact(), compact);
        eprintln!(
            "scale: {}: JSON {:.1} MiB; compile_bundle holds {:.1} MiB (peak {:.1}), without the document {:.1} MiB; \
             compact form {:.1} MiB, from_compact holds {:.1} MiB (peak {:.1})",
            row.name,
            mib(json.len()),
            mib(json_held),
            mib(json_peak),
            mib(lean_held),
            mib(compact.len()),
            mib(compact_held),
            mib(compact_peak),
        );
        drop((from_json, lean, loaded));

        group.bench_function(format!("compile_bundle (JSON): {}", row.name), |b| {
            b.iter(|| compile_bundle(black_box(&json)))
        });
        group.bench_function(format!("Bundle::compile (host, once per change): {}", row.name), |b| {
            b.iter(|| black_box(&bundle).compile())
        });
        let compiled = bundle.compile().unwrap();
        group.bench_function(format!("to_compact: {}", row.name), |b| b.iter(|| black_box(&compiled).to_compact()));
        group.bench_function(format!("from_compact (per VM): {}", row.name), |b| {
            b.iter(|| CompiledBundle::from_compact(black_box(&compact)))
        });
        // An access change (a client key or a policy): the host compiles the access part over the
        // catalogue in force and writes it; each VM, holding that catalogue, reads the access section.
        let mut access = bundle.clone();
        access.keys.clear();
        access.secrets.clear();
        let mut keys = PublicKeyCache::default();
        let held = bundle.clone().into_compiled_with(&mut keys).unwrap();
        group.bench_function(
            format!("into_compiled_over + to_compact_parts (host, access change): {}", row.name),
            |b| {
                b.iter(|| {
                    let next = black_box(access.clone()).into_compiled_over(&held, &mut keys).unwrap();
                    next.to_compact_parts()
                })
            },
        );
        let prefix = &compact[..compact_prefix_len(&compact).unwrap()];
        group.bench_function(format!("from_compact_over, catalogue held (per VM, access change): {}", row.name), |b| {
            b.iter(|| CompiledBundle::from_compact_over(black_box(prefix), Some(&held)).unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = scale;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(scale);
