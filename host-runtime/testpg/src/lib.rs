//! A throwaway PostgreSQL cluster for tests: `initdb` into a temporary directory, the server on a
//! free loopback port with its socket in that directory, trust authentication for the `postgres`
//! role, removed (`pg_ctl stop -m immediate`, then the directory) on drop. No test depends on a
//! server that happens to be running.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root (CI, these machines) every
//! server binary runs as the `postgres` system user through `runuser`, and the directory is
//! handed to that user. The binaries are Debian's (`/usr/lib/postgresql/<major>/bin`), or
//! `AAPKIT_PG_BIN` when set.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Why the cluster could not be started or controlled.
#[derive(Debug)]
pub struct ClusterError(pub String);

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClusterError {}

/// A running throwaway cluster.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    /// `fsync` on (benchmarks of durable writes); off by default (tests need no crash safety).
    durable: bool,
}

/// Where the server binaries are: `AAPKIT_PG_BIN`, else the newest Debian major.
pub fn server_bin_dir() -> Result<PathBuf, ClusterError> {
    if let Some(dir) = std::env::var_os("AAPKIT_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .map_err(|e| ClusterError(format!("{}: {e} (install postgresql: .ci/setup.sh does)", root.display())))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    majors.sort();
    majors.pop().map(|(_, b)| b).ok_or_else(|| ClusterError(format!("no PostgreSQL under {}", root.display())))
}

fn is_root() -> bool {
    // The uid of this process, without a libc dependency: /proc/self/status names it.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

fn free_port() -> Result<u16, ClusterError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| ClusterError(format!("no free port: {e}")))?;
    l.local_addr().map(|a| a.port()).map_err(|e| ClusterError(e.to_string()))
}

impl PgCluster {
    /// Creates and starts a cluster (a few seconds).
    pub fn start() -> Result<PgCluster, ClusterError> {
        PgCluster::start_with(false)
    }

    /// [`PgCluster::start`] with `fsync` on, as a production server runs (benchmarks).
    pub fn start_durable() -> Result<PgCluster, ClusterError> {
        PgCluster::start_with(true)
    }

    fn start_with(durable: bool) -> Result<PgCluster, ClusterError> {
        let bin = server_bin_dir()?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("aapkit-pg-")
            .tempdir()
            .map_err(|e| ClusterError(format!("temporary directory: {e}")))?;
        let cluster = PgCluster { dir, bin, port: free_port()?, as_postgres, durable };
        if as_postgres {
            cluster.run_checked(Command::new("chown").args(["-R", "postgres:postgres"]).arg(cluster.dir.path()))?;
        }
        let data = cluster.data_dir();
        cluster.run_checked(
            cluster
                .server_command("initdb")
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale", "C", "-D"])
                .arg(&data),
        )?;
        cluster.start_server()?;
        Ok(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// A server binary, run as `postgres` when this process is root.
    fn server_command(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn run_checked(&self, cmd: &mut Command) -> Result<Output, ClusterError> {
        let out = cmd.output().map_err(|e| ClusterError(format!("{cmd:?}: {e}")))?;
        if !out.status.success() {
            return Err(ClusterError(format!(
                "{cmd:?} failed ({}): {}{}\nserver log:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(self.log_path()).unwrap_or_default()
            )));
        }
        Ok(out)
    }

    /// (Re)starts the server on the same port and waits until it accepts connections.
    pub fn start_server(&self) -> Result<(), ClusterError> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync={} -c max_connections=200",
            self.port,
            self.dir.path().display(),
            if self.durable { "on" } else { "off" }
        );
        self.run_checked(
            self.server_command("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.log_path())
                .args(["-o", &options, "-w", "-t", "60", "start"]),
        )?;
        self.wait_ready(Duration::from_secs(60))
    }

    /// Stops the server (fast shutdown: connections are closed, as in a restart).
    pub fn stop_server(&self) -> Result<(), ClusterError> {
        self.run_checked(
            self.server_command("pg_ctl").arg("-D").arg(self.data_dir()).args(["-m", "fast", "-w", "stop"]),
        )
        .map(|_| ())
    }

    fn wait_ready(&self, limit: Duration) -> Result<(), ClusterError> {
        let deadline = Instant::now() + limit;
        loop {
            let ok = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(ClusterError(format!(
                    "the server did not get ready in {limit:?}; server log:\n{}",
                    std::fs::read_to_string(self.log_path()).unwrap_or_default()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` (created with [`PgCluster::create_database`]).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name` (a plain identifier).
    pub fn create_database(&self, name: &str) -> Result<String, ClusterError> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(ClusterError(format!("{name:?} is not a plain database name")));
        }
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(self.url(name))
    }

    /// Runs `sql` with psql against database `db`; its output.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, ClusterError> {
        let out = self.run_checked(
            Command::new(self.bin.join("psql"))
                .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres"])
                .args(["-p", &self.port.to_string(), "-d", db, "-c", sql]),
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
