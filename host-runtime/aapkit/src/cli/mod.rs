//! The control-plane CLI of the `aapkit` binary (`main.rs` only calls [`run`]).
//!
//! Subcommands and flags follow Alibaba's management API (`CreatePolicy --Permissions ...` becomes
//! `aapkit policy create --permissions ...`). Exit codes: 0 success, 1 operation error, 2 usage.

mod access;
mod access_key;
mod audit;
mod bundle;
mod client_key;
mod demo;
mod environment;
mod gateway;
mod impact;
mod keys;
mod list;
mod output;
mod ram_role;
mod secrets;
mod store_admin;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use aapkit_store::{Store, StoreError};
use output::Out;

/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./.aapkit-data";

#[derive(Parser, Debug)]
#[command(name = "aapkit", version, about = "aapkit: the KMS Instance API gateway with application access points")]
pub struct Cli {
    /// Data directory (database and master key).
    #[arg(long, global = true, env = "AAPKIT_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Where the store's database is: `sqlite` (the data directory's `aapkit.db`, the default) or
    /// a `postgres://user@host:port/db` URL shared by several gateways (`docs/deploy.md`). The
    /// data directory still holds the master key file, the CA and the server certificate.
    #[arg(long, global = true, env = "AAPKIT_STORE", default_value = "sqlite", hide_env_values = true)]
    pub store: String,
    /// Print results as JSON (Alibaba field names).
    #[arg(long, global = true)]
    pub json: bool,
    /// With a network-rule, policy, aap or client-key change: change nothing, print what the
    /// change would allow and deny (`aapkit diff`'s report and exit status: 0, 4 or 5).
    #[arg(long, global = true)]
    pub dry_run: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Initialise a data directory: instance id, private CA, server certificate, master key.
    Init(gateway::InitArgs),
    /// Run the gateway: the KMS Instance API over HTTPS, enforced by the filter.
    Serve(gateway::ServeArgs),
    /// Set up a demo key, secret, network rule, policy, AAP and client key (once), then serve.
    Demo(demo::DemoArgs),
    /// Decide a request offline against a policy bundle (exit 0 allow, 3 deny).
    Eval(gateway::EvalArgs),
    /// What a configuration change allows and denies: two bundles, or one against the store (exit
    /// 0 no change, 4 narrowing only, 5 some widening).
    Diff(impact::DiffArgs),
    /// Load generator: pre-signed SDK-style requests against a running gateway.
    Loadgen(crate::loadgen::LoadgenArgs),
    /// Keys: create, list, describe, disable, enable, schedule-deletion, cancel-deletion, rotate.
    #[command(subcommand)]
    Key(keys::KeyCmd),
    /// Destroy the material of keys whose deletion window has passed (`serve` also runs this hourly).
    Purge(keys::PurgeArgs),
    /// Key aliases (`alias/<name>`).
    #[command(subcommand)]
    Alias(keys::AliasCmd),
    /// Secrets (values are never printed).
    #[command(subcommand)]
    Secret(secrets::SecretCmd),
    /// Network rules: the private source addresses a policy accepts.
    #[command(subcommand)]
    NetworkRule(access::NetworkRuleCmd),
    /// Permission policies.
    #[command(subcommand)]
    Policy(access::PolicyCmd),
    /// Application access points.
    #[command(subcommand)]
    Aap(access::AapCmd),
    /// Client keys of an application access point.
    #[command(subcommand)]
    ClientKey(client_key::ClientKeyCmd),
    /// AccessKeys: the credentials of the KMS OpenAPI (create, list, disable, enable, delete).
    #[command(subcommand)]
    AccessKey(access_key::AccessKeyCmd),
    /// RAM roles: bound to a RAMRole AAP, assumed with an OIDC token or a credentials-URI token.
    #[command(subcommand)]
    RamRole(ram_role::RamRoleCmd),
    /// The account the KMS OpenAPI serves: AccountId and RegionId.
    Account,
    /// The policy bundle the gateway enforces.
    #[command(subcommand)]
    Bundle(bundle::BundleCmd),
    /// The audit log of client-key calls, management events and client-key expiry notices.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// The store itself: copy a single-node deployment to PostgreSQL, check a copy.
    #[command(subcommand)]
    Store(store_admin::StoreCmd),
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad command-line usage (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The operation failed (exit 1).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The gateway could not start or failed (exit 1).
    #[error(transparent)]
    Serve(#[from] crate::runtime::ServeError),
    /// The load generator failed (exit 1).
    #[error(transparent)]
    Loadgen(#[from] crate::loadgen::LoadgenError),
    /// Certificates or client-key files (exit 1).
    #[error(transparent)]
    Pki(#[from] aapkit_pki::PkiError),
    /// The async runtime could not start (exit 1).
    #[error("starting the async runtime: {0}")]
    AsyncRuntime(std::io::Error),
    /// Reading or writing a file named on the command line (exit 1).
    #[error("{path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    /// A destructive operation that needs `--force` (exit 1).
    #[error("{0}")]
    Refused(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Store(_)
            | CliError::File { .. }
            | CliError::Serve(_)
            | CliError::Loadgen(_)
            | CliError::Pki(_)
            | CliError::AsyncRuntime(_)
            | CliError::Refused(_) => 1,
        }
    }

    /// The Alibaba-style error code shown in `--json` output.
    pub fn code(&self) -> &'static str {
        match self {
            CliError::Usage(_) => "InvalidParameter",
            CliError::Store(e) => e.code(),
            CliError::File { .. } => "InvalidParameter",
            CliError::Serve(_) | CliError::Loadgen(_) | CliError::Pki(_) | CliError::AsyncRuntime(_) => {
                "InternalFailure"
            }
            CliError::Refused(_) => "Rejected.ResourceInUse",
        }
    }

    pub(crate) fn file(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CliError::File { path: path.into(), source }
    }
}

/// Parses `args` (including the program name) and runs the command; returns the exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            // Help and version go to stdout with exit 0; real usage errors exit 2.
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let out = Out { json: cli.json, silent: false };
    match dispatch(&cli, &out) {
        Ok(code) => code,
        Err(e) => {
            out.error(&e);
            e.exit_code()
        }
    }
}

/// The store of `--data-dir`, with the master key and the actor from the environment.
fn open(cli: &Cli) -> Result<Store, CliError> {
    Ok(Store::open_at(&cli.data_dir, &store_location(cli)?, &environment::master_key_source()?)?
        .with_actor(environment::actor()))
}

/// `--store` parsed.
pub(crate) fn store_location(cli: &Cli) -> Result<aapkit_store::StoreLocation, CliError> {
    Ok(aapkit_store::StoreLocation::parse(&cli.store)?)
}

/// Runs the command; `Ok` carries the exit code of a command that succeeded (0, or `eval`'s 3 for a deny).
fn dispatch(cli: &Cli, out: &Out) -> Result<i32, CliError> {
    if cli.dry_run {
        return dry_run(cli, out);
    }
    let done = match &cli.command {
        Command::Init(a) => gateway::run_init(cli, a, out),
        Command::Serve(a) => gateway::run_serve(cli, a),
        Command::Demo(a) => demo::run(cli, a, out),
        Command::Eval(a) => return gateway::run_eval(cli, a, out),
        Command::Diff(a) => return impact::run_diff(cli, a, out),
        Command::Loadgen(a) => gateway::run_loadgen(a, out),
        Command::Key(c) => keys::run_key(&open(cli)?, c, out),
        Command::Alias(c) => keys::run_alias(&open(cli)?, c, out),
        Command::Purge(a) => keys::run_purge(&open(cli)?, a, out),
        Command::Secret(c) => secrets::run(&open(cli)?, c, out),
        Command::NetworkRule(c) => access::run_network_rule(&open(cli)?, c, out),
        Command::Policy(c) => access::run_policy(&open(cli)?, c, out),
        Command::Aap(c) => access::run_aap(&open(cli)?, c, out),
        Command::ClientKey(c) => client_key::run(&open(cli)?, c, out),
        Command::AccessKey(c) => access_key::run(&open(cli)?, c, out),
        Command::RamRole(c) => ram_role::run(&open(cli)?, c, out),
        Command::Account => access_key::run_account(&open(cli)?, out),
        Command::Bundle(c) => bundle::run(&open(cli)?, &cli.data_dir, c, out),
        Command::Audit(c) => audit::run(&open(cli)?, c, out),
        Command::Store(c) => store_admin::run(cli, c, out),
    };
    done.map(|()| 0)
}

/// `--dry-run`: the change runs on a throwaway copy of the store, silently; the diff is printed.
fn dry_run(cli: &Cli, out: &Out) -> Result<i32, CliError> {
    let quiet = Out { json: false, silent: true };
    match &cli.command {
        Command::NetworkRule(c) => impact::dry_run(cli, out, |s, _| access::run_network_rule(s, c, &quiet)),
        Command::Policy(c) => impact::dry_run(cli, out, |s, _| access::run_policy(s, c, &quiet)),
        Command::Aap(c) => impact::dry_run(cli, out, |s, _| access::run_aap(s, c, &quiet)),
        Command::ClientKey(c) => impact::dry_run(cli, out, |s, scratch| {
            // The key file goes to the scratch directory and is deleted with it.
            let mut c = c.clone();
            if let client_key::ClientKeyCmd::Create { output, .. } = &mut c {
                *output = scratch.join("clientKey.json");
            }
            client_key::run(s, &c, &quiet)
        }),
        _ => Err(CliError::Usage("--dry-run applies to network-rule, policy, aap and client-key changes".into())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
