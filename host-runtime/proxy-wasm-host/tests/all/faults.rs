//! Guest faults: a request past its deadline or out of fuel, memory past the ceiling, a trap, a
//! filter that never decides or resets the stream, a configuration that never returns. Each
//! fails that request only; a trapped VM is replaced and the host keeps serving. An allocator that
//! changes the request while the host hands it data fails that hostcall, not the host.

use std::time::Duration;

use proxy_wasm_host::{
    ConfigureError, FilterFailure, FilterHost, FilterHostConfig, FilterOutcome, FilterRequest, GuestLimit, QuickRun,
    QUICK_PAUSE,
};

use crate::filters::{self, added_value, headers, host, misbehaving, run};

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

/// A quick run (for a caller that must not block) happens only on an idle VM that already holds
/// the configuration, and within the quick budget (a twentieth of the request's fuel here). A guest
/// that needs more is declined, not failed: it costs that VM, the next `QUICK_PAUSE` quick runs
/// under that configuration are declined, and the same request then runs in full.
#[test]
fn a_quick_run_needs_a_ready_vm_and_gives_way_to_a_slow_guest() {
    let limit = GuestLimit::Fuel { request: 400_000_000, configure: 100_000_000 };
    let host =
        FilterHost::new(&misbehaving(), FilterHostConfig { limit, max_vms: 1, ..FilterHostConfig::default() }).unwrap();
    let quick = |config, pairs: &[(&str, &str)]| {
        let headers = headers(pairs);
        host.run_quick(config, &FilterRequest { headers: &headers, ..FilterRequest::default() })
    };
    let full = |config, pairs: &[(&str, &str)]| {
        let headers = headers(pairs);
        host.run_request_with(config, &FilterRequest { headers: &headers, ..FilterRequest::default() })
    };
    let done = |run: QuickRun| match run {
        QuickRun::Done(outcome) => outcome,
        QuickRun::Declined => panic!("declined"),
    };

    // `prepare` leaves its VM holding the configuration it checked: ready for quick runs.
    let first = host.prepare(b"first").unwrap();
    assert_eq!(added_value(&done(quick(&first, &[])), "x-ok").as_deref(), Some("1"));
    // The one VM now holds `second`: `first` would need configuring, which is not quick.
    let second = host.prepare(b"second").unwrap();
    assert!(matches!(quick(&first, &[]), QuickRun::Declined));
    assert_eq!(added_value(&full(&first, &[]), "x-ok").as_deref(), Some("1"));
    assert!(matches!(quick(&first, &[]), QuickRun::Done(_)));
    assert_eq!(host.stats().requests, 3);

    // 24 million units of fuel: over the quick budget, well within the request's.
    assert!(matches!(quick(&first, &[("x-count", "")]), QuickRun::Declined));
    let stats = host.stats();
    assert_eq!((stats.quick_overruns, stats.traps, stats.fail_closed, stats.requests), (1, 1, 0, 3), "{stats:?}");
    assert_eq!(added_value(&full(&first, &[("x-count", "")]), "x-ok").as_deref(), Some("1"));
    // Quick runs pause for `first`, even for cheap requests on a ready VM...
    for _ in 0..QUICK_PAUSE {
        assert!(matches!(quick(&first, &[]), QuickRun::Declined));
    }
    // ...not for another configuration...
    assert_eq!(added_value(&full(&second, &[]), "x-ok").as_deref(), Some("1"));
    assert!(matches!(quick(&second, &[]), QuickRun::Done(_)));
    // ...and resume after the pause.
    assert_eq!(added_value(&full(&first, &[]), "x-ok").as_deref(), Some("1"));
    assert!(matches!(quick(&first, &[]), QuickRun::Done(_)));
    // A foreign host's configuration is never run quickly.
    let other = FilterHost::new(&misbehaving(), FilterHostConfig::default()).unwrap();
    let foreign = other.prepare(b"").unwrap();
    assert!(matches!(quick(&foreign, &[]), QuickRun::Declined));
    assert_eq!(host.stats().quick_overruns, 1);
}

/// The host sizes what it hands the guest (the header map, a body range) and then calls the
/// guest's allocator, which is guest code: a filter that changes the request meanwhile gets
/// INTERNAL_FAILURE for that call, never a panic, a short copy or bytes past the value; the same
/// calls succeed once it stops.
#[test]
fn an_allocator_that_changes_the_request_fails_the_read_not_the_host() {
    let host = filters::host(&filters::meddler(), FilterHostConfig::default(), b"");
    let headers = filters::headers(&[(":path", "/"), ("x-a", "1")]);
    let outcome = host.run_request(&FilterRequest {
        headers: &headers,
        body: b"hello",
        full_header_map: true,
        ..FilterRequest::default()
    });
    let status = |name| filters::added_value(&outcome, name);
    assert_eq!(status("x-pairs").as_deref(), Some(":"), "{outcome:?}");
    assert_eq!(status("x-body").as_deref(), Some(":"), "{outcome:?}");
    assert_eq!(status("x-pairs-again").as_deref(), Some("0"), "{outcome:?}");
    assert_eq!(status("x-body-again").as_deref(), Some("0"), "{outcome:?}");
    let FilterOutcome::Continue { headers, body, .. } = &outcome else { panic!("{outcome:?}") };
    assert!(headers.iter().any(|(k, v)| k == "x-meddled" && v == "1"), "{headers:?}");
    assert_eq!(body.as_deref(), Some(&b"h"[..]));
    // The VM is sound and serves again.
    assert_eq!(host.stats().traps, 0);
}
