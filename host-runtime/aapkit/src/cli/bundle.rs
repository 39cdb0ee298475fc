//! `aapkit bundle export`, once or (`--watch`) every time the store changes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Subcommand, ValueEnum};
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
        /// What the file holds: the bundle itself, or an Envoy ECDS resource file (a
        /// DiscoveryResponse with one TypedExtensionConfig: the Wasm HTTP filter, its plugin
        /// configuration the bundle) that an Envoy filter with `config_discovery` from a
        /// `path_config_source` reloads on every rename (deploy/envoy/envoy.yaml, docs/deploy.md).
        #[arg(long, value_enum, default_value = "bundle")]
        format: Format,
        /// With `--format envoy-ecds`: the resource name, the `name` of the Envoy HTTP filter whose
        /// `config_discovery` reads the file.
        #[arg(long, default_value = "aapkit", value_name = "NAME")]
        envoy_filter_name: String,
        /// With `--format envoy-ecds`: where the Envoy host finds the filter module.
        #[arg(long, default_value = "/etc/envoy/aapkit_filter.wasm", value_name = "PATH")]
        envoy_wasm: String,
    },
}

/// The file format of `bundle export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The policy bundle JSON (docs/bundle-format.md).
    Bundle,
    /// An Envoy ECDS DiscoveryResponse (JSON) wrapping the bundle in the Wasm filter's configuration.
    EnvoyEcds,
}

/// What `--format` wraps the bundle in.
struct Shape<'a> {
    format: Format,
    filter_name: &'a str,
    wasm: &'a str,
}

pub fn run(store: &Store, data_dir: &Path, cmd: &BundleCmd, out: &Out) -> Result<(), CliError> {
    match cmd {
        BundleCmd::Export { scope, output, watch, format, envoy_filter_name, envoy_wasm } => {
            let shape = Shape { format: *format, filter_name: envoy_filter_name, wasm: envoy_wasm };
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
                    let (generation, bundle) = store.export_bundle_at(scope)?;
                    println!("{}", render(&bundle, generation, &shape)?);
                }
                Some(path) if *watch => watch_loop(store, scope, path, &shape, out)?,
                Some(path) => {
                    let generation = write_bundle(store, scope, path, &shape)?;
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
fn write_bundle(store: &Store, scope: &str, path: &Path, shape: &Shape<'_>) -> Result<u64, CliError> {
    let (generation, bundle) = store.export_bundle_at(scope)?;
    let text = render(&bundle, generation, shape)?;
    replace_file(path, format!("{text}\n").as_bytes()).map_err(|e| CliError::file(path, e))?;
    Ok(generation)
}

/// The file's text: the bundle, or the ECDS DiscoveryResponse around it (`version_info` the
/// generation; the bundle in `configuration` as the StringValue the filter's `proxy_on_configure`
/// reads, as in examples/envoy/envoy.yaml; fail closed).
fn render(bundle: &policy_core::Bundle, generation: u64, shape: &Shape<'_>) -> Result<String, CliError> {
    let corrupt = |e: serde_json::Error| CliError::Store(aapkit_store::StoreError::Corrupt(e.to_string()));
    let text = serde_json::to_string_pretty(bundle).map_err(corrupt)?;
    if shape.format == Format::Bundle {
        return Ok(text);
    }
    let compact = serde_json::to_string(bundle).map_err(corrupt)?;
    let ecds = json!({
        "version_info": generation.to_string(),
        "resources": [{
            "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
            "name": shape.filter_name,
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": {
                    "name": shape.filter_name,
                    "root_id": "aapkit",
                    "failure_policy": "FAIL_CLOSED",
                    "vm_config": {
                        "vm_id": "aapkit",
                        "runtime": "envoy.wasm.runtime.v8",
                        "code": { "local": { "filename": shape.wasm } }
                    },
                    "configuration": {
                        "@type": "type.googleapis.com/google.protobuf.StringValue",
                        "value": compact
                    }
                }
            }
        }]
    });
    serde_json::to_string_pretty(&ecds).map_err(corrupt)
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
    if let Err(e) = write_synced(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename itself survives a crash once the directory is synced (best effort).
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// `--watch`: the first export must succeed (a wrong scope or store fails at once); afterwards a
/// failed read or write (the store unreachable, a full disk) is reported and retried, the file
/// keeping the last bundle written.
///
/// The async runtime only waits (for a signal or the next poll): the store is read outside it,
/// since the PostgreSQL client blocks on a runtime of its own, which tokio refuses inside another.
fn watch_loop(store: &Store, scope: &str, path: &Path, shape: &Shape<'_>, out: &Out) -> Result<(), CliError> {
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CliError::AsyncRuntime)?;
    // Both listeners exist before the first export: a signal that arrives while the store is read
    // is kept for the next wait, not lost.
    let (mut int, mut term) = runtime.block_on(async {
        Ok::<_, CliError>((
            signal(SignalKind::interrupt()).map_err(CliError::AsyncRuntime)?,
            signal(SignalKind::terminate()).map_err(CliError::AsyncRuntime)?,
        ))
    })?;
    let mut written = write_bundle(store, scope, path, shape)?;
    report(out, path, scope, written);
    let mut failing = false;
    loop {
        let stop = runtime.block_on(async {
            tokio::select! {
                _ = int.recv() => true,
                _ = term.recv() => true,
                _ = tokio::time::sleep(WATCH_POLL) => false,
            }
        });
        if stop {
            break;
        }
        let step = store.generation().map_err(CliError::from).and_then(|g| {
            if g == written {
                Ok(None)
            } else {
                write_bundle(store, scope, path, shape).map(Some)
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
                    eprintln!("aapkit: bundle watch: {e}; {} keeps generation {written}, retrying", path.display());
                    failing = true;
                }
            }
        }
    }
    eprintln!("aapkit: bundle watch: stopped ({} is at generation {written})", path.display());
    Ok(())
}

/// One line per generation written: JSON with `--json`, text otherwise.
fn report(out: &Out, path: &Path, scope: &str, generation: u64) {
    if out.json {
        println!("{}", json!({ "Output": path, "Scope": scope, "Generation": generation }));
    } else {
        println!("wrote {} (scope {scope}, generation {generation})", path.display());
    }
}
