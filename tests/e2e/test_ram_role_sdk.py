"""End-to-end tests: RAM-role credentials (docs/ram-roles.md) with the official clients, unmodified,
against `aapkit serve` (KMS endpoint, STS and the credentials URI on one plain-HTTP loopback listener):

- `alibabacloud-secretsmanager-client-v2` 2.0.0 (SMC2) through the credentials URI
  (`ALIBABA_CLOUD_CREDENTIALS_URI`, the credentials library's default chain) and through
  `credentials_type=oidc_role_arn` (AssumeRoleWithOIDC, `credentials_sts_endpoint`) with JWTs signed by
  a test issuer whose JWKS is a file: reads a secret with the session (ACS3-HMAC-SHA256 with
  `x-acs-security-token`), refused for an expired, tampered, wrong-audience, wrong-issuer or
  wrong-subject token, for a wrong credentials-URI token, and — after the role is deleted — for the
  session it had issued and for every new fetch;
- the session on the other signature and the other SDKs: the management SDK
  (alibabacloud-kms20160120, ACS3) and the core SDK (RPC v1 HMAC-SHA1 with `SecurityToken`) read the
  secret and are refused management actions.

SMC2 runs in processes of its own (support.Smc2): the credentials library reads its environment at
import and keeps the provider that worked.
"""

import calendar
import json
import time
import unittest
import urllib.error
import urllib.request

from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest as CoreGetSecretValue
from aliyunsdkkms.request.v20160120.ListNetworkRulesRequest import ListNetworkRulesRequest
from Tea.exceptions import TeaException

from support import LOOPBACK, SECRET_USER, PlainOpenApiGateway, Smc2, TestIssuer, credential_refusal, poll, smc1_error

AUDIENCE = "sts.aliyuncs.com"
SUBJECTS = "system:serviceaccount:apps:*"


class RamRoleSdk(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        g = cls.g = PlainOpenApiGateway()
        g.init()
        aes = g.key("Aliyun_AES_256")
        g.secret("app/db", "ram-s3cr3t", aes)
        g.secret("other/x", "other-value", aes)
        g.network_rule("loopback", *LOOPBACK)
        g.policy("reader", ["secret/app/*"], permissions=(SECRET_USER,), scope="shared")
        g.ram_aap("ram-app", "reader")
        cls.issuer = TestIssuer(g.tmp.name)
        trust = ("--credentials-uri-token", "--oidc-issuer", cls.issuer.issuer, "--oidc-audience", AUDIENCE,
                 "--oidc-subject", SUBJECTS, "--oidc-jwks-file", cls.issuer.jwks_path)
        cls.role = g.ram_role("App-Reader", "ram-app", *trust)
        cls.doomed = g.ram_role("Doomed-Role", "ram-app", *trust)
        for r in (cls.role, cls.doomed):
            assert r.get("CredentialsUriToken") and r.get("Arn"), r
        g.start()
        cls.good_token = cls.issuer.token_file(cls.issuer.token(), "good")

    @classmethod
    def tearDownClass(cls):
        cls.g.stop()
        cls.g.tmp.cleanup()

    # --- helpers ---------------------------------------------------------------------------------

    def smc2(self, env):
        c = Smc2(self.g, env)
        self.addCleanup(c.close)
        return c

    def uri_env(self, role, token):
        return {"ALIBABA_CLOUD_CREDENTIALS_URI": self.g.credentials_uri(role["RoleName"], token)}

    def oidc_env(self, token_file, role=None):
        role = role or self.role
        return {
            "credentials_type": "oidc_role_arn",
            "credentials_sts_endpoint": self.g.kms_url,
            "credentials_role_arn": role["Arn"],
            "credentials_oidc_provider_arn": f"acs:ram::{self.g.account}:oidc-provider/{role['RoleName']}",
            "credentials_oidc_token_file_path": token_file,
            "credentials_role_session_name": "e2e-reader",
        }

    def assert_reads(self, answer, value="ram-s3cr3t"):
        self.assertTrue(answer["ok"], answer)
        self.assertEqual((answer["value"], answer["type"]), (value, "text"))

    def assert_sts_refusal(self, answer, code, status):
        self.assertFalse(answer["ok"], answer)
        # what SMC2 raises: darabonba's UnretryableException around the provider's CredentialException
        self.assertEqual((answer["error"], answer["cause"]), ("UnretryableException", "CredentialException"), answer)
        got_status, body = credential_refusal(answer)
        self.assertEqual((body.get("Code"), got_status), (code, status), answer)

    def session(self, role=None):
        """Fetches a session from the credentials URI as the credentials library does (one GET)."""
        role = role or self.role
        with urllib.request.urlopen(self.g.credentials_uri(role["RoleName"], role["CredentialsUriToken"]),
                                    timeout=10) as r:
            body = json.load(r)
        self.assertEqual(body["Code"], "Success", body)
        self.assertTrue(body["AccessKeyId"].startswith("STS."), body)
        self.assertRegex(body["Expiration"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        # the role's MaxSessionDuration (default 3600 s): the providers refresh 15 minutes before it
        left = calendar.timegm(time.strptime(body["Expiration"], "%Y-%m-%dT%H:%M:%SZ")) - time.time()
        self.assertTrue(3500 < left <= 3600, left)
        return body

    # --- the credentials URI ---------------------------------------------------------------------

    def test_credentials_uri_reads_a_secret(self):
        c = self.smc2(self.uri_env(self.role, self.role["CredentialsUriToken"]))
        self.assert_reads(c.read("app/db"))
        # the session has the AAP's policies: nothing outside secret/app/*
        other = c.get("other/x")
        self.assertEqual((other.get("code"), other.get("status")), ("Forbidden.NoPermission", 403), other)

    def test_credentials_uri_wrong_token(self):
        token = self.role["CredentialsUriToken"]
        bad = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        c = self.smc2(self.uri_env(self.role, bad))
        self.assert_sts_refusal(c.read("app/db"), "Forbidden.CredentialsUriToken", 403)

    # --- AssumeRoleWithOIDC ----------------------------------------------------------------------

    def test_oidc_reads_a_secret(self):
        c = self.smc2(self.oidc_env(self.good_token))
        self.assert_reads(c.read("app/db"))
        self.assert_reads(c.get("app/db"))

    def test_oidc_refusals(self):
        iss = self.issuer
        now = int(time.time())
        good = iss.token()
        head, payload, sig = good.split(".")
        cases = [
            ("expired", iss.token(iat=now - 7200, lifetime=600), "AuthenticationFail.OIDCToken.Expired", 401),
            # the claims changed after signing (another subject), the signature kept
            ("tampered", ".".join([head, iss.token(sub="system:serviceaccount:apps:admin").split(".")[1], sig]),
             "AuthenticationFail.OIDCToken.InvalidSignature", 401),
            ("audience", iss.token(aud="kubernetes.default.svc"), "AuthenticationFail.OIDCToken.AudienceNotMatch", 401),
            ("issuer", iss.token(iss="https://oidc.e2e.test/id/someone-else"),
             "AuthenticationFail.OIDCToken.IssuerNotMatch", 401),
            ("subject", iss.token(sub="system:serviceaccount:other:reader"), "AuthenticationFail.NoPermission", 401),
        ]
        c = self.smc2(self.oidc_env(self.good_token))
        self.assert_reads(c.read("app/db"))  # the process and the trust are sound
        for name, token, code, status in cases:
            with self.subTest(name):
                c.rebuild(self.oidc_env(iss.token_file(token, name)))
                self.assert_sts_refusal(c.read("app/db"), code, status)

    # --- revocation: deleting the role -----------------------------------------------------------

    def test_deleted_role(self):
        uri = self.smc2(self.uri_env(self.doomed, self.doomed["CredentialsUriToken"]))
        oidc = self.smc2(self.oidc_env(self.good_token, role=self.doomed))
        self.assert_reads(uri.get("app/db"))
        self.assert_reads(oidc.get("app/db"))
        self.g.cli("ram-role", "delete", "--name", "Doomed-Role")

        # The sessions already issued (still cached by both providers, an hour from expiry) stop working.
        for c in (uri, oidc):
            got, _ = poll(lambda: (lambda a: None if a["ok"] else a)(c.get("app/db")), timeout=5)
            self.assertTrue(got, "the session still works after its role was deleted")
            self.assertEqual((got.get("code"), got.get("status")), ("InvalidAccessKeyId.NotFound", 404), got)
        # And no new session: the credentials URI no longer knows the role; nor does STS.
        fresh = self.smc2(self.uri_env(self.doomed, self.doomed["CredentialsUriToken"]))
        self.assert_sts_refusal(fresh.read("app/db"), "Forbidden.CredentialsUriToken", 403)
        oidc.rebuild(self.oidc_env(self.good_token, role=self.doomed))
        self.assert_sts_refusal(oidc.read("app/db"), "EntityNotExist.Role", 404)

    # --- the session with the other SDKs and signatures ----------------------------------------------

    def test_management_sdk_with_a_session(self):
        from alibabacloud_kms20160120 import models as km
        from alibabacloud_kms20160120.client import Client as KmsClient
        from alibabacloud_tea_openapi.utils_models import Config as OpenApiConfig

        s = self.session()
        kms = KmsClient(OpenApiConfig(access_key_id=s["AccessKeyId"], access_key_secret=s["AccessKeySecret"],
                                      security_token=s["SecurityToken"], endpoint=self.g.openapi_endpoint,
                                      protocol="http", region_id=self.g.region))
        got = kms.get_secret_value(km.GetSecretValueRequest(secret_name="app/db"))
        self.assertEqual(got.body.secret_data, "ram-s3cr3t")
        with self.assertRaises(TeaException) as refused:
            kms.list_network_rules(km.ListNetworkRulesRequest())
        e = refused.exception
        self.assertEqual((e.code, e.data.get("statusCode")), ("Forbidden.NoPermission", 403))
        # a session's token is part of its credential
        forged = KmsClient(OpenApiConfig(access_key_id=s["AccessKeyId"], access_key_secret=s["AccessKeySecret"],
                                         security_token=s["SecurityToken"][:-4] + "AAAA",
                                         endpoint=self.g.openapi_endpoint, protocol="http", region_id=self.g.region))
        with self.assertRaises(TeaException) as refused:
            forged.get_secret_value(km.GetSecretValueRequest(secret_name="app/db"))
        e = refused.exception
        self.assertEqual((e.code, e.data.get("statusCode")), ("InvalidSecurityToken.MismatchWithAccessKey", 400))

    def test_core_sdk_rpc_v1_with_a_session(self):
        s = self.session()
        acs = AcsClient(region_id=self.g.region, auto_retry=False,
                        credential=StsTokenCredential(s["AccessKeyId"], s["AccessKeySecret"], s["SecurityToken"]))

        def request(r):
            r.set_endpoint(self.g.openapi_endpoint)
            r.set_protocol_type("http")
            r.set_accept_format("JSON")
            return r

        r = request(CoreGetSecretValue())
        r.set_SecretName("app/db")
        body = json.loads(acs.do_action_with_exception(r))
        self.assertEqual((body["SecretData"], body["SecretDataType"]), ("ram-s3cr3t", "text"))
        self.assertEqual(smc1_error(lambda: acs.do_action_with_exception(request(ListNetworkRulesRequest()))),
                         ("Forbidden.NoPermission", 403))

    def test_credentials_uri_is_get_only_and_token_protected(self):
        # What the credentials library relies on: 200 + flat JSON for the right token, a JSON refusal else.
        self.session()
        try:
            urllib.request.urlopen(self.g.credentials_uri("App-Reader", "wrong"), timeout=10)
            self.fail("a wrong token was accepted")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 403)
            self.assertEqual(json.load(e)["Code"], "Forbidden.CredentialsUriToken")


if __name__ == "__main__":
    unittest.main(verbosity=2)
