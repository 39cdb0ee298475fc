//! The request path (signed-header checks, string-to-sign, RSA verification with the real
//! `PureRustVerifier`, protobuf scan, source address, decision) on raw HTTP-like text against the
//! example bundle. Input: `name: value` lines (pseudo-headers `@method`, `@peer`, `@xff` set the
//! method, the TCP peer and X-Forwarded-For), a blank line, the body.
//!
//! The seed corpus holds the official SDK's own signed Encrypt request (tests/data/sdk-signed-encrypt.json,
//! client key `key_for_unit_test`), so the fuzzer starts from a request that verifies and is allowed
//! and mutates it. Property: no input panics, and an allow is only ever given to a request whose
//! string-to-sign is exactly the one the SDK signed (no other signature exists in the inputs: any
//! other allow would be a forgery or a canonicalisation bug).
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use policy_core::{
    authorize, compile_bundle, string_to_sign, Api, CompiledBundle, HttpRequestView, PeerAddr, PureRustVerifier,
};

static BUNDLE: &str = include_str!("../../tests/data/example-bundle.json");
/// The date of the SDK's signed request (Thu, 06 Feb 2020 07:32:54 GMT).
const NOW: i64 = 1_580_974_374;
const SIGNED: &str = "POST\n9B720278E3BCFA51F52CBB19923423FB272F26B6F702A81A958932410C82AFEB\napplication/x-protobuf\n\
Thu, 06 Feb 2020 07:32:54 GMT\nx-kms-acccesskeyid:key_for_unit_test\nx-kms-apiname:Encrypt\n\
x-kms-apiversion:dkms-gcs-0.2\nx-kms-signaturemethod:RSA_PKCS1_SHA_256\n/";

fuzz_target!(|data: &[u8]| {
    static COMPILED: OnceLock<Option<CompiledBundle>> = OnceLock::new();
    let Some(bundle) = COMPILED.get_or_init(|| compile_bundle(BUNDLE).ok()) else { return };
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(head);
    let mut method = "POST";
    let mut ip = IpAddr::V4(Ipv4Addr::new(172, 16, 5, 5));
    let mut xff = None;
    let mut headers = Vec::new();
    for line in text.split('\n') {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.strip_prefix(' ').unwrap_or(value);
        match name {
            "@method" => method = value,
            "@peer" => ip = value.parse().unwrap_or(ip),
            "@xff" => xff = Some(value),
            _ => headers.push((name, value)),
        }
    }
    let view = HttpRequestView { method, headers: &headers, body };
    let d = authorize(bundle, &view, PeerAddr { ip, forwarded_for: xff }, NOW, &PureRustVerifier);
    let _ = d.message();
    let _ = d.to_report();
    if d.allowed() {
        assert_eq!(string_to_sign(&view), SIGNED, "allowed a request the SDK did not sign");
        assert_eq!(d.client_key(), Some("key_for_unit_test"));
        assert_eq!(d.api(), Some(Api::Encrypt));
    }
});
