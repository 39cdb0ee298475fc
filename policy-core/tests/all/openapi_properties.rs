//! Properties of the OpenAPI signature code: the encoder against a decoder, order independence,
//! every signed byte matters, and no input makes the parsers panic. Plus the parser's errors.

use policy_core::openapi::*;
use proptest::prelude::*;

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[A-Za-z0-9._~-]{1,12}", any::<String>()), 0..12)
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Replaces the character at `at` (modulo the length) with one that differs and is not whitespace.
fn change_one_char(s: &str, at: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return "x".into();
    }
    let i = at % chars.len();
    let mut out = chars.clone();
    out[i] = if chars[i] == 'x' { 'y' } else { 'x' };
    out.into_iter().collect()
}

proptest! {
    #[test]
    fn percent_encode_round_trips_and_emits_only_unreserved_and_escapes(s in any::<String>()) {
        let e = percent_encode(&s);
        prop_assert_eq!(percent_decode(&e).unwrap(), s.clone());
        let b = e.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                prop_assert!(i + 2 < b.len(), "{}", e);
                let hex = &b[i + 1..i + 3];
                prop_assert!(hex.iter().all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c)), "{}", e);
                i += 3;
            } else {
                prop_assert!(b[i].is_ascii_alphanumeric() || b"-_.~".contains(&b[i]), "{}", e);
                i += 1;
            }
        }
    }

    #[test]
    fn form_decoding_inverts_encoding(p in params()) {
        let wire: Vec<String> = p.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect();
        prop_assert_eq!(decode_form_urlencoded(&wire.join("&")).unwrap(), p.clone());
        // `+` for a space, as Python's urlencode writes it.
        let plus: Vec<String> = p.iter().map(|(k, v)| format!("{k}={}", percent_encode(v).replace("%20", "+"))).collect();
        prop_assert_eq!(decode_form_urlencoded(&plus.join("&")).unwrap(), p);
    }

    #[test]
    fn rpc_v1_string_to_sign_ignores_order(p in params().prop_shuffle(), seed in any::<u64>()) {
        let mut other = p.clone();
        // A different order of the same parameters.
        let n = other.len();
        if n > 1 {
            other.rotate_left((seed as usize) % n);
            other.swap(0, (seed as usize / 7) % n);
        }
        prop_assert_eq!(rpc_v1_string_to_sign("POST", &pairs(&p)), rpc_v1_string_to_sign("POST", &pairs(&other)));
        // `Signature` is never signed.
        let mut with_sig = p.clone();
        with_sig.push(("Signature".into(), "abc".into()));
        prop_assert_eq!(rpc_v1_string_to_sign("POST", &pairs(&p)), rpc_v1_string_to_sign("POST", &pairs(&with_sig)));
    }

    #[test]
    fn rpc_v1_one_changed_character_fails(p in params(), secret in "[ -~]{1,40}", pick in any::<usize>(), at in any::<usize>()) {
        let p: Vec<(String, String)> = p.into_iter().filter(|(k, _)| k != "Signature").collect();
        prop_assume!(!p.is_empty());
        let sts = rpc_v1_string_to_sign("POST", &pairs(&p));
        let sig = sign_rpc_v1_hmac_sha1(secret.as_bytes(), &sts);
        prop_assert!(verify_rpc_v1_hmac_sha1(secret.as_bytes(), &sts, &sig));
        let i = pick % p.len();
        let mut changed = p.clone();
        changed[i].1 = change_one_char(&p[i].1, at);
        let sts2 = rpc_v1_string_to_sign("POST", &pairs(&changed));
        prop_assert!(!verify_rpc_v1_hmac_sha1(secret.as_bytes(), &sts2, &sig));
        let mut renamed = p.clone();
        renamed[i].0 = change_one_char(&p[i].0, at);
        prop_assert!(!verify_rpc_v1_hmac_sha1(secret.as_bytes(), &rpc_v1_string_to_sign("POST", &pairs(&renamed)), &sig));
        prop_assert!(!verify_rpc_v1_hmac_sha1(secret.as_bytes(), &rpc_v1_string_to_sign("GET", &pairs(&p)), &sig));
        // A changed signature byte.
        let mut bytes = sig.clone().into_bytes();
        let j = at % 27; // 28 base64 characters, the last is padding
        bytes[j] = if bytes[j] == b'A' { b'B' } else { b'A' };
        prop_assert!(!verify_rpc_v1_hmac_sha1(secret.as_bytes(), &sts, &String::from_utf8(bytes).unwrap()));
    }

    #[test]
    fn acs3_one_changed_character_fails(
        query in params(),
        values in prop::collection::vec("[ -~]{0,20}", 6),
        pick in any::<usize>(),
        at in any::<usize>(),
        body in any::<Vec<u8>>(),
    ) {
        let names = ["host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce", "x-acs-version"];
        let headers: Vec<(&str, &str)> = names.iter().copied().zip(values.iter().map(String::as_str)).collect();
        let payload = sha256_hex(&body);
        let secret = b"secret";
        let cr = acs3_canonical_request("POST", "/", &pairs(&query), &headers, &names, &payload).unwrap();
        let sig = sign_acs3_hmac_sha256(secret, &acs3_string_to_sign(ACS3_HMAC_SHA256, &cr));
        let ok = |q: &[(&str, &str)], h: &[(&str, &str)], payload: &str| {
            acs3_canonical_request("POST", "/", q, h, &names, payload)
                .map(|cr| verify_acs3_hmac_sha256(secret, &acs3_string_to_sign(ACS3_HMAC_SHA256, &cr), &sig))
                .unwrap_or(false)
        };
        prop_assert!(ok(&pairs(&query), &headers, &payload));
        // A header value.
        let i = pick % names.len();
        let changed = change_one_char(&values[i], at);
        let mut h = headers.clone();
        h[i].1 = &changed;
        prop_assert!(!ok(&pairs(&query), &h, &payload));
        // A query value.
        if !query.is_empty() {
            let mut q = query.clone();
            let k = pick % q.len();
            q[k].1 = change_one_char(&q[k].1, at);
            prop_assert!(!ok(&pairs(&q), &headers, &payload));
        }
        // The body.
        let mut b = body.clone();
        if b.is_empty() { b.push(0) } else { let k = at % b.len(); b[k] ^= 1 << (pick % 8); }
        prop_assert!(!ok(&pairs(&query), &headers, &sha256_hex(&b)));
        // A signature character.
        let mut s = sig.clone().into_bytes();
        let k = at % s.len();
        s[k] = if s[k] == b'0' { b'1' } else { b'0' };
        let cr = acs3_canonical_request("POST", "/", &pairs(&query), &headers, &names, &payload).unwrap();
        prop_assert!(!verify_acs3_hmac_sha256(secret, &acs3_string_to_sign(ACS3_HMAC_SHA256, &cr), std::str::from_utf8(&s).unwrap()));
    }

    #[test]
    fn parsers_never_panic(
        s in any::<String>(),
        t in "(ACS3-HMAC-SHA256)? ?((Credential|SignedHeaders|Signature|X)=[a-z;, =-]{0,12},? ?){0,5}",
        q in prop::collection::vec((any::<String>(), any::<String>()), 0..4),
        h in prop::collection::vec((any::<String>(), any::<String>()), 0..4),
        signed in prop::collection::vec(any::<String>(), 0..4),
    ) {
        let _ = parse_acs3_authorization(&s);
        if let Ok(a) = parse_acs3_authorization(&t) {
            // What parses is well formed.
            prop_assert!(a.signed_headers.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(!a.credential.is_empty() && !a.signature.is_empty());
        }
        let _ = decode_form_urlencoded(&s);
        let _ = percent_decode(&s);
        let signed: Vec<&str> = signed.iter().map(String::as_str).collect();
        let _ = acs3_canonical_request(&s, &s, &pairs(&q), &pairs(&h), &signed, &s);
        let _ = rpc_v1_string_to_sign(&s, &pairs(&q));
        let _ = verify_acs3_hmac_sha256(s.as_bytes(), &s, &s);
        let _ = verify_rpc_v1_hmac_sha1(s.as_bytes(), &s, &s);
    }
}

#[test]
fn percent_encode_examples() {
    assert_eq!(percent_encode("a b+c*d~e/f%g&h=i"), "a%20b%2Bc%2Ad~e%2Ff%25g%26h%3Di");
    assert_eq!(percent_encode("机"), "%E6%9C%BA");
    assert_eq!(percent_encode("😀"), "%F0%9F%98%80");
    assert_eq!(percent_encode(""), "");
    assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
}

#[test]
fn decoding_errors() {
    use OpenApiSignatureError as E;
    assert_eq!(percent_decode("a%2"), Err(E::InvalidPercentEncoding { offset: 1 }));
    assert_eq!(percent_decode("%g0"), Err(E::InvalidPercentEncoding { offset: 0 }));
    assert_eq!(percent_decode("%ff"), Err(E::NotUtf8));
    assert_eq!(percent_decode("%e6%9c%ba+"), Ok("机+".into()));
    assert_eq!(decode_form_urlencoded("a=1&b=%zz"), Err(E::InvalidPercentEncoding { offset: 6 }));
    assert_eq!(decode_form_urlencoded("x&a=1&b%=2"), Err(E::InvalidPercentEncoding { offset: 7 }));
    assert_eq!(
        decode_form_urlencoded("&a=&&b&c=d=e&+=+"),
        Ok(vec![
            ("a".into(), String::new()),
            ("b".into(), String::new()),
            ("c".into(), "d=e".into()),
            (" ".into(), " ".into())
        ])
    );
    assert_eq!(decode_form_urlencoded(""), Ok(vec![]));
}

#[test]
fn authorization_parsing() {
    use OpenApiSignatureError as E;
    let ok =
        parse_acs3_authorization("ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host;x-acs-date,Signature=ab").unwrap();
    assert_eq!(
        ok,
        Acs3Authorization {
            algorithm: "ACS3-HMAC-SHA256",
            credential: "ak",
            signed_headers: vec!["host", "x-acs-date"],
            signature: "ab"
        }
    );
    // Spaces after commas, and any field order.
    let spaced =
        parse_acs3_authorization("ACS3-HMAC-SHA256 Signature=ab, Credential=ak,  SignedHeaders=host;x-acs-date");
    assert_eq!(spaced.unwrap(), ok);

    let cases: &[(&str, E)] = &[
        ("", E::AuthorizationMalformed),
        ("ACS3-HMAC-SHA256", E::AuthorizationMalformed),
        (" Credential=a,SignedHeaders=h,Signature=s", E::AuthorizationMalformed),
        ("ACS3_X Credential=a,SignedHeaders=h,Signature=s", E::AuthorizationMalformed),
        ("A Credential=a,SignedHeaders=h,Signature=s,", E::AuthorizationFieldMalformed { field: String::new() }),
        ("A Credential=a,,SignedHeaders=h,Signature=s", E::AuthorizationFieldMalformed { field: String::new() }),
        ("A Credential,SignedHeaders=h,Signature=s", E::AuthorizationFieldMalformed { field: "Credential".into() }),
        ("A Credential=a b,SignedHeaders=h,Signature=s", E::AuthorizationFieldMalformed { field: "Credential".into() }),
        ("A Credential=a,SignedHeaders=h,Signature=s ", E::AuthorizationFieldMalformed { field: "Signature".into() }),
        ("A credential=a,SignedHeaders=h,Signature=s", E::UnknownAuthorizationField { field: "credential".into() }),
        ("A Credential=a,SignedHeaders=h,Signature=s,Extra=1", E::UnknownAuthorizationField { field: "Extra".into() }),
        (
            "A Credential=a,Credential=a,SignedHeaders=h,Signature=s",
            E::DuplicateAuthorizationField { field: "Credential" },
        ),
        ("A SignedHeaders=h,Signature=s", E::MissingAuthorizationField { field: "Credential" }),
        ("A Credential=a,Signature=s", E::MissingAuthorizationField { field: "SignedHeaders" }),
        ("A Credential=a,SignedHeaders=h", E::MissingAuthorizationField { field: "Signature" }),
        ("A Credential=,SignedHeaders=h,Signature=s", E::EmptyAuthorizationField { field: "Credential" }),
        ("A Credential=a,SignedHeaders=Host,Signature=s", E::InvalidSignedHeader { name: "Host".into() }),
        ("A Credential=a,SignedHeaders=a;;b,Signature=s", E::InvalidSignedHeader { name: String::new() }),
        ("A Credential=a,SignedHeaders=a;b:c,Signature=s", E::InvalidSignedHeader { name: "b:c".into() }),
        ("A Credential=a,SignedHeaders=host;accept,Signature=s", E::SignedHeadersNotSorted { name: "accept".into() }),
        ("A Credential=a,SignedHeaders=host;host,Signature=s", E::SignedHeadersNotSorted { name: "host".into() }),
        ("A Credential=a,SignedHeaders=authorization;host,Signature=s", E::AuthorizationHeaderSigned),
    ];
    for (value, err) in cases {
        assert_eq!(parse_acs3_authorization(value).as_ref(), Err(err), "{value:?}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn acs3_query_names_must_be_unreserved() {
    use OpenApiSignatureError as E;
    let q = |name: &'static str| acs3_canonical_request("POST", "/", &[(name, "v")], &[], &[], "p");
    assert_eq!(q("a=b"), Err(E::InvalidParameterName { name: "a=b".into() }));
    assert_eq!(q(""), Err(E::InvalidParameterName { name: String::new() }));
    assert_eq!(q("Tag.1.Key"), Ok("POST\n/\nTag.1.Key=v\n\n\np".into()));
}

#[test]
fn acs3_equal_names_are_ordered_by_value() {
    let a = acs3_canonical_request("POST", "/", &[("a", "2"), ("a", "1"), ("B", "x")], &[], &[], "p").unwrap();
    assert_eq!(a, "POST\n/\nB=x&a=1&a=2\n\n\np");
    let v1 = rpc_v1_string_to_sign("GET", &[("a", "2"), ("a", "1"), ("B", "x y")]);
    assert_eq!(v1, "GET&%2F&B%3Dx%2520y%26a%3D1%26a%3D2");
}
