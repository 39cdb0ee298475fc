//! `aapkit serve`: assembles the gateway from a data directory and keeps it in step with the
//! control plane (reload within one second of a committed change, no restart, no failed request).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::server::enforcer::{Caller, Enforcer};
use crate::server::http::{ApiFailure, ApiHandler, ApiOutput, Gateway, RequestObserver};
use crate::server::native::NativeEnforcer;
use crate::server::pool::WorkClass;
use crate::server::snapshot::{build_snapshot, ReloadError, Snapshot, Snapshots};
use crate::server::Server;
use aapkit_kms::keyring::KeyRing;
use aapkit_kms::{InstanceApi, SharedKeyCache};
use aapkit_store::Store;

/// How often the server looks at the control-plane generation.
pub const RELOAD_INTERVAL: Duration = Duration::from_millis(250);

/// Which enforcer decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EnforcerKind {
    /// The proxy-wasm filter module in wasmtime (what Envoy would run).
    Wasm,
    /// policy-core called natively (for comparison).
    Native,
}

pub struct ServeOptions {
    pub data_dir: PathBuf,
    /// Where the store's database is (the data directory's SQLite file, or PostgreSQL).
    pub store: aapkit_store::StoreLocation,
    /// Where the store's master key comes from.
    pub master_key: aapkit_store::MasterKeySource,
    /// Name the filter's functions for `perf` (build feature `wasm-profiling`).
    pub wasm_perf_map: bool,
    pub listen: SocketAddr,
    pub plain_http: bool,
    pub enforcer: EnforcerKind,
    pub filter_wasm: Option<PathBuf>,
    pub instance_id: String,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// Audit, quotas, metrics, expiry notices.
    pub ops: crate::ops::OpsOptions,
    /// Timeouts, connection and body-buffer caps, the work pool.
    pub limits: crate::server::limits::ServerLimits,
    /// The KMS endpoint (management OpenAPI) listener, if served.
    pub openapi: Option<OpenApiListen>,
}

/// Where and how the KMS endpoint is served.
#[derive(Debug, Clone)]
pub struct OpenApiListen {
    pub addr: SocketAddr,
    /// Plain HTTP (local use) instead of HTTPS with the instance's server certificate.
    pub plain_http: bool,
    /// The replay window's capacity (signed requests remembered).
    pub replay_entries: usize,
}

/// The Instance API as the request path calls it: each call runs on its snapshot's key ring,
/// restricted to what the enforcer authorized.
#[derive(Default)]
pub struct InstanceApiHandler {
    /// Parsed keys, shared across snapshots (entries are keyed by key-version id).
    pub cache: SharedKeyCache,
}

fn internal_failure() -> ApiFailure {
    let code = policy_core::ErrorCode::InternalFailure;
    ApiFailure {
        status: code.http_status(),
        code: code.as_str().to_owned(),
        message: code.default_message().to_owned(),
    }
}

impl ApiHandler for InstanceApiHandler {
    fn handle(
        &self,
        api_name: &str,
        body: &[u8],
        request_id: &str,
        caller: &Caller,
        snapshot: &Snapshot,
    ) -> Result<ApiOutput, ApiFailure> {
        if caller.authorized.generation != Some(snapshot.generation) {
            // Decided under another configuration than the key ring at hand: never act on it.
            eprintln!(
                "aapkit: refusing {api_name} ({request_id}): decided under generation {:?}, key ring at {}",
                caller.authorized.generation, snapshot.generation
            );
            return Err(internal_failure());
        }
        let api = InstanceApi::authorized(&*snapshot.ring, &self.cache, caller.authorized.resource.clone());
        match api.handle_reporting(api_name, body, request_id) {
            Ok((body, key_version_id)) => Ok(ApiOutput { body, key_version_id }),
            Err(e) => {
                Err(ApiFailure { status: e.code.http_status(), code: e.code.as_str().to_string(), message: e.message })
            }
        }
    }

    fn work_class(&self, api_name: &str, caller: &Caller, snapshot: &Snapshot) -> WorkClass {
        aapkit_kms::call_cost(&*snapshot.ring, api_name, &caller.authorized.resource).into()
    }

    fn resolve_key(&self, snapshot: &Snapshot, reference: &policy_core::ResourceRef<'_>) -> Option<(String, String)> {
        let ring = &*snapshot.ring;
        let found = match reference {
            policy_core::ResourceRef::KeyId(id) => ring.resolve_key(id),
            policy_core::ResourceRef::KeyVersionId(v) => ring.key_by_version(v),
            policy_core::ResourceRef::SecretName(_) => return None,
        };
        found.ok().flatten().map(|k| (k.key_id.clone(), k.spec.as_str().to_owned()))
    }
}

/// Everything `serve` runs, assembled and loaded with the current configuration.
pub struct Assembled {
    pub gateway: Arc<Gateway>,
    pub store: Arc<Store>,
    pub enforcer: Arc<dyn Enforcer>,
    /// The configuration in force (key ring and bundle of one generation).
    pub snapshots: Arc<Snapshots>,
    pub api: Arc<InstanceApiHandler>,
    /// The generation loaded at start.
    pub generation: u64,
}

/// Why `aapkit serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("no filter module: pass --filter-wasm or set AAPKIT_FILTER_WASM")]
    NoFilterModule,
    #[error("reading the filter module {}: {source}", path.display())]
    ReadFilterModule { path: PathBuf, source: std::io::Error },
    #[error("loading the filter module {}: {source}", path.display())]
    LoadFilterModule { path: PathBuf, source: proxy_wasm_host::FilterHostError },
    #[error("opening the store: {0}")]
    Store(#[from] aapkit_store::StoreError),
    #[error("loading the configuration: {0}")]
    Configuration(ReloadError),
    #[error(transparent)]
    Ops(#[from] crate::ops::OpsError),
    #[error("TLS: {0}")]
    Tls(#[from] crate::server::tls::TlsError),
    #[error(transparent)]
    Bind(#[from] crate::server::BindError),
    #[error("the listener's address: {0}")]
    LocalAddr(std::io::Error),
    #[error("reading {}: {source}", path.display())]
    ReadFile { path: PathBuf, source: std::io::Error },
}

/// The enforcer `kind` names; the wasm one loads the filter module at `filter_wasm`
/// (`wasm_perf_map`: name its functions for `perf`, build feature `wasm-profiling`).
pub fn make_enforcer(
    kind: EnforcerKind,
    filter_wasm: Option<&std::path::Path>,
    wasm_perf_map: bool,
) -> Result<Arc<dyn Enforcer>, ServeError> {
    match kind {
        EnforcerKind::Native => Ok(Arc::new(NativeEnforcer::new())),
        EnforcerKind::Wasm => {
            let path = filter_wasm.ok_or(ServeError::NoFilterModule)?;
            let bytes =
                std::fs::read(path).map_err(|source| ServeError::ReadFilterModule { path: path.to_owned(), source })?;
            let config = proxy_wasm_host::FilterHostConfig {
                perf_map: wasm_perf_map,
                ..crate::server::filter_enforcer::host_config(true)
            };
            let enforcer = crate::server::filter_enforcer::FilterEnforcer::new(&bytes, config)
                .map_err(|source| ServeError::LoadFilterModule { path: path.to_owned(), source })?;
            Ok(Arc::new(enforcer))
        }
    }
}

pub fn assemble(
    opts: &ServeOptions,
    observer: Arc<dyn RequestObserver>,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
) -> Result<Assembled, ServeError> {
    let store = Arc::new(Store::open_at(&opts.data_dir, &opts.store, &opts.master_key)?);
    let enforcer = make_enforcer(opts.enforcer, opts.filter_wasm.as_deref(), opts.wasm_perf_map)?;
    let mut keys = policy_core::PublicKeyCache::default();
    let first =
        build_snapshot(&store, enforcer.as_ref(), &opts.instance_id, &mut keys).map_err(ServeError::Configuration)?;
    let generation = first.generation;
    let snapshots = Arc::new(Snapshots::with_key_cache(first, keys));
    let api = Arc::new(InstanceApiHandler::default());
    // Several gateways on PostgreSQL share the quota through it (`server::quota`).
    let quota = (!opts.ops.quota.is_unlimited()).then(|| {
        Arc::new(match store.engine() {
            aapkit_store::Engine::Sqlite => crate::server::quota::QuotaGate::new(opts.ops.quota),
            aapkit_store::Engine::Postgres => crate::server::quota::QuotaGate::clustered(opts.ops.quota),
        })
    });
    let limits = Arc::new(crate::server::limits::RequestLimits::new(&opts.limits));
    let preauth = opts.ops.preauth.build().map(Arc::new);
    let gateway = Arc::new(Gateway {
        enforcer: enforcer.clone(),
        api: api.clone(),
        snapshots: snapshots.clone(),
        observer,
        clock,
        quota,
        preauth,
        limits,
    });
    Ok(Assembled { gateway, store, enforcer, snapshots, api, generation })
}

/// The first retry of a failed reload comes after this; each further failure doubles it.
pub const RELOAD_RETRY_MIN: Duration = Duration::from_millis(500);
/// The longest wait between two reload attempts after failures.
pub const RELOAD_RETRY_MAX: Duration = Duration::from_secs(30);

/// Builds and publishes the snapshot of the store's current generation when it differs from the
/// one in force: what it read when it published one, `None` when the generation had not moved.
pub fn reload_once(a: &Assembled, instance_id: &str) -> Result<Option<Reloaded>, ReloadError> {
    let current = a.store.generation()?;
    if current == a.snapshots.generation() {
        return Ok(None);
    }
    let next = a.snapshots.build_next(&a.store, a.enforcer.as_ref(), instance_id)?;
    let same_ring = Arc::ptr_eq(&next.ring, &a.snapshots.load().ring);
    let reloaded = Reloaded { access: next.access_read, catalogue: next.catalogue_read };
    a.snapshots.publish(next);
    // Versions removed or replaced must not be served from the parsed-key cache.
    if !same_ring {
        a.api.cache.clear();
    }
    Ok(Some(reloaded))
}

/// What a reload that published a new snapshot read ([`reload_once`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reloaded {
    pub access: aapkit_store::AccessRead,
    pub catalogue: aapkit_store::CatalogueRead,
}

/// Polls the store and applies control-plane changes as one snapshot. A reload that fails (store
/// read, export, bundle rejected) keeps the previous snapshot in force and is retried, with
/// doubling backoff, until it succeeds; every failure is counted and logged.
pub async fn reload_loop(
    a: Arc<Assembled>,
    instance_id: String,
    metrics: Option<Arc<crate::ops::Metrics>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let wake = Arc::new(tokio::sync::Notify::new());
    spawn_change_listener(&a.store, wake.clone(), shutdown.clone());
    let mut wait = RELOAD_INTERVAL;
    let mut backoff = RELOAD_RETRY_MIN;
    if let Some(m) = &metrics {
        m.config_generation.set(a.snapshots.generation());
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
            _ = shutdown.changed() => return,
        }
        let a2 = a.clone();
        let id = instance_id.clone();
        // Unsealing keys and compiling the bundle is blocking work.
        let result = tokio::task::spawn_blocking(move || reload_once(&a2, &id)).await;
        match result {
            Ok(Ok(reloaded)) => {
                wait = RELOAD_INTERVAL;
                backoff = RELOAD_RETRY_MIN;
                if let Some(m) = &metrics {
                    m.config_generation.set(a.snapshots.generation());
                    if let Some(r) = reloaded {
                        m.config_reloaded(r.access, r.catalogue);
                    }
                }
            }
            Ok(Err(e)) => {
                if let Some(m) = &metrics {
                    m.config_reload_failures.inc();
                }
                eprintln!(
                    "aapkit: reloading the configuration failed (generation {} stays in force; retrying in {} ms): {e}",
                    a.snapshots.generation(),
                    backoff.as_millis()
                );
                wait = backoff;
                backoff = (backoff * 2).min(RELOAD_RETRY_MAX);
            }
            Err(join) => {
                if let Some(m) = &metrics {
                    m.config_reload_failures.inc();
                }
                eprintln!("aapkit: the reload task failed: {join}");
                wait = backoff;
                backoff = (backoff * 2).min(RELOAD_RETRY_MAX);
            }
        }
    }
}

/// A thread that waits for committed changes and wakes the reload loop at once: on PostgreSQL it
/// `LISTEN`s for commits of any gateway; on SQLite it hears the commits of this process's
/// management API. The generation poll stays as the fallback (the CLI in another process, a
/// notification lost while the connection was down).
fn spawn_change_listener(store: &Store, wake: Arc<tokio::sync::Notify>, shutdown: watch::Receiver<bool>) {
    let mut listener = match store.change_listener() {
        Ok(Some(l)) => l,
        Ok(None) => return,
        Err(e) => {
            eprintln!("aapkit: not listening for configuration changes (polling only): {e}");
            return;
        }
    };
    let spawned = std::thread::Builder::new().name("aapkit-listen".into()).spawn(move || {
        let mut failing = false;
        while !*shutdown.borrow() {
            match listener.wait(Duration::from_secs(1)) {
                Ok(changed) => {
                    if failing {
                        // Whatever was committed while the connection was down.
                        wake.notify_one();
                        failing = false;
                    }
                    if changed {
                        wake.notify_one();
                    }
                }
                Err(_) => {
                    failing = true;
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
    });
    if let Err(e) = spawned {
        eprintln!("aapkit: not listening for configuration changes (polling only): {e}");
    }
}

/// On PostgreSQL with a QPS quota: the thread that leases the quota's tokens from the cluster.
fn spawn_quota_leaser(a: &Assembled, shutdown: watch::Receiver<bool>) {
    let Some(gate) = a.gateway.quota.clone() else { return };
    let gateway_id = format!("gw-{}", uuid::Uuid::new_v4().simple());
    let mut leaser = match a.store.quota_leaser(&gateway_id) {
        Ok(Some(l)) => l,
        Ok(None) => return,
        Err(e) => {
            eprintln!("aapkit: the cluster QPS quota cannot start: {e}");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("aapkit-quota".into())
        .spawn(move || crate::server::quota::lease_loop(&gate, &mut leaser, || *shutdown.borrow()));
    if let Err(e) = spawned {
        eprintln!("aapkit: the cluster QPS quota cannot start: {e}");
    }
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Runs the gateway until SIGINT/SIGTERM; then drains requests in flight and commits the audit log.
pub async fn serve(opts: ServeOptions, observer: Arc<dyn RequestObserver>) -> Result<(), ServeError> {
    let clock: Arc<dyn Fn() -> i64 + Send + Sync> = Arc::new(unix_now);
    let ops_observer = crate::ops::OpsObserver::new(observer);
    let metrics = ops_observer.metrics.clone();
    let assembled = Arc::new(assemble(&opts, ops_observer.clone(), clock.clone())?);
    let (tx, rx) = watch::channel(false);
    let ops = crate::ops::OpsRuntime::start(
        &opts.ops,
        ops_observer,
        assembled.store.clone(),
        assembled.enforcer.clone(),
        &opts.instance_id,
        clock,
        rx.clone(),
    )
    .await?;
    if let Some(admin) = ops.admin_addr {
        eprintln!("aapkit: admin listener (metrics) on http://{admin}/metrics");
    }
    let tls =
        if opts.plain_http { None } else { Some(crate::server::tls::server_config(&opts.tls_cert, &opts.tls_key)?) };
    let server = Server::bind(opts.listen, tls, assembled.gateway.clone()).await?.with_limits(opts.limits.clone());
    let addr = server.local_addr().map_err(ServeError::LocalAddr)?;
    eprintln!(
        "aapkit: serving the KMS Instance API for {} on {}://{addr} (enforcer: {})",
        opts.instance_id,
        if opts.plain_http { "http" } else { "https" },
        assembled.enforcer.kind()
    );
    let openapi = match &opts.openapi {
        Some(listen) => Some(bind_openapi(&opts, listen, &assembled, rx.clone()).await?),
        None => None,
    };
    tokio::spawn(reload_loop(assembled.clone(), opts.instance_id.clone(), Some(metrics), rx.clone()));
    spawn_quota_leaser(&assembled, rx.clone());
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("aapkit: shutting down (finishing requests in flight)");
        let _ = tx.send(true);
    });
    let openapi_done = openapi.map(|server| tokio::spawn(server.run(rx.clone())));
    server.run(rx).await;
    if let Some(done) = openapi_done {
        let _ = done.await;
    }
    ops.shutdown().await;
    Ok(())
}

/// Binds the KMS endpoint: the management OpenAPI on its own listener, over its own store handle,
/// sharing the request limits and the pre-authentication limiter with the instance listener.
async fn bind_openapi(
    opts: &ServeOptions,
    listen: &OpenApiListen,
    assembled: &Assembled,
    shutdown: watch::Receiver<bool>,
) -> Result<Server<crate::server::openapi_door::OpenApiDoor>, ServeError> {
    // Its commits wake this process's reload loop at once (on SQLite too, where nothing else
    // would tell it before the next poll).
    let store = Store::open_at(&opts.data_dir, &opts.store, &opts.master_key)?.sharing_commits_of(&assembled.store);
    let ca_path = opts.data_dir.join("ca.pem");
    let ca_pem =
        std::fs::read_to_string(&ca_path).map_err(|source| ServeError::ReadFile { path: ca_path.clone(), source })?;
    let create_time = std::fs::metadata(&ca_path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| aapkit_store::format_time(i64::try_from(d.as_secs()).unwrap_or(0)))
        .unwrap_or_default();
    let instance = aapkit_openapi::InstanceInfo {
        instance_id: opts.instance_id.clone(),
        instance_endpoint: opts.listen.to_string(),
        host_id: format!("kms.{}.aliyuncs.com", store.account()?.region_id),
        ca_pem,
        create_time,
    };
    // STS (RAM-role credentials) on the same listener, over a store handle of its own; JWKS URLs
    // are fetched in the background, never on the request path.
    let jwks = Arc::new(crate::ops::jwks::JwksCache::default());
    tokio::spawn(crate::ops::jwks::refresh_loop(assembled.store.clone(), jwks.clone(), shutdown));
    let sts = aapkit_sts::Sts::new(
        Store::open_at(&opts.data_dir, &opts.store, &opts.master_key)?,
        Box::new(crate::ops::jwks::CachedJwks(jwks)),
        "sts.aliyuncs.com",
    );
    let shared_replay = store.shared_replay()?;
    let secrets = Arc::new(crate::server::openapi_door::SnapshotSecrets { gateway: assembled.gateway.clone() });
    let mut api = aapkit_openapi::OpenApi::new(store, instance)
        .with_replay_capacity(listen.replay_entries)
        .with_secret_reader(secrets);
    if let Some(shared) = shared_replay {
        // Several gateways: a request replayed to another one is refused there too.
        api = api.with_shared_replay(shared);
    }
    let door = Arc::new(crate::server::openapi_door::OpenApiDoor {
        api: Arc::new(api),
        gateway: assembled.gateway.clone(),
        sts: Some(Arc::new(sts)),
    });
    let tls =
        if listen.plain_http { None } else { Some(crate::server::tls::server_config(&opts.tls_cert, &opts.tls_key)?) };
    let server = Server::bind(listen.addr, tls, door).await?.with_limits(opts.limits.clone());
    let addr = server.local_addr().map_err(ServeError::LocalAddr)?;
    eprintln!(
        "aapkit: serving the KMS endpoint (management, shared gateway, STS) on {}://{addr}",
        if listen.plain_http { "http" } else { "https" }
    );
    Ok(server)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    match term {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
