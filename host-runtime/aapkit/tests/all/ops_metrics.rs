//! QPS quotas (429 Rejected.Throttling, refill after a second) and the /metrics exposition of the
//! admin listener, against a real server.
use crate::cli_support;
use crate::ops_support;

use std::time::Duration;

use ops_support::{audit_rows, data_key_pair_body, encrypt_body, free_port, http_get, setup, Server, Signer};

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
}

#[test]
fn quota_429_then_metrics() {
    let st = setup();
    let admin = format!("127.0.0.1:{}", free_port());
    // The 1000 spec: DataKeyPair is 1 QPS; Symmetric raised by an override to show they combine.
    let server =
        Server::start(&st.env, &["--qps-spec", "1000", "--qps-limit", "Symmetric=5000", "--admin-listen", &admin]);
    let admin = admin.parse().unwrap();
    let signer = Signer::load(&st.key_file);

    let first = signer.call(server.addr, "GenerateDataKeyPair", &data_key_pair_body(&st.aes));
    assert_eq!(first.status, 200, "{}", first.message);
    let second = signer.call(server.addr, "GenerateDataKeyPair", &data_key_pair_body(&st.aes));
    assert_eq!(
        (second.status, second.code.as_str(), second.message.as_str()),
        (429, "Rejected.Throttling", "QPS Limit Exceeded")
    );
    assert!(!second.request_id.is_empty());
    std::thread::sleep(Duration::from_millis(1_100));
    let third = signer.call(server.addr, "GenerateDataKeyPair", &data_key_pair_body(&st.aes));
    assert_eq!(third.status, 200, "a second later the bucket has a token again");
    // Other groups are not affected.
    for _ in 0..5 {
        assert_eq!(signer.call(server.addr, "Encrypt", &encrypt_body(&st.aes)).status, 200);
    }
    assert_eq!(signer.call(server.addr, "Encrypt", &encrypt_body(&st.other)).status, 403);
    assert_eq!(signer.call_tampered(server.addr, "Encrypt", &encrypt_body(&st.aes)).status, 401);

    let (status, text) = http_get(admin, "/metrics");
    assert_eq!(status, 200);
    let expect = [
        ("aapkit_requests_total{api=\"GenerateDataKeyPair\",decision=\"allow\",code=\"OK\"}", 2.0),
        ("aapkit_requests_total{api=\"GenerateDataKeyPair\",decision=\"deny\",code=\"Rejected.Throttling\"}", 1.0),
        ("aapkit_requests_total{api=\"Encrypt\",decision=\"allow\",code=\"OK\"}", 5.0),
        ("aapkit_requests_total{api=\"Encrypt\",decision=\"deny\",code=\"Forbidden.NoPermission\"}", 1.0),
        ("aapkit_requests_total{api=\"Encrypt\",decision=\"deny\",code=\"SignatureNotMatch\"}", 1.0),
        ("aapkit_quota_rejections_total{group=\"DataKeyPair\"}", 1.0),
        ("aapkit_quota_rejections_total{group=\"Symmetric\"}", 0.0),
        ("aapkit_request_duration_seconds_count{api=\"Encrypt\"}", 7.0),
        ("aapkit_request_duration_seconds_bucket{le=\"+Inf\",api=\"Encrypt\"}", 7.0),
        ("aapkit_audit_records_dropped_total", 0.0),
        ("aapkit_client_keys{expires_within=\"later\"}", 1.0),
    ];
    for (series, want) in expect {
        assert_eq!(sample(&text, series), Some(want), "{series} in\n{text}");
    }
    // Client keys are counted in closed buckets, never one series per key.
    assert!(!text.contains(&st.client_key_id), "{text}");
    assert!(text.contains("# TYPE aapkit_request_duration_seconds histogram"));
    assert!(!text.contains("aapkit_filter_traps_total"), "no filter counters with the native enforcer");
    let (status, body) = http_get(admin, "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert_eq!(http_get(admin, "/nope").0, 404);

    server.terminate();
    // The throttled call is in the audit log as a deny with its code.
    let throttled = audit_rows(&st.env, &["--decision", "deny", "--api", "GenerateDataKeyPair"]);
    assert_eq!(throttled.len(), 1);
    assert_eq!(throttled[0]["ErrorCode"], "Rejected.Throttling");
    assert_eq!(throttled[0]["HttpStatus"], 429);
}

#[test]
fn serve_flags_are_checked() {
    let st = setup();
    for (args, what) in [
        (vec!["--qps-spec", "3000"], "1000, 2000, 4000, 10000 and 20000"),
        (vec!["--qps-limit", "Nope=3"], "GROUP=QPS"),
        (vec!["--expiry-webhook", "https://example.com/hook"], "only http://"),
    ] {
        let mut all = vec!["serve", "--plain-http", "--enforcer", "native", "--listen", "127.0.0.1:0"];
        all.extend(args);
        let out = st.env.run(&all);
        assert_eq!(out.status.code(), Some(2), "{all:?}");
        assert!(cli_support::stderr(&out).contains(what), "{all:?}: {}", cli_support::stderr(&out));
    }
}

/// With the wasm enforcer the filter host's counters appear (skipped when the filter module is
/// not built: scripts/build-wasm.sh).
#[test]
fn wasm_enforcer_exposes_filter_counters() {
    let Ok(wasm) = aapkit_tests::filter_wasm() else {
        eprintln!("skipped: no aapkit_filter.wasm (build it with scripts/build-wasm.sh or set AAPKIT_FILTER_WASM)");
        return;
    };
    let st = setup();
    let admin = format!("127.0.0.1:{}", free_port());
    let server = Server::start_with(
        &st.env,
        &["--enforcer", "wasm", "--filter-wasm", wasm.to_str().unwrap()],
        &["--admin-listen", &admin],
    );
    let signer = Signer::load(&st.key_file);
    let ok = signer.call(server.addr, "Encrypt", &encrypt_body(&st.aes));
    assert_eq!(ok.status, 200, "{ok:?}\n{}", server.log_text());
    assert_eq!(signer.call(server.addr, "Encrypt", &encrypt_body(&st.other)).status, 403);
    let (_, text) = http_get(admin.parse().unwrap(), "/metrics");
    assert_eq!(sample(&text, "aapkit_filter_requests_total"), Some(2.0), "{text}");
    assert_eq!(sample(&text, "aapkit_filter_traps_total"), Some(0.0));
    assert_eq!(sample(&text, "aapkit_filter_vm_restarts_total"), Some(0.0));
    server.terminate();
    // The wasm filter does not report the resource: the gateway reads it from the body.
    let rows = audit_rows(&st.env, &[]);
    assert_eq!(rows.len(), 2);
    let allowed = rows.iter().find(|r| r["Decision"] == "Allow").unwrap();
    assert_eq!(allowed["Resource"], format!("key/{}", st.aes));
    assert_eq!(allowed["Policy"], "p1");
}

#[test]
fn playground_is_served_under_playground_on_the_admin_listener() {
    let st = setup();
    let site = st.env.path("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("index.html"), "<title>aapkit policy playground</title>").unwrap();
    std::fs::write(site.join("pkg/aapkit_wasm_bg.wasm"), "not really wasm").unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    let server = Server::start(&st.env, &["--admin-listen", &admin, "--playground-dir", site.to_str().unwrap()]);
    let admin = admin.parse().unwrap();
    assert_eq!(http_get(admin, "/").0, 302);
    let (status, body) = http_get(admin, "/playground/");
    assert_eq!(status, 200);
    assert!(body.contains("aapkit policy playground"));
    assert_eq!(http_get(admin, "/playground/pkg/aapkit_wasm_bg.wasm").0, 200);
    // Only under /playground/, and never outside the directory.
    assert_eq!(http_get(admin, "/index.html").0, 404);
    assert_eq!(http_get(admin, "/playground/../master.key").0, 404);
    assert_eq!(http_get(admin, "/playground/%2e%2e/master.key").0, 404);
    server.terminate();
}
