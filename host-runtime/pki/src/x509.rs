//! X.509 v3 certificate building (RFC 5280), signed with aws-lc-rs keys.

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, RsaKeyPair, RSA_PKCS1_SHA256};
use sha1::{Digest, Sha1};
use time::{OffsetDateTime, UtcOffset};

use super::der::{self, Reader};
use super::{oid, PkiError};

/// The key that signs a certificate.
pub(crate) enum Signer<'a> {
    Rsa(&'a RsaKeyPair),
    Ecdsa(&'a EcdsaKeyPair),
}

impl Signer<'_> {
    /// The signature AlgorithmIdentifier: RSA carries NULL parameters, ECDSA none (RFC 5758).
    fn algorithm(&self) -> Vec<u8> {
        match self {
            Self::Rsa(_) => der::algorithm(oid::SHA256_WITH_RSA, Some(&der::null())),
            Self::Ecdsa(_) => der::algorithm(oid::ECDSA_WITH_SHA256, None),
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        let rng = SystemRandom::new();
        match self {
            Self::Rsa(key) => {
                let mut sig = vec![0u8; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig).map_err(|_| PkiError::Crypto("RSA signing"))?;
                Ok(sig)
            }
            Self::Ecdsa(key) => {
                key.sign(&rng, message).map(|s| s.as_ref().to_vec()).map_err(|_| PkiError::Crypto("ECDSA signing"))
            }
        }
    }

    /// The SubjectPublicKeyInfo of the signing key.
    pub(crate) fn spki(&self) -> Result<Vec<u8>, PkiError> {
        let der: Result<PublicKeyX509Der<'static>, _> = match self {
            Self::Rsa(key) => key.public_key().as_der(),
            Self::Ecdsa(key) => key.public_key().as_der(),
        };
        der.map(|d| d.as_ref().to_vec()).map_err(|_| PkiError::Crypto("public key encoding"))
    }
}

/// A distinguished name, one attribute per RDN, in the given order. Values use PrintableString
/// when they fit (as the official client-key certificates do), else UTF8String.
pub(crate) fn name(attributes: &[(&[u64], &str)]) -> Vec<u8> {
    let rdns: Vec<Vec<u8>> = attributes
        .iter()
        .map(|(arcs, value)| {
            let tag = if is_printable(value) { der::TAG_PRINTABLE_STRING } else { der::TAG_UTF8_STRING };
            let atv = der::sequence(&[&der::oid(arcs), &der::tlv(tag, value.as_bytes())]);
            der::set_of(vec![atv])
        })
        .collect();
    der::sequence(&rdns.iter().map(Vec::as_slice).collect::<Vec<_>>())
}

/// X.680 PrintableString alphabet.
fn is_printable(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
}

/// UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5); whole seconds, UTC.
pub(crate) fn time(t: OffsetDateTime) -> Result<Vec<u8>, PkiError> {
    let t = t.to_offset(UtcOffset::UTC);
    let year = t.year();
    let rest = format!("{:02}{:02}{:02}{:02}{:02}Z", u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second());
    match year {
        1950..=2049 => Ok(der::tlv(der::TAG_UTC_TIME, format!("{:02}{rest}", year % 100).as_bytes())),
        2050..=9999 => Ok(der::tlv(der::TAG_GENERALIZED_TIME, format!("{year:04}{rest}").as_bytes())),
        _ => Err(PkiError::InvalidArgument(format!("certificate time {t} is outside the years 1950 to 9999"))),
    }
}

/// `t` plus whole calendar years (29 February becomes 28 February in a common year).
pub(crate) fn add_years(t: OffsetDateTime, years: i32) -> Result<OffsetDateTime, PkiError> {
    let year = t.year() + years;
    t.replace_year(year)
        .or_else(|_| t.replace_day(28).and_then(|t| t.replace_year(year)))
        .map_err(|_| PkiError::InvalidArgument(format!("{t} plus {years} years is out of range")))
}

/// One Extension.
pub(crate) fn extension(arcs: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    let id = der::oid(arcs);
    let value = der::octet_string(value);
    if critical {
        der::sequence(&[&id, &der::boolean(true), &value])
    } else {
        der::sequence(&[&id, &value])
    }
}

/// A 16-byte positive serial number with the top byte's second bit set, so the DER INTEGER is
/// always exactly 16 content bytes (126 random bits).
pub(crate) fn random_serial() -> Result<[u8; 16], PkiError> {
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).map_err(|_| PkiError::Crypto("random serial"))?;
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(serial)
}

/// Key identifier per RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits.
pub(crate) fn key_identifier(spki: &[u8]) -> Result<[u8; 20], PkiError> {
    let mut r = Reader::new(spki, "SubjectPublicKeyInfo");
    let mut s = r.sequence("SubjectPublicKeyInfo")?;
    s.sequence("SubjectPublicKeyInfo algorithm")?;
    let bits = s.read(der::TAG_BIT_STRING)?;
    let key = bits.get(1..).unwrap_or_default();
    Ok(Sha1::digest(key).into())
}

/// The fields of a TBSCertificate that vary between our certificates.
pub(crate) struct Tbs<'a> {
    pub serial: &'a [u8],
    pub issuer: &'a [u8],
    pub subject: &'a [u8],
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub spki: &'a [u8],
    pub extensions: Vec<Vec<u8>>,
}

/// Builds and signs a v3 certificate; returns its DER.
pub(crate) fn build(tbs: &Tbs<'_>, signer: &Signer<'_>) -> Result<Vec<u8>, PkiError> {
    if tbs.not_after <= tbs.not_before {
        return Err(PkiError::InvalidArgument(format!(
            "NotAfter ({}) must be later than NotBefore ({})",
            tbs.not_after, tbs.not_before
        )));
    }
    let algorithm = signer.algorithm();
    let extensions: Vec<&[u8]> = tbs.extensions.iter().map(Vec::as_slice).collect();
    let body = der::sequence(&[
        &der::explicit(0, &der::small_integer(2)),
        &der::unsigned_integer(tbs.serial),
        &algorithm,
        tbs.issuer,
        &der::sequence(&[&time(tbs.not_before)?, &time(tbs.not_after)?]),
        tbs.subject,
        tbs.spki,
        &der::explicit(3, &der::sequence(&extensions)),
    ]);
    let signature = signer.sign(&body)?;
    Ok(der::sequence(&[&body, &algorithm, &der::bit_string(&signature)]))
}

/// The parts of a certificate the CA reload and the tests need.
pub(crate) struct CertParts<'a> {
    pub subject: &'a [u8],
    pub spki: &'a [u8],
}

/// Splits a certificate just enough to find its subject and public key (encodings included).
pub(crate) fn parse(cert: &[u8]) -> Result<CertParts<'_>, PkiError> {
    let mut outer = Reader::new(cert, "certificate");
    let mut c = outer.sequence("certificate")?;
    outer.finish()?;
    let mut tbs = c.sequence("TBSCertificate")?;
    if tbs.peek_tag() == Some(der::context_constructed(0)) {
        tbs.read_any()?; // version
    }
    tbs.read(der::TAG_INTEGER)?; // serial
    tbs.sequence("signature algorithm")?;
    tbs.sequence("issuer")?;
    tbs.sequence("validity")?;
    let (_, _, subject) = tbs.read_any()?;
    let (_, _, spki) = tbs.read_any()?;
    Ok(CertParts { subject, spki })
}
