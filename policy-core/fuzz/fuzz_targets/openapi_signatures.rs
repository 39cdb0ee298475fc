//! The OpenAPI signature code (`policy_core::openapi`) on arbitrary input: parsing the ACS3
//! `Authorization` header, decoding a query or form body, building the canonical request and the
//! RPC v1 string-to-sign. Properties: nothing panics; what parses is well formed; decoding inverts
//! encoding; an honest signature over what the server rebuilds verifies, and the same signature
//! does not verify once one signed header value changes.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use policy_core::openapi::*;

#[derive(Arbitrary, Debug)]
enum Field {
    Credential(String),
    /// Names picked from the request's headers (by index) or given raw, then joined with `;`.
    SignedHeaders(Vec<Result<u8, String>>, bool),
    Signature(String),
    Other(String, String),
}

/// The Authorization header: raw bytes, or assembled from fields so that most inputs get past the
/// parser and reach the canonical request.
#[derive(Arbitrary, Debug)]
enum Authorization {
    Raw(String),
    Built { algorithm: Option<String>, fields: Vec<Field>, space_after_comma: bool },
}

#[derive(Arbitrary, Debug)]
struct Input {
    authorization: Authorization,
    method: String,
    path: String,
    wire_query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    secret: Vec<u8>,
    /// Which signed header to alter after signing.
    pick: u8,
}

fn build(a: &Authorization, headers: &[(String, String)]) -> String {
    let (algorithm, fields, space) = match a {
        Authorization::Raw(s) => return s.clone(),
        Authorization::Built { algorithm, fields, space_after_comma } => (algorithm, fields, *space_after_comma),
    };
    let parts: Vec<String> = fields
        .iter()
        .take(6)
        .map(|f| match f {
            Field::Credential(v) => format!("Credential={v}"),
            Field::Signature(v) => format!("Signature={v}"),
            Field::Other(k, v) => format!("{k}={v}"),
            Field::SignedHeaders(names, sort) => {
                let mut names: Vec<String> = names
                    .iter()
                    .take(12)
                    .map(|n| match n {
                        Ok(i) if !headers.is_empty() => headers[usize::from(*i) % headers.len()].0.to_ascii_lowercase(),
                        Ok(_) => String::new(),
                        Err(raw) => raw.clone(),
                    })
                    .collect();
                if *sort {
                    names.sort();
                    names.dedup();
                }
                format!("SignedHeaders={}", names.join(";"))
            }
        })
        .collect();
    let sep = if space { ", " } else { "," };
    format!("{} {}", algorithm.as_deref().unwrap_or("ACS3-HMAC-SHA256"), parts.join(sep))
}

fuzz_target!(|input: Input| {
    let headers: Vec<(&str, &str)> = input.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let query = decode_form_urlencoded(&input.wire_query);
    if let Ok(q) = &query {
        let again: Vec<String> =
            q.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect();
        assert_eq!(decode_form_urlencoded(&again.join("&")).as_ref(), Ok(q), "decode(encode(x)) == x");
    }
    let query: Vec<(String, String)> = query.unwrap_or_default();
    let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let sts = rpc_v1_string_to_sign(&input.method, &q);
    let sig = sign_rpc_v1_hmac_sha1(&input.secret, &sts);
    assert!(verify_rpc_v1_hmac_sha1(&input.secret, &sts, &sig));
    let authorization = build(&input.authorization, &input.headers);
    let _ = verify_rpc_v1_hmac_sha1(&input.secret, &sts, &authorization);

    let Ok(auth) = parse_acs3_authorization(&authorization) else { return };
    assert!(!auth.credential.is_empty() && !auth.signature.is_empty());
    assert!(auth.signed_headers.windows(2).all(|w| w[0] < w[1]), "signed headers sorted, no repeats");
    assert!(auth.signed_headers.iter().all(|h| !h.is_empty() && !h.bytes().any(|b| b.is_ascii_uppercase())));
    let payload = sha256_hex(&input.body);
    let Ok(cr) = acs3_canonical_request(&input.method, &input.path, &q, &headers, &auth.signed_headers, &payload)
    else {
        return;
    };
    assert!(cr.ends_with(&payload));
    let sts = acs3_string_to_sign(auth.algorithm, &cr);
    let honest = sign_acs3_hmac_sha256(&input.secret, &sts);
    assert!(verify_acs3_hmac_sha256(&input.secret, &sts, &honest), "an honest signature verifies");
    let _ = verify_acs3_hmac_sha256(&input.secret, &sts, auth.signature);

    // Change one signed header's value (appending a non-space byte changes it after trimming).
    if auth.signed_headers.is_empty() {
        return;
    }
    let target = auth.signed_headers[usize::from(input.pick) % auth.signed_headers.len()];
    let mut changed: Vec<(String, String)> = input.headers.clone();
    if let Some(h) = changed.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(target)) {
        h.1.push('x');
    }
    let view: Vec<(&str, &str)> = changed.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let cr2 = acs3_canonical_request(&input.method, &input.path, &q, &view, &auth.signed_headers, &payload);
    if let Ok(cr2) = cr2 {
        let verdict = verify_acs3_hmac_sha256(&input.secret, &acs3_string_to_sign(auth.algorithm, &cr2), &honest);
        assert!(!verdict, "a changed signed header {target} still verifies");
    }
});
