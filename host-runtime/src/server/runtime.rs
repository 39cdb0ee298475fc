//! `aapkit serve`: assembles the gateway from a data directory and keeps it in step with the
//! control plane (reload within one second of a committed change, no restart, no failed request).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{anyhow, Context};
use tokio::sync::watch;

use super::enforcer::{Caller, Enforcer};
use super::http::{ApiFailure, ApiHandler, Gateway, RequestObserver};
use super::native::NativeEnforcer;
use super::Server;
use crate::kms::keyring::{InMemoryKeyRing, KeyRecord, KeyRing, KeyRingError, SecretVersionRecord};
use crate::kms::InstanceApi;
use crate::store::Store;

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
    pub limits: super::limits::ServerLimits,
}

/// The key ring the request path reads: a snapshot replaced as a whole on reload.
#[derive(Clone, Default)]
pub struct SharedKeyRing(Arc<RwLock<Arc<InMemoryKeyRing>>>);

impl SharedKeyRing {
    pub fn replace(&self, ring: Arc<InMemoryKeyRing>) {
        match self.0.write() {
            Ok(mut slot) => *slot = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
    }
    fn current(&self) -> Arc<InMemoryKeyRing> {
        match self.0.read() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl KeyRing for SharedKeyRing {
    fn resolve_key(&self, key_id_or_alias: &str) -> Result<Option<KeyRecord>, KeyRingError> {
        self.current().resolve_key(key_id_or_alias)
    }
    fn key_by_version(&self, version_id: &str) -> Result<Option<KeyRecord>, KeyRingError> {
        self.current().key_by_version(version_id)
    }
    fn secret_value(
        &self,
        name: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Option<SecretVersionRecord>, KeyRingError> {
        self.current().secret_value(name, version_id, stage)
    }
}

/// The Instance API as the request path calls it.
pub struct InstanceApiHandler(pub InstanceApi<SharedKeyRing>);

impl ApiHandler for InstanceApiHandler {
    fn handle(&self, api_name: &str, body: &[u8], request_id: &str, _caller: &Caller) -> Result<Vec<u8>, ApiFailure> {
        self.0.handle(api_name, body, request_id).map_err(|e| ApiFailure {
            status: e.code.http_status(),
            code: e.code.as_str().to_string(),
            message: e.message,
        })
    }

    fn resolve_key(&self, reference: &policy_core::ResourceRef<'_>) -> Option<(String, String)> {
        let ring = self.0.keyring();
        let found = match reference {
            policy_core::ResourceRef::KeyId(id) => ring.resolve_key(id),
            policy_core::ResourceRef::KeyVersionId(v) => ring.key_by_version(v),
            policy_core::ResourceRef::SecretName(_) => return None,
        };
        found.ok().flatten().map(|k| (k.key_id, k.spec.as_str().to_owned()))
    }
}

/// Everything `serve` runs, assembled and loaded with the current bundle.
pub struct Assembled {
    pub gateway: Arc<Gateway>,
    pub store: Arc<Store>,
    pub enforcer: Arc<dyn Enforcer>,
    pub ring: SharedKeyRing,
    pub api: Arc<InstanceApiHandler>,
    pub generation: u64,
}

pub fn make_enforcer(kind: EnforcerKind, filter_wasm: Option<&std::path::Path>) -> anyhow::Result<Arc<dyn Enforcer>> {
    match kind {
        EnforcerKind::Native => Ok(Arc::new(NativeEnforcer::new())),
        EnforcerKind::Wasm => {
            let path =
                filter_wasm.ok_or_else(|| anyhow!("no filter module: pass --filter-wasm or set AAPKIT_FILTER_WASM"))?;
            let bytes = std::fs::read(path).with_context(|| format!("reading the filter module {}", path.display()))?;
            let host = crate::wasm_host::FilterHost::new(&bytes, crate::wasm_host::FilterHostConfig::default())
                .map_err(|e| anyhow!("loading the filter module {}: {e}", path.display()))?;
            Ok(Arc::new(host))
        }
    }
}

pub fn assemble(
    opts: &ServeOptions,
    observer: Arc<dyn RequestObserver>,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
) -> anyhow::Result<Assembled> {
    let store = Arc::new(Store::open(&opts.data_dir).context("opening the store")?);
    let enforcer = make_enforcer(opts.enforcer, opts.filter_wasm.as_deref())?;
    let (generation, snapshot) = store.keyring_snapshot().context("loading keys")?;
    let ring = SharedKeyRing::default();
    ring.replace(snapshot);
    let bundle = store.export_bundle_json(&opts.instance_id).context("exporting the policy bundle")?;
    enforcer
        .configure(&bundle)
        .map_err(|errs| anyhow!("the policy bundle does not compile:\n  {}", errs.join("\n  ")))?;
    let api = Arc::new(InstanceApiHandler(InstanceApi::new(ring.clone())));
    let quota = (!opts.ops.quota.is_unlimited()).then(|| Arc::new(crate::ops::QuotaGate::new(opts.ops.quota)));
    let limits = Arc::new(super::limits::RequestLimits::new(&opts.limits));
    let gateway = Arc::new(Gateway { enforcer: enforcer.clone(), api: api.clone(), observer, clock, quota, limits });
    Ok(Assembled { gateway, store, enforcer, ring, api, generation })
}

/// Polls the store and applies control-plane changes. A bundle that fails to compile keeps the
/// previous one in force (and says why on stderr).
pub async fn reload_loop(a: Arc<Assembled>, instance_id: String, mut shutdown: watch::Receiver<bool>) {
    let mut seen = a.generation;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RELOAD_INTERVAL) => {}
            _ = shutdown.changed() => return,
        }
        let current = match a.store.generation() {
            Ok(g) => g,
            Err(e) => {
                eprintln!("aapkit: reading the control-plane generation failed: {e}");
                continue;
            }
        };
        if current == seen {
            continue;
        }
        match a.store.keyring_snapshot() {
            Ok((_, snapshot)) => {
                a.ring.replace(snapshot);
                a.api.0.invalidate();
            }
            Err(e) => eprintln!("aapkit: reloading keys failed (keeping the previous ones): {e}"),
        }
        match a.store.export_bundle_json(&instance_id) {
            Ok(bundle) => {
                if let Err(errs) = a.enforcer.configure(&bundle) {
                    eprintln!(
                        "aapkit: the new policy bundle was rejected (keeping the previous one):\n  {}",
                        errs.join("\n  ")
                    );
                }
            }
            Err(e) => eprintln!("aapkit: exporting the policy bundle failed (keeping the previous one): {e}"),
        }
        seen = current;
    }
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Runs the gateway until SIGINT/SIGTERM; then drains requests in flight and commits the audit log.
pub async fn serve(opts: ServeOptions, observer: Arc<dyn RequestObserver>) -> anyhow::Result<()> {
    let clock: Arc<dyn Fn() -> i64 + Send + Sync> = Arc::new(unix_now);
    let ops_observer = crate::ops::OpsObserver::new(observer);
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
    let tls = if opts.plain_http { None } else { Some(super::tls::server_config(&opts.tls_cert, &opts.tls_key)?) };
    let server = Server::bind(opts.listen, tls, assembled.gateway.clone()).await?.with_limits(opts.limits.clone());
    let addr = server.local_addr()?;
    eprintln!(
        "aapkit: serving the KMS Instance API for {} on {}://{addr} (enforcer: {})",
        opts.instance_id,
        if opts.plain_http { "http" } else { "https" },
        assembled.enforcer.kind()
    );
    tokio::spawn(reload_loop(assembled.clone(), opts.instance_id.clone(), rx.clone()));
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("aapkit: shutting down (finishing requests in flight)");
        let _ = tx.send(true);
    });
    let served = server.run(rx).await;
    ops.shutdown().await;
    served
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
