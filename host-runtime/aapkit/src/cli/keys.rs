//! `aapkit key ...` and `aapkit alias ...`.

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::{fields, join, lines, Out};
use super::CliError;
use aapkit_store::{format_time, parse_time, KeyInfo, KeyInput, Store};

#[derive(Subcommand, Debug)]
pub enum KeyCmd {
    /// CreateKey.
    Create {
        /// Aliyun_AES_256 (default), RSA_2048, RSA_3072 or EC_P256.
        #[arg(long)]
        key_spec: Option<String>,
        /// ENCRYPT/DECRYPT (default; AES and RSA) or SIGN/VERIFY (RSA and EC; EC's default).
        #[arg(long)]
        key_usage: Option<String>,
        /// Only Aliyun_KMS (the material is generated here).
        #[arg(long)]
        origin: Option<String>,
        /// Only SOFTWARE.
        #[arg(long)]
        protection_level: Option<String>,
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
    #[command(visible_alias = "create-version")]
    Rotate {
        #[arg(long)]
        key_id: String,
    },
    /// ListKeyVersions: the versions of a key, oldest first.
    ListVersions {
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
    /// UpdateAlias: point an existing alias at another key.
    Update {
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
        ("KeyUsage", k.key_usage.clone()),
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
        KeyCmd::Create { key_spec, key_usage, origin, protection_level, description } => {
            let input = KeyInput {
                key_spec: key_spec.clone(),
                key_usage: key_usage.clone(),
                origin: origin.clone(),
                protection_level: protection_level.clone(),
                description: description.clone(),
                enable_automatic_rotation: false,
            };
            show_key(out, &store.create_key_with(&input)?)
        }
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
        KeyCmd::ListVersions { key_id } => {
            let versions = store.list_key_versions(key_id)?;
            out.emit(&json!({ "KeyVersions": versions, "TotalCount": versions.len() }), || {
                lines(&versions, |v| format!("{}  {}", v.key_version_id, v.creation_date))
            });
        }
    }
    Ok(())
}

pub fn run_alias(store: &Store, cmd: &AliasCmd, out: &Out) -> Result<(), CliError> {
    match cmd {
        AliasCmd::Create { alias_name, key_id } => {
            let a = store.create_alias(alias_name, key_id)?;
            out.emit(&a, || format!("{} -> {}", a.alias_name, a.key_id));
        }
        AliasCmd::Update { alias_name, key_id } => {
            let a = store.update_alias(alias_name, key_id)?;
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
        text.push_str(&format!("purged {} secret(s) whose recovery window ended\n", r.purged_secrets.len()));
        for name in &r.purged_secrets {
            text.push_str(&format!("  {name}\n"));
        }
        text.push_str(&format!("deleted {} expired STS session(s)\n", r.purged_sts_sessions));
        text
    });
    Ok(())
}
