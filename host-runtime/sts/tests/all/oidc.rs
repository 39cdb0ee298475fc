//! JWT verification against a test issuer.

use aapkit_sts::oidc::{parse_jwks, verify_token, OidcError, TokenExpectations, LEEWAY_SECS};
use serde_json::json;

use crate::issuer::*;

fn audiences() -> Vec<String> {
    vec![AUDIENCE.to_string()]
}

fn verify(
    token: &str,
    issuer: &Issuer,
    subject: Option<&str>,
    now: i64,
) -> Result<aapkit_sts::oidc::VerifiedToken, OidcError> {
    let jwks = parse_jwks(&issuer.jwks()).unwrap();
    let auds = audiences();
    verify_token(token, &jwks, &TokenExpectations { issuer: ISSUER, audiences: &auds, subject }, now)
}

#[test]
fn rs256_and_es256_tokens_verify() {
    let iss = Issuer::new();
    for (token, alg, kid) in
        [(iss.rs256(&Issuer::claims()), "RS256", "rsa-1"), (iss.es256(&Issuer::claims()), "ES256", "ec-1")]
    {
        let v = verify(&token, &iss, Some("system:serviceaccount:apps:*"), NOW).unwrap();
        assert_eq!((v.subject.as_str(), v.issuer.as_str(), v.algorithm), (SUBJECT, ISSUER, alg));
        assert_eq!((v.expires_at, v.issued_at, v.kid.as_deref()), (NOW + 3600, NOW - 60, Some(kid)));
        assert_eq!(v.audiences, vec![AUDIENCE.to_string()]);
        // A token file's trailing newline is not part of the token.
        assert!(verify(&format!("{token}\n"), &iss, Some(SUBJECT), NOW).is_ok());
    }
    // `aud` as a plain string, and among others.
    let mut c = Issuer::claims();
    c["aud"] = json!(AUDIENCE);
    assert!(verify(&iss.rs256(&c), &iss, None, NOW).is_ok());
    c["aud"] = json!(["other", AUDIENCE]);
    assert!(verify(&iss.es256(&c), &iss, None, NOW).is_ok());
    // No kid: the one key of the algorithm's type is used.
    let t = iss.sign(&json!({"alg":"ES256"}), &Issuer::claims());
    assert!(verify(&t, &iss, None, NOW).is_ok());
}

#[test]
fn tampered_and_foreign_signatures_are_refused() {
    let iss = Issuer::new();
    let other = Issuer::new();
    let token = iss.rs256(&Issuer::claims());
    // Payload changed after signing (a different subject).
    let parts: Vec<&str> = token.split('.').collect();
    let mut c = Issuer::claims();
    c["sub"] = json!("system:serviceaccount:kube-system:admin");
    let forged_payload = other.rs256(&c);
    let forged: Vec<&str> = forged_payload.split('.').collect();
    let swapped = format!("{}.{}.{}", parts[0], forged[1], parts[2]);
    assert_eq!(verify(&swapped, &iss, None, NOW), Err(OidcError::InvalidSignature));
    // Signed by another issuer's key under our kid.
    assert_eq!(verify(&other.rs256(&Issuer::claims()), &iss, None, NOW), Err(OidcError::InvalidSignature));
    assert_eq!(verify(&other.es256(&Issuer::claims()), &iss, None, NOW), Err(OidcError::InvalidSignature));
    // A flipped signature byte.
    let mut sig = parts[2].as_bytes().to_vec();
    sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
    let flipped = format!("{}.{}.{}", parts[0], parts[1], String::from_utf8(sig).unwrap());
    assert_eq!(verify(&flipped, &iss, None, NOW), Err(OidcError::InvalidSignature));
}

#[test]
fn wrong_algorithms_are_refused() {
    let iss = Issuer::new();
    let claims = Issuer::claims();
    // alg none, with and without a signature.
    let none = iss.sign(&json!({"alg":"none","kid":"rsa-1"}), &claims);
    assert_eq!(verify(&none, &iss, None, NOW), Err(OidcError::UnsupportedAlgorithm("none".into())));
    // HS256 keyed with the RSA public key (the classic confusion attack).
    let n = iss.rsa_jwk()["n"].as_str().unwrap().to_owned();
    let hs = hs256(n.as_bytes(), &json!({"alg":"HS256","kid":"rsa-1"}), &claims);
    assert_eq!(verify(&hs, &iss, None, NOW), Err(OidcError::UnsupportedAlgorithm("HS256".into())));
    let pk = aws_lc_rs::signature::KeyPair::public_key(&iss.rsa).as_ref().to_vec();
    let hs = hs256(&pk, &json!({"alg":"HS256","kid":"rsa-1"}), &claims);
    assert_eq!(verify(&hs, &iss, None, NOW), Err(OidcError::UnsupportedAlgorithm("HS256".into())));
    // RS384, PS256, and an alg that does not fit the kid's key type.
    for alg in ["RS384", "PS256", "EdDSA"] {
        let t = iss.sign(&json!({"alg": alg, "kid":"rsa-1"}), &claims);
        assert_eq!(verify(&t, &iss, None, NOW), Err(OidcError::UnsupportedAlgorithm(alg.into())), "{alg}");
    }
    let es_under_rsa_kid = iss.sign(&json!({"alg":"ES256","kid":"rsa-1"}), &claims);
    assert_eq!(verify(&es_under_rsa_kid, &iss, None, NOW), Err(OidcError::UnknownKey("rsa-1".into())));
    // Critical extensions are not understood, so refused.
    let crit = iss.sign(&json!({"alg":"RS256","kid":"rsa-1","crit":["b64"],"b64":false}), &claims);
    assert!(matches!(verify(&crit, &iss, None, NOW), Err(OidcError::CriticalExtension(_))));
}

#[test]
fn unknown_kid_and_malformed_tokens() {
    let iss = Issuer::new();
    let t = iss.sign(&json!({"alg":"RS256","kid":"rotated-away"}), &Issuer::claims());
    assert_eq!(verify(&t, &iss, None, NOW), Err(OidcError::UnknownKey("rotated-away".into())));
    for bad in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.sig", "e30.e30", &"a".repeat(20_001)] {
        assert!(matches!(verify(bad, &iss, None, NOW), Err(OidcError::Malformed(_))), "{bad:.20}");
    }
    // Claims of the wrong types.
    for (name, value) in [("exp", json!("soon")), ("sub", json!(7)), ("aud", json!({"a":1})), ("iss", json!(null))] {
        let mut c = Issuer::claims();
        c[name] = value;
        assert!(matches!(verify(&iss.rs256(&c), &iss, None, NOW), Err(OidcError::Malformed(_))), "{name}");
    }
    for name in ["exp", "iat", "sub", "iss"] {
        let mut c = Issuer::claims();
        c.as_object_mut().unwrap().remove(name);
        assert!(matches!(verify(&iss.rs256(&c), &iss, None, NOW), Err(OidcError::Malformed(_))), "{name}");
    }
    // A JWKS that is not one.
    assert!(matches!(parse_jwks("{\"keys\": 5}"), Err(OidcError::BadJwks(_))));
    assert!(matches!(parse_jwks(&" ".repeat(1024 * 1024 + 1)), Err(OidcError::BadJwks(_))));
}

#[test]
fn time_claims_with_leeway() {
    let iss = Issuer::new();
    let t = iss.rs256(&Issuer::claims());
    let exp = NOW + 3600;
    assert!(verify(&t, &iss, None, exp + LEEWAY_SECS - 1).is_ok());
    assert_eq!(verify(&t, &iss, None, exp + LEEWAY_SECS), Err(OidcError::Expired(exp)));
    let mut c = Issuer::claims();
    c["nbf"] = json!(NOW + LEEWAY_SECS + 1);
    assert_eq!(verify(&iss.rs256(&c), &iss, None, NOW), Err(OidcError::NotYetValid(NOW + LEEWAY_SECS + 1)));
    c["nbf"] = json!(NOW + LEEWAY_SECS);
    assert!(verify(&iss.rs256(&c), &iss, None, NOW).is_ok());
    let mut c = Issuer::claims();
    c["iat"] = json!(NOW + 3000);
    assert_eq!(verify(&iss.rs256(&c), &iss, None, NOW), Err(OidcError::IssuedInFuture(NOW + 3000)));
    // Fractional NumericDates are read as seconds.
    let mut c = Issuer::claims();
    c["exp"] = json!((NOW as f64) + 10.5);
    assert!(verify(&iss.es256(&c), &iss, None, NOW).is_ok());
}

#[test]
fn issuer_audience_and_subject_must_match() {
    let iss = Issuer::new();
    let mut c = Issuer::claims();
    c["iss"] = json!("https://evil.example");
    assert_eq!(verify(&iss.rs256(&c), &iss, None, NOW), Err(OidcError::IssuerMismatch("https://evil.example".into())));
    c["iss"] = json!(format!("{ISSUER}/"));
    assert!(matches!(verify(&iss.rs256(&c), &iss, None, NOW), Err(OidcError::IssuerMismatch(_))));
    let mut c = Issuer::claims();
    c["aud"] = json!(["kubernetes"]);
    assert_eq!(verify(&iss.rs256(&c), &iss, None, NOW), Err(OidcError::AudienceMismatch));
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(verify(&iss.rs256(&c), &iss, None, NOW), Err(OidcError::AudienceMismatch));
    let t = iss.rs256(&Issuer::claims());
    assert!(matches!(verify(&t, &iss, Some("system:serviceaccount:other:*"), NOW), Err(OidcError::SubjectMismatch(_))));
    assert!(matches!(
        verify(&t, &iss, Some("system:serviceaccount:apps:reader2"), NOW),
        Err(OidcError::SubjectMismatch(_))
    ));
    assert!(verify(&t, &iss, Some(SUBJECT), NOW).is_ok());
}
