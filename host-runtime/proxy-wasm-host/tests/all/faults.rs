//! Guest faults: a request past its deadline or out of fuel, memory past the ceiling, a trap, a
//! filter that never decides or resets the stream, a configuration that never returns. Each
//! fails that request only; a trapped VM is replaced and the host keeps serving.

use std::time::Duration;

use proxy_wasm_host::{ConfigureError, FilterFailure, FilterHost, FilterHostConfig, FilterOutcome, GuestLimit};

use crate::filters::{added_value, host, misbehaving, run};

fn assert_serves(host: &FilterHost) {
    assert_eq!(added_value(&run(host, &[]), "x-ok").as_deref(), Some("1"));
}

fn assert_trapped(outcome: FilterOutcome) {
    assert!(matches!(outcome, FilterOutcome::Failed(FilterFailure::Trap(_))), "{outcome:?}");
}

#[test]
fn a_request_past_its_deadline_traps_and_the_vm_is_replaced() {
    let limit = GuestLimit::Deadline {
        request: Duration::from_millis(20),
        configure: Duration::from_secs(5),
        tick: Duration::from_millis(1),
    };
    let host = host(&misbehaving(), FilterHostConfig { limit, max_vms: 1, ..FilterHostConfig::default() }, b"");
    assert_serves(&host);
    let started = std::time::Instant::now();
    assert_trapped(run(&host, &[("x-spin", "")]));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_serves(&host);
    let stats = host.stats();
    assert_eq!((stats.traps, stats.vm_restarts, stats.fail_closed, stats.vms_live), (1, 1, 1, 1), "{stats:?}");
}

#[test]
fn fuel_exhaustion_traps_and_the_budget_is_adjustable() {
    let limit = GuestLimit::Fuel { request: 100_000, configure: 100_000 };
    let host = host(&misbehaving(), FilterHostConfig { limit, max_vms: 1, ..FilterHostConfig::default() }, b"");
    assert_serves(&host);
    assert_trapped(run(&host, &[("x-spin", "")]));
    assert_serves(&host);
    // Too little fuel for even a well-behaved request.
    host.set_request_budget(10);
    assert_trapped(run(&host, &[]));
    host.set_request_budget(100_000);
    assert_serves(&host);
    let stats = host.stats();
    assert_eq!((stats.traps, stats.vm_restarts), (2, 2), "{stats:?}");
}

#[test]
fn memory_is_capped_per_vm() {
    // 100 more pages fit under the default 64 MiB ceiling...
    let roomy = host(&misbehaving(), FilterHostConfig::default(), b"");
    assert_eq!(added_value(&run(&roomy, &[("x-grow", "")]), "x-ok").as_deref(), Some("1"));
    // ...not under 1 MiB: the guest's memory.grow fails and it aborts.
    let tight = host(
        &misbehaving(),
        FilterHostConfig { memory_limit: 1 << 20, max_vms: 1, ..FilterHostConfig::default() },
        b"",
    );
    assert_trapped(run(&tight, &[("x-grow", "")]));
    assert_serves(&tight);
    assert_eq!(tight.stats().vm_restarts, 1);
}

#[test]
fn a_trap_fails_only_its_request() {
    let host = host(&misbehaving(), FilterHostConfig { max_vms: 2, ..FilterHostConfig::default() }, b"");
    for _ in 0..3 {
        assert_trapped(run(&host, &[("x-trap", "")]));
        assert_serves(&host);
    }
    let stats = host.stats();
    assert_eq!((stats.requests, stats.traps, stats.fail_closed), (6, 3, 3), "{stats:?}");
}

#[test]
fn a_filter_that_never_decides_or_resets_the_stream_fails_the_request() {
    let host = host(&misbehaving(), FilterHostConfig { max_vms: 1, ..FilterHostConfig::default() }, b"");
    assert_eq!(run(&host, &[("x-pause", "")]), FilterOutcome::Failed(FilterFailure::Undecided));
    assert_eq!(run(&host, &[("x-close", "")]), FilterOutcome::Failed(FilterFailure::StreamClosed));
    // Not traps: the VM is kept.
    assert_serves(&host);
    let stats = host.stats();
    assert_eq!((stats.traps, stats.vm_restarts, stats.fail_closed), (0, 0, 2), "{stats:?}");
}

#[test]
fn a_configuration_that_never_returns_is_a_fault_and_the_old_one_stays() {
    let limit = GuestLimit::Fuel { request: 100_000, configure: 100_000 };
    let host = host(&misbehaving(), FilterHostConfig { limit, ..FilterHostConfig::default() }, b"fine");
    assert!(matches!(host.configure(b"spin"), Err(ConfigureError::Fault(_))));
    assert_serves(&host);
}

#[test]
fn a_module_without_the_abi_does_not_load() {
    let wasm = wat::parse_str("(module (memory (export \"memory\") 1))").unwrap();
    assert!(FilterHost::new(&wasm, FilterHostConfig::default()).is_err());
    assert!(FilterHost::new(b"not wasm", FilterHostConfig::default()).is_err());
}
