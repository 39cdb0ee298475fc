//! Machine words for the Montgomery arithmetic.
//!
//! Two limb widths are implemented so that each target gets the fast one: `u64` limbs with `u128`
//! products on 64-bit native targets (one `mul`/`umulh` pair per step), `u32` limbs with `u64`
//! products on wasm32 (wasm has 64-bit multiply but no 64x64→128, which compiles to a `__multi3`
//! call). `docs/bench-rsa.md` has the measurements behind this choice.

/// One limb of a little-endian multi-precision integer.
pub(crate) trait Limb: Copy + Default + Eq + Ord + core::fmt::Debug + 'static {
    /// Width in bits.
    const BITS: usize;
    const ZERO: Self;
    const ONE: Self;

    /// `acc + a * b + carry` as `(low limb, high limb)`; never overflows the double width.
    fn mac(acc: Self, a: Self, b: Self, carry: Self) -> (Self, Self);
    /// `a + b + carry` as `(sum, carry out)`; `carry` is 0 or 1.
    fn adc(a: Self, b: Self, carry: Self) -> (Self, Self);
    /// `a - b - borrow` as `(difference, borrow out)`; `borrow` is 0 or 1.
    fn sbb(a: Self, b: Self, borrow: Self) -> (Self, Self);
    fn wrapping_mul(self, other: Self) -> Self;
    fn wrapping_neg(self) -> Self;
    /// The byte at position `i` (0 = least significant).
    fn byte(self, i: usize) -> u8;
    /// `self | (b << (8 * i))`.
    fn with_byte(self, i: usize, b: u8) -> Self;
    fn leading_zeros(self) -> u32;
    fn is_odd(self) -> bool;
    /// `2^i` for `i < BITS`.
    fn pow2(i: usize) -> Self;

    /// `-self⁻¹ mod 2^BITS` for odd `self` (the Montgomery constant), by Newton iteration.
    fn neg_inv(self) -> Self {
        // x = self is an inverse modulo 2^3 for odd self; each step doubles the correct bits.
        let two = Self::adc(Self::ONE, Self::ONE, Self::ZERO).0;
        let mut x = self;
        let mut bits = 3;
        while bits < Self::BITS {
            let t = Self::sbb(two, self.wrapping_mul(x), Self::ZERO).0;
            x = x.wrapping_mul(t);
            bits *= 2;
        }
        x.wrapping_neg()
    }
}

macro_rules! impl_limb {
    ($limb:ty, $wide:ty) => {
        impl Limb for $limb {
            const BITS: usize = <$limb>::BITS as usize;
            const ZERO: Self = 0;
            const ONE: Self = 1;

            #[inline(always)]
            fn mac(acc: Self, a: Self, b: Self, carry: Self) -> (Self, Self) {
                let t = (acc as $wide) + (a as $wide) * (b as $wide) + (carry as $wide);
                (t as $limb, (t >> Self::BITS) as $limb)
            }

            #[inline(always)]
            fn adc(a: Self, b: Self, carry: Self) -> (Self, Self) {
                let t = (a as $wide) + (b as $wide) + (carry as $wide);
                (t as $limb, (t >> Self::BITS) as $limb)
            }

            #[inline(always)]
            fn sbb(a: Self, b: Self, borrow: Self) -> (Self, Self) {
                let t = (a as $wide).wrapping_sub((b as $wide) + (borrow as $wide));
                (t as $limb, ((t >> Self::BITS) as $limb) & 1)
            }

            #[inline(always)]
            fn wrapping_mul(self, other: Self) -> Self {
                <$limb>::wrapping_mul(self, other)
            }

            #[inline(always)]
            fn wrapping_neg(self) -> Self {
                <$limb>::wrapping_neg(self)
            }

            #[inline(always)]
            fn byte(self, i: usize) -> u8 {
                (self >> (8 * i)) as u8
            }

            #[inline(always)]
            fn leading_zeros(self) -> u32 {
                <$limb>::leading_zeros(self)
            }

            #[inline(always)]
            fn is_odd(self) -> bool {
                self & 1 == 1
            }

            #[inline(always)]
            fn pow2(i: usize) -> Self {
                (1 as $limb) << i
            }

            #[inline(always)]
            fn with_byte(self, i: usize, b: u8) -> Self {
                self | ((b as $limb) << (8 * i))
            }
        }
    };
}

impl_limb!(u32, u64);
impl_limb!(u64, u128);

#[cfg(test)]
mod tests {
    use super::Limb;

    #[test]
    fn neg_inv_is_the_montgomery_constant() {
        for n in [1u32, 3, 5, 0xFFFF_FFFF, 0x8000_0001, 0x1234_5677] {
            assert_eq!(n.wrapping_mul(Limb::neg_inv(n)), u32::MAX, "n = {n:#x}");
        }
        for n in [1u64, 3, u64::MAX, 0x8000_0000_0000_0001, 0x0123_4567_89AB_CDEF] {
            assert_eq!(n.wrapping_mul(Limb::neg_inv(n)), u64::MAX, "n = {n:#x}");
        }
    }

    #[test]
    fn sbb_borrows() {
        assert_eq!(<u32 as Limb>::sbb(0, 1, 0), (u32::MAX, 1));
        assert_eq!(<u32 as Limb>::sbb(5, 3, 1), (1, 0));
        assert_eq!(<u64 as Limb>::sbb(0, 0, 1), (u64::MAX, 1));
        assert_eq!(<u64 as Limb>::sbb(0, u64::MAX, 1), (0, 1));
    }
}
