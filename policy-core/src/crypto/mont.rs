//! Fixed-size Montgomery arithmetic for the RSA public operation `s^e mod n`.
//!
//! Sizes are const generics (`N` limbs), so loops have constant trip counts and no bounds checks;
//! a modulus is put in the smallest of three buckets (2048, 3072, 4096 bits) that holds it.
//! Only public values pass through here (signature, modulus, exponent), so the code is
//! variable-time on purpose.

use super::limb::Limb;

/// A modulus prepared for Montgomery multiplication with `R = 2^(N * L::BITS)`.
#[derive(Clone, Debug)]
pub(crate) struct Mont<L: Limb, const N: usize> {
    /// The odd modulus, little-endian limbs.
    n: [L; N],
    /// `-n⁻¹ mod 2^L::BITS`.
    n0: L,
    /// `R² mod n`, to enter the Montgomery domain with one multiplication.
    rr: [L; N],
}

impl<L: Limb, const N: usize> Mont<L, N> {
    const BYTES: usize = N * L::BITS / 8;

    /// Prepares an odd modulus given as big-endian bytes; `None` if it is even, below 3, or does
    /// not fit in `N` limbs.
    pub(crate) fn new(n_be: &[u8]) -> Option<Self> {
        let n = Self::from_be(n_be)?;
        let bits = bit_len(&n);
        if bits < 2 || !n[0].is_odd() {
            return None;
        }
        let mut m = Self { n, n0: n[0].neg_inv(), rr: [L::ZERO; N] };
        m.rr = m.compute_rr(bits);
        Some(m)
    }

    /// `R² mod n` without a division: double `2^(bits-1)` up to `2^(j) * R mod n` (the Montgomery
    /// form of `2^j`), then square `t` times in the Montgomery domain, where `N * BITS = j * 2^t`.
    fn compute_rr(&self, bits: usize) -> [L; N] {
        let width = N * L::BITS;
        let t = width.trailing_zeros();
        let j = width >> t;
        let mut x = [L::ZERO; N];
        let top = bits - 1;
        if let Some(limb) = x.get_mut(top / L::BITS) {
            *limb = L::pow2(top % L::BITS);
        }
        for _ in 0..(width + j - top) {
            x = self.double(&x);
        }
        for _ in 0..t {
            x = self.mul(&x, &x);
        }
        x
    }

    /// `2x mod n` for `x < n`.
    fn double(&self, x: &[L; N]) -> [L; N] {
        let mut out = [L::ZERO; N];
        let mut carry = L::ZERO;
        for (o, &v) in out.iter_mut().zip(x.iter()) {
            let (s, c) = L::adc(v, v, carry);
            *o = s;
            carry = c;
        }
        self.reduce_once(out, carry)
    }

    /// Given `hi * R + x < 2n`, returns it minus `n` when that is non-negative.
    #[inline(always)]
    fn reduce_once(&self, x: [L; N], hi: L) -> [L; N] {
        let mut d = [L::ZERO; N];
        let mut borrow = L::ZERO;
        for i in 0..N {
            let (v, b) = L::sbb(x[i], self.n[i], borrow);
            d[i] = v;
            borrow = b;
        }
        // A borrow out of the subtraction is cancelled by `hi` when hi = 1.
        if hi != L::ZERO || borrow == L::ZERO {
            d
        } else {
            x
        }
    }

    /// Montgomery product `a * b * R⁻¹ mod n` for `a, b < n`.
    ///
    /// CIOS with the multiplication and reduction loops fused: per limb of `b`, one pass adds
    /// `a * b[i] + m * n` and shifts down one limb. `t < 2n` holds throughout, so one extra
    /// top limb (`t_hi`, 0 or 1) suffices.
    #[inline]
    pub(crate) fn mul(&self, a: &[L; N], b: &[L; N]) -> [L; N] {
        let mut t = [L::ZERO; N];
        let mut t_hi = L::ZERO;
        for &bi in b.iter() {
            let (low, mut c1) = L::mac(t[0], a[0], bi, L::ZERO);
            // m makes the lowest limb vanish: low + m * n[0] ≡ 0 (mod 2^BITS).
            let m = low.wrapping_mul(self.n0);
            let (_, mut c2) = L::mac(low, m, self.n[0], L::ZERO);
            for j in 1..N {
                let (x, hi1) = L::mac(t[j], a[j], bi, c1);
                let (y, hi2) = L::mac(x, m, self.n[j], c2);
                t[j - 1] = y;
                c1 = hi1;
                c2 = hi2;
            }
            let (x, k1) = L::adc(t_hi, c1, L::ZERO);
            let (y, k2) = L::adc(x, c2, L::ZERO);
            t[N - 1] = y;
            t_hi = L::adc(k1, k2, L::ZERO).0;
        }
        self.reduce_once(t, t_hi)
    }

    /// `s^e mod n` for `s < n` and odd `e >= 3`, returned in the normal (not Montgomery) domain.
    pub(crate) fn pow_odd(&self, s: &[L; N], e: u32) -> [L; N] {
        let s_m = self.mul(s, &self.rr);
        let mut x = s_m;
        let top = 31 - e.leading_zeros();
        for bit in (1..top).rev() {
            x = self.mul(&x, &x);
            if (e >> bit) & 1 == 1 {
                x = self.mul(&x, &s_m);
            }
        }
        // Bit 0 is set (e is odd): square, then multiply by the plain `s`, which also leaves the
        // Montgomery domain (x·R · s · R⁻¹ = x·s).
        x = self.mul(&x, &x);
        self.mul(&x, s)
    }

    /// Computes `sig^e mod n` into `out` (big-endian, `out.len()` bytes).
    ///
    /// Returns false when `sig` is not below the modulus, `e` is even or below 3, or `out` cannot
    /// hold the result.
    pub(crate) fn modexp_be(&self, sig: &[u8], e: u32, out: &mut [u8]) -> bool {
        if e < 3 || e & 1 == 0 {
            return false;
        }
        let Some(s) = Self::from_be(sig) else {
            return false;
        };
        if !less_than(&s, &self.n) {
            return false;
        }
        let m = self.pow_odd(&s, e);
        Self::to_be(&m, out)
    }

    /// Little-endian limbs from big-endian bytes; `None` if the value needs more than `N` limbs.
    pub(crate) fn from_be(bytes: &[u8]) -> Option<[L; N]> {
        let mut x = [L::ZERO; N];
        let per = L::BITS / 8;
        for (i, &b) in bytes.iter().rev().enumerate() {
            if b == 0 {
                continue;
            }
            let limb = x.get_mut(i / per)?;
            *limb = limb.with_byte(i % per, b);
        }
        Some(x)
    }

    /// Writes `x` big-endian into all of `out`; false if `x` does not fit.
    pub(crate) fn to_be(x: &[L; N], out: &mut [u8]) -> bool {
        let per = L::BITS / 8;
        for i in 0..Self::BYTES.max(out.len()) {
            let b = x.get(i / per).map_or(0, |l| l.byte(i % per));
            match out.len().checked_sub(i + 1).and_then(|at| out.get_mut(at)) {
                Some(slot) => *slot = b,
                None if b != 0 => return false,
                None => {}
            }
        }
        true
    }
}

fn bit_len<L: Limb>(x: &[L]) -> usize {
    x.iter()
        .rposition(|&l| l != L::ZERO)
        .zip(x.iter().rev().find(|&&l| l != L::ZERO))
        .map_or(0, |(i, &l)| (i + 1) * L::BITS - l.leading_zeros() as usize)
}

fn less_than<L: Limb>(a: &[L], b: &[L]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// A modulus of 2048 to 4096 bits prepared in the bucket that fits, for one limb width.
macro_rules! mont_key {
    ($(#[$doc:meta])* $name:ident, $limb:ty) => {
        $(#[$doc])*
        // Boxed once by its owner (`RsaPublicKey`), so the size spread costs nothing.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug)]
        pub(crate) enum $name {
            B2048(Mont<$limb, { 2048 / <$limb>::BITS as usize }>),
            B3072(Mont<$limb, { 3072 / <$limb>::BITS as usize }>),
            B4096(Mont<$limb, { 4096 / <$limb>::BITS as usize }>),
        }

        impl $name {
            /// `None` for an even modulus or one over 4096 bits.
            pub(crate) fn new(n_be: &[u8], bits: usize) -> Option<Self> {
                if bits <= 2048 {
                    Mont::new(n_be).map(Self::B2048)
                } else if bits <= 3072 {
                    Mont::new(n_be).map(Self::B3072)
                } else if bits <= 4096 {
                    Mont::new(n_be).map(Self::B4096)
                } else {
                    None
                }
            }

            /// See [`Mont::modexp_be`].
            pub(crate) fn modexp_be(&self, sig: &[u8], e: u32, out: &mut [u8]) -> bool {
                match self {
                    Self::B2048(m) => m.modexp_be(sig, e, out),
                    Self::B3072(m) => m.modexp_be(sig, e, out),
                    Self::B4096(m) => m.modexp_be(sig, e, out),
                }
            }
        }
    };
}

mont_key!(
    /// 32-bit limbs, 64-bit products (the fast choice on wasm32).
    MontKey32,
    u32
);
mont_key!(
    /// 64-bit limbs, 128-bit products (the fast choice on 64-bit native targets).
    MontKey64,
    u64
);

/// The limb width this target uses for verification.
#[cfg(target_pointer_width = "64")]
pub(crate) type MontKey = MontKey64;
#[cfg(not(target_pointer_width = "64"))]
pub(crate) type MontKey = MontKey32;
