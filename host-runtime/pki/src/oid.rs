//! Object identifiers used by the certificates and PKCS#12 files, as arcs.

// PKCS#7 content types (RFC 2315)
pub(crate) const PKCS7_DATA: &[u64] = &[1, 2, 840, 113_549, 1, 7, 1];
pub(crate) const PKCS7_ENCRYPTED_DATA: &[u64] = &[1, 2, 840, 113_549, 1, 7, 6];

// PKCS#12 PBE algorithms (RFC 7292 appendix C)
pub(crate) const PBE_SHA1_RC2_128: &[u64] = &[1, 2, 840, 113_549, 1, 12, 1, 5];
pub(crate) const PBE_SHA1_RC2_40: &[u64] = &[1, 2, 840, 113_549, 1, 12, 1, 6];
pub(crate) const PBE_SHA1_3DES: &[u64] = &[1, 2, 840, 113_549, 1, 12, 1, 3];

// PKCS#12 bag types
pub(crate) const KEY_BAG: &[u64] = &[1, 2, 840, 113_549, 1, 12, 10, 1, 1];
pub(crate) const PKCS8_SHROUDED_KEY_BAG: &[u64] = &[1, 2, 840, 113_549, 1, 12, 10, 1, 2];
pub(crate) const CERT_BAG: &[u64] = &[1, 2, 840, 113_549, 1, 12, 10, 1, 3];
pub(crate) const X509_CERTIFICATE: &[u64] = &[1, 2, 840, 113_549, 1, 9, 22, 1];

// PKCS#9 attributes
pub(crate) const LOCAL_KEY_ID: &[u64] = &[1, 2, 840, 113_549, 1, 9, 21];

// Digests and signatures
pub(crate) const SHA1: &[u64] = &[1, 3, 14, 3, 2, 26];
pub(crate) const SHA256_WITH_RSA: &[u64] = &[1, 2, 840, 113_549, 1, 1, 11];
pub(crate) const ECDSA_WITH_SHA256: &[u64] = &[1, 2, 840, 10_045, 4, 3, 2];

// X.520 attribute types
pub(crate) const COUNTRY: &[u64] = &[2, 5, 4, 6];
pub(crate) const STATE: &[u64] = &[2, 5, 4, 8];
pub(crate) const LOCALITY: &[u64] = &[2, 5, 4, 7];
pub(crate) const ORGANIZATION: &[u64] = &[2, 5, 4, 10];
pub(crate) const ORGANIZATIONAL_UNIT: &[u64] = &[2, 5, 4, 11];
pub(crate) const COMMON_NAME: &[u64] = &[2, 5, 4, 3];

// X.509 v3 extensions (RFC 5280)
pub(crate) const SUBJECT_KEY_ID: &[u64] = &[2, 5, 29, 14];
pub(crate) const KEY_USAGE: &[u64] = &[2, 5, 29, 15];
pub(crate) const SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];
pub(crate) const BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
pub(crate) const AUTHORITY_KEY_ID: &[u64] = &[2, 5, 29, 35];
pub(crate) const EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
pub(crate) const KP_SERVER_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 1];
