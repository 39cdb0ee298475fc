//! What the embedder injects: foreign functions, the clock, randomness; and the hostcalls this
//! host does not offer.

use std::sync::Arc;

use proxy_wasm_host::{BadArgument, FilterHostConfig, FilterOutcome, FilterRequest, ForeignFunctions};

use crate::filters::{added_value, caller, headers, host, run};

fn upper() -> ForeignFunctions {
    ForeignFunctions::default().with("echo", Arc::new(|args: &[u8]| Ok(args.to_ascii_uppercase())))
}

#[test]
fn a_registered_foreign_function_is_called() {
    let host = host(&caller(), FilterHostConfig { foreign_functions: upper(), ..FilterHostConfig::default() }, b"");
    assert_eq!(added_value(&run(&host, &[]), "x-foreign").as_deref(), Some("ABC"));
    assert_eq!(host.stats().foreign_calls, 1);
}

#[test]
fn an_unknown_foreign_function_is_not_found_and_a_failing_one_a_bad_argument() {
    let none = host(&caller(), FilterHostConfig::default(), b"");
    assert_eq!(added_value(&run(&none, &[]), "x-foreign").as_deref(), Some("missing"));
    let failing = ForeignFunctions::default().with("echo", Arc::new(|_: &[u8]| Err(BadArgument("not this".into()))));
    let bad = host(&caller(), FilterHostConfig { foreign_functions: failing, ..FilterHostConfig::default() }, b"");
    assert_eq!(added_value(&run(&bad, &[]), "x-foreign").as_deref(), Some("bad"));
}

#[test]
fn the_clock_is_the_requests_then_the_embedders() {
    let config = FilterHostConfig { clock: Some(Arc::new(|| 1_234_567_890)), ..FilterHostConfig::default() };
    let fixed = host(&caller(), config, b"");
    assert_eq!(added_value(&run(&fixed, &[]), "x-clock").as_deref(), Some("fixed"));
    // A request's own time overrides the host clock, and the system clock.
    let h = headers(&[]);
    let at = |nanos| FilterRequest { headers: &h, now_nanos: Some(nanos), ..FilterRequest::default() };
    assert_eq!(added_value(&fixed.run_request(&at(7)), "x-clock").as_deref(), Some("other"));
    let system = host(&caller(), FilterHostConfig::default(), b"");
    assert_eq!(added_value(&run(&system, &[]), "x-clock").as_deref(), Some("other"));
    assert_eq!(added_value(&system.run_request(&at(1_234_567_890)), "x-clock").as_deref(), Some("fixed"));
}

#[test]
fn randomness_comes_from_the_embedders_source() {
    let config = FilterHostConfig {
        random: Some(Arc::new(|buf: &mut [u8]| {
            buf.fill(b'r');
            true
        })),
        ..FilterHostConfig::default()
    };
    let host = host(&caller(), config, b"");
    assert_eq!(added_value(&run(&host, &[]), "x-random").as_deref(), Some("rrrr"));
}

#[test]
fn hostcalls_not_offered_answer_unimplemented() {
    let host = host(&caller(), FilterHostConfig::default(), b"");
    let outcome = run(&host, &[]);
    assert!(matches!(outcome, FilterOutcome::Continue { .. }));
    assert_eq!(added_value(&outcome, "x-unimplemented").as_deref(), Some("abc"));
}
