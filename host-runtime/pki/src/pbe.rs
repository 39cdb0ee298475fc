//! PKCS#12 password-based encryption and MAC (RFC 7292 appendix B and C), SHA-1 only.
//!
//! These legacy algorithms are what every KMS SDK loader accepts (Go's x/crypto/pkcs12 knows no
//! other), so the client-key files use them. Derived keys live in `Zeroizing` buffers. The KDF is
//! written here (no maintained crate implements RFC 7292 appendix B); SHA-1 and HMAC-SHA1 are
//! aws-lc-rs's, the 3DES and RC2 CBC ciphers RustCrypto's (aws-lc-rs has no RC2).

use aws_lc_rs::digest::{self, SHA1_FOR_LEGACY_USE_ONLY as SHA1};
use aws_lc_rs::hmac::{self, HMAC_SHA1_FOR_LEGACY_USE_ONLY as HMAC_SHA1};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyIvInit};
use zeroize::{Zeroize, Zeroizing};

use super::{oid, PkiError};

/// Iteration counts above this are refused when reading (a hostile file could ask for billions).
pub(crate) const MAX_ITERATIONS: u64 = 10_000_000;

const SHA1_LEN: usize = 20; // u in RFC 7292 B.2
const SHA1_BLOCK: usize = 64; // v in RFC 7292 B.2

/// The purpose byte of the KDF (RFC 7292 B.3).
#[derive(Clone, Copy)]
enum Purpose {
    Key = 1,
    Iv = 2,
    Mac = 3,
}

/// The password as the KDF wants it: big-endian UTF-16 with a two-byte NUL terminator.
pub(crate) fn bmp_password(password: &str) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(password.len() * 2 + 2));
    for unit in password.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out.extend_from_slice(&[0, 0]);
    out
}

/// Length of `input` rounded up to whole blocks.
fn blocks_len(input: &[u8]) -> usize {
    input.len().div_ceil(SHA1_BLOCK) * SHA1_BLOCK
}

/// Appends `repeat(input)` truncated to the next multiple of the block size (empty input stays
/// empty). Appending in place keeps the password's repetition out of any temporary buffer.
fn push_blocks(out: &mut Vec<u8>, input: &[u8]) {
    out.extend(input.iter().copied().cycle().take(blocks_len(input)));
}

/// The PKCS#12 key derivation function with SHA-1 (RFC 7292 B.2).
fn derive(bmp_password: &[u8], salt: &[u8], purpose: Purpose, iterations: u32, out_len: usize) -> Zeroizing<Vec<u8>> {
    let d = [purpose as u8; SHA1_BLOCK];
    // Sized up front: growing would free an unwiped copy of the password blocks.
    let mut i = Zeroizing::new(Vec::with_capacity(blocks_len(salt) + blocks_len(bmp_password)));
    push_blocks(&mut i, salt);
    push_blocks(&mut i, bmp_password);

    let mut out = Zeroizing::new(Vec::with_capacity(out_len + SHA1_LEN));
    let mut a = [0u8; SHA1_LEN];
    while out.len() < out_len {
        let mut ctx = digest::Context::new(&SHA1);
        ctx.update(&d);
        ctx.update(&i);
        a.copy_from_slice(ctx.finish().as_ref());
        for _ in 1..iterations {
            let next = digest::digest(&SHA1, &a);
            a.copy_from_slice(next.as_ref());
        }
        out.extend_from_slice(&a);
        if out.len() >= out_len {
            break;
        }
        // I_j = (I_j + B + 1) mod 2^(8v), where B is A repeated to v bytes.
        let b: Zeroizing<Vec<u8>> = Zeroizing::new(a.iter().copied().cycle().take(SHA1_BLOCK).collect());
        for block in i.chunks_mut(SHA1_BLOCK) {
            let mut carry = 1u16;
            for (x, y) in block.iter_mut().rev().zip(b.iter().rev()) {
                let sum = u16::from(*x) + u16::from(*y) + carry;
                *x = sum as u8; // keep the low byte; the high bit carries
                carry = sum >> 8;
            }
        }
    }
    a.zeroize();
    out.truncate(out_len);
    out
}

/// A PKCS#12 PBE scheme (pbeWithSHAAnd...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    TripleDes,
    Rc2_40,
    Rc2_128,
}

impl Scheme {
    pub(crate) fn oid(self) -> &'static [u64] {
        match self {
            Self::TripleDes => oid::PBE_SHA1_3DES,
            Self::Rc2_40 => oid::PBE_SHA1_RC2_40,
            Self::Rc2_128 => oid::PBE_SHA1_RC2_128,
        }
    }

    pub(crate) fn from_oid(content: &[u8]) -> Option<Self> {
        [Self::TripleDes, Self::Rc2_40, Self::Rc2_128].into_iter().find(|s| super::der::oid_content(s.oid()) == content)
    }

    fn key_len(self) -> usize {
        match self {
            Self::TripleDes => 24,
            Self::Rc2_40 => 5,
            Self::Rc2_128 => 16,
        }
    }

    fn keys(self, password: &str, salt: &[u8], iterations: u32) -> (Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>) {
        let bmp = bmp_password(password);
        let key = derive(&bmp, salt, Purpose::Key, iterations, self.key_len());
        let iv = derive(&bmp, salt, Purpose::Iv, iterations, 8);
        (key, iv)
    }

    /// CBC with PKCS#7 padding.
    pub(crate) fn encrypt(
        self,
        password: &str,
        salt: &[u8],
        iterations: u32,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, PkiError> {
        let (key, iv) = self.keys(password, salt, iterations);
        let bad = |_| PkiError::Crypto("PBE cipher setup");
        Ok(match self {
            Self::TripleDes => cbc::Encryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
                .map_err(bad)?
                .encrypt_padded_vec_mut::<Pkcs7>(plaintext),
            Self::Rc2_40 | Self::Rc2_128 => {
                let rc2 = rc2::Rc2::new_with_eff_key_len(&key, key.len() * 8);
                cbc::Encryptor::<rc2::Rc2>::inner_iv_slice_init(rc2, &iv)
                    .map_err(bad)?
                    .encrypt_padded_vec_mut::<Pkcs7>(plaintext)
            }
        })
    }

    /// Decrypts into a zeroizing buffer. A padding error almost always means a wrong password.
    pub(crate) fn decrypt(
        self,
        password: &str,
        salt: &[u8],
        iterations: u32,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, PkiError> {
        let (key, iv) = self.keys(password, salt, iterations);
        let bad = |_| PkiError::Crypto("PBE cipher setup");
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let len = match self {
            Self::TripleDes => cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
                .map_err(bad)?
                .decrypt_padded_mut::<Pkcs7>(&mut buf)
                .map(<[u8]>::len),
            Self::Rc2_40 | Self::Rc2_128 => {
                let rc2 = rc2::Rc2::new_with_eff_key_len(&key, key.len() * 8);
                cbc::Decryptor::<rc2::Rc2>::inner_iv_slice_init(rc2, &iv)
                    .map_err(bad)?
                    .decrypt_padded_mut::<Pkcs7>(&mut buf)
                    .map(<[u8]>::len)
            }
        }
        .map_err(|_| PkiError::DecryptionFailure)?;
        buf.truncate(len);
        Ok(buf)
    }
}

/// HMAC-SHA1 keyed by the KDF with purpose 3 (the PFX MacData).
fn mac_key(password: &str, salt: &[u8], iterations: u32) -> hmac::Key {
    let key = derive(&bmp_password(password), salt, Purpose::Mac, iterations, SHA1_LEN);
    hmac::Key::new(HMAC_SHA1, &key)
}

pub(crate) fn mac_sha1(password: &str, salt: &[u8], iterations: u32, data: &[u8]) -> Vec<u8> {
    hmac::sign(&mac_key(password, salt, iterations), data).as_ref().to_vec()
}

/// Constant-time check of the PFX MAC.
pub(crate) fn verify_mac_sha1(
    password: &str,
    salt: &[u8],
    iterations: u32,
    data: &[u8],
    expected: &[u8],
) -> Result<(), PkiError> {
    hmac::verify(&mac_key(password, salt, iterations), data, expected).map_err(|_| PkiError::MacVerifyFailure)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Vectors from the PKCS#12 KDF test set that OpenSSL and BouncyCastle also use.
    #[test]
    fn kdf_matches_known_vectors() {
        let cases: &[(&str, &str, Purpose, u32, usize, &str)] = &[
            ("smeg", "0a58cf64530d823f", Purpose::Key, 1, 24, "8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3"),
            ("smeg", "0a58cf64530d823f", Purpose::Iv, 1, 8, "79993dfe048d3b76"),
            ("smeg", "642b99ab44fb4b1f", Purpose::Key, 1, 24, "f3a95fec48d7711e985cfe67908c5ab79fa3d7c5caa5d966"),
            ("smeg", "3d83c0e4546ac140", Purpose::Mac, 1, 20, "8d967d88f6caa9d714800ab3d48051d63f73a312"),
            ("queeg", "05dec959acff72f7", Purpose::Key, 1000, 24, "ed2034e36328830ff09df1e1a07dd357185dac0d4f9eb3d4"),
            ("queeg", "05dec959acff72f7", Purpose::Iv, 1000, 8, "11dedad7758d4860"),
            ("queeg", "1682c0fc5b3f7ec5", Purpose::Key, 1000, 24, "483dd6e919d7de2e8e648ba8f862f3fbfbdc2bcb2c02957f"),
            ("queeg", "263216fcc2fab31c", Purpose::Mac, 1000, 20, "5ec4c7a80df652294c3925b6489a7ab857c83476"),
        ];
        for (password, salt, purpose, iterations, len, expected) in cases {
            let salt = hex::decode(salt).unwrap();
            let out = derive(&bmp_password(password), &salt, *purpose, *iterations, *len);
            assert_eq!(hex::encode(&*out), *expected, "{password} {iterations}");
        }
    }

    #[test]
    fn ciphers_round_trip_and_detect_wrong_password() {
        for scheme in [Scheme::TripleDes, Scheme::Rc2_40, Scheme::Rc2_128] {
            let ct = scheme.encrypt("pw-1234", b"saltsalt", 2048, b"hello world").unwrap();
            assert_eq!(ct.len() % 8, 0);
            let pt = scheme.decrypt("pw-1234", b"saltsalt", 2048, &ct).unwrap();
            assert_eq!(&pt[..], b"hello world");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        #[test]
        fn decrypt_inverts_encrypt(
            plaintext in proptest::collection::vec(proptest::num::u8::ANY, 0..100),
            password in "\\PC{0,20}",
            salt in proptest::collection::vec(proptest::num::u8::ANY, 0..20),
            iterations in 1u32..4,
            which in 0usize..3,
        ) {
            let scheme = [Scheme::TripleDes, Scheme::Rc2_40, Scheme::Rc2_128][which];
            let ct = scheme.encrypt(&password, &salt, iterations, &plaintext).unwrap();
            let pt = scheme.decrypt(&password, &salt, iterations, &ct).unwrap();
            proptest::prop_assert_eq!(&pt[..], &plaintext[..]);
        }
    }
}
