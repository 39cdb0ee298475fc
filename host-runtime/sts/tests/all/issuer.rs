//! A test OIDC issuer: RS256 and ES256 keys made with aws-lc-rs, JWTs signed by hand (so broken
//! ones can be made too), and the JWKS that publishes the keys.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

pub const ISSUER: &str = "https://oidc.test.example/clusters/c1";
pub const AUDIENCE: &str = "sts.aliyuncs.com";
pub const SUBJECT: &str = "system:serviceaccount:apps:reader";
pub const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

pub struct Issuer {
    pub rsa: RsaKeyPair,
    pub ec: EcdsaKeyPair,
}

impl Issuer {
    pub fn new() -> Issuer {
        Issuer {
            rsa: RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap(),
            ec: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
        }
    }

    pub fn rsa_jwk(&self) -> Value {
        let pk = self.rsa.public_key();
        json!({"kty":"RSA","kid":"rsa-1","use":"sig","alg":"RS256",
               "n": B64.encode(pk.modulus().big_endian_without_leading_zero()),
               "e": B64.encode(pk.exponent().big_endian_without_leading_zero())})
    }

    pub fn ec_jwk(&self) -> Value {
        let point = self.ec.public_key().as_ref();
        assert_eq!(point.len(), 65);
        json!({"kty":"EC","kid":"ec-1","crv":"P-256","x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..])})
    }

    pub fn jwks(&self) -> String {
        json!({"keys":[self.rsa_jwk(), self.ec_jwk()]}).to_string()
    }

    pub fn claims() -> Value {
        json!({"iss": ISSUER, "aud": [AUDIENCE], "sub": SUBJECT, "exp": NOW + 3600, "iat": NOW - 60, "nbf": NOW - 60})
    }

    /// `header.payload.signature` with `header` and `claims` as given, signed by the key the
    /// header's alg names (RS256 / ES256); any other alg gets an empty signature.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let rng = SystemRandom::new();
        let sig = match header["alg"].as_str() {
            Some("RS256") => {
                let mut sig = vec![0u8; self.rsa.public_modulus_len()];
                self.rsa.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig).unwrap();
                sig
            }
            Some("ES256") => self.ec.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
            _ => vec![],
        };
        format!("{input}.{}", B64.encode(sig))
    }

    pub fn rs256(&self, claims: &Value) -> String {
        self.sign(&json!({"alg":"RS256","kid":"rsa-1","typ":"JWT"}), claims)
    }

    pub fn es256(&self, claims: &Value) -> String {
        self.sign(&json!({"alg":"ES256","kid":"ec-1","typ":"JWT"}), claims)
    }
}

/// HS256 over the input with `key` (the "public key as HMAC secret" confusion attack).
pub fn hs256(key: &[u8], header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let tag = aws_lc_rs::hmac::sign(&k, input.as_bytes());
    format!("{input}.{}", B64.encode(tag.as_ref()))
}
