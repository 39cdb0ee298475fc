//! `aapkit secret ...`. Values are read from a flag, a file or stdin, and never printed.

use std::io::Read;
use std::path::PathBuf;

use base64::Engine as _;
use clap::{Args, Subcommand};
use serde_json::json;
use zeroize::Zeroizing;

use super::list;
use super::output::{fields, join, lines, Out};
use super::CliError;
use aapkit_kms::keyring::SecretDataType;
use aapkit_store::{SecretInfo, SecretValueInput, Store};

#[derive(Subcommand, Debug)]
pub enum SecretCmd {
    /// CreateSecret with its first value (stage ACSCurrent).
    Create {
        #[arg(long)]
        secret_name: String,
        /// The symmetric key the secret is encrypted under (key id or alias).
        #[arg(long)]
        encryption_key_id: String,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        value: ValueArgs,
    },
    /// PutSecretValue: a new version; its stages (default ACSCurrent) move to it and the old
    /// ACSCurrent version becomes ACSPrevious.
    PutValue {
        #[arg(long)]
        secret_name: String,
        #[command(flatten)]
        value: ValueArgs,
        /// Stages of the new version (repeat, or a JSON array). Default ACSCurrent.
        #[arg(long)]
        version_stages: Vec<String>,
    },
    /// ListSecrets.
    List,
    /// DescribeSecret (versions and stages; never the value).
    Describe {
        #[arg(long)]
        secret_name: String,
    },
    /// DeleteSecret: pending deletion for the recovery window (7 to 30 days, default 30), then
    /// destroyed by the purge; or at once with --force-delete-without-recovery.
    Delete {
        #[arg(long)]
        secret_name: String,
        #[arg(long, conflicts_with = "force_delete_without_recovery")]
        recovery_window_in_days: Option<i64>,
        /// Destroy every version now (no recovery).
        #[arg(long)]
        force_delete_without_recovery: bool,
    },
    /// RestoreSecret: cancel a pending deletion.
    Restore {
        #[arg(long)]
        secret_name: String,
    },
    /// ListSecretVersionIds (versions with no stage are deprecated: shown with --include-deprecated).
    ListVersionIds {
        #[arg(long)]
        secret_name: String,
        #[arg(long)]
        include_deprecated: bool,
    },
    /// UpdateSecretVersionStage: move a stage (--remove-from-version and --move-to-version),
    /// attach it (--move-to-version) or remove it (--remove-from-version). ACSCurrent can only be
    /// moved; the version it leaves becomes ACSPrevious.
    UpdateVersionStage {
        #[arg(long)]
        secret_name: String,
        #[arg(long)]
        version_stage: String,
        #[arg(long)]
        remove_from_version: Option<String>,
        #[arg(long)]
        move_to_version: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct ValueArgs {
    #[command(flatten)]
    source: ValueSource,
    /// `text` (default) or `binary`.
    #[arg(long, default_value = "text")]
    secret_data_type: String,
    /// Version id (default: a new UUID).
    #[arg(long)]
    version_id: Option<String>,
}

/// Exactly one place the value comes from.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct ValueSource {
    /// The value (visible in the process list: prefer --secret-data-file). For `binary`, base64.
    #[arg(long)]
    secret_data: Option<String>,
    /// Read the value from a file (`-` for stdin). Every byte is kept, a trailing newline included
    /// (write the file with `printf '%s'`, not `echo`, if the value has none); `text` values
    /// ending in a newline get a warning. For `binary`, the raw bytes.
    #[arg(long)]
    secret_data_file: Option<PathBuf>,
}

impl ValueArgs {
    fn read(&self, out: &Out) -> Result<(Zeroizing<Vec<u8>>, SecretDataType), CliError> {
        let data_type = match self.secret_data_type.as_str() {
            "text" => SecretDataType::Text,
            "binary" => SecretDataType::Binary,
            other => return Err(CliError::Usage(format!("--secret-data-type {other:?}: expected `text` or `binary`"))),
        };
        let data = match (&self.source.secret_data, &self.source.secret_data_file) {
            (Some(v), _) => {
                out.warn("--secret-data puts the value in the process list; prefer --secret-data-file");
                match data_type {
                    SecretDataType::Text => Zeroizing::new(v.as_bytes().to_vec()),
                    SecretDataType::Binary => Zeroizing::new(
                        base64::engine::general_purpose::STANDARD
                            .decode(v.trim())
                            .map_err(|e| CliError::Usage(format!("--secret-data: binary values are base64 ({e})")))?,
                    ),
                }
            }
            (None, Some(path)) => {
                let data = read_file_or_stdin(path)?;
                if data_type == SecretDataType::Text && data.last() == Some(&b'\n') {
                    out.warn(&format!(
                        "the value read from {} ends with a newline, which is kept as part of the secret",
                        path.display()
                    ));
                }
                data
            }
            (None, None) => return Err(CliError::Usage("give --secret-data-file or --secret-data".into())),
        };
        Ok((data, data_type))
    }
}

/// Largest file `--secret-data-file` / `--password-file` reads (far above any valid value).
const MAX_VALUE_FILE: usize = 1 << 20;

pub(crate) fn read_file_or_stdin(path: &PathBuf) -> Result<Zeroizing<Vec<u8>>, CliError> {
    if path.as_os_str() == "-" {
        read_zeroizing(&mut std::io::stdin().lock(), MAX_VALUE_FILE).map_err(|e| CliError::file("<stdin>", e))
    } else {
        let mut f = std::fs::File::open(path).map_err(|e| CliError::file(path, e))?;
        read_zeroizing(&mut f, MAX_VALUE_FILE).map_err(|e| CliError::file(path, e))
    }
}

/// Reads everything (at most `limit` bytes) into a buffer that is wiped when dropped. Unlike
/// `read_to_end`, growing never frees an unwiped copy: each larger buffer is a new `Zeroizing`
/// one and the old is wiped as it is dropped.
pub(crate) fn read_zeroizing(r: &mut impl Read, limit: usize) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(4096));
    let mut chunk = Zeroizing::new([0u8; 4096]);
    loop {
        let n = match r.read(&mut chunk[..]) {
            Ok(0) => return Ok(buf),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.len() + n > limit {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("larger than {limit} bytes")));
        }
        if buf.len() + n > buf.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity((buf.len() + n).max(buf.capacity() * 2)));
            bigger.extend_from_slice(&buf);
            buf = bigger;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

fn secret_text(s: &SecretInfo) -> String {
    let mut text = fields(&[
        ("SecretName", s.secret_name.clone()),
        ("EncryptionKeyId", s.encryption_key_id.clone()),
        ("SecretType", s.secret_type.clone()),
        ("Description", s.description.clone()),
        ("CreateTime", s.create_time.clone()),
        ("PlannedDeleteTime", s.planned_delete_time.clone().unwrap_or_else(|| "-".into())),
    ]);
    text.push_str("Versions:\n");
    for v in &s.versions {
        text.push_str(&format!(
            "  {}  {}  {}  {}\n",
            v.version_id,
            v.secret_data_type,
            v.create_time,
            join(&v.version_stages)
        ));
    }
    text
}

pub fn run(store: &Store, cmd: &SecretCmd, out: &Out) -> Result<(), CliError> {
    match cmd {
        SecretCmd::Create { secret_name, encryption_key_id, description, value } => {
            let (data, data_type) = value.read(out)?;
            let input =
                SecretValueInput { data, data_type, version_id: value.version_id.clone(), version_stages: vec![] };
            let s = store.create_secret(secret_name, encryption_key_id, description, input)?;
            out.emit(&s, || secret_text(&s));
        }
        SecretCmd::PutValue { secret_name, value, version_stages } => {
            let (data, data_type) = value.read(out)?;
            let input = SecretValueInput {
                data,
                data_type,
                version_id: value.version_id.clone(),
                version_stages: list::expand("version-stages", version_stages)?,
            };
            let v = store.put_secret_value(secret_name, input)?;
            out.emit(
                &json!({ "SecretName": secret_name, "VersionId": v.version_id, "VersionStages": v.version_stages }),
                || format!("{secret_name}: version {} ({})", v.version_id, join(&v.version_stages)),
            );
        }
        SecretCmd::List => {
            let secrets = store.list_secrets()?;
            out.emit(&json!({ "SecretList": secrets, "TotalCount": secrets.len() }), || {
                lines(&secrets, |s| {
                    format!("{}  {}  {} versions", s.secret_name, s.encryption_key_id, s.versions.len())
                })
            });
        }
        SecretCmd::Describe { secret_name } => {
            let s = store.describe_secret(secret_name)?;
            out.emit(&s, || secret_text(&s));
        }
        SecretCmd::Delete { secret_name, recovery_window_in_days, force_delete_without_recovery } => {
            let d = store.delete_secret(secret_name, *recovery_window_in_days, *force_delete_without_recovery)?;
            out.emit(&d, || {
                if *force_delete_without_recovery {
                    format!("deleted {} (every version destroyed)", d.secret_name)
                } else {
                    format!("{} is pending deletion until {} (restore cancels)", d.secret_name, d.planned_delete_time)
                }
            });
        }
        SecretCmd::Restore { secret_name } => {
            let s = store.restore_secret(secret_name)?;
            out.emit(&s, || secret_text(&s));
        }
        SecretCmd::ListVersionIds { secret_name, include_deprecated } => {
            let versions = store.list_secret_version_ids(secret_name, *include_deprecated)?;
            out.emit(
                &json!({ "SecretName": secret_name, "VersionIds": versions, "TotalCount": versions.len() }),
                || lines(&versions, |v| format!("{}  {}  {}", v.version_id, v.create_time, join(&v.version_stages))),
            );
        }
        SecretCmd::UpdateVersionStage { secret_name, version_stage, remove_from_version, move_to_version } => {
            let s = store.update_secret_version_stage(
                secret_name,
                version_stage,
                remove_from_version.as_deref(),
                move_to_version.as_deref(),
            )?;
            out.emit(&s, || secret_text(&s));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::read_zeroizing;

    #[test]
    fn read_zeroizing_reads_all_and_bounds() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let got = read_zeroizing(&mut &data[..], 1 << 20).unwrap();
        assert_eq!(&got[..], &data[..]);
        assert!(read_zeroizing(&mut &data[..], 19_999).is_err());
    }
}
