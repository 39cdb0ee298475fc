//! `aapkit bundle export`, once or (`--watch`) every time the store changes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;
use serde_json::json;

use super::output::Out;
use super::CliError;
use aapkit_store::Store;

/// How often `--watch` reads the store's generation.
pub const WATCH_POLL: Duration = Duration::from_millis(250);

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
        /// Write to this file instead of stdout (replaced atomically: a temporary file beside it,
        /// then a rename, so a reader never sees half a bundle).
        #[arg(long, visible_alias = "out")]
        output: Option<PathBuf>,
        /// Keep running: rewrite the file every time the store's generation changes (checked every
        /// 250 ms), one line per generation written; stops on SIGINT or SIGTERM. Needs `--output`.
        /// For an Envoy or Istio sidecar whose filter reads the bundle from that file.
        #[arg(long)]
        watch: bool,
    },
}

pub fn run(store: &Store, data_dir: &Path, cmd: &BundleCmd, out: &Out) -> Result<(), CliError> {
    match cmd {
        BundleCmd::Export { scope, output, watch } => {
            if *watch && output.is_none() {
                return Err(CliError::Usage("--watch needs --output FILE (the file it keeps current)".into()));
            }
            let scope = match scope {
                Some(s) => s.clone(),
                None => super::gateway::InstanceConfig::load(data_dir)?.instance_id,
            };
            let scope = scope.as_str();
            match output {
                None => {
                    // Read the generation first: the bundle is at least this new.
                    let _ = store.generation()?;
                    println!("{}", store.export_bundle_json(scope)?);
                }
                Some(path) if *watch => watch_loop(store, scope, path, out)?,
                Some(path) => {
                    let generation = write_bundle(store, scope, path)?;
                    out.emit(&json!({ "Output": path, "Scope": scope, "Generation": generation }), || {
                        format!("wrote {} (scope {scope})", path.display())
                    });
                }
            }
        }
    }
    Ok(())
}

/// Exports the bundle of `scope` and replaces `path` with it atomically; the generation the bundle
/// reflects (read in the same transaction as the bundle).
fn write_bundle(store: &Store, scope: &str, path: &Path) -> Result<u64, CliError> {
    let (generation, bundle) = store.export_bundle_at(scope)?;
    let text = serde_json::to_string_pretty(&bundle)
        .map_err(|e| CliError::Store(aapkit_store::StoreError::Corrupt(e.to_string())))?;
    replace_file(path, format!("{text}\n").as_bytes()).map_err(|e| CliError::file(path, e))?;
    Ok(generation)
}

/// Writes `bytes` to a temporary file in `path`'s directory, syncs it and renames it over `path`:
/// readers see the old file or the new one, never a partial one.
pub fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "bundle".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    // The rename itself survives a crash once the directory is synced (best effort).
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// `--watch`: the first export must succeed (a wrong scope or store fails at once); afterwards a
/// failed read or write (the store unreachable, a full disk) is reported and retried, the file
/// keeping the last bundle written.
fn watch_loop(store: &Store, scope: &str, path: &Path, out: &Out) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CliError::AsyncRuntime)?;
    runtime.block_on(async {
        // Both listeners exist before the first export: a signal that arrives while the store is
        // read is kept for the next wait, not lost.
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt()).map_err(CliError::AsyncRuntime)?;
        let mut term = signal(SignalKind::terminate()).map_err(CliError::AsyncRuntime)?;
        let mut written = write_bundle(store, scope, path)?;
        report(out, path, scope, written);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = int.recv() => break,
                _ = term.recv() => break,
                _ = tokio::time::sleep(WATCH_POLL) => {}
            }
            let step = store.generation().map_err(CliError::from).and_then(|g| {
                if g == written {
                    Ok(None)
                } else {
                    write_bundle(store, scope, path).map(Some)
                }
            });
            match step {
                Ok(Some(g)) => {
                    written = g;
                    failing = false;
                    report(out, path, scope, g);
                }
                Ok(None) => {
                    if failing {
                        eprintln!("aapkit: bundle watch: the store answers again (generation {written})");
                        failing = false;
                    }
                }
                Err(e) => {
                    // Once per outage, not four times a second.
                    if !failing {
                        eprintln!(
                            "aapkit: bundle watch: {e}; {} keeps generation {written}, retrying",
                            path.display()
                        );
                        failing = true;
                    }
                }
            }
        }
        eprintln!("aapkit: bundle watch: stopped ({} is at generation {written})", path.display());
        Ok(())
    })
}

/// One line per generation written: JSON with `--json`, text otherwise.
fn report(out: &Out, path: &Path, scope: &str, generation: u64) {
    if out.json {
        println!("{}", json!({ "Output": path, "Scope": scope, "Generation": generation }));
    } else {
        println!("wrote {} (scope {scope}, generation {generation})", path.display());
    }
}
