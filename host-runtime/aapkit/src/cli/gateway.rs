//! `aapkit init`, `serve`, `demo` and `eval`: the commands that run or question the gateway.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::output::{fields, Out};
use super::{Cli, CliError};
use crate::runtime::{EnforcerKind, ServeOptions};
use crate::server::NoObserver;
use aapkit_store::Store;

/// The data directory's instance settings (`instance.json`), written by `init`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct InstanceConfig {
    /// The KMS instance id this gateway serves (the policy scope).
    pub instance_id: String,
}

pub const INSTANCE_FILE: &str = "instance.json";

impl InstanceConfig {
    pub fn load(data_dir: &Path) -> Result<InstanceConfig, CliError> {
        let path = data_dir.join(INSTANCE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                CliError::Usage(format!(
                    "{} is not initialised (no {INSTANCE_FILE}); run `aapkit --data-dir {} init` first",
                    data_dir.display(),
                    data_dir.display()
                ))
            } else {
                CliError::file(&path, e)
            }
        })?;
        serde_json::from_str(&text).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
    }
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The instance id to serve (`kst-...`); default: a new random one.
    #[arg(long)]
    pub instance_id: Option<String>,
    /// Extra DNS names for the server certificate (localhost and the instance host are always in).
    #[arg(long = "dns")]
    pub dns: Vec<String>,
    /// Extra IP addresses for the server certificate (127.0.0.1 and ::1 are always in).
    #[arg(long = "ip")]
    pub ips: Vec<IpAddr>,
    /// Replace an existing CA and server certificate.
    #[arg(long)]
    pub force: bool,
    /// The account's region (`cn-hangzhou` when the account is new and none is given). Fixed once
    /// the account exists.
    #[arg(long)]
    pub region_id: Option<String>,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443", env = "AAPKIT_LISTEN")]
    pub listen: SocketAddr,
    /// Serve plain HTTP instead of HTTPS (only for a proxy that terminates TLS in front).
    #[arg(long)]
    pub plain_http: bool,
    /// Who decides: the proxy-wasm filter in wasmtime (default) or policy-core natively.
    #[arg(long, value_enum, default_value = "wasm", env = "AAPKIT_ENFORCER")]
    pub enforcer: EnforcerKind,
    /// The filter module (aapkit_filter.wasm); default: next to the binary or in the build tree.
    #[arg(long, env = "AAPKIT_FILTER_WASM")]
    pub filter_wasm: Option<PathBuf>,
    /// Serve /metrics (Prometheus) on a separate plain-HTTP listener; without a value 127.0.0.1:9443.
    #[arg(long, num_args = 0..=1, default_missing_value = crate::ops::DEFAULT_ADMIN_LISTEN, value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// Serve the web playground (the `web-demo` directory, built by scripts/build-wasm.sh) under
    /// /playground/ on the admin listener.
    #[arg(long, visible_alias = "admin-static-dir", requires = "admin_listen", value_name = "DIR")]
    pub playground_dir: Option<PathBuf>,
    /// Enforce the QPS quotas of a software instance spec: 1000, 2000, 4000, 10000 or 20000 (default: unlimited).
    #[arg(long, env = "AAPKIT_QPS_SPEC", value_name = "SPEC")]
    pub qps_spec: Option<u32>,
    /// Set one group's QPS (after --qps-spec): GROUP=QPS, GROUP one of Symmetric, Asymmetric,
    /// GetPublicKey, GetSecretValue, GenerateRandom, DataKeyPair. Repeatable.
    #[arg(long = "qps-limit", value_name = "GROUP=QPS")]
    pub qps_limits: Vec<String>,
    /// POST client-key expiry notices (JSON) to this http:// URL.
    #[arg(long, env = "AAPKIT_EXPIRY_WEBHOOK", value_name = "URL")]
    pub expiry_webhook: Option<String>,
    /// Seconds between client-key expiry checks (one also runs at start).
    #[arg(long, default_value_t = 3600, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub expiry_check_interval: u64,
    /// Days the audit log and management events are kept.
    #[arg(long, default_value_t = crate::ops::audit_sink::DEFAULT_RETENTION_DAYS, env = "AAPKIT_AUDIT_RETENTION_DAYS",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub audit_retention_days: u32,
    #[command(flatten)]
    pub preauth: crate::server::preauth::PreAuthArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Address of the KMS endpoint: the management OpenAPI (Kms 2016-01-20) that the official
    /// management SDK, the core SDK and Terraform drive, signed with AccessKeys; the shared gateway
    /// (GetSecretValue with a client key or RAM-role credentials); and STS.
    #[arg(long, default_value = "127.0.0.1:8444", env = "AAPKIT_OPENAPI_LISTEN", value_name = "ADDR")]
    pub openapi_listen: SocketAddr,
    /// Serve the KMS endpoint over plain HTTP (local use only: AccessKey-signed requests are not
    /// encrypted then).
    #[arg(long)]
    pub openapi_plain_http: bool,
    /// Signed requests the KMS endpoint remembers for its 15-minute replay window (about 20 bytes
    /// each): the sustained rate it admits is this / 900 per second; beyond it, `Rejected.Throttling`.
    #[arg(long, default_value_t = aapkit_openapi::DEFAULT_REPLAY_ENTRIES, value_name = "N")]
    pub openapi_replay_entries: usize,
    /// Do not serve the KMS endpoint.
    #[arg(long, conflicts_with_all = ["openapi_listen", "openapi_plain_http"])]
    pub no_openapi: bool,
}

/// Connection and request limits of `serve` (docs/operations.md, "Connection limits").
#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Seconds a client has to send a complete request header block (from connect or the last response).
    #[arg(long, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout: u64,
    /// Seconds a client has to send a request's whole body once its headers are in.
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout: u64,
    /// Seconds a keep-alive connection may stay idle between requests.
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Seconds a client has to complete the TLS handshake.
    #[arg(long, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub tls_handshake_timeout: u64,
    /// Open connections at most; further ones are accepted and closed at once.
    #[arg(long, default_value_t = 1024, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// MiB of request bodies buffered at once across all requests (at least 3: one maximal body);
    /// a request that cannot reserve its body within 1 s gets 429 Rejected.Throttling.
    #[arg(long, default_value_t = 32, value_name = "MIB", value_parser = clap::value_parser!(u64).range(3..=65536))]
    pub max_body_buffer_mib: u64,
    /// Enforcement and crypto jobs running at once (default: twice the cores, at least 4).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub workers: Option<u64>,
    /// Jobs that may wait for a worker; beyond this requests get 429 Rejected.Throttling.
    #[arg(long, default_value_t = 1024, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub work_queue: u64,
    /// Key-pair generations (GenerateDataKeyPair*) running at once (default: half the cores, at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub keygen_workers: Option<u64>,
    /// Threads that own connections, each keeping its connections from accept to close (default:
    /// the cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub io_threads: Option<u64>,
}

impl LimitArgs {
    pub fn limits(&self) -> crate::server::ServerLimits {
        use std::time::Duration;
        let defaults = crate::server::ServerLimits::default();
        let n = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        let mut pool = defaults.pool.clone();
        if let Some(w) = self.workers {
            pool.workers = n(w);
        }
        pool.queue = n(self.work_queue);
        if let Some(k) = self.keygen_workers {
            pool.heavy_workers = n(k);
        }
        crate::server::ServerLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout),
            body_timeout: Duration::from_secs(self.body_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            tls_handshake_timeout: Duration::from_secs(self.tls_handshake_timeout),
            max_connections: n(self.max_connections),
            max_buffered_body_bytes: n(self.max_body_buffer_mib).saturating_mul(1 << 20),
            pool,
            io_threads: self.io_threads.map_or(defaults.io_threads, n),
            ..defaults
        }
    }
}

impl ServeArgs {
    /// The operations settings these flags describe.
    pub fn ops_options(&self) -> Result<crate::ops::OpsOptions, CliError> {
        let mut quota = match self.qps_spec {
            Some(spec) => crate::server::quota::QuotaSpec::software(spec)
                .map_err(|e| CliError::Usage(format!("--qps-spec: {e}")))?,
            None => crate::server::quota::QuotaSpec::unlimited(),
        };
        for l in &self.qps_limits {
            quota = quota.with_override(l).map_err(|e| CliError::Usage(e.to_string()))?;
        }
        let expiry_webhook = self
            .expiry_webhook
            .as_deref()
            .map(crate::ops::WebhookConfig::parse)
            .transpose()
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let audit = crate::ops::AuditConfig { retention_days: self.audit_retention_days, ..Default::default() };
        Ok(crate::ops::OpsOptions {
            admin_listen: self.admin_listen,
            admin_static_dir: self.playground_dir.clone(),
            quota,
            expiry_webhook,
            expiry_check_interval: std::time::Duration::from_secs(self.expiry_check_interval),
            audit,
            preauth: self.preauth.config(),
        })
    }
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The policy bundle (JSON); default: the data directory's bundle.
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// The request (JSON: ClientKeyId, Api, Resource, SourceIp, Scope, Time); `-` for stdin.
    #[arg(long)]
    pub request: PathBuf,
}

/// Exit codes of `eval` (like Cedar's CLI): allow 0, deny 3; errors keep 1 and 2.
pub const EVAL_EXIT_DENY: i32 = 3;

fn random_instance_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("kst-aap{}", u.get(..16).unwrap_or(&u))
}

pub fn run_init(cli: &Cli, args: &InitArgs, out: &Out) -> Result<(), CliError> {
    let data_dir = &cli.data_dir;
    let instance_id = match (&args.instance_id, InstanceConfig::load(data_dir).ok()) {
        (Some(id), Some(existing)) if *id != existing.instance_id && !args.force => {
            return Err(CliError::Usage(format!(
                "{} already serves {}; pass --force to change it",
                data_dir.display(),
                existing.instance_id
            )))
        }
        (Some(id), _) => id.clone(),
        (None, Some(existing)) => existing.instance_id,
        (None, None) => random_instance_id(),
    };
    aapkit_store::validate::scope("InstanceId", &instance_id)?;
    if instance_id == "shared" {
        return Err(CliError::Usage("--instance-id must be a kst-... id, not `shared`".into()));
    }
    // Only init creates the data directory, the master key, the database and its account.
    let store = Store::init_at(
        data_dir,
        &super::store_location(cli)?,
        &super::environment::master_key_source()?,
        args.region_id.as_deref(),
    )?
    .with_actor(super::environment::actor());
    let account = store.account()?;
    // The first admin AccessKey, when the account has none yet (made below, after the rest).
    let admin_file = data_dir.join(super::access_key::ADMIN_ACCESS_KEY_FILE);
    let needs_admin_key = store.list_access_keys()?.is_empty();
    if needs_admin_key && admin_file.exists() {
        return Err(CliError::Usage(format!(
            "{} exists but the account has no AccessKey: move the file away (it is never overwritten) and run init again",
            admin_file.display()
        )));
    }
    let now = time::OffsetDateTime::now_utc();
    let pki_err = CliError::Pki;
    let ca = aapkit_pki::create_ca(&instance_id, now).map_err(pki_err)?;
    let (mut dns, mut ips) = aapkit_pki::ca::default_server_names(&instance_id);
    dns.extend(args.dns.iter().cloned());
    ips.extend(args.ips.iter().copied());
    let server = aapkit_pki::issue_server_cert(&ca, &dns, &ips, now).map_err(pki_err)?;
    let files = match aapkit_pki::write_init_files(data_dir, &ca, &server, args.force) {
        Ok(f) => f,
        Err(aapkit_pki::PkiError::AlreadyExists(p)) => {
            return Err(CliError::Usage(format!(
                "{} already exists: the data directory is initialised (use --force to issue a new CA)",
                p.display()
            )))
        }
        Err(e) => return Err(pki_err(e)),
    };
    let cfg = InstanceConfig { instance_id: instance_id.clone() };
    let path = data_dir.join(INSTANCE_FILE);
    let text = serde_json::to_string_pretty(&cfg).map_err(|e| CliError::Usage(e.to_string()))?;
    std::fs::write(&path, text + "\n").map_err(|e| CliError::file(&path, e))?;
    let admin = if needs_admin_key {
        Some(super::access_key::create_to_file(&store, "admin (aapkit init)", &admin_file)?)
    } else {
        None
    };
    let mut result = json!({
        "InstanceId": instance_id,
        "DataDir": data_dir,
        "CaCertificate": files.ca_cert,
        "ServerCertificate": files.server_cert,
        "AccountId": account.account_id,
        "RegionId": account.region_id,
    });
    if let (Some(k), Some(obj)) = (&admin, result.as_object_mut()) {
        obj.insert("AccessKeyId".into(), json!(k.info.access_key_id));
        obj.insert("AccessKeySecret".into(), json!(k.secret.as_str()));
        obj.insert("AccessKeyFile".into(), json!(admin_file));
    }
    out.emit(&result, || {
        let mut rows = vec![
            ("InstanceId", instance_id.clone()),
            ("DataDir", data_dir.display().to_string()),
            ("CaCertificate", files.ca_cert.display().to_string()),
            ("ServerCertificate", files.server_cert.display().to_string()),
            ("AccountId", account.account_id.clone()),
            ("RegionId", account.region_id.clone()),
        ];
        if let Some(k) = &admin {
            rows.push(("AccessKeyId", k.info.access_key_id.clone()));
            rows.push(("AccessKeySecret", k.secret.to_string()));
        }
        let mut text = fields(&rows);
        if admin.is_some() {
            text.push_str(&format!(
                "\nThe admin AccessKey secret is shown only this once; it is also in {} (mode 0600).\n",
                admin_file.display()
            ));
        }
        text
    });
    Ok(())
}

/// Where the filter module is when `--filter-wasm` is not given: beside the binary, then the
/// build tree (`<target>/wasm32-wasip1/wasm-release/`).
pub fn default_filter_wasm() -> Option<PathBuf> {
    const NAME: &str = "aapkit_filter.wasm";
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    let mut candidates = vec![dir.join(NAME)];
    // target/<profile>/aapkit -> target/wasm32-wasip1/wasm-release/
    if let Some(target) = dir.parent() {
        candidates.push(target.join("wasm32-wasip1/wasm-release").join(NAME));
    }
    candidates.into_iter().find(|p| p.is_file())
}

pub fn serve_options(cli: &Cli, args: &ServeArgs) -> Result<ServeOptions, CliError> {
    let cfg = InstanceConfig::load(&cli.data_dir)?;
    let filter_wasm = args.filter_wasm.clone().or_else(default_filter_wasm);
    if args.enforcer == EnforcerKind::Wasm && filter_wasm.is_none() {
        return Err(CliError::Usage(
            "the filter module aapkit_filter.wasm was not found: build it with scripts/build-wasm.sh, pass \
             --filter-wasm FILE (or AAPKIT_FILTER_WASM), or use --enforcer native"
                .into(),
        ));
    }
    Ok(ServeOptions {
        data_dir: cli.data_dir.clone(),
        store: super::store_location(cli)?,
        master_key: super::environment::master_key_source()?,
        wasm_perf_map: super::environment::wasm_perf_map(),
        listen: args.listen,
        plain_http: args.plain_http,
        enforcer: args.enforcer,
        filter_wasm,
        instance_id: cfg.instance_id,
        tls_cert: cli.data_dir.join("server.pem"),
        tls_key: cli.data_dir.join("server.key"),
        ops: args.ops_options()?,
        limits: args.limits.limits(),
        openapi: (!args.no_openapi).then_some(crate::runtime::OpenApiListen {
            addr: args.openapi_listen,
            plain_http: args.openapi_plain_http,
            replay_entries: args.openapi_replay_entries,
        }),
    })
}

pub fn run_serve(cli: &Cli, args: &ServeArgs) -> Result<(), CliError> {
    let opts = serve_options(cli, args)?;
    block_on_server(opts)
}

pub(crate) fn block_on_server(opts: ServeOptions) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(CliError::AsyncRuntime)?;
    Ok(runtime.block_on(crate::runtime::serve(opts, Arc::new(NoObserver)))?)
}

pub fn run_eval(cli: &Cli, args: &EvalArgs, out: &Out) -> Result<i32, CliError> {
    let bundle_json = match &args.bundle {
        Some(p) => std::fs::read_to_string(p).map_err(|e| CliError::file(p, e))?,
        None => {
            let cfg = InstanceConfig::load(&cli.data_dir)?;
            Store::open_at(&cli.data_dir, &super::store_location(cli)?, &super::environment::master_key_source()?)?
                .export_bundle_json(&cfg.instance_id)?
        }
    };
    let request_text = if args.request.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| CliError::file("-", e))?;
        s
    } else {
        std::fs::read_to_string(&args.request).map_err(|e| CliError::file(&args.request, e))?
    };
    let bundle = policy_core::compile_bundle(&bundle_json).map_err(|errs| {
        CliError::Usage(format!(
            "the bundle is invalid:\n  {}",
            errs.errors().iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n  ")
        ))
    })?;
    let request: policy_core::AccessRequestDoc =
        serde_json::from_str(&request_text).map_err(|e| CliError::Usage(format!("the request is invalid: {e}")))?;
    let report = request.evaluate(&bundle).map_err(|e| CliError::Usage(format!("the request is invalid: {e}")))?;
    out.emit(&report, || render_report(&report));
    Ok(if report.allowed { 0 } else { EVAL_EXIT_DENY })
}

fn render_report(r: &policy_core::DecisionReport) -> String {
    let mut s = String::new();
    if r.allowed {
        s.push_str(&format!(
            "ALLOW  by policy {} of AAP {}\n",
            r.policy.as_deref().unwrap_or("?"),
            r.aap.as_deref().unwrap_or("?")
        ));
    } else {
        s.push_str(&format!(
            "DENY   {} (HTTP {})\n       {}\n",
            r.error_code.as_deref().unwrap_or("?"),
            r.http_status,
            r.message.as_deref().unwrap_or("")
        ));
    }
    if !r.trace.is_empty() {
        s.push_str("\n  policy                          scope         role          resource      network\n");
        for t in &r.trace {
            s.push_str(&format!(
                "  {:<31} {:<13} {:<13} {:<13} {}\n",
                t.policy, t.scope, t.role, t.resource, t.network
            ));
        }
    }
    s
}

pub fn run_loadgen(args: &crate::loadgen::LoadgenArgs, out: &Out) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(CliError::AsyncRuntime)?;
    let report = runtime.block_on(crate::loadgen::run(args))?;
    out.emit(&report, || {
        fields(&[
            ("Workload", report.workload.clone()),
            ("Concurrency", report.concurrency.to_string()),
            ("Requests", report.requests.to_string()),
            ("Errors", report.errors.to_string()),
            ("RequestsPerSecond", format!("{:.0}", report.requests_per_second)),
            ("P50", format!("{} us", report.p50_us)),
            ("P99", format!("{} us", report.p99_us)),
        ])
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]
    use clap::Parser;

    use super::super::{Cli, Command};

    fn limits_of(args: &[&str]) -> crate::server::ServerLimits {
        let mut argv = vec!["aapkit", "serve"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(Command::Serve(a)) => a.limits.limits(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn serve_flag_defaults_are_the_server_defaults() {
        assert_eq!(limits_of(&[]), crate::server::ServerLimits::default());
    }

    #[test]
    fn serve_limit_flags_reach_the_limits() {
        let l = limits_of(&["--header-read-timeout", "2", "--max-connections", "7", "--max-body-buffer-mib", "5"]);
        assert_eq!(l.header_read_timeout, std::time::Duration::from_secs(2));
        assert_eq!(l.max_connections, 7);
        assert_eq!(l.max_buffered_body_bytes, 5 << 20);
        assert_eq!(limits_of(&["--io-threads", "3"]).io_threads, 3);
        assert!(Cli::try_parse_from(["aapkit", "serve", "--io-threads", "0"]).is_err());
        assert!(Cli::try_parse_from(["aapkit", "serve", "--max-body-buffer-mib", "2"]).is_err());
    }
}
