//! Object identifiers used by the PKCS#12 files, as arcs (rcgen has the certificates' own).

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

// Digests
pub(crate) const SHA1: &[u64] = &[1, 3, 14, 3, 2, 26];
