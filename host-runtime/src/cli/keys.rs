//! `aapkit key ...` and `aapkit alias ...`.

use clap::Subcommand;
use serde_json::json;

use super::output::{fields, join, lines, Out};
use super::CliError;
use crate::store::{KeyInfo, Store};

#[derive(Subcommand, Debug)]
pub enum KeyCmd {
    /// CreateKey.
    Create {
        /// Aliyun_AES_256 (default), RSA_2048, RSA_3072 or EC_P256.
        #[arg(long)]
        key_spec: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// ListKeys.
    List,
    /// DescribeKey (by key id or alias).
    Describe {
        #[arg(long)]
        key_id: String,
    },
    /// DisableKey.
    Disable {
        #[arg(long)]
        key_id: String,
    },
    /// EnableKey.
    Enable {
        #[arg(long)]
        key_id: String,
    },
    /// ScheduleKeyDeletion: PendingDeletion for 7 to 366 days, then gone.
    ScheduleDeletion {
        #[arg(long)]
        key_id: String,
        #[arg(long)]
        pending_window_in_days: i64,
    },
    /// CancelKeyDeletion: back to Enabled.
    CancelDeletion {
        #[arg(long)]
        key_id: String,
    },
    /// CreateKeyVersion: a new primary version (symmetric keys).
    Rotate {
        #[arg(long)]
        key_id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AliasCmd {
    /// CreateAlias.
    Create {
        /// `alias/<name>`.
        #[arg(long)]
        alias_name: String,
        #[arg(long)]
        key_id: String,
    },
    /// DeleteAlias.
    Delete {
        #[arg(long)]
        alias_name: String,
    },
    /// ListAliases (all, or of one key).
    List {
        #[arg(long)]
        key_id: Option<String>,
    },
}

fn key_text(k: &KeyInfo) -> String {
    let mut rows = vec![
        ("KeyId", k.key_id.clone()),
        ("KeySpec", k.key_spec.clone()),
        ("KeyState", k.key_state.clone()),
        ("Description", k.description.clone()),
        ("CreationDate", k.creation_date.clone()),
    ];
    if let Some(d) = &k.delete_date {
        rows.push(("DeleteDate", d.clone()));
    }
    rows.push(("PrimaryKeyVersion", k.primary_key_version.clone()));
    rows.push(("KeyVersions", join(&k.key_versions)));
    rows.push(("Aliases", join(&k.aliases)));
    fields(&rows)
}

fn show_key(out: &Out, k: &KeyInfo) {
    out.emit(k, || key_text(k));
}

pub fn run_key(store: &Store, cmd: &KeyCmd, out: &Out) -> Result<(), CliError> {
    match cmd {
        KeyCmd::Create { key_spec, description } => show_key(out, &store.create_key(key_spec.as_deref(), description)?),
        KeyCmd::List => {
            let keys = store.list_keys()?;
            out.emit(&json!({ "Keys": keys, "TotalCount": keys.len() }), || {
                lines(&keys, |k| format!("{}  {}  {}  {}", k.key_id, k.key_spec, k.key_state, join(&k.aliases)))
            });
        }
        KeyCmd::Describe { key_id } => show_key(out, &store.describe_key(key_id)?),
        KeyCmd::Disable { key_id } => show_key(out, &store.disable_key(key_id)?),
        KeyCmd::Enable { key_id } => show_key(out, &store.enable_key(key_id)?),
        KeyCmd::ScheduleDeletion { key_id, pending_window_in_days } => {
            show_key(out, &store.schedule_key_deletion(key_id, *pending_window_in_days)?)
        }
        KeyCmd::CancelDeletion { key_id } => show_key(out, &store.cancel_key_deletion(key_id)?),
        KeyCmd::Rotate { key_id } => show_key(out, &store.rotate_key(key_id)?),
    }
    Ok(())
}

pub fn run_alias(store: &Store, cmd: &AliasCmd, out: &Out) -> Result<(), CliError> {
    match cmd {
        AliasCmd::Create { alias_name, key_id } => {
            let a = store.create_alias(alias_name, key_id)?;
            out.emit(&a, || format!("{} -> {}", a.alias_name, a.key_id));
        }
        AliasCmd::Delete { alias_name } => {
            store.delete_alias(alias_name)?;
            out.emit(&json!({ "AliasName": alias_name, "Deleted": true }), || format!("deleted {alias_name}"));
        }
        AliasCmd::List { key_id } => {
            let aliases = store.list_aliases(key_id.as_deref())?;
            out.emit(&json!({ "Aliases": aliases, "TotalCount": aliases.len() }), || {
                lines(&aliases, |a| format!("{}  {}", a.alias_name, a.key_id))
            });
        }
    }
    Ok(())
}
