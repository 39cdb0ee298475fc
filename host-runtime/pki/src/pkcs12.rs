//! PKCS#12 (RFC 7292) in the layout the KMS console hands out, and a reader for it.
//!
//! Written by hand because no crate writes this legacy layout, which is the one the SDK loaders
//! require (docs/protocol.md, "Client keys", PKCS#12 layout): the RC2-40 certificate bag first, the
//! 3DES key bag second, no friendlyName. Layout:
//!
//! ```text
//! PFX v3
//!   authSafe: data → AuthenticatedSafe
//!     [0] encryptedData (pbeWithSHAAnd40BitRC2-CBC, 2048 it.) → SafeContents { certBag + localKeyID }
//!     [1] data → SafeContents { pkcs8ShroudedKeyBag (pbeWithSHAAnd3-KeyTripleDES-CBC, 2048 it.) + localKeyID }
//!   macData: HMAC-SHA1, 8-byte salt, 2048 iterations
//! ```
//!
//! Go's x/crypto/pkcs12 `ToPEM` returns the bags in file order and the Go SDK takes `blocks[1]` as
//! the key and `blocks[0]` as the certificate (`GetPrivatePemFromPk12` in `openapi-util/client.go`,
//! <https://github.com/aliyun/alibabacloud-dkms-gcs-go-sdk>), so the order is part of the contract. Go also rejects
//! attributes other than friendlyName/localKeyID, and knows no PBES2/AES, hence the legacy PBEs.
//!
//! The MAC iteration count is 2048 (the official sample uses 1): OpenSSL (pyOpenSSL), Go and
//! Java all read the count from the file, and 2048 is OpenSSL's own default.

use zeroize::Zeroizing;

use super::der::{self, Reader};
use super::pbe::{self, Scheme};
use super::{oid, PkiError};

/// PBE iteration count for both bags (as in the official sample).
pub const PBE_ITERATIONS: u32 = 2048;
/// MAC iteration count.
pub const MAC_ITERATIONS: u32 = 2048;
const SALT_LEN: usize = 8;

fn salt() -> Result<[u8; SALT_LEN], PkiError> {
    let mut s = [0u8; SALT_LEN];
    aws_lc_rs::rand::fill(&mut s).map_err(|_| PkiError::Crypto("random salt"))?;
    Ok(s)
}

fn pbe_algorithm(scheme: Scheme, salt: &[u8], iterations: u32) -> Vec<u8> {
    let params = der::sequence(&[&der::octet_string(salt), &der::small_integer(u64::from(iterations))]);
    der::algorithm(scheme.oid(), Some(&params))
}

/// `SET OF Attribute` holding only localKeyID.
fn local_key_id_attributes(id: &[u8]) -> Vec<u8> {
    let attr = der::sequence(&[&der::oid(oid::LOCAL_KEY_ID), &der::set_of(vec![der::octet_string(id)])]);
    der::set_of(vec![attr])
}

fn safe_bag(bag_id: &[u64], value: &[u8], attributes: &[u8]) -> Vec<u8> {
    der::sequence(&[&der::oid(bag_id), &der::explicit(0, value), attributes])
}

/// Writes a PKCS#12 holding one certificate and its PKCS#8 private key, protected by `password`.
pub fn write(certificate_der: &[u8], pkcs8_der: &[u8], password: &str) -> Result<Vec<u8>, PkiError> {
    let local_key_id = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, certificate_der);
    let attributes = local_key_id_attributes(local_key_id.as_ref());

    // (1) the certificate bag, in an RC2-40 encryptedData
    let cert_bag_value =
        der::sequence(&[&der::oid(oid::X509_CERTIFICATE), &der::explicit(0, &der::octet_string(certificate_der))]);
    let cert_safe = der::sequence(&[&safe_bag(oid::CERT_BAG, &cert_bag_value, &attributes)]);
    let cert_salt = salt()?;
    let encrypted = Scheme::Rc2_40.encrypt(password, &cert_salt, PBE_ITERATIONS, &cert_safe)?;
    let encrypted_data = der::sequence(&[
        &der::small_integer(0),
        &der::sequence(&[
            &der::oid(oid::PKCS7_DATA),
            &pbe_algorithm(Scheme::Rc2_40, &cert_salt, PBE_ITERATIONS),
            &der::tlv(der::context_primitive(0), &encrypted),
        ]),
    ]);
    let cert_info = der::sequence(&[&der::oid(oid::PKCS7_ENCRYPTED_DATA), &der::explicit(0, &encrypted_data)]);

    // (2) the 3DES-shrouded key bag, in a plain data ContentInfo
    let key_salt = salt()?;
    let shrouded = der::sequence(&[
        &pbe_algorithm(Scheme::TripleDes, &key_salt, PBE_ITERATIONS),
        &der::octet_string(&Scheme::TripleDes.encrypt(password, &key_salt, PBE_ITERATIONS, pkcs8_der)?),
    ]);
    let key_safe = der::sequence(&[&safe_bag(oid::PKCS8_SHROUDED_KEY_BAG, &shrouded, &attributes)]);
    let key_info = der::sequence(&[&der::oid(oid::PKCS7_DATA), &der::explicit(0, &der::octet_string(&key_safe))]);

    let auth_safe = der::sequence(&[&cert_info, &key_info]);
    let mac_salt = salt()?;
    let mac = pbe::mac_sha1(password, &mac_salt, MAC_ITERATIONS, &auth_safe);
    let mac_data = der::sequence(&[
        &der::sequence(&[&der::algorithm(oid::SHA1, Some(&der::null())), &der::octet_string(&mac)]),
        &der::octet_string(&mac_salt),
        &der::small_integer(u64::from(MAC_ITERATIONS)),
    ]);
    Ok(der::sequence(&[
        &der::small_integer(3),
        &der::sequence(&[&der::oid(oid::PKCS7_DATA), &der::explicit(0, &der::octet_string(&auth_safe))]),
        &mac_data,
    ]))
}

/// `auth_safe` (an AuthenticatedSafe, DER) in a PFX whose MAC verifies under `password`, so that a
/// fuzzer reaches the reader behind the MAC check (host-runtime/fuzz, target `pki`). Not for use
/// elsewhere: it signs whatever it is given.
#[doc(hidden)]
pub fn fuzz_pfx_with_valid_mac(auth_safe: &[u8], password: &str) -> Result<Vec<u8>, PkiError> {
    let mac_salt = [0x5a; SALT_LEN];
    let mac = pbe::mac_sha1(password, &mac_salt, 1, auth_safe);
    let mac_data = der::sequence(&[
        &der::sequence(&[&der::algorithm(oid::SHA1, Some(&der::null())), &der::octet_string(&mac)]),
        &der::octet_string(&mac_salt),
        &der::small_integer(1),
    ]);
    Ok(der::sequence(&[
        &der::small_integer(3),
        &der::sequence(&[&der::oid(oid::PKCS7_DATA), &der::explicit(0, &der::octet_string(auth_safe))]),
        &mac_data,
    ]))
}

// ---------------------------------------------------------------- reader

fn is(content: &[u8], arcs: &[u64]) -> bool {
    der::oid_content(arcs) == content
}

fn iterations(value: u64, what: &str) -> Result<u32, PkiError> {
    if value == 0 || value > pbe::MAX_ITERATIONS {
        return Err(PkiError::Unsupported(format!(
            "{what} iteration count {value} (accepted: 1 to {})",
            pbe::MAX_ITERATIONS
        )));
    }
    u32::try_from(value).map_err(|_| PkiError::Unsupported(format!("{what} iteration count {value}")))
}

/// Decrypts data protected by a PKCS#12 PBE AlgorithmIdentifier.
fn pbe_decrypt(algorithm: &mut Reader<'_>, ciphertext: &[u8], password: &str) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let alg_oid = algorithm.read_oid()?;
    let scheme = Scheme::from_oid(alg_oid).ok_or_else(|| {
        PkiError::Unsupported(
            "encryption algorithm (only pbeWithSHAAnd3-KeyTripleDES-CBC and pbeWithSHAAnd40/128BitRC2-CBC are read)"
                .into(),
        )
    })?;
    let mut params = algorithm.sequence("PBE parameters")?;
    let salt = params.read(der::TAG_OCTET_STRING)?;
    let iters = iterations(params.read_small_uint()?, "PBE")?;
    params.finish()?;
    algorithm.finish()?;
    scheme.decrypt(password, salt, iters, ciphertext)
}

/// A bag's localKeyID attribute, if any.
type LocalKeyId = Option<Vec<u8>>;

/// The certificates and keys found in the bags, with their localKeyIDs.
#[derive(Default)]
struct Found {
    certs: Vec<(Vec<u8>, LocalKeyId)>,
    keys: Vec<(Zeroizing<Vec<u8>>, LocalKeyId)>,
}

fn local_key_id(attributes: Option<&[u8]>) -> Result<LocalKeyId, PkiError> {
    let Some(attributes) = attributes else {
        return Ok(None);
    };
    let mut set = Reader::new(attributes, "bag attributes");
    while !set.is_empty() {
        let mut attr = set.sequence("bag attribute")?;
        let id = attr.read_oid()?;
        let mut values = attr.nested(der::TAG_SET, "bag attribute values")?;
        if is(id, oid::LOCAL_KEY_ID) {
            return Ok(Some(values.read(der::TAG_OCTET_STRING)?.to_vec()));
        }
    }
    Ok(None)
}

fn read_safe_contents(contents: &[u8], password: &str, found: &mut Found) -> Result<(), PkiError> {
    let mut outer = Reader::new(contents, "SafeContents");
    let mut bags = outer.sequence("SafeContents")?;
    outer.finish()?;
    while !bags.is_empty() {
        let mut bag = bags.sequence("SafeBag")?;
        let bag_id = bag.read_oid()?;
        let mut value = bag.nested(der::context_constructed(0), "SafeBag value")?;
        let attributes = if bag.is_empty() { None } else { Some(bag.read(der::TAG_SET)?) };
        let key_id = local_key_id(attributes)?;
        if is(bag_id, oid::CERT_BAG) {
            let mut cert_bag = value.sequence("CertBag")?;
            if is(cert_bag.read_oid()?, oid::X509_CERTIFICATE) {
                let mut wrapped = cert_bag.nested(der::context_constructed(0), "CertBag value")?;
                found.certs.push((wrapped.read(der::TAG_OCTET_STRING)?.to_vec(), key_id));
            }
        } else if is(bag_id, oid::PKCS8_SHROUDED_KEY_BAG) {
            let mut epki = value.sequence("EncryptedPrivateKeyInfo")?;
            let mut algorithm = epki.sequence("EncryptedPrivateKeyInfo algorithm")?;
            let ciphertext = epki.read(der::TAG_OCTET_STRING)?;
            found.keys.push((pbe_decrypt(&mut algorithm, ciphertext, password)?, key_id));
        } else if is(bag_id, oid::KEY_BAG) {
            let (_, _, pkcs8) = value.read_any()?;
            found.keys.push((Zeroizing::new(pkcs8.to_vec()), key_id));
        }
        // CRL, secret and nested SafeContents bags carry nothing a client key needs.
    }
    Ok(())
}

/// Reads a password-protected PKCS#12 holding one private key and its certificate.
/// Returns `(certificate DER, PKCS#8 PrivateKeyInfo DER)`.
///
/// The MAC is checked first; a wrong password gives [`PkiError::MacVerifyFailure`].
pub fn parse(pfx: &[u8], password: &str) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), PkiError> {
    let mut outer = Reader::new(pfx, "PFX");
    let mut p = outer.sequence("PFX")?;
    outer.finish()?;
    let version = p.read_small_uint()?;
    if version != 3 {
        return Err(PkiError::Unsupported(format!("PFX version {version} (only 3)")));
    }
    let mut auth_info = p.sequence("PFX authSafe")?;
    if !is(auth_info.read_oid()?, oid::PKCS7_DATA) {
        return Err(PkiError::Unsupported("authSafe content type (only password integrity mode, pkcs7-data)".into()));
    }
    let auth_safe = auth_info.nested(der::context_constructed(0), "authSafe content")?.read(der::TAG_OCTET_STRING)?;

    // MacData
    if p.is_empty() {
        return Err(PkiError::Unsupported("PKCS#12 without a MAC".into()));
    }
    let mut mac_data = p.sequence("MacData")?;
    let mut digest_info = mac_data.sequence("MacData DigestInfo")?;
    let mut digest_alg = digest_info.sequence("MacData digest algorithm")?;
    if !is(digest_alg.read_oid()?, oid::SHA1) {
        return Err(PkiError::Unsupported("MAC digest algorithm (only SHA-1)".into()));
    }
    let expected = digest_info.read(der::TAG_OCTET_STRING)?;
    let mac_salt = mac_data.read(der::TAG_OCTET_STRING)?;
    let mac_iterations = if mac_data.is_empty() { 1 } else { iterations(mac_data.read_small_uint()?, "MAC")? };
    pbe::verify_mac_sha1(password, mac_salt, mac_iterations, auth_safe, expected)?;

    let mut found = Found::default();
    let mut infos_outer = Reader::new(auth_safe, "AuthenticatedSafe");
    let mut infos = infos_outer.sequence("AuthenticatedSafe")?;
    infos_outer.finish()?;
    while !infos.is_empty() {
        let mut info = infos.sequence("ContentInfo")?;
        let content_type = info.read_oid()?;
        let mut content = info.nested(der::context_constructed(0), "ContentInfo content")?;
        if is(content_type, oid::PKCS7_DATA) {
            read_safe_contents(content.read(der::TAG_OCTET_STRING)?, password, &mut found)?;
        } else if is(content_type, oid::PKCS7_ENCRYPTED_DATA) {
            let mut encrypted_data = content.sequence("EncryptedData")?;
            encrypted_data.read_small_uint()?; // version 0
            let mut eci = encrypted_data.sequence("EncryptedContentInfo")?;
            eci.read_oid()?;
            let mut algorithm = eci.sequence("EncryptedContentInfo algorithm")?;
            let ciphertext = eci.read(der::context_primitive(0))?;
            let plain = pbe_decrypt(&mut algorithm, ciphertext, password)?;
            read_safe_contents(&plain, password, &mut found)?;
        } else {
            return Err(PkiError::Unsupported("AuthenticatedSafe content type (only data and encryptedData)".into()));
        }
    }

    let mut keys = found.keys.into_iter();
    let (key, key_id) = match (keys.next(), keys.next()) {
        (Some(k), None) => k,
        (None, _) => return Err(PkiError::Malformed("PKCS#12: no private key bag".into())),
        (Some(_), Some(_)) => return Err(PkiError::Unsupported("PKCS#12 with more than one private key".into())),
    };
    let matching = found.certs.iter().position(|(_, id)| key_id.is_some() && *id == key_id);
    let index = match (matching, found.certs.len()) {
        (Some(i), _) => i,
        (None, 1) => 0,
        (None, 0) => return Err(PkiError::Malformed("PKCS#12: no certificate bag".into())),
        (None, _) => {
            return Err(PkiError::Malformed(
                "PKCS#12: several certificates and none matches the key's localKeyID".into(),
            ))
        }
    };
    let (cert, _) =
        found.certs.into_iter().nth(index).ok_or_else(|| PkiError::Malformed("PKCS#12: no certificate bag".into()))?;
    Ok((cert, key))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_password() {
        let cert = b"not really a certificate".to_vec();
        let key = b"not really a key".to_vec();
        let pfx = write(&cert, &key, "Passw0rd!").unwrap();
        let (c, k) = parse(&pfx, "Passw0rd!").unwrap();
        assert_eq!(c, cert);
        assert_eq!(&k[..], &key[..]);
        assert!(matches!(parse(&pfx, "Passw0rd?"), Err(PkiError::MacVerifyFailure)));
    }

    /// The fuzz helper re-signs an AuthenticatedSafe: our own file's contents, re-wrapped, still
    /// parse, so the `pki` fuzz target reaches the readers behind the MAC.
    #[test]
    fn fuzz_helper_rewraps_with_a_valid_mac() {
        let pfx = write(b"cert", b"key", "Passw0rd!").unwrap();
        let mut outer = Reader::new(&pfx, "PFX");
        let mut p = outer.sequence("PFX").unwrap();
        p.read_small_uint().unwrap();
        let mut auth_info = p.sequence("authSafe").unwrap();
        auth_info.read_oid().unwrap();
        let auth_safe =
            auth_info.nested(der::context_constructed(0), "content").unwrap().read(der::TAG_OCTET_STRING).unwrap();
        let again = fuzz_pfx_with_valid_mac(auth_safe, "Passw0rd!").unwrap();
        let (c, k) = parse(&again, "Passw0rd!").unwrap();
        assert_eq!((c.as_slice(), &k[..]), (&b"cert"[..], &b"key"[..]));
        assert!(matches!(parse(&again, "Passw0rd?"), Err(PkiError::MacVerifyFailure)));
    }

    /// One SafeBag: its type and the OIDs of its attributes.
    fn bags(contents: &[u8]) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
        let mut out = Vec::new();
        let mut r = Reader::new(contents, "t");
        let mut seq = r.sequence("t").unwrap();
        while !seq.is_empty() {
            let mut bag = seq.sequence("t").unwrap();
            let id = bag.read_oid().unwrap().to_vec();
            bag.read(der::context_constructed(0)).unwrap();
            let mut attrs = bag.nested(der::TAG_SET, "t").unwrap();
            let mut ids = Vec::new();
            while !attrs.is_empty() {
                ids.push(attrs.sequence("t").unwrap().read_oid().unwrap().to_vec());
            }
            out.push((id, ids));
        }
        out
    }

    /// What Go's x/crypto/pkcs12 (used by the Go SDK) requires: PFX v3, data authSafe, SHA-1
    /// MAC; ContentInfo #0 = encryptedData with exactly the certificate bag, #1 = data with
    /// exactly the shrouded key bag (ToPEM order: blocks[0] cert, blocks[1] key); only
    /// localKeyID attributes (Go rejects unknown ones).
    #[test]
    fn layout_is_what_the_go_sdk_expects() {
        let pfx = write(b"cert", b"key", "Passw0rd!").unwrap();
        let mut r = Reader::new(&pfx, "t");
        let mut p = r.sequence("t").unwrap();
        assert_eq!(p.read_small_uint().unwrap(), 3);
        let mut auth = p.sequence("t").unwrap();
        assert!(is(auth.read_oid().unwrap(), oid::PKCS7_DATA));
        let auth_safe = auth.nested(der::context_constructed(0), "t").unwrap().read(der::TAG_OCTET_STRING).unwrap();
        let mut mac = p.sequence("t").unwrap();
        let mut digest = mac.sequence("t").unwrap();
        assert!(is(digest.sequence("t").unwrap().read_oid().unwrap(), oid::SHA1));
        assert_eq!(digest.read(der::TAG_OCTET_STRING).unwrap().len(), 20);
        assert_eq!(mac.read(der::TAG_OCTET_STRING).unwrap().len(), 8);
        assert_eq!(mac.read_small_uint().unwrap(), u64::from(MAC_ITERATIONS));

        let mut outer = Reader::new(auth_safe, "t");
        let mut infos = outer.sequence("t").unwrap();
        // #0: encryptedData, RC2-40, holding only the certificate bag
        let mut first = infos.sequence("t").unwrap();
        assert!(is(first.read_oid().unwrap(), oid::PKCS7_ENCRYPTED_DATA));
        let mut ed = first.nested(der::context_constructed(0), "t").unwrap().sequence("t").unwrap();
        assert_eq!(ed.read_small_uint().unwrap(), 0);
        let mut eci = ed.sequence("t").unwrap();
        assert!(is(eci.read_oid().unwrap(), oid::PKCS7_DATA));
        let mut alg = eci.sequence("t").unwrap();
        assert!(is(alg.read_oid().unwrap(), oid::PBE_SHA1_RC2_40));
        let mut params = alg.sequence("t").unwrap();
        let salt = params.read(der::TAG_OCTET_STRING).unwrap().to_vec();
        assert_eq!(salt.len(), 8);
        assert_eq!(params.read_small_uint().unwrap(), u64::from(PBE_ITERATIONS));
        let ct = eci.read(der::context_primitive(0)).unwrap();
        let plain = Scheme::Rc2_40.decrypt("Passw0rd!", &salt, PBE_ITERATIONS, ct).unwrap();
        let local_key_id = der::oid_content(oid::LOCAL_KEY_ID);
        assert_eq!(bags(&plain), vec![(der::oid_content(oid::CERT_BAG), vec![local_key_id.clone()])]);
        // #1: data holding only the 3DES-shrouded key bag
        let mut second = infos.sequence("t").unwrap();
        assert!(is(second.read_oid().unwrap(), oid::PKCS7_DATA));
        let contents = second.nested(der::context_constructed(0), "t").unwrap().read(der::TAG_OCTET_STRING).unwrap();
        assert_eq!(bags(contents), vec![(der::oid_content(oid::PKCS8_SHROUDED_KEY_BAG), vec![local_key_id])]);
        assert!(infos.is_empty(), "exactly two ContentInfos");
    }

    #[test]
    fn truncated_or_garbage_input_is_an_error() {
        let pfx = write(b"c", b"k", "Passw0rd!").unwrap();
        for len in [0, 1, 10, pfx.len() / 2, pfx.len() - 1] {
            assert!(parse(pfx.get(..len).unwrap(), "Passw0rd!").is_err(), "len {len}");
        }
        let mut flipped = pfx.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 1;
        assert!(parse(&flipped, "Passw0rd!").is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]
        #[test]
        fn parse_inverts_write(
            cert in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            key in proptest::collection::vec(proptest::num::u8::ANY, 1..300),
            password in "\\PC{1,30}",
        ) {
            let pfx = write(&cert, &key, &password).unwrap();
            let (c, k) = parse(&pfx, &password).unwrap();
            proptest::prop_assert_eq!(c, cert);
            proptest::prop_assert_eq!(&k[..], &key[..]);
            let wrong = format!("{password}x");
            proptest::prop_assert!(matches!(parse(&pfx, &wrong), Err(PkiError::MacVerifyFailure)));
        }
    }
}
