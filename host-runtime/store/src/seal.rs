//! The master key and AES-256-GCM sealing of key material and secret values.
//!
//! Sealed blob: `0x01 | 12-byte random nonce | ciphertext || 16-byte tag`. The AAD names the row the
//! blob belongs to (table and ids), so a blob copied into another row fails to open.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::Engine as _;
use zeroize::Zeroizing;

use super::StoreError;

/// File name of the master key inside the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";
/// The environment variable the CLI reads the master key from (standard base64 of 32 bytes); it
/// wins over the file. Named here because the store's errors mention it.
pub const MASTER_KEY_ENV: &str = "AAPKIT_MASTER_KEY";

const MASTER_KEY_LEN: usize = 32;
const BLOB_VERSION: u8 = 0x01;
const TAG_LEN: usize = 16;

/// Where the master key comes from. The embedder decides: the CLI passes the value of
/// [`MASTER_KEY_ENV`] when it is set, else the key file.
#[derive(Clone, Default)]
pub enum MasterKeySource {
    /// `<data_dir>/master.key` (mode 0600).
    #[default]
    File,
    /// Standard base64 of 32 bytes, held in a buffer that is wiped when dropped.
    Base64(Zeroizing<String>),
}

impl std::fmt::Debug for MasterKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MasterKeySource::File => "MasterKeySource::File",
            MasterKeySource::Base64(_) => "MasterKeySource::Base64(..)",
        })
    }
}

/// The 32-byte key that seals everything secret in the database.
pub struct MasterKey(pub(super) Zeroizing<[u8; MASTER_KEY_LEN]>);

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<MasterKey, StoreError> {
        let arr: [u8; MASTER_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| StoreError::MasterKey(format!("expected {MASTER_KEY_LEN} bytes, found {}", bytes.len())))?;
        Ok(MasterKey(Zeroizing::new(arr)))
    }

    /// Decodes the `AAPKIT_MASTER_KEY` form (standard base64 of 32 bytes).
    pub fn from_base64(text: &str) -> Result<MasterKey, StoreError> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| StoreError::MasterKey(format!("{MASTER_KEY_ENV} is not valid base64: {e}")))?,
        );
        MasterKey::from_bytes(&bytes).map_err(|e| StoreError::MasterKey(format!("{MASTER_KEY_ENV}: {e}")))
    }

    /// A fresh random key.
    pub fn generate() -> Result<MasterKey, StoreError> {
        let mut k = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        aws_lc_rs::rand::fill(&mut k[..]).map_err(|_| StoreError::Crypto("random generator failed".into()))?;
        Ok(MasterKey(k))
    }

    /// The key `source` names: the given text, else `<data_dir>/master.key`, which must exist (a
    /// missing key file is an error here: making a new key would only hide the lost one).
    pub fn load(data_dir: &Path, source: &MasterKeySource) -> Result<MasterKey, StoreError> {
        match source {
            MasterKeySource::Base64(v) => MasterKey::from_base64(v),
            MasterKeySource::File => {
                let path = data_dir.join(MASTER_KEY_FILE);
                match fs::File::open(&path) {
                    Ok(f) => read_key_file(&path, f),
                    Err(e) if e.kind() == ErrorKind::NotFound => Err(StoreError::MasterKey(format!(
                        "{} is missing and {MASTER_KEY_ENV} is not set",
                        path.display()
                    ))),
                    Err(e) => Err(StoreError::io(&path, e)),
                }
            }
        }
    }

    /// Like [`MasterKey::load`], but creates `<data_dir>/master.key` when the source is the file
    /// and there is none yet (`init`).
    pub fn load_or_create(data_dir: &Path, source: &MasterKeySource) -> Result<MasterKey, StoreError> {
        match source {
            MasterKeySource::Base64(v) => MasterKey::from_base64(v),
            MasterKeySource::File => MasterKey::load_or_create_file(&data_dir.join(MASTER_KEY_FILE)),
        }
    }

    /// Reads the key file, refusing one that group or others may access; creates it (mode 0600) if absent.
    pub fn load_or_create_file(path: &Path) -> Result<MasterKey, StoreError> {
        match fs::File::open(path) {
            Ok(f) => read_key_file(path, f),
            Err(e) if e.kind() == ErrorKind::NotFound => create_key_file(path),
            Err(e) => Err(StoreError::io(path, e)),
        }
    }
}

fn read_key_file(path: &Path, mut f: fs::File) -> Result<MasterKey, StoreError> {
    let meta = f.metadata().map_err(|e| StoreError::io(path, e))?;
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::MasterKey(format!(
            "{} has mode {mode:04o}; it must be readable by its owner only (chmod 600 {})",
            path.display(),
            path.display()
        )));
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(MASTER_KEY_LEN));
    Read::by_ref(&mut f).take(MASTER_KEY_LEN as u64 + 1).read_to_end(&mut buf).map_err(|e| StoreError::io(path, e))?;
    MasterKey::from_bytes(&buf).map_err(|e| StoreError::MasterKey(format!("{}: {e}", path.display())))
}

/// Writes a new key to a temporary file and hard-links it into place, so two processes starting at
/// once never see a half-written key: the loser of the race reads the winner's key.
fn create_key_file(path: &Path) -> Result<MasterKey, StoreError> {
    let key = MasterKey::generate()?;
    let tmp: PathBuf = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(&key.0[..])?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::io(&tmp, e));
    }
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                // Make the new directory entry durable too.
                if let Ok(d) = fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(key)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let f = fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
            read_key_file(path, f)
        }
        Err(e) => Err(StoreError::io(path, e)),
    }
}

/// Seals and opens blobs under the master key.
pub struct Sealer {
    key: LessSafeKey,
}

impl Sealer {
    pub fn new(master: &MasterKey) -> Result<Sealer, StoreError> {
        let unbound = UnboundKey::new(&AES_256_GCM, &master.0[..])
            .map_err(|_| StoreError::Crypto("cannot load the master key".into()))?;
        Ok(Sealer { key: LessSafeKey::new(unbound) })
    }

    /// Encrypts `plaintext`, binding it to `aad` (the row it is stored in).
    ///
    /// The one copy of the plaintext is made inside the output buffer, sized up front so that
    /// appending the tag never reallocates (a reallocation would free a copy unwiped), and wiped if
    /// sealing fails.
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        const HEADER: usize = 1 + NONCE_LEN;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| StoreError::Crypto("random generator failed".into()))?;
        let mut out = Zeroizing::new(Vec::with_capacity(HEADER + plaintext.len() + TAG_LEN));
        out.push(BLOB_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                out.get_mut(HEADER..).unwrap_or_default(),
            )
            .map_err(|_| StoreError::Crypto("sealing failed".into()))?;
        out.extend_from_slice(tag.as_ref());
        // Only ciphertext is left: hand the buffer out without the wipe-on-drop wrapper.
        Ok(std::mem::take(&mut *out))
    }

    /// Decrypts a blob made by [`Sealer::seal`] with the same `aad`.
    pub fn open(&self, aad: &str, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let fail = || StoreError::Unseal(aad.to_owned());
        let (&version, rest) = blob.split_first().ok_or_else(fail)?;
        if version != BLOB_VERSION || rest.len() < NONCE_LEN + TAG_LEN {
            return Err(fail());
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
        let mut buf = Zeroizing::new(sealed.to_vec());
        let len = self.key.open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf[..]).map_err(|_| fail())?.len();
        buf.truncate(len);
        Ok(buf)
    }
}

/// AAD of a key version's material.
pub(crate) fn key_version_aad(key_id: &str, version_id: &str) -> String {
    format!("aapkit/v1/key_versions/{key_id}/{version_id}")
}

/// AAD of a secret version's value.
pub(crate) fn secret_version_aad(secret_name: &str, version_id: &str) -> String {
    format!("aapkit/v1/secret_versions/{secret_name}/{version_id}")
}

/// AAD of an AccessKey's secret (the OpenAPI's credential).
pub(crate) fn access_key_aad(access_key_id: &str) -> String {
    format!("aapkit/v1/access_keys/{access_key_id}")
}

/// AAD of an STS session's AccessKeySecret (`part` = `secret`) or SecurityToken (`token`).
pub(crate) fn sts_session_aad(access_key_id: &str, part: &str) -> String {
    format!("aapkit/v1/sts_sessions/{access_key_id}/{part}")
}

/// AAD of the check value that detects a wrong master key at open time.
pub(crate) const MASTER_CHECK_AAD: &str = "aapkit/v1/meta/master_check";
pub(crate) const MASTER_CHECK_PLAINTEXT: &[u8] = b"aapkit master key check";
