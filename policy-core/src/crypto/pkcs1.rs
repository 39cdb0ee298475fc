//! EMSA-PKCS1-v1_5 encoding for SHA-256 (RFC 8017 §9.2).
//!
//! Verification builds the one valid encoding and compares the whole block, so every malformed
//! padding, BER-encoded DigestInfo, missing NULL or trailing garbage is rejected without parsing.

/// `DigestInfo` prefix for SHA-256: SEQUENCE { SEQUENCE { OID 2.16.840.1.101.3.4.2.1, NULL },
/// OCTET STRING (32 bytes) }.
const SHA256_DIGEST_INFO: [u8; 19] =
    [0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

/// Writes `00 01 FF..FF 00 || DigestInfo || digest` filling all of `em`; false if `em` is too
/// short for the 8 bytes of `FF` padding RFC 8017 requires.
pub(crate) fn encode_sha256(digest: &[u8; 32], em: &mut [u8]) -> bool {
    let t_len = SHA256_DIGEST_INFO.len() + digest.len();
    let Some(ps_len) = em.len().checked_sub(t_len + 3).filter(|&ps| ps >= 8) else {
        return false;
    };
    let (head, t) = em.split_at_mut(em.len() - t_len);
    let (info, hash) = t.split_at_mut(SHA256_DIGEST_INFO.len());
    info.copy_from_slice(&SHA256_DIGEST_INFO);
    hash.copy_from_slice(digest);
    for (i, b) in head.iter_mut().enumerate() {
        *b = match i {
            0 => 0x00,
            1 => 0x01,
            i if i < 2 + ps_len => 0xFF,
            _ => 0x00,
        };
    }
    true
}

/// Equality of two byte strings without early exit (the inputs are public; this is just tidy).
pub(crate) fn bytes_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let mut em = [0xAAu8; 62];
        assert!(encode_sha256(&[7; 32], &mut em));
        assert_eq!(&em[..2], &[0, 1]);
        assert!(em[2..10].iter().all(|&b| b == 0xFF));
        assert_eq!(em[10], 0);
        assert_eq!(&em[11..30], &SHA256_DIGEST_INFO);
        assert!(em[30..].iter().all(|&b| b == 7));
        let mut short = [0u8; 61];
        assert!(!encode_sha256(&[7; 32], &mut short));
    }
}
