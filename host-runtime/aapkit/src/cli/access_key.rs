//! `aapkit access-key ...` and `aapkit account`: the KMS OpenAPI's credentials. A secret is shown
//! once, when its key is created (or written to a 0600 file instead); the store keeps it sealed.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::json;

use super::client_key::write_private_file;
use super::output::{fields, lines, Out};
use super::CliError;
use aapkit_store::{Account, NewAccessKey, Store};

/// File `aapkit init` writes the first admin AccessKey to, in the data directory.
pub const ADMIN_ACCESS_KEY_FILE: &str = "admin-access-key.json";

#[derive(Subcommand, Debug)]
pub enum AccessKeyCmd {
    /// CreateAccessKey: a new Enabled key. The secret is printed once (or, with --output,
    /// written to that file only).
    Create {
        #[arg(long, default_value = "")]
        description: String,
        /// Write {AccessKeyId, AccessKeySecret, AccountId, RegionId} to this file (created with
        /// mode 0600, never overwritten) instead of printing the secret.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// ListAccessKeys (never a secret).
    List,
    /// Refuse the key at the OpenAPI from now on (kept; `enable` undoes it).
    Disable {
        #[arg(long)]
        access_key_id: String,
    },
    /// Accept a disabled key again.
    Enable {
        #[arg(long)]
        access_key_id: String,
    },
    /// DeleteAccessKey. Deleting the last one is allowed: the CLI needs no AccessKey and can
    /// always create a new one.
    Delete {
        #[arg(long)]
        access_key_id: String,
    },
}

/// The credentials file: exactly these four fields (what SDK configuration needs).
fn credentials_json(key: &NewAccessKey, account: &Account) -> serde_json::Value {
    json!({
        "AccessKeyId": key.info.access_key_id,
        "AccessKeySecret": key.secret.as_str(),
        "AccountId": account.account_id,
        "RegionId": account.region_id,
    })
}

/// Creates an AccessKey and writes its credentials file (0600, never overwritten). When the file
/// cannot be written the key is deleted again: a key whose secret nobody has is useless.
pub(crate) fn create_to_file(store: &Store, description: &str, path: &Path) -> Result<NewAccessKey, CliError> {
    if path.exists() {
        return Err(CliError::Usage(format!("{}: the file exists; it is never overwritten", path.display())));
    }
    let account = store.account()?;
    let key = store.create_access_key(description)?;
    let text = zeroize::Zeroizing::new(
        serde_json::to_string_pretty(&credentials_json(&key, &account)).map_err(|e| CliError::Usage(e.to_string()))?,
    );
    if let Err(e) = write_private_file(path, format!("{}\n", text.as_str()).as_bytes()) {
        let _ = store.delete_access_key(&key.info.access_key_id);
        return Err(e);
    }
    Ok(key)
}

pub fn run(store: &Store, cmd: &AccessKeyCmd, out: &Out) -> Result<(), CliError> {
    match cmd {
        AccessKeyCmd::Create { description, output: Some(path) } => {
            let key = create_to_file(store, description, path)?;
            let i = &key.info;
            out.emit(
                &json!({ "AccessKeyId": i.access_key_id, "Status": i.status, "CreateTime": i.create_time, "Output": path }),
                || {
                    format!(
                        "{}wrote the secret to {} (mode 0600); it is not shown again",
                        fields(&[("AccessKeyId", i.access_key_id.clone()), ("Status", i.status.clone())]),
                        path.display()
                    )
                },
            );
        }
        AccessKeyCmd::Create { description, output: None } => {
            let account = store.account()?;
            let key = store.create_access_key(description)?;
            out.emit(&credentials_json(&key, &account), || {
                format!(
                    "{}the secret is shown only this once: store it now",
                    fields(&[
                        ("AccessKeyId", key.info.access_key_id.clone()),
                        ("AccessKeySecret", key.secret.to_string()),
                        ("AccountId", account.account_id.clone()),
                        ("RegionId", account.region_id.clone()),
                    ])
                )
            });
        }
        AccessKeyCmd::List => {
            let keys = store.list_access_keys()?;
            out.emit(&json!({ "AccessKeys": keys, "TotalCount": keys.len() }), || {
                lines(&keys, |k| format!("{}  {}  {}  {}", k.access_key_id, k.status, k.create_time, k.description))
            });
        }
        AccessKeyCmd::Disable { access_key_id } | AccessKeyCmd::Enable { access_key_id } => {
            let enable = matches!(cmd, AccessKeyCmd::Enable { .. });
            let k = store.set_access_key_enabled(access_key_id, enable)?;
            out.emit(&k, || format!("{}  {}", k.access_key_id, k.status));
        }
        AccessKeyCmd::Delete { access_key_id } => {
            store.delete_access_key(access_key_id)?;
            out.emit(&json!({ "AccessKeyId": access_key_id, "Deleted": true }), || format!("deleted {access_key_id}"));
        }
    }
    Ok(())
}

/// `aapkit account`: the account id and region the OpenAPI serves.
pub fn run_account(store: &Store, out: &Out) -> Result<(), CliError> {
    let a = store.account()?;
    out.emit(&a, || fields(&[("AccountId", a.account_id.clone()), ("RegionId", a.region_id.clone())]));
    Ok(())
}
