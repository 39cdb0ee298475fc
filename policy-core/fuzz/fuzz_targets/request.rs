//! The request path (header checks, protobuf scan, decision) must never panic on hostile input:
//! arbitrary header values and bodies against the example bundle give a decision, never a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_core::{authorize, compile_bundle, Api, HttpRequestView, PeerAddr, PureRustVerifier};

static BUNDLE: &str = include_str!("../../tests/data/example-bundle.json");

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = compile_bundle(BUNDLE) else { return };
    let (head, body) = data.split_at(data.len().min(512));
    let text = String::from_utf8_lossy(head);
    let mut values = text.split('\n');
    let mut next = || values.next().unwrap_or("");
    let headers = [
        ("x-kms-acccesskeyid", next()),
        ("x-kms-apiname", next()),
        ("x-kms-apiversion", "dkms-gcs-0.2"),
        ("x-kms-signaturemethod", "RSA_PKCS1_SHA_256"),
        ("content-type", "application/x-protobuf"),
        ("content-sha256", next()),
        ("date", next()),
        ("authorization", next()),
    ];
    let view = HttpRequestView { method: "POST", headers: &headers, body };
    let peer = PeerAddr {
        ip: "172.16.5.5".parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
        forwarded_for: Some(next()),
    };
    let d = authorize(&bundle, &view, peer, 1_700_000_000, &PureRustVerifier);
    let _ = d.message();
    for api in Api::ALL {
        let _ = policy_core::extract_resource(api, body);
    }
});
