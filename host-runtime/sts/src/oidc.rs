//! OIDC token verification for AssumeRoleWithOIDC: a JWS-signed JWT (RS256 or ES256) checked
//! against the issuer's JWKS (JSON text given by the caller), then its claims against the role's
//! trust: `iss` exactly, `aud` (a string or an array) naming one of the role's audiences, `exp`,
//! `nbf` and `iat` against `now` with [`LEEWAY_SECS`], `sub` against the role's pattern.
//!
//! Pure: the clock is `now`, the keys are the text given. Signature verification is
//! `jsonwebtoken`'s over aws-lc-rs; the header, key choice and every claim are checked here, so
//! the library's own clock is never consulted.

use std::collections::HashSet;

use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 60;
/// OIDCToken length bounds (STS's model: 4 to 20000 characters).
pub const MIN_TOKEN_LEN: usize = 4;
pub const MAX_TOKEN_LEN: usize = 20_000;
/// Largest JWKS document accepted.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// What the role's trust requires of a token.
#[derive(Debug, Clone, Copy)]
pub struct TokenExpectations<'a> {
    pub issuer: &'a str,
    pub audiences: &'a [String],
    /// Exact subject or `prefix*`; `None` accepts any.
    pub subject: Option<&'a str>,
}

/// A verified token's facts (AssumeRoleWithOIDC's `OIDCTokenInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub subject: String,
    pub issuer: String,
    /// The token's audiences (`aud`, as a list).
    pub audiences: Vec<String>,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
    /// `iat`, Unix seconds.
    pub issued_at: i64,
    /// The key that verified it.
    pub kid: Option<String>,
    /// `RS256` or `ES256`.
    pub algorithm: &'static str,
}

/// Why a token was refused. Each maps to an STS error code ([`crate::StsError`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OidcError {
    /// Not a JWS compact token, bad base64 or JSON, a required claim missing or mistyped.
    #[error("the OIDC token is malformed: {0}")]
    Malformed(String),
    /// `alg` is not RS256 or ES256 (`none`, HS256, ... are refused).
    #[error("the algorithm {0} in the JWT header is not accepted (RS256 or ES256 only)")]
    UnsupportedAlgorithm(String),
    /// The header names critical extensions this verifier does not understand.
    #[error("the JWT header has critical extensions ({0}) that are not supported")]
    CriticalExtension(String),
    /// No key of the JWKS can verify the token (unknown `kid`, or no key of the algorithm's type).
    #[error("no key of the issuer's JWKS matches the token (kid {0})")]
    UnknownKey(String),
    #[error("the OIDC token's signature is invalid")]
    InvalidSignature,
    #[error("the OIDC token expired at {0}")]
    Expired(i64),
    #[error("the OIDC token is not valid before {0}")]
    NotYetValid(i64),
    #[error("the OIDC token was issued in the future ({0})")]
    IssuedInFuture(i64),
    #[error("the OIDC token's issuer {0:?} is not the role's")]
    IssuerMismatch(String),
    #[error("the OIDC token's audience is not one the role accepts")]
    AudienceMismatch,
    #[error("the OIDC token's subject {0:?} does not match the role's subject pattern")]
    SubjectMismatch(String),
    /// The issuer's JWKS document is unusable (configuration, not the caller's fault).
    #[error("the issuer's JWKS is unusable: {0}")]
    BadJwks(String),
}

/// Parses a JWKS document (`{"keys":[...]}`), refusing oversized or malformed text.
pub fn parse_jwks(text: &str) -> Result<JwkSet, OidcError> {
    if text.len() > MAX_JWKS_BYTES {
        return Err(OidcError::BadJwks(format!("larger than {MAX_JWKS_BYTES} bytes")));
    }
    serde_json::from_str(text).map_err(|e| OidcError::BadJwks(e.to_string()))
}

fn b64url_json(part: &str, what: &str) -> Result<Value, OidcError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| OidcError::Malformed(format!("the {what} is not base64url")))?;
    serde_json::from_slice(&bytes).map_err(|_| OidcError::Malformed(format!("the {what} is not JSON")))
}

/// Verifies `token` (surrounding whitespace ignored: token files often end in a newline) against
/// the JWKS `jwks` and the role's expectations at `now`.
pub fn verify_token(
    token: &str,
    jwks: &JwkSet,
    expect: &TokenExpectations<'_>,
    now: i64,
) -> Result<VerifiedToken, OidcError> {
    let token = token.trim();
    if !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&token.len()) {
        return Err(OidcError::Malformed(format!("expected {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} characters")));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, _, _] = parts.as_slice() else {
        return Err(OidcError::Malformed("a JWT has three parts separated by '.'".into()));
    };
    // The header is read here first, so a foreign `alg` is named in the refusal.
    let header = b64url_json(header_b64, "header")?;
    let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or("(none)");
    let (alg, alg_label) = match alg_name {
        "RS256" => (Algorithm::RS256, "RS256"),
        "ES256" => (Algorithm::ES256, "ES256"),
        other => return Err(OidcError::UnsupportedAlgorithm(other.chars().take(32).collect())),
    };
    if let Some(crit) = header.get("crit") {
        return Err(OidcError::CriticalExtension(crit.to_string().chars().take(64).collect()));
    }
    let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
    let jwk = select_key(jwks, kid.as_deref(), alg)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| OidcError::BadJwks(format!("key {}: {e}", kid_label(&kid))))?;

    let mut validation = Validation::new(alg);
    // Every claim is checked below with the caller's clock; the library only verifies the signature.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind as K;
        match e.kind() {
            K::InvalidSignature => OidcError::InvalidSignature,
            K::InvalidAlgorithm | K::InvalidAlgorithmName | K::UnsupportedAlgorithm => {
                OidcError::UnsupportedAlgorithm(alg_label.into())
            }
            K::InvalidEcdsaKey | K::InvalidRsaKey(_) | K::InvalidKeyFormat => {
                OidcError::BadJwks(format!("key {}: {e}", kid_label(&kid)))
            }
            _ => OidcError::Malformed(e.to_string()),
        }
    })?;
    check_claims(&data.claims, expect, now, kid, alg_label)
}

fn kid_label(kid: &Option<String>) -> String {
    kid.clone().unwrap_or_else(|| "(none)".into())
}

/// The key for `alg`: the one named by `kid`, else (no `kid`) the only key of the right type.
fn select_key<'a>(jwks: &'a JwkSet, kid: Option<&str>, alg: Algorithm) -> Result<&'a Jwk, OidcError> {
    let fits = |k: &Jwk| {
        let type_ok = match (&k.algorithm, alg) {
            (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
            (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
            _ => false,
        };
        let alg_ok = match k.common.key_algorithm {
            None => true,
            Some(KeyAlgorithm::RS256) => alg == Algorithm::RS256,
            Some(KeyAlgorithm::ES256) => alg == Algorithm::ES256,
            Some(_) => false,
        };
        let use_ok = matches!(k.common.public_key_use, None | Some(PublicKeyUse::Signature));
        type_ok && alg_ok && use_ok
    };
    let label = kid.unwrap_or("(none)").chars().take(64).collect::<String>();
    match kid {
        Some(kid) => jwks
            .keys
            .iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid) && fits(k))
            .ok_or(OidcError::UnknownKey(label)),
        None => {
            let mut candidates = jwks.keys.iter().filter(|k| fits(k));
            match (candidates.next(), candidates.next()) {
                (Some(k), None) => Ok(k),
                _ => Err(OidcError::UnknownKey(label)),
            }
        }
    }
}

/// A NumericDate claim as whole seconds (fractions are dropped toward the stricter side by the callers).
fn numeric_date(claims: &Value, name: &str) -> Result<Option<i64>, OidcError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => match v.as_i64().or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64)) {
            Some(n) => Ok(Some(n)),
            None => Err(OidcError::Malformed(format!("the claim {name} is not a number"))),
        },
    }
}

fn check_claims(
    claims: &Value,
    expect: &TokenExpectations<'_>,
    now: i64,
    kid: Option<String>,
    algorithm: &'static str,
) -> Result<VerifiedToken, OidcError> {
    if !claims.is_object() {
        return Err(OidcError::Malformed("the claims are not a JSON object".into()));
    }
    let string = |name: &str| -> Result<String, OidcError> {
        claims
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| OidcError::Malformed(format!("the claim {name} is missing or not a string")))
    };
    // Time first: an expired token is reported as expired whatever else is wrong with it.
    let exp = numeric_date(claims, "exp")?.ok_or_else(|| OidcError::Malformed("the claim exp is missing".into()))?;
    if now >= exp.saturating_add(LEEWAY_SECS) {
        return Err(OidcError::Expired(exp));
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if nbf > now.saturating_add(LEEWAY_SECS) {
            return Err(OidcError::NotYetValid(nbf));
        }
    }
    let iat = numeric_date(claims, "iat")?.ok_or_else(|| OidcError::Malformed("the claim iat is missing".into()))?;
    if iat > now.saturating_add(LEEWAY_SECS) {
        return Err(OidcError::IssuedInFuture(iat));
    }
    let issuer = string("iss")?;
    if issuer != expect.issuer {
        return Err(OidcError::IssuerMismatch(issuer.chars().take(256).collect()));
    }
    let audiences: Vec<String> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| OidcError::Malformed("the claim aud holds a non-string".into()))?,
        Some(_) => return Err(OidcError::Malformed("the claim aud is neither a string nor an array".into())),
        None => return Err(OidcError::AudienceMismatch),
    };
    if !audiences.iter().any(|a| expect.audiences.contains(a)) {
        return Err(OidcError::AudienceMismatch);
    }
    let subject = string("sub")?;
    if let Some(pattern) = expect.subject {
        if !aapkit_store::subject_matches(pattern, &subject) {
            return Err(OidcError::SubjectMismatch(subject.chars().take(256).collect()));
        }
    }
    Ok(VerifiedToken { subject, issuer, audiences, expires_at: exp, issued_at: iat, kid, algorithm })
}
