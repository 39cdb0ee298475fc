//! Requests through the gate filter: continue with header changes, local responses with
//! properties, reserved headers stripped, headers set by the embedder.

use proxy_wasm_host::{FilterHostConfig, FilterOutcome, FilterRequest};

use crate::filters::{added, gate, headers, host, run};

#[test]
fn a_request_with_the_token_continues_with_the_filters_headers() {
    let host = host(&gate(), FilterHostConfig::default(), b"yA");
    let h = headers(&[("X-Token", "t"), ("accept", "*/*")]);
    let outcome = host.run_request(&FilterRequest { headers: &h, full_header_map: true, ..FilterRequest::default() });
    assert_eq!(
        outcome,
        FilterOutcome::Continue {
            added_headers: headers(&[("x-config", "A"), ("x-checked", "yes")]),
            // Names in lower case, the filter's additions at the end.
            headers: headers(&[("x-token", "t"), ("accept", "*/*"), ("x-config", "A"), ("x-checked", "yes")]),
            body: None,
            properties: vec![],
        }
    );
    // Without `full_header_map` only the additions come back.
    let FilterOutcome::Continue { headers, .. } = run(&host, &[("x-token", "t")]) else { panic!() };
    assert!(headers.is_empty());
}

#[test]
fn a_request_without_the_token_gets_the_local_response_and_the_property() {
    let host = host(&gate(), FilterHostConfig::default(), b"yA");
    assert_eq!(
        run(&host, &[("accept", "*/*")]),
        FilterOutcome::LocalResponse {
            status: 403,
            headers: headers(&[("content-type", "text/plain")]),
            body: b"denied".to_vec(),
            properties: headers(&[("reason", "no token")]),
        }
    );
    let stats = host.stats();
    assert_eq!((stats.requests, stats.fail_closed, stats.traps), (1, 0, 0), "{stats:?}");
}

#[test]
fn reserved_prefixes_are_stripped_before_the_filter_runs() {
    let config = FilterHostConfig { strip_header_prefixes: vec!["x-tok".into()], ..FilterHostConfig::default() };
    let host = host(&gate(), config, b"yA");
    // The client's `X-Token` never reaches the filter.
    assert!(matches!(run(&host, &[("X-Token", "spoofed")]), FilterOutcome::LocalResponse { status: 403, .. }));
}

#[test]
fn headers_set_by_the_embedder_replace_the_clients() {
    let config = FilterHostConfig { strip_header_prefixes: vec!["x-tok".into()], ..FilterHostConfig::default() };
    let host = host(&gate(), config, b"yA");
    let h = headers(&[("x-request-id", "client"), ("accept", "*/*")]);
    let set = [("x-token", "granted"), ("x-request-id", "proxy-1")];
    let outcome = host.run_request(&FilterRequest {
        headers: &h,
        set_headers: &set,
        full_header_map: true,
        ..FilterRequest::default()
    });
    let FilterOutcome::Continue { headers: all, .. } = &outcome else { panic!("{outcome:?}") };
    assert_eq!(
        all,
        &headers(&[
            ("accept", "*/*"),
            ("x-token", "granted"),
            ("x-request-id", "proxy-1"),
            ("x-config", "A"),
            ("x-checked", "yes")
        ])
    );
    assert_eq!(added(&outcome).len(), 2);
}
