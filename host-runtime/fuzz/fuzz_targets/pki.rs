//! aapkit-pki's certificate / PEM / PKCS#12 readers must never panic on any input: certificates
//! (`certificate_public_key`), PEM armour, PKCS#12 files (`pkcs12::parse`, both raw — where the
//! MAC check stops almost everything — and re-wrapped with a valid MAC so the AuthenticatedSafe,
//! SafeBag and PBE readers behind it are reached), client-key JSON files and CA PEM pairs.
#![no_main]

use aapkit_pki::{self as pki, pkcs12, CaMaterial};
use libfuzzer_sys::fuzz_target;

// The official SDK sample client key (host-runtime/pki/tests/data) uses this password: its seeds pass the MAC.
const PASSWORD: &str = "1234";

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match selector % 6 {
        0 => {
            if let Ok(spki) = pki::certificate_public_key(rest) {
                // The SPKI the certificate reader hands out is a part of its input.
                assert!(spki.len() <= rest.len());
            }
        }
        1 => {
            for label in ["CERTIFICATE", "PRIVATE KEY", "RSA PRIVATE KEY"] {
                if let Ok(der) = pki::decode_pem(&text, label) {
                    // Round trip: our own armour of the result decodes to the same bytes.
                    assert_eq!(pki::decode_pem(&pki::encode_pem(label, &der), label).ok(), Some(der));
                }
            }
        }
        2 => {
            let _ = pkcs12::parse(rest, PASSWORD);
        }
        3 => {
            // Behind the MAC: `rest` is the AuthenticatedSafe.
            if let Ok(pfx) = pkcs12::fuzz_pfx_with_valid_mac(rest, PASSWORD) {
                let _ = pkcs12::parse(&pfx, PASSWORD);
                // A wrong password is refused at the MAC, whatever the contents.
                assert!(pkcs12::parse(&pfx, "Wrong_pass1").is_err());
            }
        }
        4 => {
            let _ = pki::client_key::load_client_key(&text, PASSWORD);
        }
        _ => {
            let (cert, key) = text.split_once("\n\n").unwrap_or((&text, ""));
            let _ = CaMaterial::from_pem("kst-fuzz", cert, key);
        }
    }
});
