"""What the SDK end-to-end tests share: a data directory built with the `aapkit` CLI, a running
`aapkit serve` over HTTPS with the generated CA, client keys made by `aapkit client-key create`, and
clients of the official KMS Instance SDK for Python (alibabacloud-dkms-gcs) loading them.

The KMS OpenAPI suites (test_openapi_*.py) also use `OpenApiGateway`: the same gateway with the
management OpenAPI listener and the admin AccessKey `aapkit init` writes.

Environment: AAPKIT_BIN (the aapkit binary), AAPKIT_FILTER_WASM (the filter module). The test_*.py
scripts beside this file are run by tests/tests/sdk_e2e.rs with the venv's python.
"""

import ast
import base64
import contextlib
import json
import logging
import os
import re
import socket
import subprocess
import sys
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


class ServerExited(AssertionError):
    """The server exited before it listened (its log is the message)."""


def wait_listening(port, proc, log_path, what="aapkit serve"):
    """Waits until 127.0.0.1:port accepts connections and the server's log says it serves there
    (`... on https://127.0.0.1:<port>`), 60 s, failing early if `proc` exits. The log line proves the
    port is this server's: between `free_port()` and the bind, a test running beside this one may
    take the port, and then something else answers on it."""
    deadline = time.time() + 60
    serving = f"://127.0.0.1:{port}"
    while time.time() < deadline:
        if proc.poll() is not None:
            raise ServerExited(f"{what} exited: {open(log_path).read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                with open(log_path) as log:
                    if serving in log.read():
                        return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} did not start listening on {port} in 60 s")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    """A data directory plus a running `aapkit serve`."""

    # Global flags put before every subcommand, CLI and `serve` alike: `--store URL` for the
    # gateways of one PostgreSQL (test_multi_gateway_sdk.py). None by default.
    global_args = ()

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="aapkit-e2e-")
        self.data = os.path.join(self.tmp.name, "data")
        self.port = free_port()
        self.proc = None
        self.log_path = os.path.join(self.tmp.name, "serve.log")

    def cli(self, *args, check=True):
        cmd = [AAPKIT, "--data-dir", self.data, *self.global_args, "--json", *args]
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
        # A port taken by another test between `free_port()` and the bind: new ports, up to 3 tries.
        for attempt in range(3):
            self.log = open(self.log_path, "w")
            self.proc = subprocess.Popen(
                [AAPKIT, "--data-dir", self.data, *self.global_args, "serve", "--listen",
                 f"127.0.0.1:{self.port}", *self.openapi_args, *extra],
                stdout=self.log,
                stderr=subprocess.STDOUT,
            )
            try:
                self.wait_started()
                return
            except ServerExited as e:
                self.log.close()
                if "Address already in use" not in str(e) or attempt == 2:
                    raise
                self.pick_ports()

    def wait_started(self):
        wait_listening(self.port, self.proc, self.log_path)

    def pick_ports(self):
        self.port = free_port()

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

    def wait_started(self):
        super().wait_started()
        wait_listening(self.openapi_port, self.proc, self.log_path, "the OpenAPI listener")

    def pick_ports(self):
        super().pick_ports()
        self.openapi_port = free_port()

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


# --- the shared KMS gateway and RAM roles (issue 13) -----------------------------------------------
#
# The KMS endpoint is served over plain HTTP here (`--openapi-plain-http`): the Secrets Manager clients
# reach it as `http://127.0.0.1:P`, an endpoint string their transports use verbatim (CORE and DARA
# both keep an explicit scheme), and the credential providers reach STS and the credentials URI the
# same way. Loopback only.

REGION_KEY = "cache_client_region_id"
RAMROLE = "RAMRole"


class PlainOpenApiGateway(OpenApiGateway):
    """An `OpenApiGateway` whose KMS endpoint speaks plain HTTP: the shared gateway, STS
    (AssumeRoleWithOIDC) and the credentials URI all on `http://127.0.0.1:<openapi_port>`."""

    @property
    def openapi_args(self):
        return ("--openapi-listen", self.openapi_endpoint, "--openapi-plain-http")

    @property
    def kms_url(self):
        return f"http://{self.openapi_endpoint}"

    @property
    def instance_endpoint(self):
        return f"127.0.0.1:{self.port}"

    def secret(self, name, data, key_id, data_type="text"):
        self.cli("secret", "create", "--secret-name", name, "--secret-data", data, "--secret-data-type", data_type,
                 "--encryption-key-id", key_id)

    def password_file(self):
        path = os.path.join(self.tmp.name, "password.txt")
        with open(path, "w") as f:
            f.write(PASSWORD)
        return path

    def ram_aap(self, name, *policies):
        self.cli("aap", "create", "--name", name, "--policies", json.dumps(list(policies)),
                 "--authentication-method", RAMROLE)

    def ram_role(self, name, aap, *extra):
        """`aapkit ram-role create` (--json): the role's record, with `CredentialsUriToken` when
        `--credentials-uri-token` is among `extra`."""
        return self.cli("ram-role", "create", "--name", name, "--aap", aap, *extra)

    def credentials_uri(self, role, token):
        return f"{self.kms_url}/v1/credentials?role={role}&token={token}"


@contextlib.contextmanager
def environment(values):
    """Sets (or, for None, removes) environment variables for the duration of the block."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def quiet_logger(name):
    """A logger that drops everything: the Secrets Manager clients log every refused call with its
    traceback, which would bury the test output."""
    log = logging.getLogger(name)
    log.handlers[:] = [logging.NullHandler()]
    log.propagate = False
    return log


# Every variable SMC1 0.1.5 reads (utils/env_const.py); cleared before each configuration so one
# test's settings never leak into the next client built in this process.
SMC1_VARS = ("cache_client_region_id", "credentials_type", "credentials_access_key_id", "credentials_access_secret",
             "credentials_access_token_id", "credentials_access_token", "credentials_role_session_name",
             "credentials_role_arn", "credentials_role_name", "client_key_password", "client_key_private_key_path",
             "client_key_password_from_env_variable", "client_key_password_from_file_path",
             "cache_client_dkms_config_info")


def smc1_client(settings):
    """A Secrets Manager client 0.1.5 (`aliyun-secret-manager-client`, SMC1) cache client configured
    by environment variables exactly as an application would set them (`settings`: name -> value),
    built with a back-off that does not wait (only the transport errors SMC1 retries would use it;
    refusals are not retried)."""
    from alibaba_cloud_secretsmanager_client.secret_manager_cache_client_builder import \
        SecretManagerCacheClientBuilder
    from alibaba_cloud_secretsmanager_client.service.default_secret_manager_client_builder import \
        BaseSecretManagerClientBuilder
    from alibaba_cloud_secretsmanager_client.service.full_jitter_back_off_strategy import \
        FullJitterBackoffStrategy

    values = {k: None for k in SMC1_VARS}
    values.update(settings)
    with environment(values):
        client = BaseSecretManagerClientBuilder.standard().with_back_off_strategy(
            FullJitterBackoffStrategy(retry_max_attempts=0, retry_initial_interval_mills=10, capacity=10)).build()
        return SecretManagerCacheClientBuilder.new_cache_client_builder(client).with_logger(
            quiet_logger("aapkit-e2e-smc1")).build()


def smc1_shared(g, key_file, password_file=None):
    """SMC1 with `credentials_type=client_key` against the KMS endpoint (the shared gateway)."""
    return smc1_client({
        "credentials_type": "client_key",
        "client_key_private_key_path": key_file,
        "client_key_password_from_file_path": password_file or g.password_file(),
        REGION_KEY: json.dumps([{"regionId": g.region, "endpoint": g.kms_url}]),
    })


def smc1_instance(g, key_file, password_file=None):
    """SMC1 in its KMS-instance mode (`cache_client_dkms_config_info`): GetSecretValue through the
    Instance API with dkms-gcs, trusting the instance CA."""
    return smc1_client({
        "cache_client_dkms_config_info": json.dumps([{
            "regionId": g.region,
            "endpoint": g.instance_endpoint,
            "clientKeyFile": key_file,
            "passwordFromFilePath": password_file or g.password_file(),
            "ignoreSslCerts": False,
            "caFilePath": g.ca,
        }]),
    })


def smc1_error(fn):
    """Runs fn, which must raise CORE's ServerException (what SMC1 surfaces for a refusal);
    (code, HTTP status)."""
    from aliyunsdkcore.acs_exception.exceptions import ServerException

    try:
        fn()
    except ServerException as e:
        return e.get_error_code(), e.get_http_status()
    raise AssertionError("the call succeeded; expected a ServerException")


# --- a test OIDC issuer -------------------------------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TestIssuer:
    """An OIDC issuer of our own: an RSA key, its JWKS in a file, RS256 tokens signed with it."""

    def __init__(self, directory, issuer="https://oidc.e2e.test/id/c0ffee", kid="e2e-1"):
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.issuer = issuer
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        nums = self.key.public_key().public_numbers()
        jwk = {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
               "n": b64url(nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")),
               "e": b64url(nums.e.to_bytes(3, "big"))}
        self.jwks_path = os.path.join(directory, "jwks.json")
        with open(self.jwks_path, "w") as f:
            json.dump({"keys": [jwk]}, f)
        self.dir = directory

    def token(self, sub="system:serviceaccount:apps:reader", aud="sts.aliyuncs.com", iss=None, lifetime=600,
              iat=None, key=None):
        """A signed RS256 JWT (compact form)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        iat = now if iat is None else iat
        claims = {"iss": iss or self.issuer, "sub": sub, "aud": aud, "iat": iat, "exp": iat + lifetime}
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        sig = (key or self.key).sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(sig)}"

    def token_file(self, token, name):
        """Writes `token` as a projected service-account token file (with its trailing newline)."""
        path = os.path.join(self.dir, f"token-{name}")
        with open(path, "w") as f:
            f.write(token + "\n")
        return path


# --- SMC2 in a process of its own ----------------------------------------------------------------

SMC2_DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "smc2_driver.py")


class Smc2:
    """`alibabacloud-secretsmanager-client-v2` 2.0.0 (SMC2) running in a fresh Python process
    (tests/e2e/smc2_driver.py): the credentials library reads its environment variables when it is
    imported and keeps the provider that worked, so each credential configuration gets a process.
    `env` is the process's whole Alibaba configuration; nothing else of ours is inherited."""

    def __init__(self, g, env):
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith("ALIBABA_CLOUD_") and not k.startswith("credentials_")
                 and not k.startswith("cache_client_") and k.lower() not in ("http_proxy", "https_proxy")}
        home = os.path.join(g.tmp.name, "home")
        os.makedirs(home, exist_ok=True)
        clean.update({
            "HOME": home,  # no ~/.alibabacloud or ~/.aliyun profile of the machine's user
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
            REGION_KEY: json.dumps([{"regionId": g.region, "endpoint": g.kms_url}]),
        })
        clean.update(env)
        self.err_path = os.path.join(g.tmp.name, f"smc2-{len(os.listdir(g.tmp.name))}.stderr")
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([sys.executable, SMC2_DRIVER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err, text=True, env=clean)
        try:
            self.rebuild({})
        except AssertionError:
            self.close()
            raise

    def call(self, cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            with open(self.err_path) as f:
                raise AssertionError(f"the SMC2 driver exited ({self.proc.returncode}): {f.read()}")
        answer = json.loads(line)
        if answer.get("fatal"):
            raise AssertionError(f"the SMC2 driver failed: {answer}")
        return answer

    def rebuild(self, env):
        """A new SMC2 client in the same process after setting `env` (None removes a variable): for
        the `credentials_*` settings SMC2 reads when it is built, not those the credentials library
        read at import."""
        built = self.call({"op": "build", "env": env})
        if not built["ok"]:
            raise AssertionError(f"SMC2 could not be built: {built}")

    def read(self, name):
        """GetSecretValue through SMC2's cache client (the application's call)."""
        return self.call({"op": "read", "name": name})

    def get(self, name):
        """GetSecretValue through SMC2's SecretManagerClient, no cache: the same credentials
        provider, a fresh request each time."""
        return self.call({"op": "get", "name": name})

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def credential_refusal(answer):
    """The HTTP status and the JSON body of the refusal a credential provider quotes in its
    CredentialException (`http_code: 401, result: {...}` / `http_code=403, result: {...}`)."""
    msg = answer.get("message") or ""
    chain = "providers in the chain: "
    if chain in msg:  # the default chain lists each provider's error: take the one that got an answer
        entries = ast.literal_eval(msg.split(chain, 1)[1])
        msg = next((e for e in entries if "http_code" in e), msg)
    m = re.search(r"http_code[:=] ?(\d+), result: ", msg)
    if not m:
        raise AssertionError(f"not an HTTP refusal from a credential provider: {answer}")
    body, _ = json.JSONDecoder().raw_decode(msg[m.end():])
    return int(m.group(1)), body
