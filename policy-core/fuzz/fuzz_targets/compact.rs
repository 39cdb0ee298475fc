//! The compact form's reader must never panic, and a form it accepts must decide without panicking
//! and write a form that reads back to itself. Inputs are either raw bytes, or (first byte odd) edits to
//! the example bundle's compact form with its checksum fixed up, so the decoder itself is reached.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use policy_core::{decide, AccessRequest, Api, CompiledBundle};

fn example() -> &'static [u8] {
    static FORM: OnceLock<Vec<u8>> = OnceLock::new();
    FORM.get_or_init(|| {
        let json = include_str!("../../tests/data/example-bundle.json");
        policy_core::compile_bundle(json).map(|b| b.to_compact()).unwrap_or_default()
    })
}

fuzz_target!(|data: &[u8]| {
    let bytes = match data.split_first() {
        Some((mode, edits)) if mode & 1 == 1 => {
            // Each 3 bytes: a position (2, little-endian) in the form and a byte to xor there.
            let mut form = example().to_vec();
            for e in edits.chunks_exact(3) {
                let at = usize::from(u16::from_le_bytes([e[0], e[1]])) % form.len().max(1);
                if let Some(b) = form.get_mut(at) {
                    *b ^= e[2];
                }
            }
            if edits.len() % 3 == 1 {
                // A truncation too.
                let keep = form.len().saturating_sub(usize::from(edits[edits.len() - 1]));
                form.truncate(keep);
            }
            policy_core::__reseal_for_fuzzing(&mut form);
            form
        }
        _ => data.to_vec(),
    };
    let Ok(bundle) = CompiledBundle::from_compact(&bytes) else { return };
    // A form this version wrote reads back to the same bytes (the unit and property tests); one
    // edited by hand may be written back in canonical order (sorted exact names), and from
    // there on it is stable.
    let written = bundle.to_compact();
    let again = CompiledBundle::from_compact(&written).expect("a written form loads");
    assert_eq!(again.to_compact(), written, "written forms are a fixed point");
    for (api, resource) in [(Api::Encrypt, Some("key-app-001")), (Api::GetSecretValue, Some("app/db")), (Api::Decrypt, None)] {
        for client_key_id in ["KAAP.6b0d5f3e-2c1a-4d7e-9f00-0123456789ab", "nobody"] {
            for scope in ["kst-demo01", "shared"] {
                let r = AccessRequest {
                    client_key_id,
                    api,
                    resource,
                    source_ip: "10.0.0.1".parse().unwrap_or(std::net::IpAddr::from([10, 0, 0, 1])),
                    scope,
                };
                let _ = decide(&bundle, &r, 1_700_000_000).to_report();
            }
        }
    }
});
