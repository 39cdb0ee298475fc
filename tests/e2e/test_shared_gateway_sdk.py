"""End-to-end tests: the Secrets Manager client `aliyun-secret-manager-client` 0.1.5 (SMC1), unmodified,
reading secrets with a client key from both doors of `aapkit serve` (docs/protocol.md#shared-gateway,
docs/bundle-format.md#scopes-and-roles):

- the KMS endpoint, i.e. the shared KMS gateway: `credentials_type=client_key`, which signs the
  classic RPC v1 request with SHA256withRSA; decided by the proxy-wasm filter with the AAP's policies
  in scope `shared`;
- the KMS instance endpoint: SMC1's KMS-instance mode (`cache_client_dkms_config_info`), which
  hands GetSecretValue to the Instance SDK (alibabacloud-dkms-gcs) through
  alibabacloud-dkms-transfer-python; decided with the policies in the instance's scope.

Refusals are asserted with the code and HTTP status SMC1 surfaces (CORE's ServerException). SMC1
does not retry refusals (only throttling, unavailability and transport errors), so no test waits on a
back-off; each client is built afresh, since SMC1 caches a value it has read for an hour.
"""

import base64
import subprocess
import time
import unittest

from aliyunsdkcore.acs_exception.exceptions import ServerException

from support import (AAPKIT, INSTANCE, KEY_USER, LOOPBACK, SECRET_USER, PlainOpenApiGateway, error_code, poll, smc1_error,
                     smc1_instance, smc1_shared)

from sdk import models

SHARED = "shared"
SECRET_USER_SEED = "RbacPermission/Template/SecretUser"  # the seed's name for the shared role
BLOB = b"\x00\x01binary\xff"


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class SharedGatewaySdk(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        g = cls.g = PlainOpenApiGateway()
        g.init()
        aes = cls.aes = g.key("Aliyun_AES_256")
        g.secret("app/db", "s3cr3t-shared", aes)
        g.secret("app/blob", base64.b64encode(BLOB).decode(), aes, data_type="binary")
        g.secret("other/x", "other-value", aes)
        g.network_rule("loopback", *LOOPBACK)
        g.network_rule("elsewhere", "10.9.0.0/16")
        # The console's/Terraform's string for the shared role, and the seed's.
        g.policy("shared-app", ["secret/app/*"], permissions=(SECRET_USER,), scope=SHARED)
        g.policy("shared-other", ["secret/other/*"], permissions=(SECRET_USER_SEED,), scope=SHARED)
        g.policy("shared-elsewhere", ["secret/app/*"], permissions=(SECRET_USER,), scope=SHARED, rules=("elsewhere",))
        g.policy("inst-secrets", ["secret/app/*", f"key/{aes}"], permissions=(KEY_USER, SECRET_USER), scope=INSTANCE)
        g.policy("inst-keys", [f"key/{aes}"], permissions=(KEY_USER,), scope=INSTANCE)
        g.aap("shared-app", "shared-app")
        g.aap("net-app", "shared-elsewhere")
        g.aap("inst-app", "inst-secrets")
        g.aap("role-app", "inst-keys", "shared-other")
        g.aap("both-app", "shared-app", "inst-secrets")
        _, cls.shared_key = g.new_client_key("shared-app")
        _, cls.net_key = g.new_client_key("net-app")
        _, cls.inst_key = g.new_client_key("inst-app")
        _, cls.role_key = g.new_client_key("role-app")
        _, cls.both_key = g.new_client_key("both-app")
        _, cls.expired_key = g.new_client_key("shared-app", "--not-before", "2020-01-01T00:00:00Z",
                                              "--not-after", "2021-01-01T00:00:00Z", "--allow-expired")
        now = int(time.time())
        cls.doomed_id, cls.doomed_key = g.new_client_key("both-app")
        g.aap("future-app", "shared-app")
        _, cls.future_key = g.new_client_key("future-app", "--not-before", iso(now + 86400),
                                             "--not-after", iso(now + 2 * 86400))
        g.start()

    @classmethod
    def tearDownClass(cls):
        cls.g.stop()
        cls.g.tmp.cleanup()

    def shared(self, key_file):
        c = smc1_shared(self.g, key_file)
        self.addCleanup(c.close)
        return c

    def instance(self, key_file):
        c = smc1_instance(self.g, key_file)
        self.addCleanup(c.close)
        return c

    def refused(self, client, name="app/db"):
        return smc1_error(lambda: client.get_secret_info(name))

    # --- reads through the shared gateway --------------------------------------------------------

    def test_reads_a_text_secret(self):
        c = self.shared(self.shared_key)
        info = c.get_secret_info("app/db")
        self.assertEqual(info.secret_name, "app/db")
        self.assertEqual(info.secret_value, "s3cr3t-shared")
        self.assertEqual(info.secret_data_type, "text")
        self.assertTrue(info.version_id)
        self.assertEqual(c.get_secret_value("app/db"), "s3cr3t-shared")

    def test_reads_a_binary_secret(self):
        c = self.shared(self.shared_key)
        info = c.get_secret_info("app/blob")
        self.assertEqual(info.secret_data_type, "binary")
        # SecretData of a binary secret is Alibaba's base64 of the value; SMC1 keeps it as it came.
        self.assertEqual(base64.b64decode(info.secret_value), BLOB)
        with self.assertRaises(ValueError):  # and refuses to read it as text
            c.get_secret_value("app/blob")
        # SMC1 0.1.5's own get_binary_value cannot work on Python 3 with any bytebuffer release
        # (0.1.0-0.1.2): it hands `bytes` to ByteBuffer.wrap, which accepts only `bytearray`. A client
        # bug, not the server's: the value above is what it would have wrapped.
        with self.assertRaises(TypeError):
            c.get_binary_value("app/blob")

    def test_seed_secret_user_string_reads_its_secrets(self):
        c = self.shared(self.role_key)
        self.assertEqual(c.get_secret_value("other/x"), "other-value")

    def test_missing_secret(self):
        self.assertEqual(self.refused(self.shared(self.shared_key), "app/missing"),
                         ("Forbidden.ResourceNotFound", 404))

    def test_secret_outside_the_policy_resources(self):
        self.assertEqual(self.refused(self.shared(self.shared_key), "other/x"), ("Forbidden.NoPermission", 403))

    # --- refusals ----------------------------------------------------------------------------------

    def test_instance_scoped_policy_only(self):
        # A key whose AAP reads app/db on the instance (below) cannot read it through the shared gateway.
        self.assertEqual(self.refused(self.shared(self.inst_key)), ("Forbidden.NoPermission", 403))

    def test_network_rule_excludes_the_source(self):
        self.assertEqual(self.refused(self.shared(self.net_key)), ("Forbidden.NoPermission", 403))

    def test_aap_without_the_secret_role(self):
        # KeyUser (instance) + SecretUser on other/* (shared): nothing grants app/db on the shared gateway.
        self.assertEqual(self.refused(self.shared(self.role_key)), ("Forbidden.NoPermission", 403))
        # A shared policy with KeyUser alone could never allow anything: it cannot even be created.
        p = subprocess.run([AAPKIT, "--data-dir", self.g.data, "policy", "create", "--name", "shared-keyuser",
                            "--permissions", f'["{KEY_USER}"]', "--resources", '["secret/app/*"]',
                            "--kms-instance", SHARED, "--access-control-rules", '{"NetworkRules":["loopback"]}'],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("can never allow anything", p.stderr + p.stdout)

    def test_expired_client_key(self):
        self.assertEqual(self.refused(self.shared(self.expired_key)), ("InvalidAccessKeyId.Inactive", 403))

    def test_not_yet_valid_client_key(self):
        self.assertEqual(self.refused(self.shared(self.future_key)), ("InvalidAccessKeyId.Inactive", 403))

    def test_deleted_client_key(self):
        self.assertEqual(self.shared(self.doomed_key).get_secret_value("app/db"), "s3cr3t-shared")
        self.assertEqual(self.instance(self.doomed_key).get_secret_value("app/db"), "s3cr3t-shared")
        self.g.cli("client-key", "delete", "--client-key-id", self.doomed_id, "--force")

        def refused_now():
            c = smc1_shared(self.g, self.doomed_key)  # a fresh client: SMC1 would serve its cache
            try:
                return self.refused(c)
            except AssertionError:
                return None
            finally:
                c.close()

        got, _ = poll(refused_now, timeout=5)
        self.assertEqual(got, ("InvalidAccessKeyId.NotFound", 404))

    # --- the instance endpoint, and the cross-checks --------------------------------------------

    def test_instance_mode_reads_a_secret(self):
        c = self.instance(self.inst_key)
        info = c.get_secret_info("app/db")
        self.assertEqual(info.secret_value, "s3cr3t-shared")
        self.assertEqual(info.secret_data_type, "text")

    def test_one_key_both_doors(self):
        self.assertEqual(self.shared(self.both_key).get_secret_value("app/db"), "s3cr3t-shared")
        self.assertEqual(self.instance(self.both_key).get_secret_value("app/db"), "s3cr3t-shared")

    def test_shared_only_key_cannot_use_the_instance(self):
        # Through SMC1's instance mode (dkms-transfer turns the Instance SDK's error into CORE's) ...
        code, _ = smc1_error(lambda: self.instance(self.shared_key).get_secret_info("app/db"))
        self.assertEqual(code, "Forbidden.NoPermission")
        # ... and through the Instance SDK itself.
        dkms = self.g.client(self.shared_key)
        self.assertEqual(error_code(lambda: dkms.get_secret_value(models.GetSecretValueRequest(secret_name="app/db"))),
                         "Forbidden.NoPermission")

    def test_refusals_are_server_exceptions_not_retried(self):
        # One attempt, promptly: SMC1 retries only throttling/unavailability/transport errors.
        start = time.time()
        with self.assertRaises(ServerException):
            self.shared(self.net_key).get_secret_info("app/db")
        self.assertLess(time.time() - start, 2.0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
