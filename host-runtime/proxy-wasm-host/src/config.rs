//! What the embedder decides: limits, pool size, the foreign functions it offers, and the log
//! sink, clock and randomness the guest sees.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::abi::LogLevel;

/// Where the guest's log lines go (`proxy_log`, and stdout/stderr through WASI).
pub type LogSink = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;
/// A clock in nanoseconds since the Unix epoch (tests fix it).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;
/// Fills the buffer with random bytes for WASI `random_get`; `false` when it cannot (the guest
/// gets `ENOSYS`).
pub type RandomSource = Arc<dyn Fn(&mut [u8]) -> bool + Send + Sync>;

/// How guest code that runs too long is stopped. Either way the call traps, the request fails
/// ([`crate::FilterOutcome::Failed`]) and the VM is replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestLimit {
    /// Wall-clock deadlines by epoch interruption: a ticker thread advances the engine's epoch every
    /// `tick`, and the JIT code checks it at function entries and loop heads (a load and a compare,
    /// much cheaper than counting fuel). The default.
    Deadline {
        /// Per request, all callbacks together.
        request: Duration,
        /// For starting a VM and for one `proxy_on_configure`.
        configure: Duration,
        tick: Duration,
    },
    /// Fuel (roughly, Wasm instructions): deterministic budgets, at a cost on every guest
    /// instruction. For tests and for hosts that want reproducible limits.
    Fuel { request: u64, configure: u64 },
}

impl GuestLimit {
    /// The default deadlines: 1 s per request, 30 s per configuration.
    pub const DEFAULT: GuestLimit = GuestLimit::Deadline {
        request: Duration::from_secs(1),
        configure: Duration::from_secs(30),
        tick: Duration::from_millis(10),
    };

    /// Fuel budgets of the same order as [`GuestLimit::DEFAULT`]'s deadlines.
    pub const DEFAULT_FUEL: GuestLimit = GuestLimit::Fuel { request: 2_000_000_000, configure: 20_000_000_000 };

    pub(crate) fn uses_fuel(&self) -> bool {
        matches!(self, GuestLimit::Fuel { .. })
    }

    /// The per-request budget in this limit's unit (fuel, or epoch ticks).
    pub(crate) fn request_budget(&self) -> u64 {
        match *self {
            GuestLimit::Deadline { request, tick, .. } => ticks(request, tick),
            GuestLimit::Fuel { request, .. } => request,
        }
    }

    /// The budget of a quick run ([`crate::FilterHost::run_quick`]) in this limit's unit: 50 ms of
    /// wall clock (a guest takes microseconds; the rest is room for the thread being descheduled on
    /// a busy machine, which a wall clock counts), or a twentieth of the request's fuel; never more
    /// than the request budget.
    pub(crate) fn quick_budget(&self) -> u64 {
        match *self {
            GuestLimit::Deadline { request, tick, .. } => {
                ticks(QUICK_DEADLINE.max(tick), tick).min(ticks(request, tick))
            }
            GuestLimit::Fuel { request, .. } => (request / 20).max(1),
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

/// The wall-clock budget of a quick run (see [`GuestLimit::quick_budget`]).
const QUICK_DEADLINE: Duration = Duration::from_millis(50);

/// Epoch ticks that cover `d`, plus one: the first tick may come at once.
fn ticks(d: Duration, tick: Duration) -> u64 {
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

/// The foreign functions an embedder offers to the guest (`proxy_call_foreign_function`), by name.
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
    pub(crate) fn get(&self, name: &[u8]) -> Option<&ForeignFunction> {
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

/// Settings of a [`crate::FilterHost`].
#[derive(Clone)]
pub struct FilterHostConfig {
    /// The foreign functions the guest may call, by name. An unknown name is `NOT_FOUND`, as in
    /// Envoy.
    pub foreign_functions: ForeignFunctions,
    /// How long guest code may run.
    pub limit: GuestLimit,
    /// Linear-memory ceiling of each VM, in bytes; growing beyond fails inside the guest.
    pub memory_limit: usize,
    /// The most VMs alive at once (requests beyond wait for a free VM).
    pub max_vms: usize,
    /// Body bytes per `proxy_on_request_body` call.
    pub body_chunk_size: usize,
    /// Incoming request headers whose names start with one of these (ASCII case-insensitive) are
    /// removed before the filter sees the request: names reserved for what the filter itself adds,
    /// which a client must not be able to supply. Empty by default.
    pub strip_header_prefixes: Vec<String>,
    /// What `proxy_get_log_level` reports.
    pub log_level: LogLevel,
    /// Receives every line the guest logs (none: dropped).
    pub log_sink: Option<LogSink>,
    /// Overrides the system clock (a request's own `now_nanos` overrides both).
    pub clock: Option<Clock>,
    /// Overrides the operating system's CSPRNG for WASI `random_get`.
    pub random: Option<RandomSource>,
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
            strip_header_prefixes: Vec::new(),
            log_level: LogLevel::Info,
            log_sink: None,
            clock: None,
            random: None,
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
            .field("strip_header_prefixes", &self.strip_header_prefixes)
            .field("log_level", &self.log_level)
            .field("log_sink", &self.log_sink.is_some())
            .field("clock", &self.clock.is_some())
            .field("random", &self.random.is_some())
            .field("perf_map", &self.perf_map)
            .finish()
    }
}

/// A hostcall the fault hook ([`crate::FilterHost::inject_fault`]) can make misbehave.
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

/// The fault hook: `call` answers `status` (any value, including ones the ABI does not define),
/// to test how a filter copes with a misbehaving host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostFault {
    pub call: Hostcall,
    pub status: u32,
}
