"""A throwaway PostgreSQL cluster for the end-to-end tests (issue 14), the Python twin of
host-runtime/aapkit/tests/all/pg_support/mod.rs: `initdb` into a temporary directory owned by the
`postgres` user, `pg_ctl` on a free loopback port with its Unix socket in that directory, trust
authentication (loopback and the socket only: test use), one database; removed by `close()` (or
the `with` block, or at interpreter exit).

The server refuses to run as root, so as root the server-side binaries run as `postgres` through
`runuser -u postgres --`. The binaries come from AAPKIT_PG_BIN or Debian's
/usr/lib/postgresql/<version>/bin (15 preferred; .ci/setup.sh installs it).

`stop()`/`start()` take the server down and bring it back on the same port and data (outage tests);
every wait is time-bounded and a failure quotes the server log.

`python3 pg_support.py` checks the helper by itself.
"""

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time

READY_TIMEOUT = 60
TEST_DB = "aapkit"
SUPERUSER = "postgres"
FAST = {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off"}

_live = set()


def pg_bin_dir():
    """The directory of initdb, pg_ctl, pg_isready, createdb and psql."""
    env = os.environ.get("AAPKIT_PG_BIN")
    if env:
        if not os.path.isfile(os.path.join(env, "initdb")):
            raise RuntimeError(f"AAPKIT_PG_BIN={env} has no initdb")
        return env
    preferred = "/usr/lib/postgresql/15/bin"
    if os.path.isfile(os.path.join(preferred, "initdb")):
        return preferred
    found = []
    if os.path.isdir("/usr/lib/postgresql"):
        for v in os.listdir("/usr/lib/postgresql"):
            b = os.path.join("/usr/lib/postgresql", v, "bin")
            if v.isdigit() and os.path.isfile(os.path.join(b, "initdb")):
                found.append((int(v), b))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries (initdb) in /usr/lib/postgresql/*/bin: run .ci/setup.sh "
                           "(it installs Debian's postgresql-15) or set AAPKIT_PG_BIN")
    return max(found)[1]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgError(RuntimeError):
    pass


class PgCluster:
    """A started throwaway cluster with database `aapkit`; `url` is its loopback TCP URL."""

    def __init__(self, settings=None, db=TEST_DB):
        self.bin = pg_bin_dir()
        self.as_postgres = os.geteuid() == 0
        self.db = db
        self.running = False
        # Under /tmp (or AAPKIT_PG_TMPDIR), not $TMPDIR: the postgres user must be able to reach it,
        # and the socket path must stay under the 107 bytes a Unix socket address allows.
        self.root = tempfile.mkdtemp(prefix="aapkit-pg-", dir=os.environ.get("AAPKIT_PG_TMPDIR", "/tmp"))
        _live.add(self)
        try:
            self.data_dir = os.path.join(self.root, "data")
            self.socket_dir = os.path.join(self.root, "sock")
            self.log_path = os.path.join(self.root, "server.log")
            os.mkdir(self.socket_dir)
            if self.as_postgres:
                self._check(["chown", "-R", "postgres:postgres", self.root], "chown postgres: the temporary directory")
            self._check(self._server_cmd("initdb", "-D", self.data_dir, "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                                         "--locale=C", "--no-sync", "--no-instructions"), "initdb")
            conf = ["", "# aapkit test cluster", "listen_addresses = '127.0.0.1'",
                    f"unix_socket_directories = '{self.socket_dir}'", "max_connections = 200",
                    "log_min_messages = warning"]
            for k, v in (FAST if settings is None else settings).items():
                conf.append(f"{k} = '{v}'")
            with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as f:
                f.write("\n".join(conf) + "\n")
            self.port = _free_port()
            self.start()
            self._check([os.path.join(self.bin, "createdb"), "-h", self.socket_dir, "-p", str(self.port),
                         "-U", SUPERUSER, self.db], "createdb", with_log=True)
        except BaseException:
            self.close()
            raise

    # --- addresses ----------------------------------------------------------------------------------

    @property
    def url(self):
        """postgres://postgres@127.0.0.1:<port>/<db> (TCP on loopback)."""
        return f"postgres://{SUPERUSER}@127.0.0.1:{self.port}/{self.db}"

    @property
    def socket_url(self):
        """The same database over the Unix socket."""
        return f"postgres://{SUPERUSER}@/{self.db}?host={self.socket_dir}&port={self.port}"

    # --- life cycle ---------------------------------------------------------------------------------

    def start(self):
        """Starts the (stopped) server on the same port and data; returns once it accepts connections."""
        if self.running:
            return
        self._check(self._server_cmd("pg_ctl", "-D", self.data_dir, "-l", self.log_path, "-o", f"-p {self.port}",
                                     "-w", "-t", str(READY_TIMEOUT), "start"), "pg_ctl start", with_log=True)
        self.running = True
        self.wait_ready()

    def stop(self, mode="fast"):
        """Stops the server (`fast`: clients disconnected, nothing committed lost; `immediate`: as a
        crash, recovered on the next start)."""
        if not self.running:
            return
        self.running = False
        self._check(self._server_cmd("pg_ctl", "-D", self.data_dir, "-m", mode, "-w", "-t", "30", "stop"),
                    "pg_ctl stop", with_log=True)

    def kill(self):
        self.stop("immediate")

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.time() + timeout
        while True:
            p = subprocess.run([os.path.join(self.bin, "pg_isready"), "-h", self.socket_dir, "-p", str(self.port),
                                "-t", "2"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
            if p.returncode == 0:
                return
            if time.time() > deadline:
                raise PgError(f"the server on port {self.port} was not ready within {timeout} s: "
                              f"{p.stdout.strip()}\nserver log:\n{self.log_tail()}")
            time.sleep(0.1)

    def close(self):
        """Stops the server (if running) and removes its directory. Idempotent."""
        try:
            if self.running:
                try:
                    self.stop("immediate")
                except PgError as e:
                    print(f"throwaway PostgreSQL: {e}")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- queries ------------------------------------------------------------------------------------

    def psql(self, sql):
        """Runs `sql` as the superuser in the test database over the socket; the rows (unaligned,
        `|`-separated, one per line). Raises PgError on failure."""
        p = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-h", self.socket_dir, "-p", str(self.port), "-U", SUPERUSER, "-d", self.db, "-c", sql],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
        if p.returncode != 0:
            raise PgError(f"psql {sql!r} failed ({p.returncode}): {p.stderr.strip()}")
        return p.stdout.rstrip("\n")

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError as e:
            return f"(no server log at {self.log_path}: {e})"

    # --- internals ----------------------------------------------------------------------------------

    def _server_cmd(self, name, *args):
        exe = os.path.join(self.bin, name)
        return (["runuser", "-u", "postgres", "--", exe] if self.as_postgres else [exe]) + list(args)

    def _check(self, cmd, what, with_log=False):
        # stdout/stderr to a file, not a pipe: `pg_ctl start` leaves the server running with them.
        with tempfile.TemporaryFile(mode="w+") as out:
            try:
                p = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   cwd=self.root, timeout=READY_TIMEOUT + 30)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise PgError(f"{what}: {e}" + (f"\nserver log:\n{self.log_tail()}" if with_log else ""))
            if p.returncode != 0:
                out.seek(0)
                raise PgError(f"{what} failed ({p.returncode}): {out.read()}"
                              + (f"\nserver log:\n{self.log_tail()}" if with_log else ""))


@atexit.register
def _close_all():
    for c in list(_live):
        c.close()


def _self_test():
    """The helper by itself: start, a query, stop (refused), restart (data kept), crash + restart,
    close (server gone, directory removed)."""
    with PgCluster() as pg:
        assert pg.psql("SELECT current_database()") == TEST_DB
        assert pg.psql("SHOW fsync") == "off"
        pg.psql("CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2)")
        tcp = subprocess.run([os.path.join(pg.bin, "psql"), "-X", "-A", "-t", "-c", "SELECT count(*) FROM t", pg.url],
                             capture_output=True, text=True)
        assert tcp.returncode == 0 and tcp.stdout.strip() == "2", tcp
        pg.stop()
        try:
            pg.psql("SELECT 1")
            raise AssertionError("psql succeeded on a stopped server")
        except PgError:
            pass
        pg.start()
        assert pg.psql("SELECT sum(v) FROM t") == "3"
        pg.kill()
        pg.start()
        assert pg.psql("SELECT sum(v) FROM t") == "3"
        root, port = pg.root, pg.port
    assert not os.path.exists(root), root
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        raise AssertionError("the server survived close()")
    except OSError:
        pass
    print("pg_support: ok")


if __name__ == "__main__":
    _self_test()
