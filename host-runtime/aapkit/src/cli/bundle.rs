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
        /// The scope the gateway serves: `kst-...` or `shared`.
        #[arg(long, default_value = "shared")]
        scope: String,
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

pub fn run(store: &Store, cmd: &BundleCmd, out: &Out) -> Result<(), CliError> {
    match cmd {
        BundleCmd::Export { scope, output } => {
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
