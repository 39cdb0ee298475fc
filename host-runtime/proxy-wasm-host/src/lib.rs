//! The wasmtime host that runs the proxy-wasm (ABI 0.2.1) filter module.
//!
//! One [`wasmtime::Engine`] with the pooling allocator, the module compiled once, and a pool of VMs
//! (a `Store` plus an instance with its root context): a request checks a VM out, runs through it,
//! and gives it back. Each request has a deadline ([`GuestLimit`]: wall-clock by epoch interruption,
//! or a fuel budget) and each VM a memory ceiling. A VM that traps (deadline passed, out of memory,
//! a panic in the filter) is dropped; that request fails closed with `InternalFailure` 500 and a
//! fresh VM replaces it on demand, so the host keeps serving.
//!
//! Configuration (the policy bundle) is versioned: [`FilterHost::configure`] validates the bundle
//! in a fresh VM, then publishes it; every pooled VM applies the new version before its next
//! request. Requests already inside a VM finish with the version they started with.
//!
//! The ABI plumbing is split by concern: [`abi`] (constants, map format), `imports` (the `env`
//! host functions), `wasi` (the WASI subset), `foreign` (`verify_signature`), `vm` (callback
//! order), `enforcer` (the server's [`crate::server::Enforcer`] over this host).

pub mod abi;
mod imports;
mod state;
mod vm;
mod wasi;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

use wasmtime::{Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module, PoolingAllocationConfig};

pub use abi::LogLevel;
use state::{HostState, RequestState};
use vm::{Vm, VmFault};

/// Headers only the filter may set; dropped from incoming requests before the filter runs.
pub use policy_core::gateway::upstream_headers::PREFIX as FILTER_HEADER_PREFIX;

/// Where the filter's log lines go.
pub type LogSink = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;
/// A clock in nanoseconds since the Unix epoch (tests fix it).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// How guest code that runs too long is stopped. Either way the call traps, the request fails
/// closed and the VM is replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestLimit {
    /// Wall-clock deadlines by epoch interruption: a ticker thread advances the engine's epoch every
    /// `tick`, and the JIT code checks it at function entries and loop heads (a load and a compare,
    /// much cheaper than counting fuel). The default.
    Deadline {
        /// Per request, all callbacks together.
        request: std::time::Duration,
        /// For starting a VM and for one `proxy_on_configure` (parsing and compiling a bundle).
        configure: std::time::Duration,
        tick: std::time::Duration,
    },
    /// Fuel (roughly, Wasm instructions): deterministic budgets, at a cost on every guest
    /// instruction. For tests and for hosts that want reproducible limits.
    Fuel { request: u64, configure: u64 },
}

impl GuestLimit {
    /// The default deadlines: a request gets 1 s (a 3 MB body hashes in wasm in tens of
    /// milliseconds; pure-Wasm RSA-2048 takes about 0.1 ms), a configuration 30 s.
    pub const DEFAULT: GuestLimit = GuestLimit::Deadline {
        request: std::time::Duration::from_secs(1),
        configure: std::time::Duration::from_secs(30),
        tick: std::time::Duration::from_millis(10),
    };

    /// Fuel budgets of the same order as [`GuestLimit::DEFAULT`]'s deadlines.
    pub const DEFAULT_FUEL: GuestLimit = GuestLimit::Fuel { request: 2_000_000_000, configure: 20_000_000_000 };

    fn uses_fuel(&self) -> bool {
        matches!(self, GuestLimit::Fuel { .. })
    }

    /// The per-request budget in this limit's unit (fuel, or epoch ticks).
    fn request_budget(&self) -> u64 {
        match *self {
            GuestLimit::Deadline { request, tick, .. } => ticks(request, tick),
            GuestLimit::Fuel { request, .. } => request,
        }
    }

    /// The configure budget in this limit's unit.
    pub(crate) fn configure_budget(&self) -> u64 {
        match *self {
            GuestLimit::Deadline { configure, tick, .. } => ticks(configure, tick),
            GuestLimit::Fuel { configure, .. } => configure,
        }
    }
}

/// Epoch ticks that cover `d`, plus one: the first tick may come at once.
fn ticks(d: std::time::Duration, tick: std::time::Duration) -> u64 {
    let tick = tick.as_nanos().max(1);
    u64::try_from(d.as_nanos().div_ceil(tick)).unwrap_or(u64::MAX).saturating_add(1)
}

/// A foreign function: serialized arguments in, serialized result out. `Err` makes the hostcall
/// answer `BAD_ARGUMENT` (the arguments are unusable), as Envoy does.
pub type ForeignFunction = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, BadArgument> + Send + Sync>;

/// The arguments of a foreign function call are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad argument to a foreign function: {0}")]
pub struct BadArgument(pub String);

/// The foreign functions an embedder offers to the guest, by name.
#[derive(Clone, Default)]
pub struct ForeignFunctions(std::collections::BTreeMap<String, ForeignFunction>);

impl ForeignFunctions {
    /// Offers `function` under `name` (replacing one of the same name).
    pub fn register(&mut self, name: impl Into<String>, function: ForeignFunction) -> &mut Self {
        self.0.insert(name.into(), function);
        self
    }

    /// Offers `function` under `name`; the builder form of [`ForeignFunctions::register`].
    pub fn with(mut self, name: impl Into<String>, function: ForeignFunction) -> Self {
        self.register(name, function);
        self
    }

    /// The function registered under `name`.
    pub fn get(&self, name: &[u8]) -> Option<&ForeignFunction> {
        std::str::from_utf8(name).ok().and_then(|n| self.0.get(n))
    }

    /// Whether no function is offered.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for ForeignFunctions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Settings of a [`FilterHost`].
#[derive(Clone)]
pub struct FilterHostConfig {
    /// The foreign functions the guest may call (`proxy_call_foreign_function`), by name. An unknown
    /// name is `NOT_FOUND`, as in Envoy.
    pub foreign_functions: ForeignFunctions,
    /// How long guest code may run.
    pub limit: GuestLimit,
    /// Linear-memory ceiling of each VM, in bytes; growing beyond fails inside the guest.
    pub memory_limit: usize,
    /// The most VMs alive at once (requests beyond wait for a free VM).
    pub max_vms: usize,
    /// Body bytes per `proxy_on_request_body` call.
    pub body_chunk_size: usize,
    /// What `proxy_get_log_level` reports.
    pub log_level: LogLevel,
    pub log_sink: Option<LogSink>,
    /// Overrides the system clock (a request's own `now_nanos` overrides both).
    pub clock: Option<Clock>,
    /// Write `/tmp/perf-<pid>.map` so `perf report` names guest functions (feature `profiling`;
    /// ignored without it).
    pub perf_map: bool,
}

impl Default for FilterHostConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        FilterHostConfig {
            foreign_functions: ForeignFunctions::default(),
            limit: GuestLimit::DEFAULT,
            memory_limit: 64 << 20,
            max_vms: (cores * 2).max(2),
            body_chunk_size: 64 * 1024,
            log_level: LogLevel::Info,
            log_sink: None,
            clock: None,
            perf_map: false,
        }
    }
}

impl fmt::Debug for FilterHostConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilterHostConfig")
            .field("foreign_functions", &self.foreign_functions)
            .field("limit", &self.limit)
            .field("memory_limit", &self.memory_limit)
            .field("max_vms", &self.max_vms)
            .field("body_chunk_size", &self.body_chunk_size)
            .field("log_level", &self.log_level)
            .field("log_sink", &self.log_sink.is_some())
            .field("clock", &self.clock.is_some())
            .field("perf_map", &self.perf_map)
            .finish()
    }
}

/// A hostcall the test hook can make misbehave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Hostcall {
    GetProperty,
    GetHeaderMapPairs,
    GetHeaderMapValue,
    GetBufferBytes,
    /// add / replace / remove header map value.
    EditHeaderMap,
    SendLocalResponse,
    CallForeignFunction,
    GetCurrentTime,
}

/// The test hook: `call` answers `status` (any value, including ones the ABI does not define).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostFault {
    pub call: Hostcall,
    pub status: u32,
}

/// One request for the filter. Header names may be in any case; the host lower-cases them.
#[derive(Clone, Copy, Debug)]
pub struct FilterRequest<'a> {
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// The downstream peer, `ip:port` or `[v6]:port` (the `source.address` property).
    pub source_address: &'a str,
    /// Fixes the filter's clock for this request (nanoseconds since the epoch).
    pub now_nanos: Option<u64>,
    /// Request trailers (HTTP/2 or chunked HTTP/1.1); usually empty.
    pub trailers: &'a [(String, String)],
}

/// What to do with the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterOutcome {
    /// Pass it on, with the filter's header changes.
    Continue {
        /// Headers the filter added or replaced, with their final values.
        added_headers: Vec<(String, String)>,
        /// The whole request header map after the filter.
        headers: Vec<(String, String)>,
        /// The body, if the filter rewrote it.
        body: Option<Vec<u8>>,
    },
    /// Answer with this response instead (a deny, or a host failure).
    LocalResponse {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        /// What the filter set with `proxy_set_property` (for our records, never for the client).
        properties: Vec<(String, String)>,
    },
}

/// Counters for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilterHostStats {
    pub requests: u64,
    /// Guest calls that trapped (including fuel exhaustion and out-of-memory aborts).
    pub traps: u64,
    pub vms_created: u64,
    /// VMs created to replace a dropped one.
    pub vm_restarts: u64,
    /// `verify_signature` calls served.
    pub foreign_calls: u64,
    /// Requests failed closed by the host (trap, no bundle, filter undecided, no VM).
    pub fail_closed: u64,
    pub vms_live: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    traps: AtomicU64,
    vms_created: AtomicU64,
    vm_restarts: AtomicU64,
    foreign_calls: AtomicU64,
    fail_closed: AtomicU64,
}

impl Shared {
    /// The status `call` is forced to answer, if the test hook says so.
    pub(crate) fn fault(&self, call: Hostcall) -> Option<i32> {
        let packed = self.fault.load(Ordering::Relaxed);
        let matches = packed != 0 && (packed >> 32) == (call as u64) + 1;
        matches.then_some(packed as u32 as i32)
    }
}

/// What every VM's host functions share.
pub(crate) struct Shared {
    config: FilterHostConfig,
    /// The per-request budget in the unit of `config.limit` (adjustable at run time).
    request_budget: AtomicU64,
    /// The test hook, packed: 0 = none, else `(call + 1) << 32 | status`.
    fault: AtomicU64,
    counters: Counters,
}

/// Why a [`FilterHost`] could not be built.
#[derive(Debug, thiserror::Error)]
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
    bundle: Arc<[u8]>,
}

/// A bundle the filter accepted ([`FilterHost::prepare`]), not necessarily in force: requests
/// run under it with [`FilterHost::run_request_with`]. Only meaningful for the host that made it.
#[derive(Clone)]
pub struct PreparedBundle {
    host: u64,
    config: Arc<Configured>,
}

impl fmt::Debug for PreparedBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedBundle").field("generation", &self.config.generation).finish_non_exhaustive()
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

/// The filter module, ready to run requests. `Send + Sync`; calls block (run them on a blocking
/// thread).
pub struct FilterHost {
    pre: InstancePre<HostState>,
    shared: Arc<Shared>,
    pool: Mutex<Pool>,
    vm_freed: Condvar,
    current: RwLock<Option<Arc<Configured>>>,
    configure_lock: Mutex<()>,
    /// The generation the next prepared bundle gets (per host; VMs compare it with their own).
    next_generation: AtomicU64,
    /// Unique in the process: a prepared bundle runs only on the host that prepared it.
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
        let thread = std::thread::Builder::new().name("aapkit-wasm-epoch".into()).spawn(move || {
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
        // One slot more than the pool: configure() validates a bundle in a fresh VM.
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

    /// Validates `bundle_json` in the filter (`proxy_on_configure`) and, if it is accepted, makes it
    /// the configuration of every VM from their next request on. On error the previous bundle stays
    /// in force and the messages are what the filter logged (each naming a JSON path).
    pub fn configure(&self, bundle_json: &str) -> Result<(), Vec<String>> {
        let prepared = self.prepare(bundle_json)?;
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(prepared.config);
        Ok(())
    }

    /// Validates `bundle_json` in a fresh VM, like [`FilterHost::configure`], but puts it in force
    /// nowhere: the caller runs requests under it with [`FilterHost::run_request_with`] (the
    /// gateway publishes it together with the key ring of the same generation).
    pub fn prepare(&self, bundle_json: &str) -> Result<PreparedBundle, Vec<String>> {
        let _serial = lock(&self.configure_lock);
        let bundle: Arc<[u8]> = Arc::from(bundle_json.as_bytes());
        let mut vm =
            Vm::new(&self.shared, &self.pre).map_err(|VmFault(e)| vec![format!("filter VM failed to start: {e}")])?;
        self.shared.counters.vms_created.fetch_add(1, Ordering::Relaxed);
        match vm.configure(Arc::clone(&bundle)) {
            Ok(Ok(())) => {}
            Ok(Err(errors)) => return Err(errors),
            Err(VmFault(e)) => {
                self.shared.counters.traps.fetch_add(1, Ordering::Relaxed);
                return Err(vec![format!("the filter trapped while reading the bundle: {e}")]);
            }
        }
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        vm.generation = generation;
        let mut pool = lock(&self.pool);
        if pool.live < self.shared.config.max_vms {
            pool.live += 1;
            pool.idle.push((std::thread::current().id(), vm));
            self.vm_freed.notify_one();
        }
        Ok(PreparedBundle { host: self.id(), config: Arc::new(Configured { generation, bundle }) })
    }

    /// Identifies this host among others in the process (a prepared bundle names its host).
    fn id(&self) -> u64 {
        self.host_id
    }

    /// Runs one request through the filter. Never fails: every host or guest failure becomes an
    /// `InternalFailure` 500 local response.
    pub fn run_request(&self, req: &FilterRequest<'_>) -> FilterOutcome {
        self.run(req, None, None, true)
    }

    /// [`FilterHost::run_request`] under a prepared bundle instead of the one in force.
    pub fn run_request_with(&self, bundle: &PreparedBundle, req: &FilterRequest<'_>) -> FilterOutcome {
        self.run(req, Some(bundle), None, true)
    }

    /// For the gateway: [`FilterHost::run_request`] with `x-request-id` set to `request_id`
    /// (replacing any the request carried), so the filter's responses carry the server's id; an
    /// allowed request's `headers` are left empty (the gateway forwards no header map, it reads
    /// `added_headers`).
    pub fn run_for_gateway(
        &self,
        bundle: Option<&PreparedBundle>,
        req: &FilterRequest<'_>,
        request_id: &str,
    ) -> FilterOutcome {
        self.run(req, bundle, Some(request_id), false)
    }

    fn run(
        &self,
        req: &FilterRequest<'_>,
        bundle: Option<&PreparedBundle>,
        id_override: Option<&str>,
        full_headers: bool,
    ) -> FilterOutcome {
        self.shared.counters.requests.fetch_add(1, Ordering::Relaxed);
        let request_id = id_override.unwrap_or_else(|| {
            req.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("x-request-id")).map_or("", |(_, v)| v.as_str())
        });
        let config = match bundle {
            // Another host's generations mean nothing here.
            Some(b) if b.host != self.id() => return self.fail_closed(request_id),
            Some(b) => Arc::clone(&b.config),
            None => match self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone() {
                Some(config) => config,
                None => return self.fail_closed(request_id),
            },
        };
        let Some(mut vm) = self.checkout() else {
            return self.fail_closed(request_id);
        };
        if vm.generation != config.generation {
            match vm.configure(Arc::clone(&config.bundle)) {
                Ok(Ok(())) => vm.generation = config.generation,
                Ok(Err(_)) => {
                    // It accepted this bundle in another VM: this VM is not in a state to trust.
                    self.discard(vm);
                    return self.fail_closed(request_id);
                }
                Err(_) => {
                    self.shared.counters.traps.fetch_add(1, Ordering::Relaxed);
                    self.discard(vm);
                    return self.fail_closed(request_id);
                }
            }
        }
        // The one copy of the headers the filter works on, into the VM's reused list: names in
        // lower case, the filter's own headers dropped, the request id replaced when fixed.
        let mut headers = vm.take_spare_headers();
        for (k, v) in req.headers {
            let own = k.get(..FILTER_HEADER_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(FILTER_HEADER_PREFIX));
            let replaced = id_override.is_some() && k.eq_ignore_ascii_case("x-request-id");
            if !own && !replaced {
                headers.push(k, v);
            }
        }
        if let Some(id) = id_override {
            headers.push("x-request-id", id);
        }
        let state = RequestState {
            headers,
            touched: Vec::new(),
            body: Vec::new(),
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
        match vm.filter(state, req.body, chunk) {
            Ok(mut filtered) => {
                let outcome = self.outcome(&mut filtered, request_id, full_headers);
                vm.recycle_headers(filtered.request.headers);
                self.checkin(vm);
                outcome
            }
            Err(_) => {
                self.shared.counters.traps.fetch_add(1, Ordering::Relaxed);
                self.discard(vm);
                self.fail_closed(request_id)
            }
        }
    }

    fn outcome(&self, filtered: &mut vm::Filtered, request_id: &str, full_headers: bool) -> FilterOutcome {
        let req = &mut filtered.request;
        if let Some(resp) = req.local_response.take() {
            return FilterOutcome::LocalResponse {
                status: u16::try_from(resp.status).unwrap_or(500),
                headers: resp.headers,
                body: resp.body,
                properties: std::mem::take(&mut req.properties),
            };
        }
        if req.closed || !filtered.proceeds {
            return self.fail_closed(request_id);
        }
        let added_headers = std::mem::take(&mut req.touched)
            .into_iter()
            .filter_map(|name| req.headers.get_last(&name).map(str::to_owned).map(|v| (name, v)))
            .collect();
        FilterOutcome::Continue {
            added_headers,
            body: req.body_modified.then(|| std::mem::take(&mut req.body)),
            headers: if full_headers { req.headers.to_vec() } else { Vec::new() },
        }
    }

    fn fail_closed(&self, request_id: &str) -> FilterOutcome {
        self.shared.counters.fail_closed.fetch_add(1, Ordering::Relaxed);
        internal_failure(request_id)
    }

    fn checkout(&self) -> Option<Vm> {
        let mut pool = lock(&self.pool);
        loop {
            let me = std::thread::current().id();
            let mine = pool.idle.iter().rposition(|(t, _)| *t == me);
            if let Some((_, vm)) = mine.map(|i| pool.idle.swap_remove(i)).or_else(|| pool.idle.pop()) {
                return Some(vm);
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
                        Some(vm)
                    }
                    Err(_) => {
                        let mut pool = lock(&self.pool);
                        pool.live -= 1;
                        pool.to_replace += usize::from(replacing);
                        if pool.waiters > 0 {
                            self.vm_freed.notify_one();
                        }
                        None
                    }
                };
            }
            pool.waiters += 1;
            pool = self.vm_freed.wait(pool).unwrap_or_else(std::sync::PoisonError::into_inner);
            pool.waiters -= 1;
        }
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

    /// Test hook: from now on `fault.call` answers `fault.status` (None: behave).
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
        }
    }

    /// Whether a bundle has been accepted.
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

/// The response for any failure on the request path: `InternalFailure` 500.
pub fn internal_failure(request_id: &str) -> FilterOutcome {
    FilterOutcome::LocalResponse {
        status: 500,
        headers: vec![("content-type".into(), "application/x-protobuf".into())],
        body: policy_core::wire::encode_error(500, "InternalFailure", "Internal Failure.", request_id),
        properties: Vec::new(),
    }
}
