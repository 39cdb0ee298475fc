"""Operations, seen from the official Python SDK: the QPS quota's 429 Rejected.Throttling is retried
by the SDK after its 1 s backoff and succeeds; the audit log records both attempts; /metrics counts
the rejection.

Environment and set-up: tests/e2e/support.py. Run by tests/tests/sdk_e2e.rs.
"""

import time
import unittest
import urllib.request

from openapi_util.models import RuntimeOptions
from sdk import models

from support import GatewayTestCase, error_code


class OpsSdkEndToEnd(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        # The 1000 spec: the DataKeyPair group is 1 QPS.
        cls.start_one_app("--qps-spec", "1000")

    def pair(self, runtime=None):
        req = models.GenerateDataKeyPairRequest(key_id=self.aes, key_pair_spec="EC_P256")
        if runtime is None:
            return self.c.generate_data_key_pair(req)
        return self.c.generate_data_key_pair_with_options(req, runtime)

    def test_1_throttled_call_is_retried_by_the_sdk(self):
        time.sleep(1.1)  # a full bucket
        self.assertTrue(self.pair().public_key)
        t0 = time.time()
        r = self.pair()  # 429 first, then the SDK's retry after 1 s succeeds
        elapsed = time.time() - t0
        self.assertTrue(r.public_key)
        self.assertGreaterEqual(elapsed, 0.9, "the second call waited for the SDK's backoff")

        time.sleep(0.6)  # the audit writer commits every 200 ms
        rows = self.g.cli("audit", "query", "--client-key", self.key_id, "--api", "GenerateDataKeyPair")["AuditLogs"]
        codes = sorted(r["ErrorCode"] for r in rows)
        self.assertEqual(codes, ["", "", "Rejected.Throttling"], rows)
        throttled = [r for r in rows if r["ErrorCode"]][0]
        self.assertEqual((throttled["Decision"], throttled["HttpStatus"]), ("Deny", 429))

    def test_2_without_retries_the_sdk_reports_throttling(self):
        time.sleep(1.1)
        self.pair()
        code = error_code(lambda: self.pair(RuntimeOptions(autoretry=False)))
        self.assertEqual(code, "Rejected.Throttling")

    def test_3_metrics(self):
        with urllib.request.urlopen(f"http://{self.admin}/metrics", timeout=10) as resp:
            self.assertEqual(resp.status, 200)
            self.assertIn("application/openmetrics-text", resp.headers["content-type"])
            text = resp.read().decode()
        rejected = [l for l in text.splitlines() if l.startswith('aapkit_quota_rejections_total{group="DataKeyPair"}')]
        self.assertEqual(len(rejected), 1, text)
        self.assertGreaterEqual(int(rejected[0].split()[-1]), 2)
        self.assertIn('aapkit_requests_total{api="GenerateDataKeyPair",decision="allow",code="OK"}', text)
        # The client key is counted in a closed expiry bucket, never named in a series.
        self.assertIn('aapkit_client_keys{expires_within="later"} 1', text)
        self.assertNotIn(self.key_id, text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
