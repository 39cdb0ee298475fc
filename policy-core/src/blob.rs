//! The symmetric ciphertext blob header (ARCHITECTURE.md, "Symmetric ciphertext blob").
//!
//! `'$'(0x24) | 0x00 | 0x02 (AES-GCM) | 36-byte ASCII key-version id | 12-byte IV | ciphertext || 16-byte tag`
//!
//! The layout the Alibaba transfer SDK slices. The filter only needs the key-version id (to find
//! the key of a Decrypt that names no KeyId); the host uses both functions.

use core::fmt;

/// First byte of every blob.
pub const MAGIC: u8 = b'$';
/// Second byte: `cipherVersion << 4 | paddingMode`, always 0 for AES-GCM.
pub const VERSION_AND_PADDING: u8 = 0x00;
/// Third byte: the algorithm, 2 = AES-GCM.
pub const ALG_AES_GCM: u8 = 0x02;
/// Length of the ASCII key-version id (a UUID).
pub const KEY_VERSION_ID_LEN: usize = 36;
/// Length of the GCM IV.
pub const IV_LEN: usize = 12;
/// Length of the GCM tag that ends the blob.
pub const TAG_LEN: usize = 16;
/// Bytes before the ciphertext.
pub const HEADER_LEN: usize = 3 + KEY_VERSION_ID_LEN + IV_LEN;

/// A parsed blob; all parts borrow the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymmetricBlob<'a> {
    /// The 36-character key-version id.
    pub key_version_id: &'a str,
    /// The 12-byte IV.
    pub iv: &'a [u8; IV_LEN],
    /// Ciphertext followed by the 16-byte tag.
    pub ciphertext_and_tag: &'a [u8],
}

/// Why a blob does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlobError {
    /// Shorter than header plus tag.
    TooShort { len: usize },
    /// First byte is not `$`.
    BadMagic { found: u8 },
    /// Second byte is not 0.
    UnsupportedVersion { found: u8 },
    /// Third byte is not 2 (AES-GCM).
    UnsupportedAlgorithm { found: u8 },
    /// The key-version id is not 36 visible ASCII characters.
    BadKeyVersionId,
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobError::TooShort { len } => write!(
                f,
                "ciphertext blob is {len} bytes, shorter than the {} bytes of header and tag",
                HEADER_LEN + TAG_LEN
            ),
            BlobError::BadMagic { found } => {
                write!(f, "ciphertext blob starts with 0x{found:02x}, expected 0x24 ('$')")
            }
            BlobError::UnsupportedVersion { found } => {
                write!(f, "ciphertext blob version byte is 0x{found:02x}, expected 0x00")
            }
            BlobError::UnsupportedAlgorithm { found } => {
                write!(f, "ciphertext blob algorithm byte is 0x{found:02x}, expected 0x02 (AES-GCM)")
            }
            BlobError::BadKeyVersionId => {
                f.write_str("ciphertext blob key-version id is not 36 visible ASCII characters")
            }
        }
    }
}

impl std::error::Error for BlobError {}

/// Builds a blob. The fixed-size arguments make a malformed header unrepresentable.
pub fn encode_symmetric(version_id: &[u8; KEY_VERSION_ID_LEN], iv: &[u8; IV_LEN], ct_and_tag: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + ct_and_tag.len());
    out.extend_from_slice(&[MAGIC, VERSION_AND_PADDING, ALG_AES_GCM]);
    out.extend_from_slice(version_id);
    out.extend_from_slice(iv);
    out.extend_from_slice(ct_and_tag);
    out
}

/// Parses a blob (header checks only; the tag is not verified here).
pub fn parse_symmetric(blob: &[u8]) -> Result<SymmetricBlob<'_>, BlobError> {
    if blob.len() < HEADER_LEN + TAG_LEN {
        return Err(BlobError::TooShort { len: blob.len() });
    }
    let (head, rest) = blob.split_at(3);
    let (vid, rest) = rest.split_at(KEY_VERSION_ID_LEN);
    let (iv, ct) = rest.split_at(IV_LEN);
    match head {
        [m, _, _] if *m != MAGIC => return Err(BlobError::BadMagic { found: *m }),
        [_, v, _] if *v != VERSION_AND_PADDING => return Err(BlobError::UnsupportedVersion { found: *v }),
        [_, _, a] if *a != ALG_AES_GCM => return Err(BlobError::UnsupportedAlgorithm { found: *a }),
        _ => {}
    }
    if !vid.iter().all(|b| b.is_ascii_graphic()) {
        return Err(BlobError::BadKeyVersionId);
    }
    let key_version_id = core::str::from_utf8(vid).map_err(|_| BlobError::BadKeyVersionId)?;
    let iv: &[u8; IV_LEN] = iv.try_into().map_err(|_| BlobError::TooShort { len: blob.len() })?;
    Ok(SymmetricBlob { key_version_id, iv, ciphertext_and_tag: ct })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const VID: &[u8; 36] = b"12345678-1234-1234-1234-123456789abc";

    #[test]
    fn round_trip() {
        let iv = [7u8; 12];
        let ct = [9u8; 20];
        let b = encode_symmetric(VID, &iv, &ct);
        assert_eq!(&b[..3], &[0x24, 0x00, 0x02]);
        assert_eq!(b.len(), HEADER_LEN + 20);
        let p = parse_symmetric(&b).unwrap();
        assert_eq!(p.key_version_id.as_bytes(), VID);
        assert_eq!(p.iv, &iv);
        assert_eq!(p.ciphertext_and_tag, &ct);
    }

    #[test]
    fn rejects_bad_headers() {
        let good = encode_symmetric(VID, &[0; 12], &[0; 16]);
        assert_eq!(parse_symmetric(&good[..good.len() - 1]), Err(BlobError::TooShort { len: good.len() - 1 }));
        let mut b = good.clone();
        b[0] = b'#';
        assert_eq!(parse_symmetric(&b), Err(BlobError::BadMagic { found: b'#' }));
        let mut b = good.clone();
        b[1] = 0x10;
        assert_eq!(parse_symmetric(&b), Err(BlobError::UnsupportedVersion { found: 0x10 }));
        let mut b = good.clone();
        b[2] = 0x01;
        assert_eq!(parse_symmetric(&b), Err(BlobError::UnsupportedAlgorithm { found: 1 }));
        let mut b = good;
        b[5] = 0xff;
        assert_eq!(parse_symmetric(&b), Err(BlobError::BadKeyVersionId));
    }
}
