"""Issue 10 §6: a request body over 3 MiB reaches the official Python SDK as a clean 413 with a
protobuf Error (code RequestEntityTooLarge) in one attempt: the gateway drains the body (within a
bound) before it answers and closes, so the SDK does not meet a reset that it would retry.

Environment and set-up: tests/e2e/support.py. Run by tests/tests/sdk_e2e.rs.
"""

import time
import unittest
import urllib.request

from sdk import models
from Tea.exceptions import TeaException, UnretryableException

from support import GatewayTestCase


class LimitsSdkEndToEnd(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        # The 413 is decided before the enforcer runs; the native one starts at once.
        cls.start_one_app("--enforcer", "native")

    def count(self, code):
        with urllib.request.urlopen(f"http://{self.admin}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        prefix = f'aapkit_requests_total{{api="Encrypt",decision="deny",code="{code}"}}'
        return sum(int(l.split()[-1]) for l in text.splitlines() if l.startswith(prefix))

    def test_oversize_body_is_a_413_in_one_attempt(self):
        t0 = time.time()
        try:
            self.c.encrypt(models.EncryptRequest(key_id=self.aes, plaintext=b"\x00" * ((3 << 20) + 4096)))
            self.fail("a 3 MiB + 4 KiB plaintext was accepted")
        except UnretryableException as e:
            self.fail(f"the SDK retried and gave up (a reset, not the 413): {e!r}")
        except TeaException as e:
            self.assertEqual(e.code, "RequestEntityTooLarge", e)
            self.assertEqual(e.data.get("httpCode"), 413, e.data)
        # The SDK backs off 1 s before a retry: one attempt finishes well before that.
        self.assertLess(time.time() - t0, 5)
        self.assertEqual(self.count("RequestEntityTooLarge"), 1)
        # The connection was closed cleanly; the next call works.
        self.assertTrue(self.c.encrypt(models.EncryptRequest(key_id=self.aes, plaintext=b"small")).ciphertext_blob)


if __name__ == "__main__":
    unittest.main(verbosity=2)
