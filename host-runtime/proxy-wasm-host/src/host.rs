//! The host: one engine, the module compiled once, a pool of VMs, versioned configuration.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

use wasmtime::{Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module, PoolingAllocationConfig};

use crate::abi::LogLevel;
use crate::config::{FilterHostConfig, GuestLimit, HostFault, Hostcall};
use crate::plugin_config::PluginConfig;
use crate::state::{HostState, RequestState, Spare};
use crate::vm::{self, Vm, VmFault};
use crate::{imports, wasi};

/// One HTTP request for the filter. Header names may be in any case; the host lower-cases them.
/// `FilterRequest { headers, body, ..Default::default() }` is a request with no trailers, no
/// source address, the host's clock, and no header overrides.
#[derive(Clone, Copy, Debug, Default)]
pub struct FilterRequest<'a> {
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// Request trailers (HTTP/2 or chunked HTTP/1.1); usually empty.
    pub trailers: &'a [(String, String)],
    /// The downstream peer, `ip:port` or `[v6]:port` (the `source.address` property).
    pub source_address: &'a str,
    /// Fixes the guest's clock for this request (nanoseconds since the epoch).
    pub now_nanos: Option<u64>,
    /// Headers the embedder sets before the filter runs, replacing any of the same name the
    /// request carried (for instance a request id the proxy assigned: `x-request-id` is also
    /// the `request.id` property).
    pub set_headers: &'a [(&'a str, &'a str)],
    /// Return the whole request header map after the filter in [`FilterOutcome::Continue`]'s
    /// `headers` (otherwise left empty; `added_headers` is always filled).
    pub full_header_map: bool,
}

/// What became of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterOutcome {
    /// The filter lets it pass, with its changes.
    Continue {
        /// Headers the filter added or replaced, with their final values, in the order first set.
        added_headers: Vec<(String, String)>,
        /// The whole request header map after the filter, if [`FilterRequest::full_header_map`].
        headers: Vec<(String, String)>,
        /// The body, if the filter rewrote it.
        body: Option<Vec<u8>>,
        /// What the filter set with `proxy_set_property` (at most 8, of at most 4 KiB each).
        properties: Vec<(String, String)>,
    },
    /// The filter answered itself (`proxy_send_local_response`).
    LocalResponse {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        /// What the filter set with `proxy_set_property`.
        properties: Vec<(String, String)>,
    },
    /// The request could not be run to a decision: the embedder must fail closed.
    Failed(FilterFailure),
}

/// Why a request has no decision ([`FilterOutcome::Failed`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterFailure {
    /// No configuration was ever accepted ([`FilterHost::configure`]).
    #[error("no plugin configuration is in force")]
    NotConfigured,
    /// The prepared configuration belongs to another host.
    #[error("the prepared configuration belongs to another host")]
    ForeignConfiguration,
    /// No VM could be started.
    #[error("no VM could be started: {0}")]
    NoVm(String),
    /// The guest trapped: deadline or fuel exhausted, out of memory, a panic, `proc_exit`. The
    /// VM was dropped; a fresh one replaces it on demand.
    #[error("the guest trapped: {0}")]
    Trap(String),
    /// A VM refused a configuration another VM had accepted; the VM was dropped.
    #[error("a VM refused the configuration in force")]
    Reconfigure,
    /// The filter reset the stream (`proxy_close_stream`).
    #[error("the filter closed the stream")]
    StreamClosed,
    /// The filter paused the request and never resumed it or answered.
    #[error("the filter neither continued nor answered")]
    Undecided,
}

/// Quick runs declined under a configuration after one of them went over its budget.
pub const QUICK_PAUSE: u32 = 1024;

/// What [`FilterHost::run_quick`] did.
#[derive(Debug)]
pub enum QuickRun {
    /// The request ran, with this outcome (as [`FilterHost::run_request_with`] would give).
    Done(FilterOutcome),
    /// Not run quickly (no idle VM holds the configuration, or the guest needed more than the
    /// quick budget): run it where blocking is allowed.
    Declined,
}

/// Why a configuration was not accepted ([`FilterHost::configure`], [`FilterHost::prepare`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigureError {
    /// `proxy_on_configure` returned false. `log` holds what the guest logged while it ran, every
    /// level (at most 1024 lines): filters usually say there why.
    #[error("the filter rejected the configuration{}", warnings(.log))]
    Rejected { log: Vec<(LogLevel, String)> },
    /// The VM could not judge it: it failed to start, trapped or ran out of time.
    #[error("the filter VM failed while configuring: {0}")]
    Fault(String),
}

impl ConfigureError {
    /// The guest's log lines at `level` or above, for a rejection (empty for a fault).
    pub fn messages(&self, level: LogLevel) -> Vec<&str> {
        match self {
            ConfigureError::Rejected { log } => {
                log.iter().filter(|(l, _)| *l >= level).map(|(_, m)| m.as_str()).collect()
            }
            ConfigureError::Fault(_) => Vec::new(),
        }
    }
}

fn warnings(log: &[(LogLevel, String)]) -> String {
    log.iter().filter(|(l, _)| *l >= LogLevel::Warn).map(|(_, m)| format!("\n  {m}")).collect()
}

/// Counters for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilterHostStats {
    pub requests: u64,
    /// Guest calls that trapped (including deadlines, fuel exhaustion and out-of-memory aborts).
    pub traps: u64,
    pub vms_created: u64,
    /// VMs created to replace a dropped one.
    pub vm_restarts: u64,
    /// Foreign function calls served.
    pub foreign_calls: u64,
    /// Requests answered with [`FilterOutcome::Failed`].
    pub fail_closed: u64,
    pub vms_live: u64,
    /// Quick runs ([`FilterHost::run_quick`]) that ran out of their budget or trapped: each paused
    /// quick runs under its configuration for [`QUICK_PAUSE`] requests.
    pub quick_overruns: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    traps: AtomicU64,
    vms_created: AtomicU64,
    vm_restarts: AtomicU64,
    pub(crate) foreign_calls: AtomicU64,
    fail_closed: AtomicU64,
    quick_overruns: AtomicU64,
}

/// What every VM's host functions share.
pub(crate) struct Shared {
    pub(crate) config: FilterHostConfig,
    /// The per-request budget in the unit of `config.limit` (adjustable at run time).
    pub(crate) request_budget: AtomicU64,
    /// The fault hook, packed: 0 = none, else `(call + 1) << 32 | status`.
    fault: AtomicU64,
    pub(crate) counters: Counters,
}

impl Shared {
    /// The status `call` is forced to answer, if the fault hook says so.
    pub(crate) fn fault(&self, call: Hostcall) -> Option<i32> {
        let packed = self.fault.load(Ordering::Relaxed);
        let matches = packed != 0 && (packed >> 32) == (call as u64) + 1;
        matches.then_some(packed as u32 as i32)
    }
}

/// Why a [`FilterHost`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilterHostError {
    #[error("wasmtime engine: {0}")]
    Engine(String),
    #[error("the filter module does not compile: {0}")]
    Compile(String),
    #[error("the filter module does not link: {0}")]
    Link(String),
    #[error("the filter module does not start: {0}")]
    Start(String),
}

struct Configured {
    generation: u64,
    plugin_config: PluginConfig,
    /// Quick runs still to decline after one under this configuration went over its budget (or
    /// trapped): a slow filter costs a VM per [`QUICK_PAUSE`] requests, not one per request, and a
    /// quick run cut short by the thread being descheduled does not end quick runs for good.
    quick_pause: AtomicU32,
}

/// A plugin configuration the filter accepted ([`FilterHost::prepare`]), not necessarily in
/// force: requests run under it with [`FilterHost::run_request_with`]. Cheap to clone. Only
/// meaningful for the host that made it.
#[derive(Clone)]
pub struct PreparedConfig {
    host: u64,
    config: Arc<Configured>,
}

impl fmt::Debug for PreparedConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedConfig").field("generation", &self.config.generation).finish_non_exhaustive()
    }
}

struct Pool {
    /// Idle VMs with the thread that last ran each: a thread takes back its own VM first, so a
    /// worker keeps one VM (warm caches, no VM bouncing between cores) — a VM per worker thread.
    idle: Vec<(std::thread::ThreadId, Vm)>,
    /// VMs alive, idle or checked out.
    live: usize,
    /// VMs dropped and not yet replaced.
    to_replace: usize,
    /// Requests waiting for a VM: wake one only when somebody waits (a condvar notify is a
    /// syscall, too dear to pay on every request).
    waiters: usize,
}

/// A proxy-wasm filter module, ready to run requests. `Send + Sync`; calls block (run them on a
/// blocking thread).
pub struct FilterHost {
    pre: InstancePre<HostState>,
    shared: Arc<Shared>,
    pool: Mutex<Pool>,
    vm_freed: Condvar,
    current: RwLock<Option<Arc<Configured>>>,
    configure_lock: Mutex<()>,
    /// The generation the next prepared configuration gets (per host; VMs compare it with their
    /// own).
    next_generation: AtomicU64,
    /// Unique in the process: a prepared configuration runs only on the host that prepared it.
    host_id: u64,
    /// The epoch ticker (deadline mode): held for its `Drop`, which stops it with the host.
    _ticker: Option<Ticker>,
}

/// The thread that advances the engine's epoch every tick.
struct Ticker {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine, tick: std::time::Duration) -> std::io::Result<Ticker> {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new().name("proxy-wasm-epoch".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::park_timeout(tick);
                engine.increment_epoch();
            }
        })?;
        Ok(Ticker { stop, thread: Some(thread) })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the pool inconsistent in a way that matters.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FilterHost {
    /// Compiles the module, links it and starts one VM to check that it runs.
    pub fn new(wasm: &[u8], config: FilterHostConfig) -> Result<FilterHost, FilterHostError> {
        let max_vms = config.max_vms.max(1);
        // One slot more than the pool: prepare() validates a configuration in a fresh VM.
        let slots = u32::try_from(max_vms + 1).unwrap_or(u32::MAX);
        let mut pooling = PoolingAllocationConfig::default();
        pooling
            .total_core_instances(slots)
            .total_memories(slots)
            .total_tables(slots)
            .max_memory_size(config.memory_limit);
        let mut engine_config = Config::new();
        engine_config
            .consume_fuel(config.limit.uses_fuel())
            .epoch_interruption(!config.limit.uses_fuel())
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        #[cfg(feature = "profiling")]
        if config.perf_map {
            engine_config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&engine_config).map_err(|e| FilterHostError::Engine(format!("{e:#}")))?;
        let module =
            compile(&engine, wasm, config.limit.uses_fuel()).map_err(|e| FilterHostError::Compile(format!("{e:#}")))?;

        let mut linker = Linker::new(&engine);
        imports::add_to_linker(&mut linker).map_err(|e| FilterHostError::Link(format!("{e:#}")))?;
        wasi::add_to_linker(&mut linker).map_err(|e| FilterHostError::Link(format!("{e:#}")))?;
        wasi::stub_unknown_imports(&mut linker, &module);
        let pre = linker.instantiate_pre(&module).map_err(|e| FilterHostError::Link(format!("{e:#}")))?;

        let ticker = match config.limit {
            GuestLimit::Deadline { tick, .. } => {
                Some(Ticker::start(engine.clone(), tick).map_err(|e| FilterHostError::Engine(e.to_string()))?)
            }
            GuestLimit::Fuel { .. } => None,
        };
        let request_budget = AtomicU64::new(config.limit.request_budget());
        let shared = Arc::new(Shared {
            config: FilterHostConfig { max_vms, ..config },
            request_budget,
            fault: AtomicU64::new(0),
            counters: Counters::default(),
        });
        let first = Vm::new(&shared, &pre).map_err(|VmFault(e)| FilterHostError::Start(e))?;
        shared.counters.vms_created.fetch_add(1, Ordering::Relaxed);
        Ok(FilterHost {
            pre,
            shared,
            pool: Mutex::new(Pool {
                idle: vec![(std::thread::current().id(), first)],
                live: 1,
                to_replace: 0,
                waiters: 0,
            }),
            vm_freed: Condvar::new(),
            current: RwLock::new(None),
            configure_lock: Mutex::new(()),
            next_generation: AtomicU64::new(1),
            host_id: {
                static NEXT_HOST: AtomicU64 = AtomicU64::new(1);
                NEXT_HOST.fetch_add(1, Ordering::Relaxed)
            },
            _ticker: ticker,
        })
    }

    /// Has the filter check `plugin_config` ([`FilterHost::prepare`]) and, if it accepts it, makes
    /// it the configuration [`FilterHost::run_request`] runs under, in every VM from its next
    /// request on (requests already inside a VM finish with the one they started with). On error
    /// the previous configuration stays in force.
    pub fn configure(&self, plugin_config: &[u8]) -> Result<(), ConfigureError> {
        let prepared = self.prepare(plugin_config)?;
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(prepared.config);
        Ok(())
    }

    /// Gives `plugin_config` to `proxy_on_configure` in a VM and, if the filter accepts it,
    /// returns a handle to run requests under with [`FilterHost::run_request_with`]; nothing is
    /// put in force (the embedder decides when, for instance together with other state of the
    /// same version).
    ///
    /// The check runs in the idle VM on the newest configuration when there is one: the filter
    /// may keep what did not change (aapkit's keeps the key catalogue of the compact form), which
    /// a fresh VM would have to load whole. That VM then stays on the new configuration; one that
    /// refuses it is discarded (its state after a refusal is not trusted) and replaced when
    /// needed. With no idle VM, a fresh one checks it and joins the pool.
    pub fn prepare(&self, plugin_config: &[u8]) -> Result<PreparedConfig, ConfigureError> {
        self.prepare_config(plugin_config.into())
    }

    /// [`FilterHost::prepare`] for a configuration in parts (see [`PluginConfig`]): nothing is
    /// copied, so configurations that share a part keep one copy of it.
    pub fn prepare_config(&self, plugin_config: PluginConfig) -> Result<PreparedConfig, ConfigureError> {
        let _serial = lock(&self.configure_lock);
        let idle = {
            let mut pool = lock(&self.pool);
            let newest = pool.idle.iter().enumerate().max_by_key(|(_, (_, vm))| vm.generation).map(|(i, _)| i);
            newest.map(|i| pool.idle.swap_remove(i))
        };
        let (thread, mut vm) = match idle {
            Some(idle) => (Some(idle.0), idle.1),
            None => {
                let vm = Vm::new(&self.shared, &self.pre)
                    .map_err(|VmFault(e)| ConfigureError::Fault(format!("the VM failed to start: {e}")))?;
                self.shared.counters.vms_created.fetch_add(1, Ordering::Relaxed);
                (None, vm)
            }
        };
        let pooled = thread.is_some();
        let refused = |vm: Vm| {
            // A pooled VM leaves the pool; a fresh one never joined it.
            if pooled {
                self.discard(vm);
            }
        };
        match vm.configure(plugin_config.clone()) {
            Ok(Ok(())) => {}
            Ok(Err(log)) => {
                refused(vm);
                return Err(ConfigureError::Rejected { log });
            }
            Err(VmFault(e)) => {
                self.shared.counters.traps.fetch_add(1, Ordering::Relaxed);
                refused(vm);
                return Err(ConfigureError::Fault(e));
            }
        }
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        vm.generation = generation;
        let mut pool = lock(&self.pool);
        let mut stale = None;
        if let Some(thread) = thread {
            // Back to the thread it served.
            pool.idle.push((thread, vm));
            if pool.waiters > 0 {
                self.vm_freed.notify_one();
            }
        } else if pool.live < self.shared.config.max_vms {
            pool.live += 1;
            pool.idle.push((std::thread::current().id(), vm));
            self.vm_freed.notify_one();
        } else if let Some(i) = pool.idle.iter().position(|(_, idle)| idle.generation < generation) {
            // The fresh VM takes the place of an idle one still on an older configuration (one VM
            // fewer to reconfigure when this one is put in force; if it never is, that VM reloads
            // the configuration in force on its next request), and the thread that VM served.
            if let Some(slot) = pool.idle.get_mut(i) {
                stale = Some(std::mem::replace(&mut slot.1, vm));
            }
        }
        drop(pool);
        drop(stale);
        Ok(PreparedConfig {
            host: self.host_id,
            config: Arc::new(Configured { generation, plugin_config, quick_pause: AtomicU32::new(0) }),
        })
    }

    /// Runs one request through the filter under the configuration in force. Never panics and
    /// never returns an error: a failure of the host or the guest is [`FilterOutcome::Failed`].
    pub fn run_request(&self, req: &FilterRequest<'_>) -> FilterOutcome {
        self.run(req, None)
    }

    /// [`FilterHost::run_request`] under a prepared configuration instead of the one in force.
    pub fn run_request_with(&self, config: &PreparedConfig, req: &FilterRequest<'_>) -> FilterOutcome {
        self.run(req, Some(config))
    }

    /// Runs one request only if that is known to be quick, for a caller that must not block (an
    /// async worker): an idle VM already holds `config` (no configuration to load, no VM to wait
    /// for or start), and the guest finishes within the quick budget (50 ms of wall clock, or a
    /// twentieth of the request's fuel; see [`GuestLimit`]). Otherwise [`QuickRun::Declined`]: nothing the caller can observe happened,
    /// and it runs the request with [`FilterHost::run_request_with`] where blocking is allowed.
    /// A guest that runs out of the quick budget (or traps) costs its VM, as any trap does, and
    /// the next [`QUICK_PAUSE`] quick runs under that configuration are declined.
    pub fn run_quick(&self, config: &PreparedConfig, req: &FilterRequest<'_>) -> QuickRun {
        let configured = &config.config;
        if config.host != self.host_id {
            return QuickRun::Declined;
        }
        // Paused after an overrun: count this request off the pause.
        if configured.quick_pause.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
            return QuickRun::Declined;
        }
        let Some(vm) = self.checkout_idle(configured.generation) else { return QuickRun::Declined };
        let budget = self.shared.config.limit.quick_budget().min(self.request_budget());
        match self.filter_on(vm, req, budget) {
            Ok(outcome) => {
                self.shared.counters.requests.fetch_add(1, Ordering::Relaxed);
                QuickRun::Done(outcome)
            }
            Err(_) => {
                // Counted as the trap it was; the request is not failed, it runs again.
                configured.quick_pause.store(QUICK_PAUSE, Ordering::Relaxed);
                self.shared.counters.quick_overruns.fetch_add(1, Ordering::Relaxed);
                QuickRun::Declined
            }
        }
    }

    fn run(&self, req: &FilterRequest<'_>, prepared: Option<&PreparedConfig>) -> FilterOutcome {
        self.shared.counters.requests.fetch_add(1, Ordering::Relaxed);
        let config = match prepared {
            // Another host's generations mean nothing here.
            Some(p) if p.host != self.host_id => return self.failed(FilterFailure::ForeignConfiguration),
            Some(p) => Arc::clone(&p.config),
            None => match self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone() {
                Some(config) => config,
                None => return self.failed(FilterFailure::NotConfigured),
            },
        };
        let mut vm = match self.checkout() {
            Ok(vm) => vm,
            Err(e) => return self.failed(FilterFailure::NoVm(e)),
        };
        if vm.generation != config.generation {
            match vm.configure(config.plugin_config.clone()) {
                Ok(Ok(())) => vm.generation = config.generation,
                Ok(Err(_)) => {
                    // It accepted this configuration in another VM: this VM is not in a state
                    // to trust.
                    self.discard(vm);
                    return self.failed(FilterFailure::Reconfigure);
                }
                Err(VmFault(e)) => {
                    self.shared.counters.traps.fetch_add(1, Ordering::Relaxed);
                    self.discard(vm);
                    return self.failed(FilterFailure::Trap(e));
                }
            }
        }
        match self.filter_on(vm, req, self.request_budget()) {
            Ok(outcome) => outcome,
            Err(trap) => self.failed(FilterFailure::Trap(trap)),
        }
    }

    fn request_budget(&self) -> u64 {
        self.shared.request_budget.load(Ordering::Relaxed)
    }

    /// Runs `req` on `vm` (configured) within `budget`, and gives the VM back, or drops it if the
    /// guest trapped (counted; the trap's text is the error).
    fn filter_on(&self, mut vm: Vm, req: &FilterRequest<'_>, budget: u64) -> Result<FilterOutcome, String> {
        // The one copy of the headers the filter works on, into the VM's reused list: names in
        // lower case, reserved prefixes dropped, the embedder's own headers replacing the client's.
        let Spare { mut headers, touched, body } = vm.take_spare();
        let prefixes = &self.shared.config.strip_header_prefixes;
        for (k, v) in req.headers {
            let reserved = prefixes.iter().any(|p| k.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p)));
            let replaced = req.set_headers.iter().any(|(name, _)| k.eq_ignore_ascii_case(name));
            if !reserved && !replaced {
                headers.push(k, v);
            }
        }
        for (k, v) in req.set_headers {
            headers.push(k, v);
        }
        let state = RequestState {
            headers,
            touched,
            body,
            body_modified: false,
            trailers: req.trailers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect(),
            source_address: req.source_address.to_string(),
            now_nanos: req.now_nanos,
            local_response: None,
            properties: Vec::new(),
            continued: false,
            closed: false,
        };
        let chunk = self.shared.config.body_chunk_size;
        match vm.filter(state, req.body, chunk, budget) {
            Ok(mut filtered) => {
                let outcome = self.outcome(&mut filtered, req.full_header_map);
                vm.recycle(filtered.request);
                self.checkin(vm);
                Ok(outcome)
            }
            Err(VmFault(e)) => {
                self.shared.counters.traps.fetch_add(1, Ordering::Relaxed);
                self.discard(vm);
                Err(e)
            }
        }
    }

    fn outcome(&self, filtered: &mut vm::Filtered, full_header_map: bool) -> FilterOutcome {
        let req = &mut filtered.request;
        let properties = std::mem::take(&mut req.properties);
        if let Some(resp) = req.local_response.take() {
            return FilterOutcome::LocalResponse {
                status: u16::try_from(resp.status).unwrap_or(500),
                headers: resp.headers,
                body: resp.body,
                properties,
            };
        }
        if req.closed {
            return self.failed(FilterFailure::StreamClosed);
        }
        if !filtered.proceeds {
            return self.failed(FilterFailure::Undecided);
        }
        let added_headers = req
            .touched
            .iter()
            .filter_map(|(name, _)| req.headers.get_last(name).map(|v| (name.to_owned(), v.to_owned())))
            .collect();
        FilterOutcome::Continue {
            added_headers,
            body: req.body_modified.then(|| std::mem::take(&mut req.body)),
            headers: if full_header_map { req.headers.to_vec() } else { Vec::new() },
            properties,
        }
    }

    fn failed(&self, why: FilterFailure) -> FilterOutcome {
        self.shared.counters.fail_closed.fetch_add(1, Ordering::Relaxed);
        FilterOutcome::Failed(why)
    }

    fn checkout(&self) -> Result<Vm, String> {
        let mut pool = lock(&self.pool);
        loop {
            let me = std::thread::current().id();
            let mine = pool.idle.iter().rposition(|(t, _)| *t == me);
            if let Some((_, vm)) = mine.map(|i| pool.idle.swap_remove(i)).or_else(|| pool.idle.pop()) {
                return Ok(vm);
            }
            if pool.live < self.shared.config.max_vms {
                pool.live += 1;
                let replacing = pool.to_replace > 0;
                pool.to_replace = pool.to_replace.saturating_sub(1);
                drop(pool);
                return match Vm::new(&self.shared, &self.pre) {
                    Ok(vm) => {
                        self.shared.counters.vms_created.fetch_add(1, Ordering::Relaxed);
                        if replacing {
                            self.shared.counters.vm_restarts.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(vm)
                    }
                    Err(VmFault(e)) => {
                        let mut pool = lock(&self.pool);
                        pool.live -= 1;
                        pool.to_replace += usize::from(replacing);
                        if pool.waiters > 0 {
                            self.vm_freed.notify_one();
                        }
                        Err(e)
                    }
                };
            }
            pool.waiters += 1;
            pool = self.vm_freed.wait(pool).unwrap_or_else(std::sync::PoisonError::into_inner);
            pool.waiters -= 1;
        }
    }

    /// An idle VM that holds configuration `generation` (this thread's own first), without
    /// waiting or starting one.
    fn checkout_idle(&self, generation: u64) -> Option<Vm> {
        let mut pool = lock(&self.pool);
        let me = std::thread::current().id();
        let ready = |(_, vm): &(std::thread::ThreadId, Vm)| vm.generation == generation;
        let at = pool.idle.iter().rposition(|idle| idle.0 == me && ready(idle));
        let at = at.or_else(|| pool.idle.iter().rposition(ready))?;
        Some(pool.idle.swap_remove(at).1)
    }

    fn checkin(&self, vm: Vm) {
        let mut pool = lock(&self.pool);
        pool.idle.push((std::thread::current().id(), vm));
        if pool.waiters > 0 {
            self.vm_freed.notify_one();
        }
    }

    fn discard(&self, vm: Vm) {
        drop(vm);
        let mut pool = lock(&self.pool);
        pool.live -= 1;
        pool.to_replace += 1;
        if pool.waiters > 0 {
            self.vm_freed.notify_one();
        }
    }

    /// Changes the per-request budget for the requests that start from now on, in the unit of the
    /// host's [`GuestLimit`]: fuel, or epoch ticks.
    pub fn set_request_budget(&self, budget: u64) {
        self.shared.request_budget.store(budget, Ordering::Relaxed);
    }

    /// The fault hook, for testing a filter against a misbehaving host: from now on `fault.call`
    /// answers `fault.status` (None: behave).
    pub fn inject_fault(&self, fault: Option<HostFault>) {
        let packed = fault.map_or(0, |f| ((f.call as u64) + 1) << 32 | u64::from(f.status));
        self.shared.fault.store(packed, Ordering::Relaxed);
    }

    pub fn stats(&self) -> FilterHostStats {
        let c = &self.shared.counters;
        FilterHostStats {
            requests: c.requests.load(Ordering::Relaxed),
            traps: c.traps.load(Ordering::Relaxed),
            vms_created: c.vms_created.load(Ordering::Relaxed),
            vm_restarts: c.vm_restarts.load(Ordering::Relaxed),
            foreign_calls: c.foreign_calls.load(Ordering::Relaxed),
            fail_closed: c.fail_closed.load(Ordering::Relaxed),
            vms_live: lock(&self.pool).live as u64,
            quick_overruns: c.quick_overruns.load(Ordering::Relaxed),
        }
    }

    /// The linear memory size of each idle VM, in bytes: the high-water mark of what its guest has
    /// used (configuration, requests), against [`FilterHostConfig::memory_limit`].
    pub fn idle_vm_memory(&self) -> Vec<usize> {
        lock(&self.pool).idle.iter().map(|(_, vm)| vm.memory_bytes()).collect()
    }

    /// Whether a configuration has been put in force with [`FilterHost::configure`].
    pub fn is_configured(&self) -> bool {
        self.current.read().map(|c| c.is_some()).unwrap_or(false)
    }
}

/// Compiles the module, reusing this process's earlier compilation of the same bytes: hosts built
/// with other pool sizes or memory limits share the machine code (Cranelift is the slow part).
fn compile(engine: &Engine, wasm: &[u8], fuel: bool) -> wasmtime::Result<Module> {
    // Keyed by the module and the instrumentation (fuel or epoch), which changes the machine code.
    type Artifacts = Vec<(([u8; 32], bool), Vec<u8>)>;
    static ARTIFACTS: Mutex<Artifacts> = Mutex::new(Vec::new());
    let mut sha = [0u8; 32];
    sha.copy_from_slice(&<sha2::Sha256 as sha2::Digest>::digest(wasm));
    let digest = (sha, fuel);
    let cached = lock(&ARTIFACTS).iter().find(|(d, _)| *d == digest).map(|(_, a)| a.clone());
    if let Some(artifact) = cached {
        // SAFETY: the bytes are `Module::serialize` output made by this very process (same
        // wasmtime build), never read from outside; an engine whose settings do not match
        // gets an `Err`, and then we compile.
        if let Ok(module) = unsafe { Module::deserialize(engine, &artifact) } {
            return Ok(module);
        }
    }
    let module = Module::new(engine, wasm)?;
    if let Ok(artifact) = module.serialize() {
        let mut artifacts = lock(&ARTIFACTS);
        if !artifacts.iter().any(|(d, _)| *d == digest) {
            artifacts.push((digest, artifact));
        }
    }
    Ok(module)
}
