//! Operations: the audit log of client-key calls, expiry notices, metrics and the admin listener.
//! `docs/operations.md` is the operator's view of all of it.
//!
//! The request path feeds [`OpsObserver`] (metrics + audit queue, never blocking); everything slow
//! (SQLite, webhooks) runs on its own thread or task. The QPS quota is the request path's own
//! admission check (`server::quota`). Inside: `metrics` and `unauthenticated` at the bottom,
//! `audit_sink`, `expiry`, `purge`, `webhook` above them, `admin` on top.

pub mod admin;
pub mod audit_sink;
pub mod expiry;
pub mod jwks;
pub mod metrics;
pub mod purge;
pub mod unauthenticated;
pub mod webhook;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::server::quota::QuotaSpec;
use crate::server::{Enforcer, RequestObserver, RequestRecord};
use aapkit_store::{AuditCall, Store};
pub use audit_sink::{AuditConfig, AuditSink, Clock};
pub use expiry::ExpiryChecker;
pub use metrics::Metrics;
pub use webhook::WebhookConfig;

/// Why operations could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("starting the audit writer: {0}")]
    Audit(#[from] aapkit_store::StoreError),
    #[error("binding the admin listener {addr}: {source}")]
    AdminBind { addr: SocketAddr, source: std::io::Error },
}

/// The default admin address when `--admin-listen` is given without one.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9443";

/// Operations settings of `aapkit serve`.
#[derive(Clone, Debug)]
pub struct OpsOptions {
    /// The admin listener (/metrics); `None` = off.
    pub admin_listen: Option<SocketAddr>,
    /// Static files served by the admin listener (the web playground).
    pub admin_static_dir: Option<PathBuf>,
    pub quota: QuotaSpec,
    pub expiry_webhook: Option<WebhookConfig>,
    /// How often the expiry checker runs (also once at start).
    pub expiry_check_interval: Duration,
    pub audit: AuditConfig,
    /// The pre-authentication limit per source address (`server::preauth`).
    pub preauth: crate::server::preauth::PreAuthConfig,
}

impl Default for OpsOptions {
    fn default() -> Self {
        OpsOptions {
            admin_listen: None,
            admin_static_dir: None,
            quota: QuotaSpec::unlimited(),
            expiry_webhook: None,
            expiry_check_interval: Duration::from_secs(3_600),
            audit: AuditConfig::default(),
            preauth: crate::server::preauth::PreAuthConfig::default(),
        }
    }
}

/// Bounds on what a request can make us store (the values come from request headers).
const MAX_ID_CHARS: usize = 256;
const MAX_RESOURCE_CHARS: usize = 600;
const MAX_DETAIL_CHARS: usize = 4_096;
/// Lines a second the server logs about refused requests (each kind), beyond which it counts.
const DENY_LOG_LINES_PER_SEC: u32 = 5;

fn bounded(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s.get(..i).unwrap_or_default().to_owned(),
        None => s.to_owned(),
    }
}

/// The audit row of a request.
pub fn audit_call(r: &RequestRecord) -> AuditCall {
    AuditCall {
        time: r.time_unix,
        request_id: r.request_id.clone(),
        access_key_id: bounded(&r.client_key_id, MAX_ID_CHARS),
        aap: r.aap.clone(),
        api: bounded(&r.api, MAX_ID_CHARS),
        resource: bounded(&r.resource, MAX_RESOURCE_CHARS),
        source_ip: r.source.ip().to_canonical().to_string(),
        allowed: r.allowed,
        http_status: r.status,
        error_code: r.error_code.clone(),
        latency_us: r.latency_us,
        policy: r.policy.clone(),
        detail: bounded(&r.detail, MAX_DETAIL_CHARS),
    }
}

/// The request observer of `serve`: metrics for every request, an audit row for every call made
/// with a client key, then whatever observer the caller chained.
pub struct OpsObserver {
    pub metrics: Arc<Metrics>,
    audit: OnceLock<Arc<AuditSink>>,
    next: Arc<dyn RequestObserver>,
    /// Requests that never authenticated (no audit row: anyone can send any key id).
    unauthenticated_log: audit_sink::RateLimitedLog,
    /// Authenticated denies with an operator's detail (the audit row has it too).
    deny_log: audit_sink::RateLimitedLog,
}

impl OpsObserver {
    pub fn new(next: Arc<dyn RequestObserver>) -> Arc<OpsObserver> {
        let metrics = Arc::new(Metrics::new());
        metrics.init_expiry_thresholds(&expiry::THRESHOLDS_DAYS);
        Arc::new(OpsObserver {
            metrics,
            audit: OnceLock::new(),
            next,
            unauthenticated_log: audit_sink::RateLimitedLog::new(DENY_LOG_LINES_PER_SEC),
            deny_log: audit_sink::RateLimitedLog::new(DENY_LOG_LINES_PER_SEC),
        })
    }

    /// Connects the audit queue (once; the store must be open before the writer can start).
    pub fn attach_audit(&self, sink: Arc<AuditSink>) {
        let _ = self.audit.set(sink);
    }
}

impl RequestObserver for OpsObserver {
    fn record(&self, r: RequestRecord) {
        self.metrics.observe(&r);
        // Only a verified signature names a client key; everything else is a stranger's request.
        if !r.client_key_id.is_empty() {
            if let Some(a) = self.audit.get() {
                a.push(audit_call(&r));
            }
            // (An allowed call's detail, such as a RAM-role session's role, is for the audit row.)
            if !r.allowed && !r.detail.is_empty() {
                self.deny_log.log(|| {
                    format!(
                        "aapkit: denied {} {} {:?}: {:?}",
                        r.request_id,
                        r.client_key_id,
                        bounded(&r.api, MAX_ID_CHARS),
                        bounded(&r.detail, MAX_DETAIL_CHARS)
                    )
                });
            }
        } else if !r.allowed {
            self.unauthenticated_log.log(|| {
                format!(
                    "aapkit: unauthenticated request {} from {} refused: {} {} (api {:?})",
                    r.request_id,
                    r.source.ip().to_canonical(),
                    r.status,
                    unauthenticated::UnauthenticatedReason::of_error_code(&r.error_code).as_str(),
                    bounded(&r.api, MAX_ID_CHARS)
                )
            });
        }
        self.next.record(r);
    }
}

/// The running operations side of a server.
pub struct OpsRuntime {
    pub observer: Arc<OpsObserver>,
    pub audit: Arc<AuditSink>,
    pub admin_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl OpsRuntime {
    /// Starts the audit writer, the admin listener and the expiry checker. They stop when
    /// `shutdown` turns true; call [`OpsRuntime::shutdown`] after the server drained to commit
    /// the last audit rows.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        opts: &OpsOptions,
        observer: Arc<OpsObserver>,
        store: Arc<Store>,
        enforcer: Arc<dyn Enforcer>,
        instance_id: &str,
        clock: Clock,
        shutdown: watch::Receiver<bool>,
    ) -> Result<OpsRuntime, OpsError> {
        let metrics = observer.metrics.clone();
        let audit = Arc::new(AuditSink::start_at(
            store.data_dir(),
            store.location(),
            opts.audit.clone(),
            metrics.clone(),
            clock.clone(),
        )?);
        observer.attach_audit(audit.clone());
        let mut tasks = Vec::new();

        let mut admin_addr = None;
        if let Some(addr) = opts.admin_listen {
            let listener = admin::bind(addr).await?;
            admin_addr = Some(listener.local_addr().map_err(|source| OpsError::AdminBind { addr, source })?);
            let admin = Arc::new(admin::Admin {
                metrics: metrics.clone(),
                enforcer,
                store: store.clone(),
                clock: clock.clone(),
                static_dir: opts.admin_static_dir.clone(),
            });
            tasks.push(tokio::spawn(admin.run(listener, shutdown.clone())));
        }

        tasks.push(tokio::spawn(purge::purge_loop(
            store.clone(),
            clock.clone(),
            purge::PURGE_INTERVAL,
            shutdown.clone(),
        )));
        let checker = Arc::new(ExpiryChecker {
            store,
            metrics,
            webhook: opts.expiry_webhook.clone(),
            instance_id: instance_id.to_owned(),
        });
        tasks.push(tokio::spawn(expiry_loop(checker, clock, opts.expiry_check_interval, shutdown)));
        Ok(OpsRuntime { observer, audit, admin_addr, tasks })
    }

    /// Stops the background tasks and commits every queued audit row.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        let audit = self.audit.clone();
        let _ = tokio::task::spawn_blocking(move || audit.shutdown()).await;
    }
}

/// How often a gateway that does not lead a cluster duty tries to take it over (the failover
/// time after a leader dies).
pub const LEADER_RETRY: Duration = Duration::from_secs(10);

/// Takes (or keeps) the cluster-wide lead of `duty`, logging changes of hands. Always true on
/// SQLite (one gateway).
pub(crate) async fn lead(
    leadership: &Arc<std::sync::Mutex<aapkit_store::Leadership>>,
    duty: &str,
    was: &mut bool,
) -> bool {
    let l = leadership.clone();
    let now = tokio::task::spawn_blocking(move || l.lock().unwrap_or_else(|p| p.into_inner()).try_lead())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(false);
    if now != *was {
        eprintln!("aapkit: this gateway {} the cluster's {duty}", if now { "now runs" } else { "no longer runs" });
        *was = now;
    }
    now
}

async fn expiry_loop(checker: Arc<ExpiryChecker>, clock: Clock, every: Duration, mut shutdown: watch::Receiver<bool>) {
    // One gateway of a cluster checks and notifies (each notice also fires once by its key in
    // the store); the others wait to take over.
    let leadership = match checker.store.leadership("expiry-notices") {
        Ok(l) => Arc::new(std::sync::Mutex::new(l)),
        Err(e) => {
            eprintln!("aapkit: client-key expiry notices are off: {e}");
            return;
        }
    };
    let mut leading = false;
    let mut last_check: Option<std::time::Instant> = None;
    loop {
        let due = last_check.is_none_or(|t| t.elapsed() >= every);
        if due && lead(&leadership, "client-key expiry notices", &mut leading).await {
            if last_check.is_none() {
                expiry_pending(&checker).await;
            }
            last_check = Some(std::time::Instant::now());
            expiry_once(&checker, clock()).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(if leading { every } else { LEADER_RETRY.min(every) }) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Deliveries a previous leader left pending (it stopped mid-retry).
async fn expiry_pending(checker: &Arc<ExpiryChecker>) {
    if checker.webhook.is_some() {
        let store = checker.store.clone();
        if let Ok(Ok(pending)) = tokio::task::spawn_blocking(move || store.pending_notices()).await {
            for n in pending {
                tokio::spawn(checker.clone().deliver(n));
            }
        }
    }
}

async fn expiry_once(checker: &Arc<ExpiryChecker>, now: i64) {
    let c = checker.clone();
    {
        match tokio::task::spawn_blocking(move || c.check(now)).await {
            Ok(Ok(fired)) => {
                if checker.webhook.is_some() {
                    for n in fired {
                        tokio::spawn(checker.clone().deliver(n));
                    }
                }
            }
            Ok(Err(e)) => eprintln!("aapkit: the client-key expiry check failed: {e}"),
            Err(e) => eprintln!("aapkit: the client-key expiry check failed: {e}"),
        }
    }
}
