//! `aapkit diff` and `--dry-run`: what a configuration change allows and denies, before it ships
//! (`docs/impact.md`). The analysis is policy-core's (`policy_core::impact`); this module reads the
//! bundles, runs a dry-run change on a throwaway copy of the store, prints the report and turns the
//! verdict into the exit status: 0 no change, 4 narrowing only, 5 some widening.

use std::path::{Path, PathBuf};

use clap::Args;

use super::gateway::InstanceConfig;
use super::output::Out;
use super::{Cli, CliError};
use aapkit_store::Store;
use policy_core::impact::{diff_bundles, format_report};
use policy_core::CompiledBundle;

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The bundle before (`-` for stdin); with --against-store, the proposed bundle.
    pub old: PathBuf,
    /// The bundle after.
    #[arg(required_unless_present = "against_store", conflicts_with = "against_store")]
    pub new: Option<PathBuf>,
    /// Compare the running configuration (this data directory's bundle) with the one file given:
    /// what applying that bundle would change.
    #[arg(long)]
    pub against_store: bool,
}

fn read(path: &Path) -> Result<String, CliError> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| CliError::file("-", e))?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| CliError::file(path, e))
}

fn compile(what: &str, json: &str) -> Result<CompiledBundle, CliError> {
    policy_core::compile_bundle(json).map_err(|errs| {
        CliError::Usage(format!(
            "the {what} bundle is invalid:\n  {}",
            errs.errors().iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  ")
        ))
    })
}

/// The running configuration's bundle (the instance's scope).
fn store_bundle(cli: &Cli, store: &Store) -> Result<String, CliError> {
    let instance = InstanceConfig::load(&cli.data_dir)?.instance_id;
    Ok(store.export_bundle_json(&instance)?)
}

/// Prints the diff of two bundle texts; the exit status of its verdict.
fn report(old: &str, new: &str, out: &Out) -> Result<i32, CliError> {
    let (old, new) = (compile("old", old)?, compile("new", new)?);
    let report = diff_bundles(&old, &new);
    out.emit(&report, || format_report(&report));
    Ok(report.verdict.exit_code())
}

pub fn run_diff(cli: &Cli, args: &DiffArgs, out: &Out) -> Result<i32, CliError> {
    match (&args.new, args.against_store) {
        (Some(new), false) => report(&read(&args.old)?, &read(new)?, out),
        (None, true) => {
            let store = super::open(cli)?;
            report(&store_bundle(cli, &store)?, &read(&args.old)?, out)
        }
        _ => Err(CliError::Usage("give OLD and NEW, or one bundle with --against-store".into())),
    }
}

/// Runs `change` with the store's writes rolled back and prints what it would change (nothing is
/// written, and the change's own output is not printed). A change the store refuses fails as it
/// would for real. `change` gets a scratch directory for files it would write.
pub fn dry_run(
    cli: &Cli,
    out: &Out,
    change: impl FnOnce(&Store, &Path) -> Result<(), CliError>,
) -> Result<i32, CliError> {
    let mut store = super::open(cli)?;
    let instance = InstanceConfig::load(&cli.data_dir)?.instance_id;
    let before = store.export_bundle_json(&instance)?;
    let scratch = tempfile::Builder::new()
        .prefix("aapkit-dry-run-")
        .tempdir()
        .map_err(|e| CliError::file("(temporary directory)", e))?;
    let mut failure = None;
    let (_, after) = store.dry_run(&instance, |s| {
        // The CLI's error is kept aside: the store's closure speaks StoreError.
        if let Err(e) = change(s, scratch.path()) {
            failure = Some(e);
        }
        Ok(())
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let after = serde_json::to_string(&after).map_err(|e| CliError::Usage(format!("encoding the bundle: {e}")))?;
    report(&before, &after, out)
}
