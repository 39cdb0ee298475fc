//! `RsaPublicKey`: parsing (PEM, DER, X.509, PKCS#1, components), checks and precomputation.

use core::fmt;

use super::der::{
    self, Reader, Tlv, TAG_BIT_STRING, TAG_CONTEXT_0, TAG_GENERALIZED_TIME, TAG_INTEGER, TAG_NULL, TAG_OID,
    TAG_SEQUENCE, TAG_UTC_TIME,
};
use super::error::PublicKeyError;
use super::mont::MontKey;
use super::pem::{self, PemKind};

/// DER content of the OID 1.2.840.113549.1.1.1 (`rsaEncryption`).
const RSA_ENCRYPTION_OID: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];

/// Smallest accepted modulus (client keys are RSA_2048).
pub const MIN_MODULUS_BITS: usize = 2048;
/// Largest accepted modulus. 3072- and 4096-bit keys are accepted: they are no weaker, and
/// verification costs about 2.2× and 4× a 2048-bit one.
pub const MAX_MODULUS_BITS: usize = 4096;

/// An RSA public key, checked and prepared once, then used for many verifications.
///
/// Accepted: modulus of 2048 to 4096 bits (any length in between), odd; public exponent odd,
/// in `[3, 2^32)`. The certificate's own signature is not checked: a client key's certificate is
/// self-signed, and its trust comes from the bundle that lists it.
///
/// The key holds one buffer, the canonical SubjectPublicKeyInfo, with the modulus as a range of
/// it; the Montgomery form the pure-Rust verifier needs (`R² mod n`, about as dear as parsing a
/// certificate) is computed on the first pure-Rust verification, not when the key is loaded: a
/// gateway holding 10,000 client keys whose host verifies signatures never pays it.
#[derive(Clone)]
pub struct RsaPublicKey {
    /// The canonical DER SubjectPublicKeyInfo.
    spki: Box<[u8]>,
    /// Where the big-endian modulus, without leading zero bytes, lies in `spki`.
    n_at: (u16, u16),
    e: u32,
    bits: u16,
    validity: Option<(i64, i64)>,
    mont: std::sync::OnceLock<Option<Box<MontKey>>>,
    #[cfg(feature = "rsa-crate")]
    rsa: Option<rsa::PublicKey>,
}

/// The PKCS#1 RSAPublicKey inside a DER SubjectPublicKeyInfo holding an `rsaEncryption` key.
fn spki_rsa_public_key(der: &[u8]) -> Result<&[u8], PublicKeyError> {
    let mut outer = Reader::new(der);
    let mut spki = outer.sequence("SubjectPublicKeyInfo")?;
    outer.finish("SubjectPublicKeyInfo")?;
    let mut alg = spki.sequence("the key AlgorithmIdentifier")?;
    let oid = alg.expect(TAG_OID, "the key algorithm OID")?.content;
    if oid != RSA_ENCRYPTION_OID {
        return Err(PublicKeyError::NotRsa { algorithm: describe_oid(oid) });
    }
    // RFC 3279 §2.3.1: the parameters MUST be NULL.
    let params = alg.expect(TAG_NULL, "the rsaEncryption parameters (must be NULL)")?;
    if !params.content.is_empty() {
        return Err(der::err("the rsaEncryption parameters", "is a NULL with content"));
    }
    alg.finish("the key AlgorithmIdentifier")?;
    let bits = spki.expect(TAG_BIT_STRING, "the subjectPublicKey BIT STRING")?.content;
    spki.finish("SubjectPublicKeyInfo")?;
    match bits {
        [0, pkcs1 @ ..] => Ok(pkcs1),
        _ => Err(der::err("the subjectPublicKey BIT STRING", "does not hold whole bytes")),
    }
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`: (modulus, exponent).
fn pkcs1_components(der: &[u8]) -> Result<(&[u8], u32), PublicKeyError> {
    let mut outer = Reader::new(der);
    let mut seq = outer.sequence("RSAPublicKey")?;
    outer.finish("RSAPublicKey")?;
    let n = seq.unsigned_integer("the RSA modulus")?;
    let e = seq.unsigned_integer("the RSA public exponent")?;
    seq.finish("RSAPublicKey")?;
    if e.len() > 4 {
        return Err(PublicKeyError::BadExponent { detail: "is 2^32 or more".to_owned() });
    }
    Ok((n, e.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b))))
}

impl RsaPublicKey {
    /// Parses a PEM `CERTIFICATE` (X.509; its SubjectPublicKeyInfo is used and its validity kept),
    /// `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` (PKCS#1). Text around the single
    /// PEM block (e.g. openssl's "Bag Attributes") is ignored.
    pub fn from_pem(text: &str) -> Result<Self, PublicKeyError> {
        let (kind, der) = pem::decode(text)?;
        match kind {
            PemKind::Certificate => Self::from_certificate_der(&der),
            PemKind::PublicKey => Self::from_spki_der(&der),
            PemKind::RsaPublicKey => Self::from_pkcs1_der(&der),
        }
    }

    /// Parses DER: an X.509 certificate or a SubjectPublicKeyInfo (a PKCS#1 RSAPublicKey is
    /// also recognised, the three are unambiguous).
    pub fn from_der(der: &[u8]) -> Result<Self, PublicKeyError> {
        let mut outer = Reader::new(der);
        let mut top = outer.sequence("the top-level SEQUENCE")?;
        match top.peek_tag() {
            Some(TAG_INTEGER) => Self::from_pkcs1_der(der),
            Some(TAG_SEQUENCE) => {
                let first = top.sequence("the first element")?;
                if first.peek_tag() == Some(TAG_OID) {
                    Self::from_spki_der(der)
                } else {
                    Self::from_certificate_der(der)
                }
            }
            _ => Err(der::err(
                "the top-level SEQUENCE",
                "is neither a certificate, a SubjectPublicKeyInfo nor an RSAPublicKey",
            )),
        }
    }

    /// Parses a DER X.509 certificate; keeps its validity window (see [`Self::cert_validity`]).
    pub fn from_certificate_der(der: &[u8]) -> Result<Self, PublicKeyError> {
        let mut outer = Reader::new(der);
        let mut cert = outer.sequence("Certificate")?;
        outer.finish("Certificate")?;
        let mut tbs = cert.sequence("tbsCertificate")?;
        cert.expect(TAG_SEQUENCE, "the Certificate signatureAlgorithm")?;
        cert.expect(TAG_BIT_STRING, "the Certificate signatureValue")?;
        cert.finish("Certificate")?;

        if tbs.peek_tag() == Some(TAG_CONTEXT_0) {
            let mut version = Reader::new(tbs.any("the certificate version")?.content);
            // DER omits the default v1, so an explicit version is v2 (1) or v3 (2).
            match version.unsigned_integer("the certificate version")? {
                [1] | [2] => {}
                _ => return Err(der::err("the certificate version", "is not v2 or v3")),
            }
            version.finish("the certificate version")?;
        }
        tbs.expect(TAG_INTEGER, "the certificate serialNumber")?;
        tbs.expect(TAG_SEQUENCE, "the certificate signature algorithm")?;
        tbs.expect(TAG_SEQUENCE, "the certificate issuer")?;
        let mut validity = tbs.sequence("the certificate validity")?;
        let not_before = validity_time(&validity.any("the certificate notBefore")?, "notBefore")?;
        let not_after = validity_time(&validity.any("the certificate notAfter")?, "notAfter")?;
        validity.finish("the certificate validity")?;
        tbs.expect(TAG_SEQUENCE, "the certificate subject")?;
        let spki = tbs.expect(TAG_SEQUENCE, "the certificate SubjectPublicKeyInfo")?;
        // issuerUniqueID [1], subjectUniqueID [2], extensions [3], each optional, in this order.
        for tag in [0x81, 0xA1, 0x82, 0xA2, 0xA3] {
            if tbs.peek_tag() == Some(tag) {
                tbs.any("an optional tbsCertificate field")?;
            }
        }
        tbs.finish("tbsCertificate")?;

        let mut key = Self::from_spki_der(spki.raw)?;
        key.validity = Some((not_before, not_after));
        Ok(key)
    }

    /// Parses a DER SubjectPublicKeyInfo holding an `rsaEncryption` key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, PublicKeyError> {
        Self::from_pkcs1_der(spki_rsa_public_key(der)?)
    }

    /// Parses a DER PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, PublicKeyError> {
        let (n, e) = pkcs1_components(der)?;
        Self::from_components(n, e)
    }

    /// The big-endian modulus and the exponent of a DER SubjectPublicKeyInfo or PKCS#1
    /// RSAPublicKey, read with the same parser as [`Self::from_der`] but without its key checks and
    /// precomputation: for a backend that builds its own key object per call (the host's native
    /// verifier behind the `verify_signature` foreign function).
    pub fn components_from_der(der: &[u8]) -> Result<(&[u8], u32), PublicKeyError> {
        let mut outer = Reader::new(der);
        let top = outer.sequence("the top-level SEQUENCE")?;
        match top.peek_tag() {
            Some(TAG_INTEGER) => pkcs1_components(der),
            Some(TAG_SEQUENCE) => pkcs1_components(spki_rsa_public_key(der)?),
            _ => Err(der::err("the top-level SEQUENCE", "is neither a SubjectPublicKeyInfo nor an RSAPublicKey")),
        }
    }

    /// Builds a key from the big-endian modulus (leading zero bytes allowed) and the exponent.
    pub fn from_components(n_be: &[u8], e: u32) -> Result<Self, PublicKeyError> {
        let skip = n_be.iter().take_while(|&&b| b == 0).count();
        let n = n_be.get(skip..).unwrap_or_default();
        check_components(n, e)?;
        let mut spki = Vec::with_capacity(n.len() + 40);
        let mut pkcs1 = Vec::with_capacity(n.len() + 16);
        der::write_unsigned(&mut pkcs1, n);
        der::write_unsigned(&mut pkcs1, &e.to_be_bytes());
        let mut pkcs1_seq = vec![0u8];
        der::write_tlv(&mut pkcs1_seq, TAG_SEQUENCE, &pkcs1);
        let mut body = Vec::with_capacity(spki.capacity());
        let mut alg = Vec::with_capacity(13);
        der::write_tlv(&mut alg, TAG_OID, RSA_ENCRYPTION_OID);
        der::write_tlv(&mut alg, TAG_NULL, &[]);
        der::write_tlv(&mut body, TAG_SEQUENCE, &alg);
        der::write_tlv(&mut body, TAG_BIT_STRING, &pkcs1_seq);
        der::write_tlv(&mut spki, TAG_SEQUENCE, &body);
        Self::from_canonical_spki(spki.into_boxed_slice(), None)
    }

    /// A key from the canonical SubjectPublicKeyInfo [`Self::spki_der`] wrote (the compact
    /// configuration form stores it so): parsed and checked again, so bytes that are not such a
    /// key are refused, but nothing is precomputed and nothing else is copied.
    pub(crate) fn from_canonical_spki(spki: Box<[u8]>, validity: Option<(i64, i64)>) -> Result<Self, PublicKeyError> {
        let (n, e) = pkcs1_components(spki_rsa_public_key(&spki)?)?;
        let bits = check_components(n, e)?;
        // `n` is a slice of `spki`: its offset is the distance between the two.
        let start = (n.as_ptr() as usize).wrapping_sub(spki.as_ptr() as usize);
        let at = (u16::try_from(start), u16::try_from(n.len()), u16::try_from(bits));
        let (Ok(start), Ok(len), Ok(bits)) = at else { return Err(PublicKeyError::ModulusTooLarge { bits }) };
        Ok(Self {
            #[cfg(feature = "rsa-crate")]
            rsa: rsa::PublicKey::new(rsa::BoxedUint::from_be_slice_vartime(n), rsa::BoxedUint::from(u64::from(e))).ok(),
            n_at: (start, len),
            e,
            bits,
            spki,
            validity,
            mont: std::sync::OnceLock::new(),
        })
    }

    /// Size of the modulus in bits (2048 for client keys).
    pub fn modulus_bits(&self) -> usize {
        usize::from(self.bits)
    }

    /// Size of the modulus in bytes: the length every signature must have.
    pub fn modulus_len(&self) -> usize {
        usize::from(self.n_at.1)
    }

    /// The modulus, big-endian, without leading zero bytes.
    pub fn modulus_be(&self) -> &[u8] {
        let (start, len) = (usize::from(self.n_at.0), usize::from(self.n_at.1));
        self.spki.get(start..start + len).unwrap_or_default()
    }

    /// The public exponent.
    pub fn exponent(&self) -> u32 {
        self.e
    }

    /// The key as a DER SubjectPublicKeyInfo (canonical re-encoding, whatever the input form).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// For a key read from a certificate: `(notBefore, notAfter)` in Unix seconds; else `None`.
    pub fn cert_validity(&self) -> Option<(i64, i64)> {
        self.validity
    }

    /// The Montgomery form, computed on first use (`None` only for a modulus `MontKey` cannot
    /// take, which the checks above rule out).
    pub(crate) fn mont(&self) -> Option<&MontKey> {
        self.mont.get_or_init(|| MontKey::new(self.modulus_be(), self.modulus_bits()).map(Box::new)).as_deref()
    }

    #[cfg(feature = "rsa-crate")]
    pub(crate) fn rsa_crate_key(&self) -> Option<&rsa::PublicKey> {
        self.rsa.as_ref()
    }
}

/// Keys are equal when modulus and exponent are; certificate metadata is not compared.
impl PartialEq for RsaPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.modulus_be() == other.modulus_be() && self.e == other.e
    }
}

impl Eq for RsaPublicKey {}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head: String = self.modulus_be().iter().take(8).map(|b| format!("{b:02x}")).collect();
        f.debug_struct("RsaPublicKey")
            .field("bits", &self.bits)
            .field("exponent", &self.e)
            .field("modulus", &format_args!("{head}…"))
            .field("cert_validity", &self.validity)
            .finish()
    }
}

/// The key rules on a big-endian modulus without leading zero bytes and an exponent: the modulus'
/// size in bits, or why they make no key.
fn check_components(n: &[u8], e: u32) -> Result<usize, PublicKeyError> {
    let bits = n.first().map_or(0, |&top| n.len() * 8 - top.leading_zeros() as usize);
    if bits < MIN_MODULUS_BITS {
        return Err(PublicKeyError::ModulusTooSmall { bits });
    }
    if bits > MAX_MODULUS_BITS {
        return Err(PublicKeyError::ModulusTooLarge { bits });
    }
    if n.last().is_none_or(|&low| low & 1 == 0) {
        return Err(PublicKeyError::EvenModulus);
    }
    if e < 3 {
        return Err(PublicKeyError::BadExponent { detail: format!("is {e}, below 3") });
    }
    if e & 1 == 0 {
        return Err(PublicKeyError::BadExponent { detail: format!("is {e}, which is even") });
    }
    Ok(bits)
}

/// Dotted form of a DER OID, with a name for the algorithms people most often paste by mistake.
fn describe_oid(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in oid {
        if acc > (u64::MAX >> 7) {
            return format!("with a malformed OID {}", hex(oid));
        }
        acc = (acc << 7) | u64::from(b & 0x7F);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    if arcs.is_empty() || oid.last().is_some_and(|b| b & 0x80 != 0) {
        return format!("with a malformed OID {}", hex(oid));
    }
    let dotted = arcs.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
    let name = match dotted.as_str() {
        "1.2.840.10045.2.1" => " (EC)",
        "1.3.101.112" => " (Ed25519)",
        "1.3.101.113" => " (Ed448)",
        "1.2.840.113549.1.1.10" => " (RSASSA-PSS; expected rsaEncryption)",
        "1.2.840.10040.4.1" => " (DSA)",
        "1.2.156.10197.1.301" => " (SM2)",
        _ => "",
    };
    format!("{dotted}{name}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A certificate's `notBefore` / `notAfter` (`UTCTime` or `GeneralizedTime`) in Unix seconds.
fn validity_time(tlv: &Tlv<'_>, field: &'static str) -> Result<i64, PublicKeyError> {
    let generalized = match tlv.tag {
        TAG_UTC_TIME => false,
        TAG_GENERALIZED_TIME => true,
        _ => return Err(PublicKeyError::BadTime { field }),
    };
    crate::time::parse_x509_time(tlv.content, generalized).ok_or(PublicKeyError::BadTime { field })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn oid_names() {
        assert_eq!(describe_oid(&[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]), "1.2.840.10045.2.1 (EC)");
        assert_eq!(describe_oid(&[0x2B, 0x65, 0x70]), "1.3.101.112 (Ed25519)");
        assert!(describe_oid(&[0x2B, 0x85]).contains("malformed"));
    }

    #[test]
    fn component_checks() {
        let mut n = vec![0xFFu8; 256];
        assert_eq!(RsaPublicKey::from_components(&n, 65537).unwrap().modulus_bits(), 2048);
        assert_eq!(
            RsaPublicKey::from_components(&n, 1),
            Err(PublicKeyError::BadExponent { detail: "is 1, below 3".into() })
        );
        assert!(RsaPublicKey::from_components(&n, 4).is_err());
        assert_eq!(RsaPublicKey::from_components(&n[1..], 3), Err(PublicKeyError::ModulusTooSmall { bits: 2040 }));
        assert_eq!(RsaPublicKey::from_components(&[0xFF; 513], 3), Err(PublicKeyError::ModulusTooLarge { bits: 4104 }));
        n[255] = 0xFE;
        assert_eq!(RsaPublicKey::from_components(&n, 3), Err(PublicKeyError::EvenModulus));
        let mut padded = vec![0u8; 3];
        padded.extend_from_slice(&[0xC3; 384]);
        let k = RsaPublicKey::from_components(&padded, 3).unwrap();
        assert_eq!((k.modulus_bits(), k.modulus_len()), (3072, 384));
        let again = RsaPublicKey::from_der(k.spki_der()).unwrap();
        assert_eq!(again, k);
    }
}
