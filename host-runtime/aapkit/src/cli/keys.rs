//! `aapkit key ...` and `aapkit alias ...`.

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::{fields, join, lines, Out};
use super::CliError;
use aapkit_store::{format_time, parse_time, KeyInfo, Store};

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

/// `aapkit purge`.
#[derive(Args, Debug)]
pub struct PurgeArgs {
    /// Test hook: purge as of this ISO 8601 UTC time instead of the wall clock (env only).
    #[arg(long, env = "AAPKIT_NOW", hide = true)]
    now: Option<String>,
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

/// Destroys the material of keys whose deletion window has passed (what `serve` does hourly).
pub fn run_purge(store: &Store, args: &PurgeArgs, out: &Out) -> Result<(), CliError> {
    let now = match &args.now {
        Some(t) => {
            let t = parse_time("AAPKIT_NOW", t)?;
            out.warn(&format!("AAPKIT_NOW is set: purging as of {}", format_time(t)));
            t
        }
        None => time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    let r = store.purge_deleted_keys(now)?;
    out.emit(&r, || {
        let mut text = format!(
            "purged {} key(s), destroyed {} key version(s){}\n",
            r.purged_keys.len(),
            r.destroyed_key_versions,
            if r.wal_truncated { "" } else { " (the WAL was busy: run again to truncate it)" }
        );
        for k in &r.purged_keys {
            text.push_str(&format!("  {k}\n"));
        }
        text
    });
    Ok(())
}
