//! Shared fixture for the Instance API tests: an in-memory key ring with one key of each kind
//! and state, and helpers to call `InstanceApi::handle` with typed messages.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use aapkit_kms::keyring::{KeyRecord, KeySpec, KeyState, KeyVersionRecord, SecretDataType, SecretVersionRecord};
use aapkit_kms::{generate_material, InMemoryKeyRing, InstanceApi, KmsError};
use base64::Engine;
use prost::Message;
use zeroize::Zeroizing;

pub const AES: &str = "key-aes-rotated";
pub const AES_V1: &str = "00000000-0000-4000-8000-000000000001";
pub const AES_V2: &str = "00000000-0000-4000-8000-000000000002";
pub const AES_ALIAS: &str = "alias/app";
pub const AES_OTHER: &str = "key-aes-other";
pub const RSA2048: &str = "key-rsa-2048";
pub const RSA3072: &str = "key-rsa-3072";
pub const EC: &str = "key-ec-p256";
pub const DISABLED: &str = "key-disabled";
pub const PENDING_DELETION: &str = "key-pending-deletion";
pub const PENDING_IMPORT: &str = "key-pending-import";
pub const SECRET: &str = "db-password";
pub const SECRET_BIN: &str = "tls-blob";
pub const SECRET_DISABLED_KEY: &str = "on-disabled-key";
pub const BINARY_SECRET: &[u8] = &[0, 159, 146, 150, 255];

fn vid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn key(id: &str, spec: KeySpec, state: KeyState, versions: &[String]) -> KeyRecord {
    KeyRecord {
        key_id: id.to_owned(),
        spec,
        state,
        initial_version_id: versions.first().cloned().unwrap(),
        primary_version_id: versions.last().cloned().unwrap(),
        versions: versions
            .iter()
            .map(|v| KeyVersionRecord { version_id: v.clone(), material: generate_material(spec).unwrap() })
            .collect(),
    }
}

fn secret(
    name: &str,
    version: &str,
    stages: &[&str],
    data: &[u8],
    data_type: SecretDataType,
    key: &str,
) -> SecretVersionRecord {
    SecretVersionRecord {
        secret_name: name.to_owned(),
        secret_type: "Generic".to_owned(),
        version_id: version.to_owned(),
        stages: stages.iter().map(|s| (*s).to_owned()).collect(),
        data: Zeroizing::new(data.to_vec()),
        data_type,
        create_time: "2025-01-02T03:04:05Z".to_owned(),
        encryption_key_id: key.to_owned(),
    }
}

/// The fixture key ring; RSA key generation is slow, so it is built once per test binary.
pub fn ring() -> InMemoryKeyRing {
    static RING: OnceLock<InMemoryKeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        assert_eq!(vid(1), AES_V1);
        InMemoryKeyRing {
            keys: vec![
                key(AES, KeySpec::AliyunAes256, KeyState::Enabled, &[vid(1), vid(2)]),
                key(AES_OTHER, KeySpec::AliyunAes256, KeyState::Enabled, &[vid(3)]),
                key(RSA2048, KeySpec::Rsa2048, KeyState::Enabled, &[vid(4)]),
                key(RSA3072, KeySpec::Rsa3072, KeyState::Enabled, &[vid(5)]),
                key(EC, KeySpec::EcP256, KeyState::Enabled, &[vid(6)]),
                key(DISABLED, KeySpec::AliyunAes256, KeyState::Disabled, &[vid(7)]),
                key(PENDING_DELETION, KeySpec::AliyunAes256, KeyState::PendingDeletion, &[vid(8)]),
                key(PENDING_IMPORT, KeySpec::AliyunAes256, KeyState::PendingImport, &[vid(9)]),
            ],
            aliases: vec![(AES_ALIAS.to_owned(), AES.to_owned())],
            secrets: vec![
                secret(SECRET, "v1", &["ACSPrevious"], b"old-pass", SecretDataType::Text, AES),
                secret(SECRET, "v2", &["ACSCurrent", "blue"], b"new-pass", SecretDataType::Text, AES),
                secret(SECRET_BIN, "b1", &["ACSCurrent"], BINARY_SECRET, SecretDataType::Binary, AES_OTHER),
                secret(SECRET_DISABLED_KEY, "d1", &["ACSCurrent"], b"x", SecretDataType::Text, DISABLED),
            ],
        }
    })
    .clone()
}

pub fn api() -> InstanceApi<InMemoryKeyRing> {
    InstanceApi::new(ring())
}

/// Calls `name` with a typed request; decodes the typed response and checks the request id.
pub fn call<Req: Message, Resp: Message + Default>(
    api: &InstanceApi<InMemoryKeyRing>,
    name: &str,
    req: &Req,
) -> Result<Resp, KmsError> {
    let out = api.handle(name, &req.encode_to_vec(), "req-1")?;
    Ok(Resp::decode(out.as_slice()).expect("response decodes"))
}

pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The DER inside a PEM text with the given label.
pub fn pem_der(pem: &[u8], label: &str) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = text.split(&begin).nth(1).unwrap().split(&end).next().unwrap();
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
}
