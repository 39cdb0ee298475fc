//! The handler executes what was authorized (issue 10 §1) and the request path's key ring hands
//! out shared records, never copies of key material (§7).

use crate::common;

use std::sync::Arc;

use aapkit_kms::keyring::KeyRing;
use aapkit_kms::proto::*;
use aapkit_kms::{AuthorizedResource, InstanceApi, KmsError, SharedKeyCache};
use common::*;
use policy_core::ErrorCode;
use prost::Message;

fn key(key_id: &str, version_id: Option<&str>) -> AuthorizedResource {
    AuthorizedResource::Key { key_id: key_id.into(), version_id: version_id.map(str::to_owned) }
}

fn run<Req: Message, Resp: Message + Default>(
    ring: &aapkit_kms::IndexedKeyRing,
    allowed: AuthorizedResource,
    name: &str,
    req: &Req,
) -> Result<Resp, KmsError> {
    let api = InstanceApi::authorized(ring, &SharedKeyCache::default(), allowed);
    let out = api.handle(name, &req.encode_to_vec(), "req-1")?;
    Ok(Resp::decode(out.as_slice()).unwrap())
}

fn internal(r: Result<impl std::fmt::Debug, KmsError>) {
    assert_eq!(r.unwrap_err().code, ErrorCode::InternalFailure);
}

/// The alias was decided on while it named AES; the key ring at hand maps it to AES_OTHER. Old
/// main's handler resolved the alias again and encrypted under AES_OTHER.
#[test]
fn an_alias_that_moved_is_refused_not_followed() {
    let mut moved = ring();
    moved.aliases = vec![(AES_ALIAS.to_owned(), AES_OTHER.to_owned())];
    let moved = moved.index();
    let enc = EncryptRequest { key_id: AES_ALIAS.into(), plaintext: b"x".to_vec(), ..Default::default() };
    internal(run::<_, EncryptResponse>(&moved, key(AES, None), "Encrypt", &enc));
    let gdk = GenerateDataKeyRequest { key_id: AES_ALIAS.into(), ..Default::default() };
    internal(run::<_, GenerateDataKeyResponse>(&moved, key(AES, None), "GenerateDataKey", &gdk));

    // In a consistent key ring the same authorization runs, on the authorized key.
    let same = ring().index();
    let out: EncryptResponse = run(&same, key(AES, None), "Encrypt", &enc).unwrap();
    assert_eq!(out.key_id, AES);
    // An authorization for another resource kind, or none, serves no key call.
    internal(run::<_, EncryptResponse>(&same, AuthorizedResource::None, "Encrypt", &enc));
    let secret = AuthorizedResource::Secret { name: SECRET.into(), key_id: AES.into() };
    internal(run::<_, EncryptResponse>(&same, secret, "Encrypt", &enc));
}

/// A blob-only Decrypt runs on the version the decision was made on, nothing else.
#[test]
fn decrypt_uses_exactly_the_authorized_version() {
    let ring = ring().index();
    let unrestricted = InstanceApi::new(&ring);
    let enc = EncryptRequest { key_id: AES_OTHER.into(), plaintext: b"other".to_vec(), ..Default::default() };
    let blob = EncryptResponse::decode(unrestricted.handle("Encrypt", &enc.encode_to_vec(), "r").unwrap().as_slice())
        .unwrap()
        .ciphertext_blob;
    let dec = DecryptRequest { ciphertext_blob: blob, ..Default::default() };
    // Authorized for AES (a version of AES): the blob names AES_OTHER's version.
    internal(run::<_, DecryptResponse>(&ring, key(AES, Some(AES_V1)), "Decrypt", &dec));
    // No version in the authorization: a blob-only Decrypt is not covered.
    internal(run::<_, DecryptResponse>(&ring, key(AES_OTHER, None), "Decrypt", &dec));
    let other_version = policy_core::blob::parse_symmetric(&dec.ciphertext_blob).unwrap().key_version_id.to_owned();
    let out: DecryptResponse = run(&ring, key(AES_OTHER, Some(&other_version)), "Decrypt", &dec).unwrap();
    assert_eq!((out.key_id.as_str(), out.plaintext.as_slice()), (AES_OTHER, b"other".as_slice()));
}

/// GetSecretValue runs only for the authorized secret under the authorized encryption key.
#[test]
fn secrets_need_the_authorized_name_and_key() {
    let ring = ring().index();
    let req = GetSecretValueRequest { secret_name: SECRET.into(), ..Default::default() };
    let wrong_key = AuthorizedResource::Secret { name: SECRET.into(), key_id: AES_OTHER.into() };
    internal(run::<_, GetSecretValueResponse>(&ring, wrong_key, "GetSecretValue", &req));
    let wrong_name = AuthorizedResource::Secret { name: SECRET_BIN.into(), key_id: AES.into() };
    internal(run::<_, GetSecretValueResponse>(&ring, wrong_name, "GetSecretValue", &req));
    internal(run::<_, GetSecretValueResponse>(&ring, key(AES, None), "GetSecretValue", &req));
    let right = AuthorizedResource::Secret { name: SECRET.into(), key_id: AES.into() };
    let out: GetSecretValueResponse = run(&ring, right, "GetSecretValue", &req).unwrap();
    assert_eq!(out.secret_data, "new-pass");
}

/// Lookups by id, alias and version hand out the one shared record (old main cloned the whole
/// record, every version's material, per lookup).
#[test]
fn the_indexed_ring_shares_records() {
    let ring = ring().index();
    let by_id = ring.resolve_key(AES).unwrap().unwrap();
    let by_alias = ring.resolve_key(AES_ALIAS).unwrap().unwrap();
    let by_version = ring.key_by_version(AES_V2).unwrap().unwrap();
    assert!(Arc::ptr_eq(&by_id, &by_alias) && Arc::ptr_eq(&by_id, &by_version));
    // The material itself is not copied: the same bytes at the same address.
    let again = ring.resolve_key(AES).unwrap().unwrap();
    let (m1, m2) = (&by_id.versions[0].material, &again.versions[0].material);
    assert_eq!(m1.as_ptr(), m2.as_ptr());
    let s1 = ring.secret_value(SECRET, None, None).unwrap().unwrap();
    let s2 = ring.secret_value(SECRET, Some("v2"), None).unwrap().unwrap();
    assert!(Arc::ptr_eq(&s1, &s2));
    assert!(ring.resolve_key("alias/none").unwrap().is_none());
    assert!(ring.secret_value(SECRET, None, Some("nope")).unwrap().is_none());
}

/// What a call costs is known before it runs, from the API and the key the decision resolved: the
/// server serves quick calls where they were decided and the rest on its work pool.
#[test]
fn call_costs_follow_the_api_and_the_authorized_key() {
    use aapkit_kms::{call_cost, CallCost};
    let ring = ring().index();
    let secret = AuthorizedResource::Secret { name: SECRET.into(), key_id: AES.into() };
    for (api, resource, cost) in [
        ("Encrypt", key(AES, None), CallCost::Quick),
        ("Decrypt", key(AES, Some(AES_V1)), CallCost::Quick),
        ("GenerateDataKey", key(AES_ALIAS, None), CallCost::Quick),
        ("GetSecretValue", secret, CallCost::Quick),
        ("GenerateRandom", AuthorizedResource::None, CallCost::Quick),
        // Fails before any crypto: an unknown key, an unknown API.
        ("Encrypt", key("key-unknown", None), CallCost::Quick),
        ("NoSuchApi", key(RSA2048, None), CallCost::Quick),
        ("Sign", key(RSA2048, None), CallCost::Asymmetric),
        ("Sign", key(EC, None), CallCost::Asymmetric),
        ("Decrypt", key(RSA3072, None), CallCost::Asymmetric),
        ("GetPublicKey", key(RSA2048, None), CallCost::Asymmetric),
        ("GenerateDataKeyPair", key(AES, None), CallCost::KeyPairGeneration),
        ("GenerateDataKeyPairWithoutPlaintext", key(AES, None), CallCost::KeyPairGeneration),
        ("AdvanceGenerateDataKeyPair", key(AES, None), CallCost::KeyPairGeneration),
        ("AdvanceGenerateDataKeyPairWithoutPlaintext", key(AES, None), CallCost::KeyPairGeneration),
    ] {
        assert_eq!(call_cost(&ring, api, &resource), cost, "{api} on {resource:?}");
    }
}
