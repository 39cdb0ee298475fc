//! A throwaway PostgreSQL cluster for tests (issue 14): `initdb` into a temporary directory owned by
//! the `postgres` user, `pg_ctl` on a free loopback port with its Unix socket in that directory,
//! trust authentication (loopback and the socket only: test use), one database, removed on drop.
//!
//! The server refuses to run as root, so when the tests run as root (CI, the development machines)
//! the server-side binaries run as `postgres` through `runuser -u postgres --`; as any other user
//! they run as that user. The binaries come from `AAPKIT_PG_BIN` or Debian's
//! `/usr/lib/postgresql/<version>/bin` (version 15 preferred; `.ci/setup.sh` installs it).
//!
//! `stop()` and `start()` take the server down and bring it back on the same port and data (the
//! outage tests); every wait is time-bounded and a failure quotes the server log.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long `start` waits for the server to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The database `PgCluster::new` creates.
pub const TEST_DB: &str = "aapkit";
/// The superuser `initdb` creates.
pub const SUPERUSER: &str = "postgres";

pub struct PgCluster {
    /// The temporary directory (data, socket, log); removed after the server is stopped.
    dir: Option<tempfile::TempDir>,
    bin: PathBuf,
    port: u16,
    db: String,
    as_postgres: bool,
    running: bool,
}

impl PgCluster {
    /// A new cluster with database [`TEST_DB`], started. Durability settings are relaxed (no fsync:
    /// the tests kill gateways, not the machine); see [`PgCluster::with_settings`].
    pub fn new() -> PgCluster {
        PgCluster::with_settings(&[("fsync", "off"), ("full_page_writes", "off"), ("synchronous_commit", "off")])
    }

    /// A new cluster started with these extra `-c name=value` server settings.
    pub fn with_settings(settings: &[(&str, &str)]) -> PgCluster {
        PgCluster::try_with_settings(settings).unwrap_or_else(|e| panic!("throwaway PostgreSQL: {e}"))
    }

    pub fn try_with_settings(settings: &[(&str, &str)]) -> Result<PgCluster, String> {
        let bin = pg_bin_dir()?;
        let as_postgres = running_as_root();
        // Under /tmp (or AAPKIT_PG_TMPDIR), not $TMPDIR: the postgres user must be able to reach it,
        // and the socket path must stay under the 107 bytes a Unix socket address allows.
        let base = std::env::var_os("AAPKIT_PG_TMPDIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
        let dir = tempfile::Builder::new()
            .prefix("aapkit-pg-")
            .tempdir_in(&base)
            .map_err(|e| format!("temp dir in {}: {e}", base.display()))?;
        let mut c = PgCluster { dir: Some(dir), bin, port: 0, db: TEST_DB.to_owned(), as_postgres, running: false };
        if as_postgres {
            let chown = Command::new("chown").arg("postgres:postgres").arg(c.root()).output();
            check(chown, "chown postgres: the temporary directory")?;
        }
        std::fs::create_dir(c.socket_dir()).map_err(|e| format!("{}: {e}", c.socket_dir().display()))?;
        if as_postgres {
            check(Command::new("chown").arg("postgres:postgres").arg(c.socket_dir()).output(), "chown the socket dir")?;
        }
        let initdb = c
            .server_cmd("initdb")
            .arg("-D")
            .arg(c.data_dir())
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"])
            .output();
        check(initdb, "initdb")?;
        // Settings go to the configuration file, so that a restart keeps them.
        let mut conf = String::from("\n# aapkit test cluster\nlisten_addresses = '127.0.0.1'\n");
        conf.push_str(&format!("unix_socket_directories = '{}'\n", c.socket_dir().display()));
        conf.push_str("max_connections = 200\nlog_min_messages = warning\n");
        for (k, v) in settings {
            conf.push_str(&format!("{k} = '{v}'\n"));
        }
        append(&c.data_dir().join("postgresql.conf"), &conf)?;
        c.port = free_port()?;
        c.try_start()?;
        let created = Command::new(c.bin.join("createdb"))
            .args(["-h", &c.socket_dir().display().to_string(), "-p", &c.port.to_string(), "-U", SUPERUSER])
            .arg(&c.db)
            .stdin(Stdio::null())
            .output();
        check(created, "createdb").map_err(|e| format!("{e}\n{}", c.log_tail()))?;
        Ok(c)
    }

    fn root(&self) -> &Path {
        self.dir.as_ref().map(|d| d.path()).unwrap_or(Path::new("/nonexistent"))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root().join("data")
    }

    /// The directory of the server's Unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> PathBuf {
        self.root().join("sock")
    }

    pub fn log_path(&self) -> PathBuf {
        self.root().join("server.log")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn db(&self) -> &str {
        &self.db
    }

    /// `postgres://postgres@127.0.0.1:<port>/<db>` (TCP on loopback).
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{}", self.port, self.db)
    }

    /// The same database over the Unix socket: `postgres://postgres@/<db>?host=<dir>&port=<port>`.
    pub fn socket_url(&self) -> String {
        format!("postgres://{SUPERUSER}@/{}?host={}&port={}", self.db, self.socket_dir().display(), self.port)
    }

    /// Whether the server was started (and not stopped) by this handle.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Starts the stopped server on the same port and data; waits until it accepts connections.
    pub fn start(&mut self) {
        self.try_start().unwrap_or_else(|e| panic!("throwaway PostgreSQL: {e}"));
    }

    pub fn try_start(&mut self) -> Result<(), String> {
        if self.running {
            return Ok(());
        }
        let started = self
            .server_cmd("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_path())
            .args(["-o", &format!("-p {}", self.port), "-w", "-t", &READY_TIMEOUT.as_secs().to_string(), "start"])
            .output();
        // The log file is created by pg_ctl as postgres: readable by us either way.
        check(started, "pg_ctl start").map_err(|e| format!("{e}\nserver log:\n{}", self.log_tail()))?;
        self.running = true;
        self.wait_ready(READY_TIMEOUT).map_err(|e| format!("{e}\nserver log:\n{}", self.log_tail()))
    }

    /// Stops the server (fast shutdown: clients are disconnected, nothing committed is lost).
    pub fn stop(&mut self) {
        self.try_stop("fast").unwrap_or_else(|e| panic!("throwaway PostgreSQL: {e}"));
    }

    /// Stops the server the way a crash does (`-m immediate`: no checkpoint; recovery on start).
    pub fn kill(&mut self) {
        self.try_stop("immediate").unwrap_or_else(|e| panic!("throwaway PostgreSQL: {e}"));
    }

    fn try_stop(&mut self, mode: &str) -> Result<(), String> {
        if !self.running {
            return Ok(());
        }
        let stopped = self
            .server_cmd("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", mode, "-w", "-t", "30", "stop"])
            .output();
        self.running = false;
        check(stopped, "pg_ctl stop").map_err(|e| format!("{e}\nserver log:\n{}", self.log_tail()))
    }

    /// Polls `pg_isready` until the server accepts connections or `timeout` passes.
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let out = Command::new(self.bin.join("pg_isready"))
                .args(["-h", &self.socket_dir().display().to_string(), "-p", &self.port.to_string(), "-t", "2"])
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("running pg_isready: {e}"))?;
            if out.status.success() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the server on port {} was not ready within {timeout:?}: {}",
                    self.port,
                    String::from_utf8_lossy(&out.stdout).trim()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `sql` with psql over the socket (as the superuser, in the test database); the rows,
    /// unaligned, `|`-separated, one per line.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", &self.socket_dir().display().to_string(), "-p", &self.port.to_string()])
            .args(["-U", SUPERUSER, "-d", &self.db, "-c", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
        } else {
            Err(format!("psql {sql:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))
        }
    }

    /// The last 60 lines of the server log (for failure messages).
    pub fn log_tail(&self) -> String {
        match std::fs::read_to_string(self.log_path()) {
            Ok(text) => {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(60)..].join("\n")
            }
            Err(e) => format!("(no server log at {}: {e})", self.log_path().display()),
        }
    }

    /// A command running a server-side binary, as `postgres` when we are root; in the cluster's
    /// directory (initdb complains about a working directory it cannot read).
    fn server_cmd(&self, name: &str) -> Command {
        let exe = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        // pg_ctl start leaves the server running: it must not inherit our pipes (the server writes
        // to the -l log), or `output()` would wait for it to exit.
        cmd.current_dir(self.root()).stdin(Stdio::null());
        cmd
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            if let Err(e) = self.try_stop("immediate") {
                eprintln!("throwaway PostgreSQL: {e}");
            }
        }
        // TempDir's own drop removes the directory (we are root or its owner).
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_owned();
            if let Err(e) = dir.close() {
                eprintln!("throwaway PostgreSQL: removing {}: {e}", path.display());
            }
        }
    }
}

/// The directory of initdb, pg_ctl, pg_isready, createdb and psql.
pub fn pg_bin_dir() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("AAPKIT_PG_BIN") {
        let p = PathBuf::from(p);
        return if p.join("initdb").is_file() {
            Ok(p)
        } else {
            Err(format!("AAPKIT_PG_BIN={} has no initdb", p.display()))
        };
    }
    let preferred = Path::new("/usr/lib/postgresql/15/bin");
    if preferred.join("initdb").is_file() {
        return Ok(preferred.to_owned());
    }
    // Another Debian major version, the newest first.
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        "no PostgreSQL server binaries (initdb) in /usr/lib/postgresql/*/bin: run .ci/setup.sh (it installs \
         Debian's postgresql-15) or set AAPKIT_PG_BIN"
            .to_owned()
    })
}

/// Whether this process runs as root (the owner of /proc/self is the effective user).
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| format!("finding a free port: {e}"))
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

fn check(out: std::io::Result<Output>, what: &str) -> Result<(), String> {
    let out = out.map_err(|e| format!("running {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The helper by itself: start, a query, stop (refused connections), restart (data kept), drop
/// (the server gone and its directory removed).
#[test]
fn throwaway_cluster_starts_stops_restarts_and_drops() {
    let mut pg = PgCluster::new();
    assert!(pg.url().starts_with("postgres://postgres@127.0.0.1:"), "{}", pg.url());
    assert_eq!(pg.psql("SELECT current_database()").unwrap(), TEST_DB);
    assert_eq!(pg.psql("SHOW fsync").unwrap(), "off");
    assert!(pg.psql("SELECT version()").unwrap().starts_with("PostgreSQL "));
    pg.psql("CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2)").unwrap();
    // Loopback TCP with trust authentication, as the gateways will connect.
    let tcp = Command::new(pg.bin.join("psql"))
        .args(["-X", "-A", "-t", "-c", "SELECT count(*) FROM t"])
        .arg(pg.url())
        .output()
        .unwrap();
    assert!(tcp.status.success(), "{}", String::from_utf8_lossy(&tcp.stderr));
    assert_eq!(String::from_utf8_lossy(&tcp.stdout).trim(), "2");

    pg.stop();
    assert!(!pg.is_running());
    let err = pg.psql("SELECT 1").unwrap_err();
    assert!(err.contains("failed"), "{err}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", pg.port())).is_err(), "the port still accepts");

    pg.start();
    assert_eq!(pg.psql("SELECT sum(v) FROM t").unwrap(), "3");
    // A crash-style stop, then a start: recovery keeps what was committed.
    pg.kill();
    pg.start();
    assert_eq!(pg.psql("SELECT sum(v) FROM t").unwrap(), "3");

    let root = pg.root().to_owned();
    let port = pg.port();
    drop(pg);
    assert!(!root.exists(), "{} survived the drop", root.display());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the server survived the drop");
}

/// Two clusters side by side get their own ports and directories.
#[test]
fn throwaway_clusters_are_independent() {
    let a = PgCluster::new();
    let b = PgCluster::new();
    assert_ne!(a.port(), b.port());
    a.psql("CREATE TABLE only_a (v int)").unwrap();
    assert_eq!(b.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'only_a'").unwrap(), "0");
    assert_eq!(a.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'only_a'").unwrap(), "1");
}
