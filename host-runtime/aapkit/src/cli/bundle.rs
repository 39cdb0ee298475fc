//! `aapkit bundle export`.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use super::output::Out;
use super::CliError;
use aapkit_store::Store;

#[derive(Subcommand, Debug)]
pub enum BundleCmd {
    /// Writes the policy bundle (public catalogue: no key material, secret values or private keys).
    Export {
        /// `Gateway.Scope`: the KMS instance whose Instance API requests the bundle decides
        /// (default: this data directory's instance). Shared-gateway requests on the KMS endpoint
        /// are always decided in scope `shared`, whatever this is; `shared` here would make the
        /// bundle refuse every Instance API request.
        #[arg(long)]
        scope: Option<String>,
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

pub fn run(store: &Store, data_dir: &std::path::Path, cmd: &BundleCmd, out: &Out) -> Result<(), CliError> {
    match cmd {
        BundleCmd::Export { scope, output } => {
            let scope = match scope {
                Some(s) => s.clone(),
                None => super::gateway::InstanceConfig::load(data_dir)?.instance_id,
            };
            let scope = scope.as_str();
            // Read the generation first: the bundle is at least this new.
            let generation = store.generation()?;
            let bundle = store.export_bundle_json(scope)?;
            match output {
                None => println!("{bundle}"),
                Some(path) => {
                    std::fs::write(path, format!("{bundle}\n")).map_err(|e| CliError::file(path, e))?;
                    out.emit(&json!({ "Output": path, "Scope": scope, "Generation": generation }), || {
                        format!("wrote {} (scope {scope})", path.display())
                    });
                }
            }
        }
    }
    Ok(())
}
