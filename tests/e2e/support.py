"""What the SDK end-to-end tests share: a data directory built with the `aapkit` CLI, a running
`aapkit serve` over HTTPS with the generated CA, client keys made by `aapkit client-key create`, and
clients of the official KMS Instance SDK for Python (alibabacloud-dkms-gcs) loading them.

The KMS OpenAPI suites (test_openapi_*.py) also use `OpenApiGateway`: the same gateway with the
management OpenAPI listener and the admin AccessKey `aapkit init` writes.

Environment: AAPKIT_BIN (the aapkit binary), AAPKIT_FILTER_WASM (the filter module). The test_*.py
scripts beside this file are run by tests/tests/sdk_e2e.rs with the venv's python.
"""

import json
import os
import socket
import subprocess
import tempfile
import time
import unittest

from openapi.models import Config
from sdk.client import Client
from Tea.exceptions import TeaException, UnretryableException

AAPKIT = os.environ.get("AAPKIT_BIN", "aapkit")
INSTANCE = "kst-e2e0000000000000001"
PASSWORD = "E2e-Passw0rd!"
KEY_USER = "RbacPermission/Template/CryptoServiceKeyUser"
SECRET_USER = "RbacPermission/Template/CryptoServiceSecretUser"
LOOPBACK = ("127.0.0.1/32", "::1")


def wait_listening(port, proc, log_path, what="aapkit serve"):
    """Waits until 127.0.0.1:port accepts connections (60 s), failing early if `proc` exits."""
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited: {open(log_path).read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{what} did not start listening on {port} in 60 s")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    """A data directory plus a running `aapkit serve`."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="aapkit-e2e-")
        self.data = os.path.join(self.tmp.name, "data")
        self.port = free_port()
        self.proc = None
        self.log_path = os.path.join(self.tmp.name, "serve.log")

    def cli(self, *args, check=True):
        cmd = [AAPKIT, "--data-dir", self.data, "--json", *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr}{p.stdout}")
        out = p.stdout.strip()
        return json.loads(out) if out else {}

    # --- the control plane, through the CLI ------------------------------------------------------

    def key(self, spec):
        """Creates a key of `spec`; its KeyId."""
        return self.cli("key", "create", "--key-spec", spec)["KeyId"]

    def network_rule(self, name, *sources):
        self.cli("network-rule", "create", "--name", name, "--source-private-ip", json.dumps(list(sources)))

    def policy(self, name, resources, permissions=(KEY_USER,), scope=INSTANCE, rules=("loopback",)):
        self.cli("policy", "create", "--name", name, "--permissions", json.dumps(list(permissions)),
                 "--resources", json.dumps(list(resources)), "--kms-instance", scope,
                 "--access-control-rules", json.dumps({"NetworkRules": list(rules)}))

    def aap(self, name, *policies):
        self.cli("aap", "create", "--name", name, "--policies", json.dumps(list(policies)))

    def new_client_key(self, aap, *extra):
        path = os.path.join(self.tmp.name, f"clientKey_{aap}_{len(os.listdir(self.tmp.name))}.json")
        pw = os.path.join(self.tmp.name, "password.txt")
        with open(pw, "w") as f:
            f.write(PASSWORD)
        out = self.cli("client-key", "create", "--aap", aap, "--password-file", pw, "--output", path, *extra)
        return out["ClientKeyId"], path

    # --- the server ------------------------------------------------------------------------------

    # The KMS OpenAPI listener defaults to a fixed port; suites that do not test it turn it off, so
    # gateways of suites running side by side do not collide.
    openapi_args = ("--no-openapi",)

    def start(self, *extra):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [AAPKIT, "--data-dir", self.data, "serve", "--listen", f"127.0.0.1:{self.port}",
             *self.openapi_args, *extra],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_listening(self.port, self.proc, self.log_path)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "log", None):
            self.log.close()

    # --- the SDK ---------------------------------------------------------------------------------

    def config(self, key_file, password=PASSWORD):
        return Config(
            protocol="https",
            endpoint=f"127.0.0.1:{self.port}",
            client_key_file=key_file,
            password=password,
            ca_file_path=os.path.join(self.data, "ca.pem"),
        )

    def client(self, key_file):
        """An SDK client that signs with `key_file` and trusts the gateway's CA."""
        return Client(self.config(key_file))


def error_code(fn):
    """Runs fn, returns the SDK exception's code (or None if it succeeded)."""
    try:
        fn()
    except TeaException as e:
        return e.code
    except UnretryableException as e:
        inner = getattr(e, "inner_exception", None) or getattr(e, "last_exception", None)
        return getattr(inner, "code", repr(e))
    return None


def poll(fn, timeout=3.0, step=0.1):
    """Calls fn until it returns a truthy value or `timeout` seconds pass; (value, seconds taken)."""
    start = time.time()
    while True:
        v = fn()
        if v or time.time() - start > timeout:
            return v, time.time() - start
        time.sleep(step)


class OpenApiGateway(Gateway):
    """A gateway that also serves the KMS OpenAPI (`aapkit serve --openapi-listen`), with the admin
    AccessKey `aapkit init` wrote to `<data>/admin-access-key.json`."""

    def __init__(self):
        super().__init__()
        self.openapi_port = free_port()

    def init(self, *extra):
        self.cli("init", "--instance-id", INSTANCE, *extra)
        path = os.path.join(self.data, "admin-access-key.json")
        mode = os.stat(path).st_mode & 0o777
        if mode != 0o600:
            raise AssertionError(f"{path} has mode {oct(mode)}, want 0600")
        with open(path) as f:
            self.admin = json.load(f)
        for field in ("AccessKeyId", "AccessKeySecret", "AccountId", "RegionId"):
            if not self.admin.get(field):
                raise AssertionError(f"{path} lacks {field}: {self.admin}")
        return self.admin

    @property
    def region(self):
        return self.admin["RegionId"]

    @property
    def account(self):
        return self.admin["AccountId"]

    def arn(self, resource):
        return f"acs:kms:{self.region}:{self.account}:{resource}"

    @property
    def ca(self):
        return os.path.join(self.data, "ca.pem")

    @property
    def openapi_endpoint(self):
        return f"127.0.0.1:{self.openapi_port}"

    @property
    def openapi_args(self):
        return ("--openapi-listen", self.openapi_endpoint)

    def start(self, *extra):
        super().start(*extra)
        wait_listening(self.openapi_port, self.proc, self.log_path, "the OpenAPI listener")

    def access_key(self, *args):
        """`aapkit access-key ...` (--json)."""
        return self.cli("access-key", *args)

    def kms(self, access_key_id=None, secret=None, **config):
        """The management SDK (alibabacloud-kms20160120, ACS3-HMAC-SHA256) pointed at our OpenAPI over
        HTTPS, trusting the instance CA."""
        from alibabacloud_kms20160120.client import Client as KmsClient
        from alibabacloud_tea_openapi.utils_models import Config as OpenApiConfig

        return KmsClient(OpenApiConfig(
            access_key_id=access_key_id or self.admin["AccessKeyId"],
            access_key_secret=secret or self.admin["AccessKeySecret"],
            endpoint=self.openapi_endpoint,
            protocol="https",
            ca=self.ca,
            region_id=self.region,
            **config,
        ))

    def client_key_file(self, client_key_id, private_key_data):
        """Writes CreateClientKey's answer as the Instance SDK's ClientKeyContent file (the file the
        Terraform provider writes): {"KeyId", "PrivateKeyData"}. Its path."""
        path = os.path.join(self.tmp.name, f"clientKey_{client_key_id}.json")
        with open(path, "w") as f:
            json.dump({"KeyId": client_key_id, "PrivateKeyData": private_key_data}, f)
        return path


class GatewayTestCase(unittest.TestCase):
    """Tests that share one gateway (`cls.g`), stopped and removed after the last test."""

    g = None

    @classmethod
    def start_one_app(cls, *serve_args):
        """The smallest useful set-up: an initialised instance with one AES key (`cls.aes`) that AAP
        `app` may use from loopback through policy `keys`, one client key of `app` (`cls.key_id`,
        `cls.key_file`), the gateway started with an admin listener on a free port (`cls.admin`) and
        `serve_args`, and an SDK client with that key (`cls.c`)."""
        g = cls.g = Gateway()
        g.cli("init", "--instance-id", INSTANCE)
        cls.aes = g.key("Aliyun_AES_256")
        g.network_rule("loopback", *LOOPBACK)
        g.policy("keys", [f"key/{cls.aes}"])
        g.aap("app", "keys")
        cls.key_id, cls.key_file = g.new_client_key("app")
        cls.admin = f"127.0.0.1:{free_port()}"
        g.start("--admin-listen", cls.admin, *serve_args)
        cls.c = g.client(cls.key_file)

    @classmethod
    def tearDownClass(cls):
        if cls.g is not None:
            cls.g.stop()
            cls.g.tmp.cleanup()
