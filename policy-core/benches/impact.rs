//! Change impact (`policy_core::impact::diff_bundles`) on the benchmark bundle and on one ten times
//! larger, between two versions that differ in one network rule (one /28 block widened to a /24).
//! Run: `cargo bench -p aapkit-policy-core --bench impact`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use policy_core::impact::diff_bundles;
use policy_core::{Bundle, IpCidr};

mod support;
use support::bundle_at_scale;

/// The same bundle with rule 7's first block widened from /28 to /24.
fn one_rule_changed(b: &Bundle) -> Bundle {
    let mut changed = b.clone();
    let rule = &mut changed.network_rules[7];
    let IpAddr::V4(first) = rule.source_private_ip[0].addr() else { panic!("IPv4 rules") };
    let base = u32::from(first) & 0xffff_ff00;
    rule.source_private_ip[0] = IpCidr::new(IpAddr::V4(Ipv4Addr::from(base)), 24).unwrap();
    changed
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("impact");
    for scale in [1u32, 10] {
        let old = bundle_at_scale(scale);
        let new = one_rule_changed(&old);
        let (old_c, new_c) = (old.compile().unwrap(), new.compile().unwrap());
        let report = diff_bundles(&old_c, &new_c);
        assert!(!report.changes.is_empty(), "the widened rule changes decisions");
        eprintln!("scale {scale}: {} changed regions", report.changes.len());
        group.bench_function(format!("diff, one rule changed (scale {scale})"), |b| {
            b.iter(|| diff_bundles(black_box(&old_c), black_box(&new_c)))
        });
        group.bench_function(format!("baseline: compile one bundle (scale {scale})"), |b| {
            b.iter(|| black_box(&new).compile().unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = impact;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = benches
}
criterion_main!(impact);
