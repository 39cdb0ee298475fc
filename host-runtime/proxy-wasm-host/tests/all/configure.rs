//! Plugin configuration: accepted, rejected with the guest's log, versioned across VMs, prepared
//! without being put in force.

use std::sync::{Arc, Mutex};

use proxy_wasm_host::{
    ConfigureError, FilterFailure, FilterHost, FilterHostConfig, FilterOutcome, FilterRequest, LogLevel,
};

use crate::filters::{added_value, gate, headers, host, run};

#[test]
fn accepted_configuration_is_what_the_filter_sees() {
    let host = host(&gate(), FilterHostConfig::default(), b"yA");
    assert!(host.is_configured());
    assert_eq!(added_value(&run(&host, &[("x-token", "t")]), "x-config").as_deref(), Some("A"));
}

#[test]
fn rejected_configuration_carries_the_guest_log_and_the_old_one_stays() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let config = FilterHostConfig {
        log_sink: Some(Arc::new(move |level: LogLevel, line: &str| {
            sink.lock().unwrap().push((level, line.to_owned()))
        })),
        ..FilterHostConfig::default()
    };
    let host = FilterHost::new(&gate(), config).unwrap();
    // Nothing in force yet: every request fails.
    assert_eq!(run(&host, &[("x-token", "t")]), FilterOutcome::Failed(FilterFailure::NotConfigured));
    host.configure(b"yA").unwrap();

    for bad in [&b"nope"[..], b""] {
        let err = host.configure(bad).unwrap_err();
        match &err {
            ConfigureError::Rejected { log } => {
                assert_eq!(log.first(), Some(&(LogLevel::Info, "configuring".to_owned())), "{log:?}");
                assert_eq!(log.last(), Some(&(LogLevel::Error, "bad config: expected y".to_owned())), "{log:?}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(err.messages(LogLevel::Warn), vec!["bad config: expected y"]);
        assert!(err.to_string().contains("bad config: expected y"), "{err}");
    }
    // The sink saw the lines as they were logged.
    assert!(lines.lock().unwrap().contains(&(LogLevel::Error, "bad config: expected y".to_owned())));
    // The accepted one is still in force.
    assert_eq!(added_value(&run(&host, &[("x-token", "t")]), "x-config").as_deref(), Some("A"));
}

#[test]
fn a_new_configuration_reaches_every_vm() {
    let host = host(&gate(), FilterHostConfig { max_vms: 3, ..FilterHostConfig::default() }, b"yA");
    // Warm three VMs at once.
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..5 {
                    assert_eq!(added_value(&run(&host, &[("x-token", "t")]), "x-config").as_deref(), Some("A"));
                }
            });
        }
    });
    host.configure(b"yB").unwrap();
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..5 {
                    assert_eq!(added_value(&run(&host, &[("x-token", "t")]), "x-config").as_deref(), Some("B"));
                }
            });
        }
    });
    let stats = host.stats();
    assert!(stats.vms_live <= 3 && stats.traps == 0, "{stats:?}");
}

#[test]
fn prepared_configurations_run_side_by_side_and_only_on_their_host() {
    let host = FilterHost::new(&gate(), FilterHostConfig::default()).unwrap();
    let a = host.prepare(b"yA").unwrap();
    let b = host.prepare(b"yB").unwrap();
    // Prepared is not in force.
    assert!(!host.is_configured());
    assert_eq!(run(&host, &[("x-token", "t")]), FilterOutcome::Failed(FilterFailure::NotConfigured));
    let h = headers(&[("x-token", "t")]);
    let req = FilterRequest { headers: &h, ..FilterRequest::default() };
    for _ in 0..3 {
        assert_eq!(added_value(&host.run_request_with(&a, &req), "x-config").as_deref(), Some("A"));
        assert_eq!(added_value(&host.run_request_with(&b, &req), "x-config").as_deref(), Some("B"));
    }
    let other = FilterHost::new(&gate(), FilterHostConfig::default()).unwrap();
    assert_eq!(other.run_request_with(&a, &req), FilterOutcome::Failed(FilterFailure::ForeignConfiguration));
    assert_eq!(other.stats().fail_closed, 1);
}
