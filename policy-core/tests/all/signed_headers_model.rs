//! The one-pass header gathering behind `string_to_sign` and `verify_request` against a naive
//! reference (a scan per header name, written the obvious way): same string to sign, same
//! duplicate named, for random header lists with mixed-case names, repeats and padded values.

use policy_core::{authorize, compile_bundle, string_to_sign, HttpRequestView, PeerAddr, PureRustVerifier};
use proptest::prelude::*;

const NAMES: [&str; 12] = [
    "x-kms-apiname",
    "X-KMS-ApiName",
    "x-kms-acccesskeyid",
    "x-kms-apiversion",
    "x-kms-signaturemethod",
    "x-kms-zeta",
    "X-Kms-Alpha",
    "content-sha256",
    "Content-Type",
    "date",
    "authorization",
    "accept",
];

fn naive_header<'a>(h: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
}

fn naive_string_to_sign(method: &str, h: &[(&str, &str)]) -> String {
    let mut kms: Vec<(String, &str)> = h
        .iter()
        .filter(|(k, _)| k.to_ascii_lowercase().starts_with("x-kms-"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim()))
        .collect();
    kms.sort_by(|a, b| a.0.cmp(&b.0));
    let mut s = format!("{method}\n");
    for name in ["content-sha256", "content-type", "date"] {
        s += naive_header(h, name).unwrap_or("");
        s += "\n";
    }
    for (k, v) in kms {
        s += &format!("{k}:{v}\n");
    }
    s + "/"
}

fn naive_duplicate<'a>(h: &[(&'a str, &str)]) -> Option<&'a str> {
    let signed = |k: &str| {
        let k = k.to_ascii_lowercase();
        ["content-sha256", "content-type", "date", "authorization"].contains(&k.as_str()) || k.starts_with("x-kms-")
    };
    (0..h.len()).find_map(|i| {
        let k = h[i].0;
        (signed(k) && h[i + 1..].iter().any(|(k2, _)| k2.eq_ignore_ascii_case(k))).then_some(k)
    })
}

fn headers() -> impl Strategy<Value = Vec<(usize, String)>> {
    prop::collection::vec((0..NAMES.len(), "[ ]{0,2}[a-c]{0,3}[ ]{0,2}"), 0..10)
}

proptest! {
    #[test]
    fn same_string_to_sign_and_duplicate(list in headers()) {
        let h: Vec<(&str, &str)> = list.iter().map(|(n, v)| (NAMES[*n], v.as_str())).collect();
        let req = HttpRequestView { method: "POST", headers: &h, body: b"" };
        prop_assert_eq!(string_to_sign(&req), naive_string_to_sign("POST", &h));

        // A duplicate is the first check of verification, so its message names it.
        let bundle = compile_bundle(include_str!("../data/example-bundle.json")).unwrap();
        let peer = PeerAddr { ip: "10.0.0.1".parse().unwrap(), forwarded_for: None };
        let message = authorize(&bundle, &req, peer, 0, &PureRustVerifier).message();
        match naive_duplicate(&h) {
            Some(name) => prop_assert_eq!(message, format!("The Param {name} is invalid. (header sent more than once)")),
            None => prop_assert!(!message.contains("more than once"), "{}", message),
        }
    }
}
