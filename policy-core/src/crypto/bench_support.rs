//! Not part of the API: hooks for `benches/` and `examples/verify_bench.rs` to time the two
//! limb widths against each other on any target.

use super::mont::{MontKey32, MontKey64};
use super::RsaPublicKey;

/// `sig^e mod n` with one limb width, prepared once.
#[derive(Clone, Debug)]
pub struct Modexp(Inner);

#[derive(Clone, Debug)]
enum Inner {
    U32(MontKey32),
    U64(MontKey64),
}

impl Modexp {
    /// Prepares `key` with 32-bit limbs (`wide = false`) or 64-bit limbs.
    pub fn new(key: &RsaPublicKey, wide: bool) -> Option<Self> {
        let (n, bits) = (key.modulus_be(), key.modulus_bits());
        if wide {
            MontKey64::new(n, bits).map(|m| Self(Inner::U64(m)))
        } else {
            MontKey32::new(n, bits).map(|m| Self(Inner::U32(m)))
        }
    }

    /// Writes `sig^e mod n` big-endian into `out`; false if `sig >= n` or `out` is too short.
    pub fn modexp(&self, sig: &[u8], e: u32, out: &mut [u8]) -> bool {
        match &self.0 {
            Inner::U32(m) => m.modexp_be(sig, e, out),
            Inner::U64(m) => m.modexp_be(sig, e, out),
        }
    }
}
