//! The test filters, in WAT, and helpers to run them.

use proxy_wasm_host::{FilterHost, FilterHostConfig, FilterOutcome, FilterRequest};

/// The test filters' allocator: `$bump`, exported as it is.
const BUMP_ALLOCATOR: &str = r#"
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32) (call $bump (local.get $size)))"#;

/// What every test filter shares: the hostcalls it uses, two pages of memory, a bump allocator
/// (`$bump`), the context callback, and scratch words at 256/260 for returned pointers and lengths.
fn module(body: &str) -> Vec<u8> {
    module_with_allocator(BUMP_ALLOCATOR, body)
}

/// [`module`] with another `proxy_on_memory_allocate` (`$bump` is there to call).
fn module_with_allocator(allocator: &str, body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response"
    (func $send_local (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_property" (func $set_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_call_foreign_function" (func $call_foreign (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_current_time_nanoseconds" (func $now (param i32) (result i32)))
  (import "env" "proxy_close_stream" (func $close_stream (param i32) (result i32)))
  (import "env" "proxy_get_header_map_pairs" (func $get_pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $set_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $get_shared (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_not_in_the_abi" (func $unknown (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 16384))
  ;; A bump allocator over the second page, wrapping back when it is full (a test VM serves few
  ;; requests).
  (func $bump (param $size i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $heap) (local.get $size)) (i32.const 131072))
      (then (global.set $heap (i32.const 16384))))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $p))
  {allocator}
  (func (export "proxy_on_context_create") (param i32 i32))
  ;; Whether the request has header `name` (its value then at (load 256), (load 260)).
  (func $has (param $name i32) (param $len i32) (result i32)
    (i32.eqz (call $get_header (i32.const 0) (local.get $name) (local.get $len) (i32.const 256) (i32.const 260))))
  {body}
)"#
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The gate: configuration `y<c>` is accepted (anything else is logged at error level and
/// refused; `configuring` is logged at info level first). Requests with `x-token` continue with
/// `x-checked: yes`; others get a 403 `denied` (content-type text/plain) and the property
/// `reason` = `no token`. Every request gets `x-config: <c>` (`-` for a bare `y`).
pub fn gate() -> Vec<u8> {
    module(
        r#"
  (data (i32.const 1024) "x-token")
  (data (i32.const 1040) "x-checked")
  (data (i32.const 1056) "yes")
  (data (i32.const 1072) "denied")
  (data (i32.const 1088) "reason")
  (data (i32.const 1104) "no token")
  (data (i32.const 1120) "configuring")
  (data (i32.const 1136) "bad config: expected y")
  (data (i32.const 1168) "x-config")
  (data (i32.const 1200) "\01\00\00\00\0c\00\00\00\0a\00\00\00content-type\00text/plain\00")
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (local $p i32)
    (drop (call $log (i32.const 2) (i32.const 1120) (i32.const 11)))
    (if (i32.eqz (local.get $size))
      (then (drop (call $log (i32.const 4) (i32.const 1136) (i32.const 22))) (return (i32.const 0))))
    (drop (call $get_buffer (i32.const 7) (i32.const 0) (local.get $size) (i32.const 256) (i32.const 260)))
    (local.set $p (i32.load (i32.const 256)))
    (if (i32.ne (i32.load8_u (local.get $p)) (i32.const 121))
      (then (drop (call $log (i32.const 4) (i32.const 1136) (i32.const 22))) (return (i32.const 0))))
    (i32.store8 (i32.const 1180)
      (if (result i32) (i32.ge_u (local.get $size) (i32.const 2))
        (then (i32.load8_u offset=1 (local.get $p)))
        (else (i32.const 45))))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (drop (call $add_header (i32.const 0) (i32.const 1168) (i32.const 8) (i32.const 1180) (i32.const 1)))
    (if (call $has (i32.const 1024) (i32.const 7))
      (then
        (drop (call $add_header (i32.const 0) (i32.const 1040) (i32.const 9) (i32.const 1056) (i32.const 3)))
        (return (i32.const 0))))
    (drop (call $set_property (i32.const 1088) (i32.const 6) (i32.const 1104) (i32.const 8)))
    (drop (call $send_local (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 1072) (i32.const 6)
      (i32.const 1200) (i32.const 36) (i32.const -1)))
    (i32.const 1))
"#,
    )
}

/// The caller of the host's services: calls the foreign function `echo` with `abc` and sets
/// `x-foreign` to its result (`missing` on NOT_FOUND, `bad` on any other error); `x-clock` is
/// `fixed` when the clock reads 1234567890 ns, else `other`; `x-random` is 4 bytes of
/// `random_get`; `x-unimplemented: yes` when shared data and an import outside the ABI both
/// answer UNIMPLEMENTED (12). Accepts any configuration.
pub fn caller() -> Vec<u8> {
    module(
        r#"
  (data (i32.const 1024) "echo")
  (data (i32.const 1040) "abc")
  (data (i32.const 1056) "x-foreign")
  (data (i32.const 1072) "missing")
  (data (i32.const 1088) "bad")
  (data (i32.const 1104) "x-clock")
  (data (i32.const 1120) "fixed")
  (data (i32.const 1136) "other")
  (data (i32.const 1152) "x-random")
  (data (i32.const 1168) "x-unimplemented")
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (local $s i32)
    (local.set $s (call $call_foreign (i32.const 1024) (i32.const 4) (i32.const 1040) (i32.const 3)
      (i32.const 256) (i32.const 260)))
    (if (i32.eqz (local.get $s))
      (then (drop (call $add_header (i32.const 0) (i32.const 1056) (i32.const 9)
        (i32.load (i32.const 256)) (i32.load (i32.const 260)))))
      (else (if (i32.eq (local.get $s) (i32.const 1))
        (then (drop (call $add_header (i32.const 0) (i32.const 1056) (i32.const 9) (i32.const 1072) (i32.const 7))))
        (else (drop (call $add_header (i32.const 0) (i32.const 1056) (i32.const 9) (i32.const 1088) (i32.const 3)))))))
    (drop (call $now (i32.const 264)))
    (if (i64.eq (i64.load (i32.const 264)) (i64.const 1234567890))
      (then (drop (call $add_header (i32.const 0) (i32.const 1104) (i32.const 7) (i32.const 1120) (i32.const 5))))
      (else (drop (call $add_header (i32.const 0) (i32.const 1104) (i32.const 7) (i32.const 1136) (i32.const 5)))))
    (drop (call $random_get (i32.const 280) (i32.const 4)))
    (drop (call $add_header (i32.const 0) (i32.const 1152) (i32.const 8) (i32.const 280) (i32.const 4)))
    (if (i32.and
          (i32.eq (call $get_shared (i32.const 1024) (i32.const 4) (i32.const 256) (i32.const 260) (i32.const 268))
            (i32.const 12))
          (i32.eq (call $unknown) (i32.const 12)))
      (then (drop (call $add_header (i32.const 0) (i32.const 1168) (i32.const 15) (i32.const 1040) (i32.const 3)))))
    (i32.const 0))
"#,
    )
}

/// The misbehaving filter: with `x-spin` it loops forever, with `x-grow` it grows its memory by
/// 100 pages (6.4 MiB) and traps when that fails (as Rust's allocator aborts), with `x-trap` it
/// traps, with `x-pause` it pauses and never resumes, with `x-close` it resets the stream, with
/// `x-count` it counts down from four million first (about 24 million units of fuel); otherwise (and
/// after counting) it continues with `x-ok: 1`. Configuration `spin` loops in `proxy_on_configure`;
/// any other is accepted.
pub fn misbehaving() -> Vec<u8> {
    module(
        r#"
  (data (i32.const 1024) "x-spin")
  (data (i32.const 1040) "x-grow")
  (data (i32.const 1056) "x-trap")
  (data (i32.const 1072) "x-pause")
  (data (i32.const 1088) "x-close")
  (data (i32.const 1104) "x-ok")
  (data (i32.const 1120) "1")
  (data (i32.const 1136) "x-count")
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (if (i32.eq (local.get $size) (i32.const 4))
      (then
        (drop (call $get_buffer (i32.const 7) (i32.const 0) (i32.const 4) (i32.const 256) (i32.const 260)))
        ;; "spin", little-endian
        (if (i32.eq (i32.load (i32.load (i32.const 256))) (i32.const 0x6e697073))
          (then (loop $forever (br $forever))))))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (local $i i32)
    (if (call $has (i32.const 1024) (i32.const 6)) (then (loop $forever (br $forever))))
    (if (call $has (i32.const 1136) (i32.const 7))
      (then
        (local.set $i (i32.const 4000000))
        (loop $down
          (local.set $i (i32.sub (local.get $i) (i32.const 1)))
          (br_if $down (local.get $i)))))
    (if (call $has (i32.const 1040) (i32.const 6))
      (then (if (i32.eq (memory.grow (i32.const 100)) (i32.const -1)) (then unreachable))))
    (if (call $has (i32.const 1056) (i32.const 6)) (then unreachable))
    (if (call $has (i32.const 1072) (i32.const 7)) (then (return (i32.const 1))))
    (if (call $has (i32.const 1088) (i32.const 7))
      (then (drop (call $close_stream (i32.const 0))) (return (i32.const 1))))
    (drop (call $add_header (i32.const 0) (i32.const 1104) (i32.const 4) (i32.const 1120) (i32.const 1)))
    (i32.const 0))
"#,
    )
}

/// The meddler: while `$meddle` is set, its allocator first adds the header `x-meddled: 1` and
/// cuts the body to its first byte, so that what the host sized before allocating has changed
/// by the time it is written. On the request body it reads the whole body and the header map,
/// meddling, then both again, not meddling, and continues with `x-pairs`, `x-body`,
/// `x-pairs-again` and `x-body-again` set to the four statuses as characters (`'0'` + status: `0`
/// OK, `:` INTERNAL_FAILURE). Accepts any configuration.
pub fn meddler() -> Vec<u8> {
    module_with_allocator(
        r#"
  (global $meddle (mut i32) (i32.const 0))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (if (global.get $meddle)
      (then
        (drop (call $add_header (i32.const 0) (i32.const 1024) (i32.const 9) (i32.const 1040) (i32.const 1)))
        ;; bytes 1.. of the body replaced by nothing
        (drop (call $set_buffer (i32.const 0) (i32.const 1) (i32.const 1000000) (i32.const 1040) (i32.const 0)))))
    (call $bump (local.get $size)))"#,
        r#"
  (data (i32.const 1024) "x-meddled")
  (data (i32.const 1040) "1")
  (data (i32.const 1056) "x-pairs")
  (data (i32.const 1072) "x-body")
  (data (i32.const 1088) "x-pairs-again")
  (data (i32.const 1104) "x-body-again")
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func $note (param $name i32) (param $len i32) (param $status i32) (param $at i32)
    (i32.store8 (local.get $at) (i32.add (i32.const 48) (local.get $status)))
    (drop (call $add_header (i32.const 0) (local.get $name) (local.get $len) (local.get $at) (i32.const 1))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (global.set $meddle (i32.const 1))
    (call $note (i32.const 1072) (i32.const 6)
      (call $get_buffer (i32.const 0) (i32.const 0) (local.get $size) (i32.const 256) (i32.const 260))
      (i32.const 1201))
    (call $note (i32.const 1056) (i32.const 7) (call $get_pairs (i32.const 0) (i32.const 256) (i32.const 260))
      (i32.const 1200))
    (global.set $meddle (i32.const 0))
    (call $note (i32.const 1088) (i32.const 13) (call $get_pairs (i32.const 0) (i32.const 256) (i32.const 260))
      (i32.const 1202))
    (call $note (i32.const 1104) (i32.const 12)
      (call $get_buffer (i32.const 0) (i32.const 0) (local.get $size) (i32.const 256) (i32.const 260))
      (i32.const 1203))
    (i32.const 0))
"#,
    )
}

/// A host for `wasm` with `config`, configured with `plugin_config`.
pub fn host(wasm: &[u8], config: FilterHostConfig, plugin_config: &[u8]) -> FilterHost {
    let host = FilterHost::new(wasm, config).unwrap();
    host.configure(plugin_config).unwrap();
    host
}

/// Header pairs from string slices.
pub fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Runs a body-less request with `headers`.
pub fn run(host: &FilterHost, pairs: &[(&str, &str)]) -> FilterOutcome {
    let headers = headers(pairs);
    host.run_request(&FilterRequest { headers: &headers, ..FilterRequest::default() })
}

/// The headers a `Continue` added, else a panic.
pub fn added(outcome: &FilterOutcome) -> Vec<(String, String)> {
    match outcome {
        FilterOutcome::Continue { added_headers, .. } => added_headers.clone(),
        other => panic!("expected Continue, got {other:?}"),
    }
}

/// The value the filter gave `name`.
pub fn added_value(outcome: &FilterOutcome, name: &str) -> Option<String> {
    added(outcome).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}
