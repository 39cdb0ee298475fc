//! A small X.690 DER writer and reader: just what PKCS#12 needs (certificates are rcgen's and
//! yasna's business, see `x509`).
//!
//! Hand-written rather than yasna because the reader must not copy: it hands out slices of its
//! input, so a decrypted SafeContents (which holds the private key) stays in the one `Zeroizing`
//! buffer it was decrypted into, whereas yasna returns every value as a fresh, unwiped `Vec`.
//! The writer builds each TLV bottom-up into a fresh `Vec<u8>` (the structures are small, a few KB).
//! The reader is strict DER: definite lengths only, single-byte tags, no trailing bytes where the
//! caller asks for a complete value. Every bound is checked; malformed input is an error naming the
//! structure being read, never a panic.

use super::PkiError;

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_NULL: u8 = 0x05;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
pub(crate) const TAG_SET: u8 = 0x31;

/// Context-specific constructed tag `[n]` (EXPLICIT wrappers, IMPLICIT constructed values).
pub(crate) const fn context_constructed(n: u8) -> u8 {
    0xa0 | n
}

/// Context-specific primitive tag `[n]` (IMPLICIT primitive values such as SAN entries).
pub(crate) const fn context_primitive(n: u8) -> u8 {
    0x80 | n
}

// ---------------------------------------------------------------- writer

/// One TLV.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_length(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        // Short form; the cast cannot truncate because len < 128.
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = bytes.get(skip..).unwrap_or_default();
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

/// A constructed value whose content is the concatenation of `parts`.
pub(crate) fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

pub(crate) fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    constructed(TAG_SEQUENCE, parts)
}

/// `SET OF`: DER orders the elements by their encodings.
pub(crate) fn set_of(mut elements: Vec<Vec<u8>>) -> Vec<u8> {
    elements.sort();
    tlv(TAG_SET, &elements.concat())
}

pub(crate) fn explicit(n: u8, inner: &[u8]) -> Vec<u8> {
    tlv(context_constructed(n), inner)
}

pub(crate) fn octet_string(bytes: &[u8]) -> Vec<u8> {
    tlv(TAG_OCTET_STRING, bytes)
}

pub(crate) fn null() -> Vec<u8> {
    tlv(TAG_NULL, &[])
}

/// INTEGER from an unsigned big-endian magnitude: strips leading zeros, adds one if the high bit
/// is set so the value stays positive.
pub(crate) fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let skip = magnitude.iter().take_while(|b| **b == 0).count();
    let trimmed = magnitude.get(skip..).unwrap_or_default();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    tlv(TAG_INTEGER, &content)
}

pub(crate) fn small_integer(value: u64) -> Vec<u8> {
    unsigned_integer(&value.to_be_bytes())
}

/// OBJECT IDENTIFIER from its arcs (the first two are packed into one subidentifier).
pub(crate) fn oid(arcs: &[u64]) -> Vec<u8> {
    tlv(TAG_OID, &oid_content(arcs))
}

pub(crate) fn oid_content(arcs: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    let (first, rest) = match arcs {
        [a, b, rest @ ..] => (a * 40 + b, rest),
        [a] => (a * 40, &[][..]),
        [] => return out,
    };
    for arc in std::iter::once(first).chain(rest.iter().copied()) {
        let mut chunk = [0u8; 10];
        let mut n = 0;
        let mut v = arc;
        loop {
            if let Some(slot) = chunk.get_mut(n) {
                *slot = (v & 0x7f) as u8;
            }
            n += 1;
            v >>= 7;
            if v == 0 {
                break;
            }
        }
        for i in (0..n).rev() {
            let b = chunk.get(i).copied().unwrap_or_default();
            out.push(if i == 0 { b } else { b | 0x80 });
        }
    }
    out
}

/// AlgorithmIdentifier with the given parameters (already encoded), or none.
pub(crate) fn algorithm(arcs: &[u64], params: Option<&[u8]>) -> Vec<u8> {
    let id = oid(arcs);
    match params {
        Some(p) => sequence(&[&id, p]),
        None => sequence(&[&id]),
    }
}

// ---------------------------------------------------------------- reader

/// A cursor over DER-encoded values. `what` names the structure in errors.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        Self { data, what }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn malformed(&self, why: &str) -> PkiError {
        PkiError::Malformed(format!("{}: {why}", self.what))
    }

    /// The next TLV: its tag, content, and the whole encoding (tag and length included).
    pub(crate) fn read_any(&mut self) -> Result<(u8, &'a [u8], &'a [u8]), PkiError> {
        let whole = self.data;
        let (&tag, rest) = whole.split_first().ok_or_else(|| self.malformed("unexpected end of data"))?;
        if tag & 0x1f == 0x1f {
            return Err(self.malformed("multi-byte tags are not supported"));
        }
        let (&first, mut rest) = rest.split_first().ok_or_else(|| self.malformed("missing length"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else if first == 0x80 {
            return Err(self.malformed("indefinite length (BER) is not DER"));
        } else {
            let n = usize::from(first & 0x7f);
            if n > 4 {
                return Err(self.malformed("length too large"));
            }
            let (len_bytes, tail) = rest.split_at_checked(n).ok_or_else(|| self.malformed("truncated length"))?;
            rest = tail;
            len_bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        };
        let (content, tail) =
            rest.split_at_checked(len).ok_or_else(|| self.malformed("value runs past the end of the data"))?;
        let header_len = whole.len() - rest.len();
        let encoded =
            whole.get(..header_len + len).ok_or_else(|| self.malformed("value runs past the end of the data"))?;
        self.data = tail;
        Ok((tag, content, encoded))
    }

    /// The content of the next TLV, which must carry `tag`.
    pub(crate) fn read(&mut self, tag: u8) -> Result<&'a [u8], PkiError> {
        let (found, content, _) = self.read_any()?;
        if found != tag {
            return Err(self.malformed(&format!("expected tag 0x{tag:02x}, found 0x{found:02x}")));
        }
        Ok(content)
    }

    /// A nested reader over the content of the next TLV with `tag`.
    pub(crate) fn nested(&mut self, tag: u8, what: &'static str) -> Result<Reader<'a>, PkiError> {
        Ok(Reader::new(self.read(tag)?, what))
    }

    pub(crate) fn sequence(&mut self, what: &'static str) -> Result<Reader<'a>, PkiError> {
        self.nested(TAG_SEQUENCE, what)
    }

    /// The content octets of an OBJECT IDENTIFIER (compare with [`oid_content`]).
    pub(crate) fn read_oid(&mut self) -> Result<&'a [u8], PkiError> {
        self.read(TAG_OID)
    }

    /// A non-negative INTEGER that fits in a `u64`.
    pub(crate) fn read_small_uint(&mut self) -> Result<u64, PkiError> {
        let content = self.read(TAG_INTEGER)?;
        match content {
            [] => Err(self.malformed("empty INTEGER")),
            [first, ..] if first & 0x80 != 0 => Err(self.malformed("negative INTEGER")),
            _ if content.len() > 9 || (content.len() == 9 && content.first() != Some(&0)) => {
                Err(self.malformed("INTEGER too large"))
            }
            _ => Ok(content.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))),
        }
    }

    /// Fails if anything is left.
    pub(crate) fn finish(&self) -> Result<(), PkiError> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(self.malformed("unexpected trailing data"))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_the_shortest_form() {
        assert_eq!(tlv(0x04, &[0; 127])[..2], [0x04, 0x7f]);
        assert_eq!(tlv(0x04, &[0; 128])[..3], [0x04, 0x81, 0x80]);
        assert_eq!(tlv(0x04, &[0; 256])[..4], [0x04, 0x82, 0x01, 0x00]);
    }

    #[test]
    fn oids_encode_like_openssl() {
        // 1.2.840.113549.1.7.1 (pkcs7-data)
        assert_eq!(
            oid(&[1, 2, 840, 113_549, 1, 7, 1]),
            [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01]
        );
        assert_eq!(oid(&[2, 5, 29, 15]), [0x06, 0x03, 0x55, 0x1d, 0x0f]);
    }

    #[test]
    fn integers_stay_positive_and_minimal() {
        assert_eq!(small_integer(0), [0x02, 0x01, 0x00]);
        assert_eq!(small_integer(3), [0x02, 0x01, 0x03]);
        assert_eq!(small_integer(128), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(small_integer(2048), [0x02, 0x02, 0x08, 0x00]);
        assert_eq!(unsigned_integer(&[0, 0, 0xff]), [0x02, 0x02, 0x00, 0xff]);
    }

    #[test]
    fn reader_round_trips_and_rejects_bad_lengths() {
        let inner = small_integer(2048);
        let outer = sequence(&[&inner, &octet_string(&[1, 2, 3])]);
        let mut r = Reader::new(&outer, "test");
        let mut s = r.sequence("seq").unwrap();
        r.finish().unwrap();
        assert_eq!(s.read_small_uint().unwrap(), 2048);
        assert_eq!(s.read(TAG_OCTET_STRING).unwrap(), [1, 2, 3]);
        s.finish().unwrap();

        for bad in [&[0x30, 0x80, 0, 0][..], &[0x30, 0x05, 0x02], &[0x30], &[0x30, 0x85, 1, 1, 1, 1, 1]] {
            assert!(Reader::new(bad, "bad").read_any().is_err(), "{bad:02x?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_tlv_reads_back(tag in 0u8..0x1f, content in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let encoded = tlv(tag, &content);
            let mut r = Reader::new(&encoded, "p");
            let (t, c, whole) = r.read_any().unwrap();
            proptest::prop_assert_eq!(t, tag);
            proptest::prop_assert_eq!(c, &content[..]);
            proptest::prop_assert_eq!(whole, &encoded[..]);
            proptest::prop_assert!(r.is_empty());
        }

        #[test]
        fn integers_read_back(v in proptest::num::u64::ANY) {
            proptest::prop_assert_eq!(Reader::new(&small_integer(v), "p").read_small_uint().unwrap(), v);
        }

        #[test]
        fn reader_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let mut r = Reader::new(&data, "p");
            while r.read_any().is_ok() {}
        }
    }
}
