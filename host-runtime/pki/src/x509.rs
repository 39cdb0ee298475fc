//! X.509 certificates: built and signed by rcgen over aws-lc-rs keys; read back with yasna.
//!
//! What is still written here, and why:
//! - [`Key`]: an rcgen key pair whose PKCS#8 copy is wiped on drop (rcgen only implements `Zeroize`).
//! - [`validity`]: the window checks rcgen leaves to the caller (it would panic on years past 9999).
//! - [`CertFields`]: the three fields aapkit reads from a certificate — the SubjectPublicKeyInfo,
//!   and, to reload the CA, its subject and subjectKeyIdentifier. They are read with yasna, the
//!   ASN.1 crate rcgen already brings in; x509-parser would read them too but adds a dozen crates
//!   (nom, asn1-rs, der-parser, oid-registry, ...) for three fields.

use rcgen::{DistinguishedName, DnType, DnValue, KeyPair, PublicKeyData, SerialNumber, SignatureAlgorithm};
use time::{OffsetDateTime, UtcOffset};
use yasna::models::ObjectIdentifier;
use yasna::tags::{TAG_PRINTABLESTRING, TAG_UTF8STRING};
use yasna::{ASN1Error, ASN1ErrorKind, Tag};
use zeroize::Zeroize as _;

use super::PkiError;

/// An rcgen key pair (aws-lc-rs underneath); its PKCS#8 copy is wiped when it is dropped.
pub(crate) struct Key(KeyPair);

impl Drop for Key {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl Key {
    /// A new ECDSA P-256 key (CA and server certificates).
    pub(crate) fn ecdsa_p256() -> Result<Self, PkiError> {
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map(Self)
            .map_err(|_| PkiError::Crypto("ECDSA key generation"))
    }

    /// A new RSA-2048 key signing with PKCS#1 v1.5 SHA-256 (client keys).
    pub(crate) fn rsa_2048() -> Result<Self, PkiError> {
        KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            .map(Self)
            .map_err(|_| PkiError::Crypto("RSA key generation"))
    }

    /// Loads a PKCS#8 key for `alg`; `None` if it is not such a key.
    pub(crate) fn from_pkcs8(pkcs8: &[u8], alg: &'static SignatureAlgorithm) -> Option<Self> {
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8);
        KeyPair::from_pkcs8_der_and_sign_algo(&der, alg).ok().map(Self)
    }

    /// The private key, PKCS#8 DER.
    pub(crate) fn pkcs8(&self) -> &[u8] {
        self.0.serialized_der()
    }

    /// The SubjectPublicKeyInfo, DER.
    pub(crate) fn spki(&self) -> Vec<u8> {
        self.0.subject_public_key_info()
    }
}

impl PublicKeyData for Key {
    fn der_bytes(&self) -> &[u8] {
        self.0.der_bytes()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.0.algorithm()
    }
}

impl rcgen::SigningKey for Key {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.0.sign(msg)
    }
}

/// The validity window in UTC, checked: NotAfter later than NotBefore, both within the years
/// 1950 to 9999 (UTCTime through 2049, GeneralizedTime from 2050, RFC 5280 4.1.2.5).
pub(crate) fn validity(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime), PkiError> {
    if not_after <= not_before {
        return Err(PkiError::InvalidArgument(format!(
            "NotAfter ({not_after}) must be later than NotBefore ({not_before})"
        )));
    }
    let utc = |t: OffsetDateTime| {
        let t = t.to_offset(UtcOffset::UTC);
        if (1950..=9999).contains(&t.year()) {
            Ok(t)
        } else {
            Err(PkiError::InvalidArgument(format!("certificate time {t} is outside the years 1950 to 9999")))
        }
    };
    Ok((utc(not_before)?, utc(not_after)?))
}

/// `t` plus whole calendar years (29 February becomes 28 February in a common year).
pub(crate) fn add_years(t: OffsetDateTime, years: i32) -> Result<OffsetDateTime, PkiError> {
    let year = t.year() + years;
    t.replace_year(year)
        .or_else(|_| t.replace_day(28).and_then(|t| t.replace_year(year)))
        .map_err(|_| PkiError::InvalidArgument(format!("{t} plus {years} years is out of range")))
}

/// A 16-byte positive serial number with the top byte's second bit set, so the DER INTEGER is
/// always exactly 16 content bytes (126 random bits).
pub(crate) fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).map_err(|_| PkiError::Crypto("random serial"))?;
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&serial))
}

/// A distinguished name, one attribute per RDN, in the given order. Values are PrintableString
/// when they fit (as the official client-key certificates have them), else UTF8String.
pub(crate) fn name(attributes: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (ty, value) in attributes {
        let value = match rcgen::string::PrintableString::try_from(*value) {
            Ok(printable) => DnValue::PrintableString(printable),
            Err(_) => DnValue::Utf8String((*value).to_owned()),
        };
        dn.push(ty.clone(), value);
    }
    dn
}

const OID_SUBJECT_KEY_ID: &[u64] = &[2, 5, 29, 14];

/// What aapkit reads from a certificate.
pub(crate) struct CertFields {
    /// The subject Name, DER.
    pub subject: Vec<u8>,
    /// The SubjectPublicKeyInfo, DER.
    pub spki: Vec<u8>,
    /// The subjectKeyIdentifier extension's key identifier, if present.
    pub key_id: Option<Vec<u8>>,
}

fn malformed(what: &str) -> impl Fn(ASN1Error) -> PkiError + '_ {
    move |e| PkiError::Malformed(format!("{what}: {e}"))
}

/// Reads a DER certificate far enough for [`CertFields`] (the signature is not checked).
pub(crate) fn read(cert: &[u8]) -> Result<CertFields, PkiError> {
    yasna::parse_der(cert, |r| {
        r.read_sequence(|r| {
            let fields = r.next().read_sequence(|tbs| {
                tbs.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_u8()))?; // version
                tbs.next().read_der()?; // serialNumber
                tbs.next().read_der()?; // signature
                tbs.next().read_der()?; // issuer
                tbs.next().read_der()?; // validity
                let subject = tbs.next().read_der()?;
                let spki = tbs.next().read_der()?;
                for n in [1, 2] {
                    // issuerUniqueID [1], subjectUniqueID [2]: skipped
                    tbs.read_optional(|r| match r.lookahead_tag()? {
                        tag if tag == Tag::context(n) => r.read_der().map(drop),
                        _ => Err(ASN1Error::new(ASN1ErrorKind::Invalid)),
                    })?;
                }
                let key_id = tbs.read_optional(|r| r.read_tagged(Tag::context(3), read_subject_key_id))?.flatten();
                Ok(CertFields { subject, spki, key_id })
            })?;
            r.next().read_der()?; // signatureAlgorithm
            r.next().read_der()?; // signatureValue
            Ok(fields)
        })
    })
    .map_err(malformed("certificate"))
}

/// The key identifier in a certificate's Extensions, if it has a subjectKeyIdentifier.
fn read_subject_key_id(r: yasna::BERReader<'_, '_>) -> Result<Option<Vec<u8>>, ASN1Error> {
    let mut key_id = None;
    r.read_sequence_of(|r| {
        r.read_sequence(|ext| {
            let id = ext.next().read_oid()?;
            ext.read_optional(|r| r.read_bool())?; // critical
            let value = ext.next().read_bytes()?;
            if id == ObjectIdentifier::from_slice(OID_SUBJECT_KEY_ID) {
                key_id = Some(yasna::parse_der(&value, |r| r.read_bytes())?);
            }
            Ok(())
        })
    })?;
    Ok(key_id)
}

/// An rcgen Name from a Name's DER, so that a reloaded CA signs with its issuer name as written.
/// Only what [`name`] writes is accepted: one attribute per RDN, each type once,
/// PrintableString or UTF8String values.
pub(crate) fn read_name(der: &[u8]) -> Result<DistinguishedName, PkiError> {
    let attributes = yasna::parse_der(der, |r| {
        r.collect_sequence_of(|r| {
            let mut rdn = r.collect_set_of(|r| {
                r.read_sequence(|atv| {
                    let ty = atv.next().read_oid()?;
                    let value = atv.next();
                    let value = match value.lookahead_tag()? {
                        TAG_PRINTABLESTRING => {
                            let s = value.read_printable_string()?;
                            DnValue::PrintableString(s.try_into().map_err(|_| ASN1Error::new(ASN1ErrorKind::Invalid))?)
                        }
                        TAG_UTF8STRING => DnValue::Utf8String(value.read_utf8string()?),
                        _ => return Err(ASN1Error::new(ASN1ErrorKind::Invalid)),
                    };
                    Ok((DnType::from_oid(ty.components()), value))
                })
            })?;
            match (rdn.pop(), rdn.is_empty()) {
                (Some(atv), true) => Ok(atv),
                _ => Err(ASN1Error::new(ASN1ErrorKind::Invalid)),
            }
        })
    })
    .map_err(malformed("certificate subject"))?;
    let count = attributes.len();
    let mut dn = DistinguishedName::new();
    for (ty, value) in attributes {
        dn.push(ty, value);
    }
    if dn.iter().count() != count {
        return Err(PkiError::Unsupported("certificate subject with a repeated attribute type".into()));
    }
    Ok(dn)
}
