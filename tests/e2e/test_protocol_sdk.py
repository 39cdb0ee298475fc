"""Protocol fidelity with the other official clients (issue 10 §6): the response headers Alibaba's
instance gateway sends and the older Decrypt form, through the official KMS Instance SDK for Python
(alibabacloud-dkms-gcs) against `aapkit serve`.

What is checked comes from the official SDK sources on PyPI:
- alibabacloud-kms-python-sdk (the "transfer" SDK, handlers/*.py) asks the instance gateway for the
  response header `x-kms-migrationkeyversionid` (RuntimeOptions.response_headers) on Encrypt, Decrypt,
  GenerateDataKey(WithoutPlaintext), GetPublicKey, Sign and Verify (AsymmetricEncrypt/Decrypt/Sign/
  Verify), the Advance calls, and fails ("Can not found response headers") without it;
- its DecryptTransferHandler converts a classic ciphertext (36-byte key version id | 12-byte IV |
  ciphertext) into a DecryptRequest with `request_headers={"x-kms-migrationkeyversionid": <version>}`,
  `iv` and the bare ciphertext, and no KeyId.

Environment and set-up: tests/e2e/support.py. Run by tests/tests/sdk_e2e.rs.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from openapi_util.models import RuntimeOptions  # noqa: E402
from sdk import models  # noqa: E402

from support import LOOPBACK, INSTANCE, Gateway, GatewayTestCase, error_code  # noqa: E402

HEADER = "x-kms-migrationkeyversionid"


def blob_version(blob):
    """The key version id inside a self-describing blob ('$' 0x00 0x02 | 36-byte version id | ...)."""
    return blob[3:39].decode()


def with_header():
    return RuntimeOptions(response_headers=[HEADER])


class ProtocolFidelity(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        g = cls.g = Gateway()
        g.cli("init", "--instance-id", INSTANCE)
        cls.aes = g.key("Aliyun_AES_256")
        cls.aes_other = g.key("Aliyun_AES_256")
        cls.rsa = g.key("RSA_2048")
        cls.ec = g.key("EC_P256")
        g.network_rule("loopback", *LOOPBACK)
        g.policy("keys", [f"key/{cls.aes}", f"key/{cls.rsa}", f"key/{cls.ec}"])
        g.policy("other", [f"key/{cls.aes_other}"])
        g.aap("app", "keys")
        g.aap("other-app", "other")
        _, key_file = g.new_client_key("app")
        _, other_file = g.new_client_key("other-app")
        # Response headers and the Decrypt forms are the handler's; the decision on the header's
        # version is policy-core's `authorize`, the same code in both enforcers (the wasm filter's
        # reporting of it is covered by host-runtime/aapkit/tests/all/trust_decision.rs).
        # AAPKIT_E2E_ENFORCER picks the enforcer (default native: quick to start).
        g.start("--enforcer", os.environ.get("AAPKIT_E2E_ENFORCER", "native"))
        cls.c = g.client(key_file)
        cls.other = g.client(other_file)
        cls.versions = {k: g.cli("key", "describe", "--key-id", k)["PrimaryKeyVersion"]
                        for k in (cls.aes, cls.aes_other, cls.rsa, cls.ec)}

    def header(self, resp):
        self.assertIsNotNone(resp.response_headers, "no response headers")
        return resp.response_headers.get(HEADER)

    def test_symmetric_calls_name_the_version_used(self):
        enc = self.c.encrypt_with_options(models.EncryptRequest(key_id=self.aes, plaintext=b"v"), with_header())
        self.assertEqual(self.header(enc), blob_version(enc.ciphertext_blob))
        self.assertEqual(self.header(enc), self.versions[self.aes])
        dec = self.c.decrypt_with_options(models.DecryptRequest(ciphertext_blob=enc.ciphertext_blob), with_header())
        self.assertEqual(self.header(dec), self.versions[self.aes])
        dk = self.c.generate_data_key_with_options(models.GenerateDataKeyRequest(key_id=self.aes), with_header())
        self.assertEqual(self.header(dk), blob_version(dk.ciphertext_blob))
        aenc = self.c.advance_encrypt_with_options(models.AdvanceEncryptRequest(key_id=self.aes, plaintext=b"a"),
                                                   with_header())
        self.assertEqual(self.header(aenc), aenc.key_version_id)
        adec = self.c.advance_decrypt_with_options(models.AdvanceDecryptRequest(ciphertext_blob=aenc.ciphertext_blob),
                                                   with_header())
        self.assertEqual(self.header(adec), aenc.key_version_id)

    def test_asymmetric_calls_name_the_version_used(self):
        pk = self.c.get_public_key_with_options(models.GetPublicKeyRequest(key_id=self.rsa), with_header())
        self.assertEqual(self.header(pk), self.versions[self.rsa])
        sig = self.c.sign_with_options(models.SignRequest(key_id=self.ec, algorithm="ECDSA_SHA_256", message=b"m",
                                                          message_type="RAW"), with_header())
        self.assertEqual(self.header(sig), self.versions[self.ec])
        ver = self.c.verify_with_options(models.VerifyRequest(key_id=self.ec, algorithm="ECDSA_SHA_256", message=b"m",
                                                              message_type="RAW", signature=sig.signature),
                                         with_header())
        self.assertTrue(ver.value)
        self.assertEqual(self.header(ver), self.versions[self.ec])

    def test_older_decrypt_form(self):
        # What the transfer SDK sends for a classic ciphertext: version in the signed header, IV apart.
        enc = self.c.encrypt(models.EncryptRequest(key_id=self.aes, plaintext=b"classic", aad=b"ctx"))
        blob = enc.ciphertext_blob
        version, iv, ciphertext = blob_version(blob), blob[39:51], blob[51:]
        self.assertEqual(iv, enc.iv)
        req = models.DecryptRequest(ciphertext_blob=ciphertext, iv=iv, aad=b"ctx",
                                    request_headers={HEADER: version})
        dec = self.c.decrypt_with_options(req, with_header())
        self.assertEqual(dec.plaintext, b"classic")
        self.assertEqual(dec.key_id, self.aes)
        self.assertEqual(self.header(dec), version)
        # The decision is made on the header's version: a caller without a policy for that key is
        # refused, whatever else the body says.
        req = models.DecryptRequest(ciphertext_blob=ciphertext, iv=iv, aad=b"ctx", request_headers={HEADER: version})
        self.assertEqual(error_code(lambda: self.other.decrypt(req)), "Forbidden.NoPermission")
        # A version the caller may use in the header, another key's self-describing blob in the body:
        # the call runs on the header's version or not at all.
        other_enc = self.other.encrypt(models.EncryptRequest(key_id=self.aes_other, plaintext=b"theirs"))
        req = models.DecryptRequest(ciphertext_blob=other_enc.ciphertext_blob, request_headers={HEADER: version})
        self.assertEqual(error_code(lambda: self.c.decrypt(req)), "InternalFailure")


if __name__ == "__main__":
    unittest.main(verbosity=2)
