//! The audit log's write path: a bounded queue filled by the request path, drained by one writer
//! thread that commits a batch per transaction.
//!
//! Trade-offs (documented in docs/operations.md):
//! - The request path never blocks on the audit log: when the queue is full the row is dropped and
//!   counted (`aapkit_audit_records_dropped_total`). Blocking would turn a slow disk into an outage.
//! - A batch is committed every [`AuditConfig::flush_interval`] (200 ms) or every
//!   [`AuditConfig::max_batch`] rows (500), whichever comes first. A crash (kill -9, power loss
//!   after the OS accepted the write is covered by `synchronous=FULL`) loses at most the rows not
//!   yet committed: those of the last flush interval plus any queue backlog, never more than
//!   `capacity + max_batch` rows.
//! - A clean shutdown ([`AuditSink::shutdown`]) commits everything queued before it returns.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::metrics::Metrics;
use aapkit_store::{AuditCall, AuditWriter, StoreError};

/// Audit settings.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// Rows the queue holds before new rows are dropped.
    pub capacity: usize,
    /// Longest time a row waits before its batch commits.
    pub flush_interval: Duration,
    /// Rows per transaction at most.
    pub max_batch: usize,
    /// Audit rows and management events older than this are deleted.
    pub retention_days: u32,
    /// How often retention runs (also once at start).
    pub prune_interval: Duration,
}

pub const DEFAULT_RETENTION_DAYS: u32 = 180;

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            capacity: 8_192,
            flush_interval: Duration::from_millis(200),
            max_batch: 500,
            retention_days: DEFAULT_RETENTION_DAYS,
            prune_interval: Duration::from_secs(3_600),
        }
    }
}

// Nearly every message is a row: boxing it would cost an allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Row(AuditCall),
    /// Commit everything received so far, then answer.
    Flush(mpsc::Sender<()>),
    Stop,
}

/// The handle the request path pushes to.
pub struct AuditSink {
    tx: SyncSender<Msg>,
    metrics: Arc<Metrics>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

impl AuditSink {
    /// Opens the writer's own connection on the store in `data_dir` and starts the writer thread.
    pub fn start(
        data_dir: &Path,
        config: AuditConfig,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Result<AuditSink, StoreError> {
        AuditSink::start_at(data_dir, &aapkit_store::StoreLocation::Sqlite, config, metrics, clock)
    }

    /// [`AuditSink::start`] on the store at `location` (PostgreSQL: every gateway's rows land in
    /// the one `audit_log` table).
    pub fn start_at(
        data_dir: &Path,
        location: &aapkit_store::StoreLocation,
        config: AuditConfig,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Result<AuditSink, StoreError> {
        let writer = AuditWriter::open_at(data_dir, location)?;
        let (tx, rx) = mpsc::sync_channel(config.capacity.max(1));
        let m = metrics.clone();
        let dir: PathBuf = data_dir.to_owned();
        let thread = std::thread::Builder::new()
            .name("aapkit-audit".into())
            .spawn(move || writer_loop(writer, rx, config, m, clock, dir))
            .map_err(|e| StoreError::io(data_dir, e))?;
        Ok(AuditSink { tx, metrics, thread: Mutex::new(Some(thread)) })
    }

    /// Queues a row; never blocks (a full queue drops the row and counts it).
    pub fn push(&self, row: AuditCall) {
        match self.tx.try_send(Msg::Row(row)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.metrics.audit_dropped.inc();
            }
        }
    }

    /// Waits until every row pushed before this call is committed (or `timeout` passes).
    pub fn flush(&self, timeout: Duration) -> bool {
        let (ack_tx, ack_rx) = mpsc::channel();
        if self.tx.send(Msg::Flush(ack_tx)).is_err() {
            return false;
        }
        ack_rx.recv_timeout(timeout).is_ok()
    }

    /// Commits everything queued and stops the writer. Idempotent.
    pub fn shutdown(&self) {
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            // `send` (not `try_send`): a full queue is drained by the writer, so this returns.
            let _ = self.tx.send(Msg::Stop);
            let _ = t.join();
        }
    }
}

impl Drop for AuditSink {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Batcher {
    writer: AuditWriter,
    metrics: Arc<Metrics>,
    cfg: AuditConfig,
    dir: PathBuf,
    batch: Vec<AuditCall>,
    /// When the oldest uncommitted row arrived.
    started: Option<Instant>,
}

impl Batcher {
    fn push(&mut self, r: AuditCall) {
        if self.batch.is_empty() {
            self.started = Some(Instant::now());
        }
        self.batch.push(r);
        if self.batch.len() >= self.cfg.max_batch {
            self.commit();
        }
    }

    fn commit(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        match self.writer.insert_calls(&self.batch) {
            Ok(()) => {
                self.metrics.audit_written.inc_by(self.batch.len() as u64);
                self.batch.clear();
                self.started = None;
            }
            Err(e) => {
                self.metrics.audit_write_errors.inc();
                eprintln!(
                    "aapkit: writing {} audit rows to {} failed (will retry): {e}",
                    self.batch.len(),
                    self.dir.display()
                );
                // Keep the rows for the next attempt, but never more than the queue holds.
                let excess = self.batch.len().saturating_sub(self.cfg.capacity.max(self.cfg.max_batch));
                if excess > 0 {
                    self.batch.drain(..excess);
                    self.metrics.audit_dropped.inc_by(excess as u64);
                }
                self.started = Some(Instant::now());
            }
        }
    }

    fn prune(&mut self, now: i64) {
        let before = now - i64::from(self.cfg.retention_days) * 86_400;
        match self.writer.prune(before) {
            Ok(n) => {
                self.metrics.audit_pruned.inc_by(n.audit_rows + n.management_events);
            }
            Err(e) => eprintln!("aapkit: pruning the audit log failed: {e}"),
        }
    }
}

/// While a batch is open the writer looks at the queue this often instead of waking for each row:
/// under load a wake-up per request (a futex wake and a context switch) costs more than the row.
const POLL: Duration = Duration::from_millis(10);

fn writer_loop(
    writer: AuditWriter,
    rx: Receiver<Msg>,
    cfg: AuditConfig,
    metrics: Arc<Metrics>,
    clock: Clock,
    dir: PathBuf,
) {
    let mut b = Batcher { writer, metrics, batch: Vec::with_capacity(cfg.max_batch), started: None, cfg, dir };
    let mut next_prune = Instant::now();
    loop {
        if Instant::now() >= next_prune {
            b.prune(clock());
            next_prune = Instant::now() + b.cfg.prune_interval;
        }
        let first = match b.started {
            // Idle: sleep until a row (or a command) arrives.
            None => rx.recv_timeout(next_prune.saturating_duration_since(Instant::now()).min(Duration::from_secs(1))),
            // A batch is open: let rows gather, then take them all.
            Some(t) => {
                std::thread::sleep(POLL.min(b.cfg.flush_interval.saturating_sub(t.elapsed())));
                rx.try_recv().map_err(|e| match e {
                    TryRecvError::Empty => RecvTimeoutError::Timeout,
                    TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                })
            }
        };
        let mut msg = Some(first);
        while let Some(m) = msg.take() {
            match m {
                Ok(Msg::Row(r)) => b.push(r),
                Ok(Msg::Flush(ack)) => {
                    b.commit();
                    let _ = ack.send(());
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    b.finish(&rx);
                    return;
                }
                Err(RecvTimeoutError::Timeout) => break,
            }
            msg = match rx.try_recv() {
                Ok(next) => Some(Ok(next)),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => Some(Err(RecvTimeoutError::Disconnected)),
            };
        }
        if b.started.is_some_and(|t| t.elapsed() >= b.cfg.flush_interval) {
            b.commit();
        }
    }
}

impl Batcher {
    /// The last batch: everything still queued (a push racing the shutdown) is committed, with a
    /// few retries; what cannot be written is counted as dropped.
    fn finish(&mut self, rx: &Receiver<Msg>) {
        while let Ok(msg) = rx.try_recv() {
            if let Msg::Row(r) = msg {
                self.batch.push(r);
            }
        }
        for attempt in 0..3 {
            self.commit();
            if self.batch.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100 * (attempt + 1)));
        }
        if !self.batch.is_empty() {
            self.metrics.audit_dropped.inc_by(self.batch.len() as u64);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Requests that never authenticated: metrics and a rate-limited log, never the audit log.

/// At most `per_sec` lines a second on stderr; the lines over the limit are counted and the
/// count is reported with the next line that gets through.
pub struct RateLimitedLog {
    per_sec: u32,
    state: Mutex<LogWindow>,
}

struct LogWindow {
    start: Instant,
    written: u32,
    suppressed: u64,
}

impl RateLimitedLog {
    pub fn new(per_sec: u32) -> RateLimitedLog {
        RateLimitedLog { per_sec, state: Mutex::new(LogWindow { start: Instant::now(), written: 0, suppressed: 0 }) }
    }

    /// The line to write now, if any (`line` is built only then).
    pub fn admit_at(&self, now: Instant, line: impl FnOnce() -> String) -> Option<String> {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if now.saturating_duration_since(w.start) >= Duration::from_secs(1) {
            w.start = now;
            w.written = 0;
        }
        if w.written >= self.per_sec {
            w.suppressed += 1;
            return None;
        }
        w.written += 1;
        let suppressed = std::mem::take(&mut w.suppressed);
        let mut text = line();
        if suppressed > 0 {
            text.push_str(&format!(" ({suppressed} similar lines suppressed before this one)"));
        }
        Some(text)
    }

    pub fn log(&self, line: impl FnOnce() -> String) {
        if let Some(text) = self.admit_at(Instant::now(), line) {
            eprintln!("{text}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_rate_limited_and_count_what_they_drop() {
        let log = RateLimitedLog::new(3);
        let t = Instant::now();
        let got: Vec<Option<String>> = (0..10).map(|i| log.admit_at(t, || format!("line {i}"))).collect();
        assert_eq!(got.iter().flatten().count(), 3);
        assert_eq!(got[2].as_deref(), Some("line 2"));
        let next = log.admit_at(t + Duration::from_secs(1), || "later".to_owned());
        assert_eq!(next.as_deref(), Some("later (7 similar lines suppressed before this one)"));
    }
}
