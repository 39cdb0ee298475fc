//! `aapkit store`: moving a deployment between store engines.
//!
//! `migrate` copies a single-node deployment (the SQLite database of a data directory) into a new,
//! empty PostgreSQL database, then proves the copy by row counts and a SHA-256 per table; `verify`
//! prints the same digests of any store, to compare two by hand.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use super::output::{self, Out};
use super::{environment, Cli, CliError};
use aapkit_store::{Store, StoreLocation};

#[derive(Subcommand, Debug)]
pub enum StoreCmd {
    /// Copy a store into a new PostgreSQL database and verify the copy (counts and checksums).
    /// Both use the master key of `--data-dir` (or AAPKIT_MASTER_KEY); sealed data is copied
    /// sealed. The source may keep serving: it is read as one snapshot.
    Migrate {
        /// The source: `sqlite:<data-dir>` (or a data directory); default `--data-dir`.
        #[arg(long)]
        from: Option<String>,
        /// The target: a `postgres://` URL of an empty database (its schema is created).
        #[arg(long)]
        to: String,
    },
    /// Print row counts and checksums of every table of the `--store` (compare two stores).
    Verify,
}

/// The data directory a `--from` names.
fn source_dir(cli: &Cli, from: Option<&str>) -> Result<PathBuf, CliError> {
    match from {
        None => Ok(cli.data_dir.clone()),
        Some(f) if f.starts_with("postgres://") || f.starts_with("postgresql://") => {
            Err(CliError::Usage("--from: migrate copies from SQLite (`sqlite:<data-dir>`)".into()))
        }
        Some(f) => Ok(PathBuf::from(f.strip_prefix("sqlite:").unwrap_or(f))),
    }
}

pub fn run(cli: &Cli, cmd: &StoreCmd, out: &Out) -> Result<(), CliError> {
    let key = environment::master_key_source()?;
    match cmd {
        StoreCmd::Migrate { from, to } => {
            let dir = source_dir(cli, from.as_deref())?;
            let target_location = StoreLocation::parse(to)?;
            if target_location == StoreLocation::Sqlite {
                return Err(CliError::Usage("--to must be a postgres:// URL".into()));
            }
            let source = Store::open(&dir, &key)?;
            // The target's schema and (throwaway) account are created as by `init`; the copy
            // then replaces the account with the source's.
            let target = Store::init_at(&dir, &target_location, &key, None)?;
            let report = source.copy_into(&target)?;
            out.emit(
                &json!({
                    "From": StoreLocation::Sqlite.describe(&dir),
                    "To": target_location.describe(&dir),
                    "AccountId": report.account_id,
                    "Generation": report.generation,
                    "Tables": report.tables,
                    "Verified": true,
                }),
                || {
                    let total: u64 = report.tables.iter().map(|t| t.rows).sum();
                    format!(
                        "copied {total} rows of {} tables from {} to {} and verified them (counts and SHA-256 per table)\n{}",
                        report.tables.len(),
                        StoreLocation::Sqlite.describe(&dir),
                        target_location.describe(&dir),
                        output::lines(&report.tables, |t| format!("  {:<22} {:>8}  {}", t.table, t.rows, t.sha256))
                    )
                },
            );
            Ok(())
        }
        StoreCmd::Verify => {
            let location = super::store_location(cli)?;
            let store = Store::open_at(&cli.data_dir, &location, &key)?;
            let tables = store.table_digests()?;
            out.emit(&json!({ "Store": location.describe(&cli.data_dir), "Tables": tables }), || {
                output::lines(&tables, |t| format!("{:<22} {:>8}  {}", t.table, t.rows, t.sha256))
            });
            Ok(())
        }
    }
}
