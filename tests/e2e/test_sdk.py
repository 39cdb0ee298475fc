"""End-to-end tests: the official KMS Instance SDK for Python (alibabacloud-dkms-gcs) against `aapkit serve`.

The test builds a data directory with the `aapkit` CLI (keys, a secret, network rules, policies, AAPs and
client keys made by `aapkit client-key create`), starts the gateway over HTTPS with the generated CA, and
calls all 15 Instance APIs through the unmodified SDK. Denials are checked as the SDK reports them: the
TeaException's code.

Environment and set-up: tests/e2e/support.py. Run by tests/tests/sdk_e2e.rs with the venv's python.
"""

import base64
import hashlib
import time
import unittest

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from sdk.client import Client
from sdk import models

from support import INSTANCE, KEY_USER, LOOPBACK, SECRET_USER, Gateway, GatewayTestCase, error_code


class SdkEndToEnd(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        g = cls.g = Gateway()
        g.cli("init", "--instance-id", INSTANCE)
        cls.aes = g.key("Aliyun_AES_256")
        cls.aes_other = g.key("Aliyun_AES_256")
        cls.rsa = g.key("RSA_2048")
        cls.ec = g.key("EC_P256")
        cls.disabled = g.key("Aliyun_AES_256")
        g.cli("alias", "create", "--alias-name", "alias/e2e-aes", "--key-id", cls.aes)
        g.cli("secret", "create", "--secret-name", "db/password", "--secret-data", "s3cr3t-v1",
              "--encryption-key-id", cls.aes)
        g.cli("secret", "put-value", "--secret-name", "db/password", "--secret-data", "s3cr3t-v2")
        g.cli("secret", "create", "--secret-name", "blob", "--secret-data",
              base64.b64encode(b"\x00\x01binary").decode(), "--secret-data-type", "binary",
              "--encryption-key-id", cls.aes)
        g.cli("secret", "create", "--secret-name", "other-key-secret", "--secret-data", "x",
              "--encryption-key-id", cls.aes_other)
        g.network_rule("loopback", *LOOPBACK)
        g.network_rule("elsewhere", "10.9.0.0/16")
        g.policy("app-keys", [f"key/{cls.aes}", f"key/{cls.rsa}", f"key/{cls.ec}", f"key/{cls.disabled}",
                              "secret/db/password", "secret/blob", "secret/other-key-secret"],
                 permissions=(KEY_USER, SECRET_USER))
        g.policy("wrong-net", ["key/*"], rules=("elsewhere",))
        g.policy("wrong-scope", ["key/*"], scope="kst-someotherinstance01")
        g.aap("app", "app-keys")
        g.aap("net-app", "wrong-net")
        g.aap("scope-app", "wrong-scope")
        cls.key_id, cls.key_file = g.new_client_key("app")
        _, cls.net_file = g.new_client_key("net-app")
        _, cls.scope_file = g.new_client_key("scope-app")
        _, cls.expired_file = g.new_client_key("app", "--not-before", "2020-01-01T00:00:00Z",
                                               "--not-after", "2021-01-01T00:00:00Z", "--allow-expired")
        g.start()
        cls.c = g.client(cls.key_file)

    # --- round trips over all 15 APIs -------------------------------------------------------------

    def test_encrypt_decrypt(self):
        enc = self.c.encrypt(models.EncryptRequest(key_id=self.aes, plaintext=b"hello aapkit", aad=b"ctx"))
        self.assertEqual(enc.key_id, self.aes)
        dec = self.c.decrypt(models.DecryptRequest(ciphertext_blob=enc.ciphertext_blob, aad=b"ctx", iv=enc.iv,
                                                   key_id=self.aes))
        self.assertEqual(dec.plaintext, b"hello aapkit")
        # the blob alone is enough
        dec = self.c.decrypt(models.DecryptRequest(ciphertext_blob=enc.ciphertext_blob, aad=b"ctx"))
        self.assertEqual(dec.plaintext, b"hello aapkit")

    def test_encrypt_by_alias(self):
        enc = self.c.encrypt(models.EncryptRequest(key_id="alias/e2e-aes", plaintext=b"via alias"))
        dec = self.c.decrypt(models.DecryptRequest(ciphertext_blob=enc.ciphertext_blob))
        self.assertEqual(dec.plaintext, b"via alias")

    def test_advance_encrypt_decrypt(self):
        enc = self.c.advance_encrypt(models.AdvanceEncryptRequest(key_id=self.aes, plaintext=b"advance"))
        self.assertTrue(enc.key_version_id)
        dec = self.c.advance_decrypt(models.AdvanceDecryptRequest(ciphertext_blob=enc.ciphertext_blob))
        self.assertEqual(dec.plaintext, b"advance")

    def test_generate_data_key_then_decrypt(self):
        dk = self.c.generate_data_key(models.GenerateDataKeyRequest(key_id=self.aes, number_of_bytes=32))
        self.assertEqual(len(dk.plaintext), 32)
        dec = self.c.decrypt(models.DecryptRequest(ciphertext_blob=dk.ciphertext_blob))
        self.assertEqual(dec.plaintext, dk.plaintext)

    def test_advance_generate_data_key(self):
        dk = self.c.advance_generate_data_key(models.AdvanceGenerateDataKeyRequest(key_id=self.aes, number_of_bytes=16))
        self.assertEqual(len(dk.plaintext), 16)
        dec = self.c.advance_decrypt(models.AdvanceDecryptRequest(ciphertext_blob=dk.ciphertext_blob))
        self.assertEqual(dec.plaintext, dk.plaintext)

    def test_data_key_pairs(self):
        for call, req in [
            (self.c.generate_data_key_pair, models.GenerateDataKeyPairRequest(key_id=self.aes, key_pair_spec="EC_P256")),
            (self.c.advance_generate_data_key_pair,
             models.AdvanceGenerateDataKeyPairRequest(key_id=self.aes, key_pair_spec="RSA_2048")),
        ]:
            r = call(req)
            self.assertTrue(r.public_key)
            dec = self.c.decrypt(models.DecryptRequest(ciphertext_blob=r.private_key_ciphertext_blob))
            self.assertEqual(dec.plaintext, r.private_key_plaintext)
        for call, req in [
            (self.c.generate_data_key_pair_without_plaintext,
             models.GenerateDataKeyPairWithoutPlaintextRequest(key_id=self.aes, key_pair_spec="EC_P256")),
            (self.c.advance_generate_data_key_pair_without_plaintext,
             models.AdvanceGenerateDataKeyPairWithoutPlaintextRequest(key_id=self.aes, key_pair_spec="EC_P256")),
        ]:
            r = call(req)
            self.assertTrue(r.public_key)
            self.assertTrue(r.private_key_ciphertext_blob)

    def test_sign_verify_rsa_and_ec(self):
        msg = b"message to sign"
        digest = hashlib.sha256(msg).digest()
        for key, alg in [(self.rsa, "RSA_PSS_SHA_256"), (self.rsa, "RSA_PKCS1_SHA_256"), (self.ec, "ECDSA_SHA_256")]:
            s = self.c.sign(models.SignRequest(key_id=key, algorithm=alg, message=digest, message_type="DIGEST"))
            v = self.c.verify(models.VerifyRequest(key_id=key, algorithm=alg, message=digest, message_type="DIGEST",
                                                   signature=s.signature))
            self.assertTrue(v.value, alg)
            bad = self.c.verify(models.VerifyRequest(key_id=key, algorithm=alg, message=hashlib.sha256(b"x").digest(),
                                                     message_type="DIGEST", signature=s.signature))
            self.assertFalse(bad.value, alg)
        # RAW message, checked locally against the public key
        s = self.c.sign(models.SignRequest(key_id=self.rsa, algorithm="RSA_PKCS1_SHA_256", message=msg,
                                           message_type="RAW"))
        pem = self.c.get_public_key(models.GetPublicKeyRequest(key_id=self.rsa)).public_key
        pub = serialization.load_pem_public_key(pem.encode())
        pub.verify(s.signature, msg, padding.PKCS1v15(), hashes.SHA256())
        s = self.c.sign(models.SignRequest(key_id=self.ec, algorithm="ECDSA_SHA_256", message=msg, message_type="RAW"))
        pem = self.c.get_public_key(models.GetPublicKeyRequest(key_id=self.ec)).public_key
        serialization.load_pem_public_key(pem.encode()).verify(s.signature, msg, ec.ECDSA(hashes.SHA256()))

    def test_rsa_encrypt_decrypt(self):
        enc = self.c.encrypt(models.EncryptRequest(key_id=self.rsa, plaintext=b"asym", algorithm="RSAES_OAEP_SHA_256"))
        dec = self.c.decrypt(models.DecryptRequest(key_id=self.rsa, ciphertext_blob=enc.ciphertext_blob,
                                                   algorithm="RSAES_OAEP_SHA_256"))
        self.assertEqual(dec.plaintext, b"asym")

    def test_generate_random(self):
        r = self.c.generate_random(models.GenerateRandomRequest(length=24))
        self.assertEqual(len(r.random), 24)

    def test_get_secret_value(self):
        r = self.c.get_secret_value(models.GetSecretValueRequest(secret_name="db/password"))
        self.assertEqual(r.secret_data, "s3cr3t-v2")
        self.assertIn("ACSCurrent", r.version_stages)
        prev = self.c.get_secret_value(models.GetSecretValueRequest(secret_name="db/password",
                                                                    version_stage="ACSPrevious"))
        self.assertEqual(prev.secret_data, "s3cr3t-v1")
        b = self.c.get_secret_value(models.GetSecretValueRequest(secret_name="blob"))
        self.assertEqual(b.secret_data_type, "binary")
        self.assertEqual(base64.b64decode(b.secret_data), b"\x00\x01binary")

    # --- denials, as the SDK reports them ---------------------------------------------------------

    def test_resource_outside_policy(self):
        code = error_code(lambda: self.c.encrypt(models.EncryptRequest(key_id=self.aes_other, plaintext=b"x")))
        self.assertEqual(code, "Forbidden.NoPermission")

    def test_secret_needs_key_permission_too(self):
        code = error_code(lambda: self.c.get_secret_value(models.GetSecretValueRequest(secret_name="other-key-secret")))
        self.assertEqual(code, "Forbidden.NoPermission")

    def test_source_ip_outside_network_rules(self):
        c = self.g.client(self.net_file)
        code = error_code(lambda: c.encrypt(models.EncryptRequest(key_id=self.aes, plaintext=b"x")))
        self.assertEqual(code, "Forbidden.NoPermission")

    def test_wrong_scope(self):
        c = self.g.client(self.scope_file)
        code = error_code(lambda: c.encrypt(models.EncryptRequest(key_id=self.aes, plaintext=b"x")))
        self.assertEqual(code, "Forbidden.NoPermission")

    def test_expired_client_key(self):
        c = self.g.client(self.expired_file)
        code = error_code(lambda: c.encrypt(models.EncryptRequest(key_id=self.aes, plaintext=b"x")))
        self.assertEqual(code, "Unauthorized")

    def test_disabled_key(self):
        self.g.cli("key", "disable", "--key-id", self.disabled)
        time.sleep(1.5)  # the server reloads control-plane changes within one second
        code = error_code(lambda: self.c.encrypt(models.EncryptRequest(key_id=self.disabled, plaintext=b"x")))
        self.assertEqual(code, "Rejected.Disabled")

    def test_deleted_client_key(self):
        key_id, path = self.g.new_client_key("net-app")
        c = self.g.client(path)
        time.sleep(1.5)
        # reaches policy evaluation (network denial), so the key is known ...
        self.assertEqual(error_code(lambda: c.generate_random(models.GenerateRandomRequest(length=8))),
                         "Forbidden.NoPermission")
        self.g.cli("client-key", "delete", "--client-key-id", key_id, "--force")
        time.sleep(1.5)
        # ... and after deletion it is unknown
        self.assertEqual(error_code(lambda: c.generate_random(models.GenerateRandomRequest(length=8))), "Unauthorized")

    def test_wrong_password_is_reported_by_sdk_loader(self):
        with self.assertRaises(Exception):
            Client(self.g.config(self.key_file, password="Wrong-passw0rd"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
