"""Several `aapkit serve` gateways on one PostgreSQL (issue 14), driven by the official SDKs.

Gateway A is initialised with `aapkit --store URL init` against a throwaway PostgreSQL cluster
(pg_support.py); B and C each get a copy of A's data directory (master key, CA, TLS files) and the
same `--store`, their own ports, the filter module (`--enforcer wasm`, the default). The Instance SDK
(alibabacloud-dkms-gcs) drives all of them; control-plane changes go through each gateway's CLI, and
through its KMS endpoint with the management SDK (alibabacloud-kms20160120):

1. two gateways: a client key created through A's CLI works on B within one second; deleted through
   B's CLI, it is refused on A and B within one second;
2. three gateways (C joins with a fresh copy): created through A, it works on B and C within one
   second; deleted through C's CLI, refused on A and B within one second; the same through the KMS
   endpoints (CreateClientKey on B, DeleteClientKey on C, management SDK);
3. PostgreSQL stopped for 10 s under SDK load on every gateway: no crypto call fails; CLI writes fail
   (exit 1, "the store is unavailable"), the management SDK's get 503 ServiceUnavailableTemporary; after it
   is back, writes succeed and a client key created then works everywhere, its deletion is enforced
   everywhere (RECONVERGE seconds);
4. `kill -9` of gateway A mid-burst of management writes (A's CLI and A's KMS endpoint): every write
   that was acknowledged is in the store afterwards; B and C keep serving without one failed call;
   A restarted serves the current configuration.

AAPKIT_E2E_STORE=sqlite-shared runs the same tests with the gateways sharing A's data directory (its
SQLite database) instead: a check of the harness itself where no PostgreSQL backend exists; test 3
is skipped there (there is no server to stop).

Environment and set-up: support.py, pg_support.py. Run by tests/tests/sdk_e2e.rs with the venv's
python. The whole suite is time-bounded (SUITE_TIMEOUT) and removes its gateways and cluster.
"""

import faulthandler
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import unittest

from alibabacloud_kms20160120 import models as m
from darabonba.runtime import RuntimeOptions as MgmtRuntime
from openapi_util.models import RuntimeOptions
from sdk import models

from pg_support import PgCluster
from support import AAPKIT, LOOPBACK, PASSWORD, OpenApiGateway, error_code

MODE = os.environ.get("AAPKIT_E2E_STORE", "postgres")
if MODE not in ("postgres", "sqlite-shared"):
    raise SystemExit(f"AAPKIT_E2E_STORE={MODE!r}: expected postgres or sqlite-shared")

PROPAGATION = 1.0     # seconds: a committed change reaches every gateway (issue 14)
RECONVERGE = 5.0      # seconds: after PostgreSQL is back, a new change reaches every gateway
OUTAGE = 10.0         # seconds PostgreSQL is down in test 3
CLI_TIMEOUT = 30      # seconds a CLI command may take, even with the store down
SUITE_TIMEOUT = 900   # seconds for the whole suite (then it fails, cleaning up)
GAP = 3.0             # seconds: the longest a gateway may go without serving a call under load
# What a refused write says: the store's "the store is unavailable: ..." (the brief asked for
# "store unavailable"; either wording passes), with the JSON code ServiceUnavailableTemporary.
UNAVAILABLE = re.compile(r"store (is )?unavailable")
START = time.time()


def no_retry():
    """Instance SDK runtime options: no retries (a failure must show), bounded waits."""
    return RuntimeOptions(autoretry=False, connect_timeout=3000, read_timeout=10000)


def mgmt_no_retry():
    return MgmtRuntime(autoretry=False, connect_timeout=3000, read_timeout=10000)


def mgmt_error(fn):
    """Runs fn, which must fail with a management SDK error; (code, HTTP status, the server's Message)."""
    try:
        fn()
    except Exception as e:  # the SDK's ServerException / ClientException
        data = getattr(e, "data", None) or {}
        status = getattr(e, "status_code", None) or data.get("statusCode") or data.get("HttpStatus")
        return getattr(e, "code", None), status, data.get("Message", str(e)[:300])
    raise AssertionError("the call succeeded; expected an error")


class Member(OpenApiGateway):
    """One gateway of the cluster: the instance endpoint and the KMS endpoint on ports of its own,
    every CLI command and `serve` with the cluster's `--store`."""

    def __init__(self, name, store_args):
        super().__init__()
        self.name = name
        self.global_args = tuple(store_args)

    def run_cli(self, *args):
        """The CLI with --json, not checked; (exit code, stdout + stderr). Time-bounded."""
        cmd = [AAPKIT, "--data-dir", self.data, *self.global_args, "--json", *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=CLI_TIMEOUT)
        return p.returncode, p.stdout + p.stderr

    def log_tail(self, lines=25):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError as e:
            return f"({e})"

    def running(self):
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    """The PostgreSQL cluster (or, in sqlite-shared mode, A's database) and the gateways on it."""

    def __init__(self):
        self.pg = PgCluster() if MODE == "postgres" else None
        self.store_args = ("--store", self.pg.url) if self.pg else ()
        self.members = {}

    def first(self, name):
        g = self.members[name] = Member(name, self.store_args)
        g.init()
        return g

    def join(self, name):
        """A new member with a copy of the first one's data directory (the same directory in
        sqlite-shared mode)."""
        first = next(iter(self.members.values()))
        g = self.members[name] = Member(name, self.store_args)
        if self.pg:
            shutil.copytree(first.data, g.data)
        else:
            g.data = first.data
        g.admin = dict(first.admin)
        return g

    def running(self):
        return [g for g in self.members.values() if g.running()]

    def logs(self):
        return "\n".join(f"--- gateway {g.name} log (tail) ---\n{g.log_tail()}" for g in self.members.values())

    def close(self):
        for g in self.members.values():
            g.stop()
        for g in self.members.values():
            g.tmp.cleanup()
        if self.pg:
            self.pg.close()


class Load:
    """Encrypt + Decrypt in a loop on each given gateway (one thread each, no SDK retries), every
    result recorded with its time: the SDK traffic the failure tests run under."""

    def __init__(self, gateways, key_file, key_id, pause=0.02):
        self.key_id = key_id
        self.stop_event = threading.Event()
        self.ok = {g.name: [] for g in gateways}
        self.failed = {g.name: [] for g in gateways}
        self.threads = [threading.Thread(target=self._run, args=(g, g.client(key_file), pause), daemon=True)
                        for g in gateways]
        for t in self.threads:
            t.start()

    def _run(self, g, c, pause):
        n = 0
        while not self.stop_event.is_set():
            n += 1
            plain = f"load {g.name} {n}".encode()
            t = time.time()
            try:
                enc = c.encrypt_with_options(models.EncryptRequest(key_id=self.key_id, plaintext=plain), no_retry())
                dec = c.decrypt_with_options(models.DecryptRequest(ciphertext_blob=enc.ciphertext_blob), no_retry())
                if dec.plaintext != plain:
                    raise AssertionError(f"decrypted {dec.plaintext!r}, want {plain!r}")
                self.ok[g.name].append(t)
            except Exception as e:  # every failure counts, whatever the SDK raises
                self.failed[g.name].append((round(t - START, 2), getattr(e, "code", None) or repr(e)[:300]))
            self.stop_event.wait(pause)

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=30)

    def ok_between(self, name, t0, t1):
        return sum(1 for t in self.ok[name] if t0 <= t <= t1)

    def longest_gap(self, name, t0, t1):
        """The longest stretch of [t0, t1] without a call to `name` that started and succeeded."""
        times = [t0] + sorted(t for t in self.ok[name] if t0 <= t <= t1) + [t1]
        return max(b - a for a, b in zip(times, times[1:]))


def works(g, key_file, key_id):
    """Whether an Encrypt with `key_file` on gateway g succeeds; (True, None) or (False, code)."""
    c = g.client(key_file)
    code = error_code(lambda: c.encrypt_with_options(models.EncryptRequest(key_id=key_id, plaintext=b"x"),
                                                     no_retry()))
    return code is None, code


def until(g, c, key_id, want_ok, since, bound):
    """Calls Encrypt on g (client c) until it succeeds (want_ok) or is refused as an unknown client
    key (`Unauthorized`); the seconds from `since` to the start of the call that showed the change
    (an upper bound of the gateway's latency). Raises if that is over `bound` (or nothing showed by
    then), with the last answer."""
    last = None
    while True:
        start = time.time()
        code = error_code(lambda: c.encrypt_with_options(models.EncryptRequest(key_id=key_id, plaintext=b"x"),
                                                         no_retry()))
        if (code is None) if want_ok else (code == "Unauthorized"):
            if start - since > bound:
                raise AssertionError(f"gateway {g.name}: the change showed only {start - since:.2f} s after it was "
                                     f"acknowledged (bound {bound} s)")
            return start - since
        last = code
        if start - since > bound:
            raise AssertionError(f"gateway {g.name}: the change did not show within {bound} s "
                                 f"(want {'success' if want_ok else 'Unauthorized'}, last answer {last})")
        time.sleep(0.02)


def until_all(gateways, key_file, key_id, want_ok, since, bound):
    """`until` on every gateway at once (one thread each, clients built first), so that each one's
    time is measured from `since`, not after the others'. {name: seconds}; raises the first failure."""
    clients = [(g, g.client(key_file)) for g in gateways]
    results, errors = {}, []

    def one(g, c):
        try:
            results[g.name] = until(g, c, key_id, want_ok, since, bound)
        except Exception as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=one, args=gc, daemon=True) for gc in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=bound + 60)
    if errors:
        raise errors[0]
    if len(results) != len(gateways):
        raise AssertionError(f"no answer from every gateway within {bound + 60} s: {results}")
    return results


class MultiGatewaySdk(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.load = None
        cls.cluster = Cluster()
        try:
            a = cls.a = cls.cluster.first("A")
            cls.aes = a.key("Aliyun_AES_256")
            a.network_rule("loopback", *LOOPBACK)
            a.policy("keys", [f"key/{cls.aes}"])
            a.aap("app", "keys")
            # The key every load runs with; made before B exists, so B's copy of the data directory
            # holds nothing of it in PostgreSQL mode (the store does).
            cls.load_key_id, cls.load_key_file = a.new_client_key("app")
            cls.b = cls.cluster.join("B")
            a.start()
            cls.b.start()
        except BaseException:
            cls.cluster.close()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.load is not None:
            cls.load.stop()
        cls.cluster.close()

    def member(self, name):
        return self.cluster.members[name]

    def until(self, gateways, key_file, want_ok, since, bound):
        """`until_all` on the suite's key, failing with every gateway's log."""
        try:
            return until_all(gateways, key_file, self.aes, want_ok, since, bound)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.cluster.logs()}") from None

    def propagate(self, created_on, deleted_on, serving):
        """A client key created through `created_on`'s CLI works on every gateway of `serving` within
        PROPAGATION; deleted through `deleted_on`'s CLI, it is refused on all of them within
        PROPAGATION. Returns the measured seconds."""
        key_id, key_file = created_on.new_client_key("app")
        acked = time.time()
        took = {f"works on {n}": v for n, v in self.until(serving, key_file, True, acked, PROPAGATION).items()}
        deleted_on.cli("client-key", "delete", "--client-key-id", key_id, "--force")
        acked = time.time()
        took.update({f"refused on {n}": v
                     for n, v in self.until(serving, key_file, False, acked, PROPAGATION).items()})
        print(f"  propagation ({created_on.name} creates, {deleted_on.name} deletes): "
              + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in took.items()))
        return took

    # --- 1, 2: propagation across two and three gateways ------------------------------------------

    def test_1_two_gateways(self):
        a, b = self.member("A"), self.member("B")
        # The key made before B started works on both at once.
        self.assertEqual(works(b, self.load_key_file, self.aes), (True, None))
        self.propagate(a, b, [b, a])

    def test_2_three_gateways(self):
        c = self.member("C") if "C" in self.cluster.members else self.cluster.join("C")
        if not c.running():
            c.start()
        a, b = self.member("A"), self.member("B")
        self.assertEqual(works(c, self.load_key_file, self.aes), (True, None))
        self.propagate(a, c, [b, c, a])

    def test_2b_management_sdk_changes_reach_every_gateway(self):
        """The same through the KMS endpoints: CreateClientKey with the management SDK on B, the key
        works on A and C within one second; DeleteClientKey on C, refused on A and B within one second."""
        a, b, c = self.ensure_three()
        ck = b.kms().create_client_key_with_options(
            m.CreateClientKeyRequest(aap_name="app", password=PASSWORD), mgmt_no_retry()).body
        acked = time.time()
        key_file = b.client_key_file(ck.client_key_id, ck.private_key_data)
        took = {f"works on {n}": v for n, v in self.until([a, b, c], key_file, True, acked, PROPAGATION).items()}
        c.kms().delete_client_key_with_options(m.DeleteClientKeyRequest(client_key_id=ck.client_key_id),
                                               mgmt_no_retry())
        acked = time.time()
        took.update({f"refused on {n}": v
                     for n, v in self.until([a, b, c], key_file, False, acked, PROPAGATION).items()})
        print("  propagation (B's KMS endpoint creates, C's deletes): "
              + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in took.items()))

    # --- 3: PostgreSQL down for 10 s under load ----------------------------------------------------

    def test_3_postgres_outage_under_load(self):
        if MODE != "postgres":
            self.skipTest("needs PostgreSQL (sqlite-shared mode has no store server to stop)")
        pg = self.cluster.pg
        gateways = self.ensure_three()
        load = type(self).load = Load(gateways, self.load_key_file, self.aes)
        time.sleep(1.0)

        # What goes wrong while PostgreSQL is down is collected, not raised at once: the server
        # must come back (and the rest of the test run) whatever the gateways answered.
        problems = []
        pg.stop()
        down = time.time()
        try:
            # CLI writes through each gateway's data directory fail, quickly and clearly.
            for g in gateways:
                t = time.time()
                code, out = g.run_cli("network-rule", "create", "--name", f"outage-{g.name}",
                                      "--source-private-ip", '["10.1.0.0/16"]')
                if code != 1 or not UNAVAILABLE.search(out.lower()) or '"ServiceUnavailableTemporary"' not in out:
                    problems.append(f"{g.name}'s CLI, a write with the store down: exit {code}: {out}")
                if time.time() - t > CLI_TIMEOUT / 2:
                    problems.append(f"{g.name}'s CLI took {time.time() - t:.1f} s to refuse a write")
            # The KMS endpoint refuses management writes with 503 ServiceUnavailableTemporary.
            for g in gateways:
                answer = mgmt_error(lambda: g.kms().create_network_rule_with_options(
                    m.CreateNetworkRuleRequest(name=f"outage-api-{g.name}", type="Private",
                                               source_private_ip='["10.2.0.0/16"]'), mgmt_no_retry()))
                if answer[:2] != ("ServiceUnavailableTemporary", 503):
                    problems.append(f"{g.name}'s KMS endpoint, a write with the store down: {answer}, "
                                    "want ServiceUnavailableTemporary 503")
        finally:
            time.sleep(max(0.0, OUTAGE - (time.time() - down)))
            pg.start()
            back = time.time()

        # Writes succeed again (the CLI connects afresh).
        deadline = back + RECONVERGE
        while True:
            code, out = self.member("A").run_cli("network-rule", "create", "--name", "after-outage",
                                                 "--source-private-ip", '["10.3.0.0/16"]')
            if code == 0:
                break
            if time.time() > deadline:
                self.fail(f"writes still fail {RECONVERGE} s after PostgreSQL is back: {out}")
            time.sleep(0.2)
        # Every gateway's KMS endpoint answers again: a read and a write through each.
        endpoints = {}
        for g in gateways:
            endpoints[g.name] = self.kms_endpoint_recovers(g, back)
        # A change made now is enforced everywhere: a new client key works on every gateway, and
        # its deletion is enforced on every gateway.
        key_id, key_file = self.member("B").new_client_key("app")
        acked = time.time()
        took = self.until(gateways, key_file, True, acked, RECONVERGE)
        self.member("C").cli("client-key", "delete", "--client-key-id", key_id, "--force")
        acked = time.time()
        gone = self.until(gateways, key_file, False, acked, RECONVERGE)
        time.sleep(1.0)
        load.stop()
        type(self).load = None

        for g in gateways:
            self.assertEqual(load.failed[g.name], [], f"crypto calls failed on {g.name}\n{self.cluster.logs()}")
            gap = load.longest_gap(g.name, down, back)
            self.assertLess(gap, GAP, f"{g.name} served nothing for {gap:.1f} s while PostgreSQL was down")
            self.assertTrue(g.running(), f"gateway {g.name} exited\n{g.log_tail()}")
        print(f"  outage {back - down:.1f} s; calls served while down: "
              + ", ".join(f"{n} {load.ok_between(n, down, back)}" for n in load.ok)
              + "; after: works " + ", ".join(f"{n} {v * 1000:.0f} ms" for n, v in took.items())
              + "; refused " + ", ".join(f"{n} {v * 1000:.0f} ms" for n, v in gone.items())
              + "; KMS endpoints answer " + ", ".join(f"{n} {v:.1f} s" for n, v in endpoints.items()))
        self.assertEqual(problems, [], "while PostgreSQL was down")

    def kms_endpoint_recovers(self, g, back):
        """Polls ListNetworkRules and CreateNetworkRule on g's KMS endpoint until both succeed,
        failing after RECONVERGE seconds from `back`; the seconds from `back` it took."""
        kms, last, n = g.kms(), None, 0
        while True:
            n += 1
            try:
                kms.list_network_rules_with_options(m.ListNetworkRulesRequest(page_size=10), mgmt_no_retry())
                kms.create_network_rule_with_options(m.CreateNetworkRuleRequest(
                    name=f"back-{g.name}-{n}", type="Private", source_private_ip='["10.6.0.0/16"]'), mgmt_no_retry())
                if n > 1:
                    print(f"  {g.name}'s KMS endpoint after the outage: {n - 1} failed attempt(s), the last {last}")
                return time.time() - back
            except Exception as e:  # the SDK's exception, quoted below
                last = f"{getattr(e, 'code', None)}: {str(e)[:300]}"
            if time.time() - back > RECONVERGE:
                self.fail(f"gateway {g.name}'s KMS endpoint still fails {RECONVERGE} s after PostgreSQL is back: "
                          f"{last}\n{g.log_tail()}")
            time.sleep(0.2)

    # --- 4: kill -9 of a gateway mid-burst -----------------------------------------------------------

    def test_4_kill_gateway_mid_burst(self):
        a, b, c = self.ensure_three()
        load = type(self).load = Load([b, c], self.load_key_file, self.aes)
        acked, lock = [], threading.Lock()
        stop = threading.Event()

        def cli_burst():
            i = 0
            while not stop.is_set():
                i += 1
                name = f"burst-cli-{i}"
                code, _ = a.run_cli("network-rule", "create", "--name", name, "--source-private-ip",
                                    '["10.4.0.0/16"]')
                if code == 0:
                    with lock:
                        acked.append(name)

        def api_burst():
            kms = a.kms()
            i = 0
            while not stop.is_set():
                i += 1
                name = f"burst-api-{i}"
                try:
                    kms.create_network_rule_with_options(m.CreateNetworkRuleRequest(
                        name=name, type="Private", source_private_ip='["10.5.0.0/16"]'), mgmt_no_retry())
                except Exception:  # refused connections once A is dead: not acknowledged
                    time.sleep(0.05)
                    continue
                with lock:
                    acked.append(name)

        threads = [threading.Thread(target=f, daemon=True) for f in (cli_burst, api_burst)]
        for t in threads:
            t.start()
        # Kill A once its KMS endpoint has acknowledged a few writes (mid-burst).
        deadline = time.time() + 60
        while sum(n.startswith("burst-api-") for n in list(acked)) < 5:
            self.assertLess(time.time(), deadline, f"the burst did not get going: {acked}\n{a.log_tail()}")
            time.sleep(0.02)
        os.kill(a.proc.pid, signal.SIGKILL)
        killed = time.time()
        a.proc.wait(timeout=10)
        time.sleep(2.0)
        burst_end = time.time()
        stop.set()
        for t in threads:
            t.join(timeout=CLI_TIMEOUT + 5)
        time.sleep(0.5)
        load.stop()
        type(self).load = None

        # Every acknowledged write is in the store, as B's CLI and C's KMS endpoint see it.
        listed = {r["Name"] for r in b.cli("network-rule", "list")["NetworkRules"]}
        missing = [n for n in acked if n not in listed]
        self.assertEqual(missing, [], f"acknowledged writes lost: {missing}")
        api_listed = set()
        page = 1
        while True:
            body = c.kms().list_network_rules(m.ListNetworkRulesRequest(page_number=page, page_size=100)).body
            rules = body.network_rules.network_rule if body.network_rules else []
            api_listed |= {r.name for r in rules}
            if not rules or len(api_listed) >= body.total_count:
                break
            page += 1
        self.assertEqual([n for n in acked if n not in api_listed], [])
        self.assertGreater(sum(n.startswith("burst-api-") for n in acked), 4)
        self.assertGreater(sum(n.startswith("burst-cli-") for n in acked), 0)

        # B and C served throughout, without one failed call.
        for g in (b, c):
            self.assertEqual(load.failed[g.name], [], f"{g.name} failed calls\n{self.cluster.logs()}")
            gap = load.longest_gap(g.name, killed, burst_end)
            self.assertLess(gap, GAP, f"{g.name} served nothing for {gap:.1f} s after A was killed")
        # A restarted serves the current configuration.
        a.start()
        key_id, key_file = b.new_client_key("app")
        self.until([a], key_file, True, time.time(), PROPAGATION)
        print(f"  kill -9 mid-burst: {len(acked)} acknowledged writes, none lost; "
              f"B {len(load.ok['B'])} and C {len(load.ok['C'])} calls, no failure")

    def ensure_three(self):
        """A, B and C, all serving."""
        if "C" not in self.cluster.members:
            self.cluster.join("C")
        for g in self.cluster.members.values():
            if not g.running():
                g.start()
        return [self.member(n) for n in "ABC"]


def _timeout(signum, frame):
    raise TimeoutError(f"the multi-gateway suite ran over {SUITE_TIMEOUT} s")


if __name__ == "__main__":
    # Time-bounded: SIGALRM fails the test in progress (the class's tear-down still removes the
    # gateways and the cluster); faulthandler is the backstop if even that hangs.
    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(SUITE_TIMEOUT)
    faulthandler.dump_traceback_later(SUITE_TIMEOUT + 120, exit=True)
    print(f"multi-gateway suite: store {MODE}")
    # The SDKs' own deprecation and unclosed-file warnings would bury the report.
    unittest.main(verbosity=2, warnings="ignore")
