//! A small strict DER reader and writer: exactly what public keys and X.509 certificates need.
//!
//! Strict means: definite minimal lengths, single-byte tags, no trailing bytes where a structure
//! ends, minimal INTEGER encodings. Every problem is reported as `(what, problem)`, where `what`
//! names the structure being read so that the message points at the broken part.

use super::error::PublicKeyError;

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_NULL: u8 = 0x05;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_UTC_TIME: u8 = 0x17;
pub(crate) const TAG_GENERALIZED_TIME: u8 = 0x18;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
/// `[0] EXPLICIT`, the certificate version.
pub(crate) const TAG_CONTEXT_0: u8 = 0xA0;

/// Largest length we accept (a key or certificate is a few KB; 16 MB is far beyond any).
const MAX_LEN: usize = 1 << 24;

pub(crate) fn err(what: &'static str, problem: &'static str) -> PublicKeyError {
    PublicKeyError::Der { what, problem }
}

/// One element: its tag, its content and the whole encoding (tag, length and content).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) content: &'a [u8],
    pub(crate) raw: &'a [u8],
}

/// Reads consecutive elements from a byte slice.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads the next element of any tag.
    pub(crate) fn any(&mut self, what: &'static str) -> Result<Tlv<'a>, PublicKeyError> {
        let bytes = self.rest;
        let (&tag, after_tag) = bytes.split_first().ok_or_else(|| err(what, "is missing"))?;
        if tag & 0x1F == 0x1F {
            return Err(err(what, "has a multi-byte tag, which no key or certificate field uses"));
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or_else(|| err(what, "is truncated (no length)"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else if first == 0x80 {
            return Err(err(what, "uses an indefinite length (BER, not DER)"));
        } else {
            let count = usize::from(first & 0x7F);
            if count > 3 {
                return Err(err(what, "has a length that is too large"));
            }
            let (len_bytes, after) =
                split_at(after_len, count).ok_or_else(|| err(what, "is truncated (in the length)"))?;
            if len_bytes.first() == Some(&0) {
                return Err(err(what, "has a length with leading zero bytes (not DER)"));
            }
            let len = len_bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return Err(err(what, "has a long-form length for a short value (not DER)"));
            }
            after_len = after;
            len
        };
        if len > MAX_LEN {
            return Err(err(what, "has a length that is too large"));
        }
        let (content, rest) =
            split_at(after_len, len).ok_or_else(|| err(what, "is truncated (content shorter than its length)"))?;
        let header_len = bytes.len() - after_len.len();
        let raw = bytes.get(..header_len + len).ok_or_else(|| err(what, "is truncated"))?;
        self.rest = rest;
        Ok(Tlv { tag, content, raw })
    }

    /// Reads the next element and checks its tag.
    pub(crate) fn expect(&mut self, tag: u8, what: &'static str) -> Result<Tlv<'a>, PublicKeyError> {
        let tlv = self.any(what)?;
        if tlv.tag != tag {
            return Err(err(what, "has an unexpected type (wrong ASN.1 tag)"));
        }
        Ok(tlv)
    }

    /// Reads a SEQUENCE and returns a reader over its content.
    pub(crate) fn sequence(&mut self, what: &'static str) -> Result<Reader<'a>, PublicKeyError> {
        Ok(Reader::new(self.expect(TAG_SEQUENCE, what)?.content))
    }

    /// Reads a non-negative INTEGER and returns its magnitude without leading zero bytes
    /// (empty for zero).
    pub(crate) fn unsigned_integer(&mut self, what: &'static str) -> Result<&'a [u8], PublicKeyError> {
        let content = self.expect(TAG_INTEGER, what)?.content;
        match content {
            [] => Err(err(what, "is an empty INTEGER")),
            [0] => Ok(&[]),
            [0, next, ..] if next & 0x80 == 0 => Err(err(what, "has a leading zero byte (not DER)")),
            [0, rest @ ..] => Ok(rest),
            [first, ..] if first & 0x80 != 0 => Err(err(what, "is negative")),
            _ => Ok(content),
        }
    }

    /// Fails if anything is left: the structure that was read must end here.
    pub(crate) fn finish(&self, what: &'static str) -> Result<(), PublicKeyError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(err(what, "has unexpected trailing bytes"))
        }
    }
}

fn split_at(bytes: &[u8], at: usize) -> Option<(&[u8], &[u8])> {
    (at <= bytes.len()).then(|| bytes.split_at(at))
}

/// Appends one element with a DER length.
pub(crate) fn write_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
}

/// Appends a non-negative INTEGER from a big-endian magnitude.
pub(crate) fn write_unsigned(out: &mut Vec<u8>, magnitude: &[u8]) {
    let skip = magnitude.iter().take_while(|&&b| b == 0).count();
    let m = magnitude.get(skip..).unwrap_or_default();
    let mut content = Vec::with_capacity(m.len() + 1);
    if m.first().is_none_or(|&b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(m);
    write_tlv(out, TAG_INTEGER, &content);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rejects_non_der_lengths() {
        assert!(Reader::new(&[0x30, 0x80, 0, 0]).any("x").is_err());
        assert!(Reader::new(&[0x30, 0x81, 0x05, 1, 2, 3, 4, 5]).any("x").is_err());
        assert!(Reader::new(&[0x30, 0x82, 0x00, 0x80]).any("x").is_err());
        assert!(Reader::new(&[0x30, 0x03, 1, 2]).any("x").is_err());
        assert!(Reader::new(&[0x30]).any("x").is_err());
        let tlv = Reader::new(&[0x04, 0x02, 7, 8, 9]).any("x").unwrap();
        assert_eq!(tlv.content, &[7, 8]);
        assert_eq!(tlv.raw, &[0x04, 0x02, 7, 8]);
    }

    #[test]
    fn integers_are_minimal_and_non_negative() {
        assert_eq!(Reader::new(&[2, 1, 0]).unsigned_integer("x").unwrap(), &[] as &[u8]);
        assert_eq!(Reader::new(&[2, 2, 0, 0x80]).unsigned_integer("x").unwrap(), &[0x80]);
        assert!(Reader::new(&[2, 2, 0, 0x7F]).unsigned_integer("x").is_err());
        assert!(Reader::new(&[2, 1, 0x80]).unsigned_integer("x").is_err());
        assert!(Reader::new(&[2, 0]).unsigned_integer("x").is_err());
    }

    #[test]
    fn writer_round_trips() {
        for len in [0usize, 1, 127, 128, 255, 256, 70000] {
            let content = vec![0xAB; len];
            let mut out = Vec::new();
            write_tlv(&mut out, 0x04, &content);
            let mut r = Reader::new(&out);
            assert_eq!(r.any("x").unwrap().content, &content[..]);
            assert!(r.is_empty());
        }
        let mut out = Vec::new();
        write_unsigned(&mut out, &[0, 0, 0x80, 1]);
        assert_eq!(out, [2, 3, 0, 0x80, 1]);
    }
}
