"""End-to-end tests: the older official core SDK (`aliyun-python-sdk-core` + `aliyun-python-sdk-kms`,
unmodified: RPC signature v1, HMAC-SHA1 — the signer the Terraform provider uses) against the KMS
OpenAPI of `aapkit serve` over HTTPS with the instance CA.

Terraform cannot be installed on the CI machine, so this suite stands in for it: the business
parameters of every write travel in an `application/x-www-form-urlencoded` body, as the provider sends
them (`RpcPost(..., nil query, body)`); reads use the SDK's own request classes (query parameters, GET
for GetClientKey / ListClientKeys). Then the requests the gateway must refuse — tampered signature,
expired Timestamp, replayed SignatureNonce, unknown and disabled AccessKey, wrong Version, unknown
action — each with its code, none leaving a change behind (docs/openapi.md#errors).
"""

import json
import time
import unittest

import requests
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from aliyunsdkcore.utils import parameter_helper
from aliyunsdkkms.request.v20160120.CreateNetworkRuleRequest import CreateNetworkRuleRequest
from aliyunsdkkms.request.v20160120.DescribeNetworkRuleRequest import DescribeNetworkRuleRequest
from aliyunsdkkms.request.v20160120.DescribePolicyRequest import DescribePolicyRequest
from aliyunsdkkms.request.v20160120.GetClientKeyRequest import GetClientKeyRequest
from aliyunsdkkms.request.v20160120.ListClientKeysRequest import ListClientKeysRequest
from aliyunsdkkms.request.v20160120.ListNetworkRulesRequest import ListNetworkRulesRequest
from sdk import models as im

from support import INSTANCE, KEY_USER, PASSWORD, OpenApiGateway, error_code, poll

VERSION = "2016-01-20"


def core_error(fn):
    """Runs fn, which must raise CORE's ServerException; (code, HTTP status, message)."""
    try:
        fn()
    except ServerException as e:
        return e.get_error_code(), e.get_http_status(), e.get_error_msg()
    raise AssertionError("the call succeeded; expected a ServerException")


class OpenApiCoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        g = cls.g = OpenApiGateway()
        g.init()
        g.start()
        cls.acs = cls.client()

    @classmethod
    def tearDownClass(cls):
        cls.g.stop()
        cls.g.tmp.cleanup()

    @classmethod
    def client(cls, ak=None, secret=None):
        g = cls.g
        return AcsClient(ak or g.admin["AccessKeyId"], secret or g.admin["AccessKeySecret"], g.region,
                         verify=g.ca, auto_retry=False)

    # --- requests as Terraform shapes them -------------------------------------------------------

    def form(self, action, body=None, version=VERSION):
        """A CommonRequest with every business parameter in the form body."""
        r = CommonRequest(domain=f"https://{self.g.openapi_endpoint}", version=version, action_name=action,
                          product="Kms")
        r.set_method("POST")
        r.set_protocol_type("https")
        r.set_accept_format("JSON")
        for k, v in (body or {}).items():
            r.add_body_params(k, v)
        return r

    def do(self, request, client=None):
        if not isinstance(request, CommonRequest):
            request.set_endpoint(self.g.openapi_endpoint)
        return json.loads((client or self.acs).do_action_with_exception(request))

    def write(self, action, body, client=None):
        return self.do(self.form(action, body), client)

    def signed(self, action, body):
        """The exact bytes CORE would send for a form-body request (URL with the signed query, form
        body), for replaying or tampering with them through `requests`."""
        r = self.form(action, body)
        r.trans_to_acs_request()
        path = r.get_url(self.g.region, self.g.admin["AccessKeyId"], self.g.admin["AccessKeySecret"])
        return f"https://{self.g.openapi_endpoint}{path}", dict(r.get_body_params())

    def post(self, url, body):
        resp = requests.post(url, data=body, verify=self.g.ca, timeout=10)
        return resp.status_code, resp.json()

    def rule_names(self):
        req = ListNetworkRulesRequest()
        req.set_PageSize(100)
        return sorted(x["Name"] for x in self.do(req)["NetworkRules"]["NetworkRule"])

    def describe_rule(self, name):
        req = DescribeNetworkRuleRequest()
        req.set_Name(name)
        return self.do(req)

    def refused_write(self, client=None):
        return core_error(lambda: self.write("CreateNetworkRule", {
            "Name": "never", "Type": "Private", "SourcePrivateIp": json.dumps(["127.0.0.1"])}, client))

    # --- the AAP lifecycle -----------------------------------------------------------------------

    def test_aap_lifecycle_with_form_bodies(self):
        g = self.g
        key = self.write("CreateKey", {"DKMSInstanceId": INSTANCE, "KeySpec": "Aliyun_AES_256",
                                       "KeyUsage": "ENCRYPT/DECRYPT"})["KeyMetadata"]["KeyId"]
        rule = self.write("CreateNetworkRule", {"Name": "tf-rule", "Type": "Private", "Description": "tf",
                                                "SourcePrivateIp": json.dumps(["127.0.0.1"])})
        self.assertEqual(rule["Arn"], g.arn("network/tf-rule"))
        self.assertEqual(json.loads(rule["SourcePrivateIp"]), ["127.0.0.1"])
        pol = self.write("CreatePolicy", {
            "Name": "tf-policy", "KmsInstance": INSTANCE, "Permissions": json.dumps([KEY_USER]),
            "Resources": json.dumps([f"key/{key}"]), "AccessControlRules": json.dumps({"NetworkRules": ["tf-rule"]}),
            "Description": "tf"})
        self.assertEqual(pol["Arn"], g.arn("policy/tf-policy"))
        aap = self.write("CreateApplicationAccessPoint", {
            "Name": "tf-app", "AuthenticationMethod": "ClientKey", "Policies": json.dumps(["tf-policy"]),
            "Description": "tf"})
        self.assertEqual(json.loads(aap["Policies"]), ["tf-policy"])
        ck = self.write("CreateClientKey", {"AapName": "tf-app", "Password": PASSWORD})
        self.assertTrue(ck["ClientKeyId"].startswith("KAAP."))

        c = g.client(g.client_key_file(ck["ClientKeyId"], ck["PrivateKeyData"]))

        def encrypts():
            try:
                c.encrypt(im.EncryptRequest(key_id=key, plaintext=b"terraform-made"))
                return True
            except Exception:
                return False

        self.assertTrue(poll(encrypts)[0], "Encrypt with the client key created through form bodies")

        # Reads with the SDK's own request classes: query parameters, GET where the SDK uses it.
        req = GetClientKeyRequest()
        req.set_ClientKeyId(ck["ClientKeyId"])
        got = self.do(req)
        self.assertEqual((got["AapName"], got["KeyOrigin"]), ("tf-app", "KMS_PROVIDED"))
        req = ListClientKeysRequest()
        req.set_AapName("tf-app")
        self.assertEqual([x["ClientKeyId"] for x in self.do(req)["ClientKeys"]], [ck["ClientKeyId"]])
        req = DescribePolicyRequest()
        req.set_Name("tf-policy")
        d = self.do(req)
        self.assertEqual((d["Permissions"], d["Resources"]), ([KEY_USER], [f"key/{key}"]))
        self.assertEqual(self.describe_rule("tf-rule")["Description"], "tf")

        # Update as Terraform does: the whole set again, in the body.
        self.write("UpdatePolicy", {"Name": "tf-policy", "Permissions": json.dumps([KEY_USER]),
                                    "Resources": json.dumps(["key/none-such"]),
                                    "AccessControlRules": json.dumps({"NetworkRules": ["tf-rule"]}),
                                    "Description": "tf2"})
        req = DescribePolicyRequest()
        req.set_Name("tf-policy")
        d = self.do(req)
        self.assertEqual((d["Resources"], d["Description"]), (["key/none-such"], "tf2"))
        refused = poll(lambda: error_code(lambda: c.encrypt(im.EncryptRequest(key_id=key, plaintext=b"x")))
                       == "Forbidden.NoPermission")[0]
        self.assertTrue(refused, "UpdatePolicy through a form body reached the gateway")
        self.write("UpdateNetworkRule", {"Name": "tf-rule", "SourcePrivateIp": json.dumps(["127.0.0.1", "10.1.0.0/16"]),
                                         "Description": "tf2"})
        self.assertEqual(json.loads(self.describe_rule("tf-rule")["SourcePrivateIp"]), ["127.0.0.1", "10.1.0.0/16"])
        self.write("UpdateApplicationAccessPoint", {"Name": "tf-app", "Policies": json.dumps(["tf-policy"]),
                                                    "Description": "tf2"})

        # Destroy in Terraform's order.
        self.write("DeleteClientKey", {"ClientKeyId": ck["ClientKeyId"]})
        self.write("DeleteApplicationAccessPoint", {"Name": "tf-app"})
        self.write("DeletePolicy", {"Name": "tf-policy"})
        self.write("DeleteNetworkRule", {"Name": "tf-rule"})
        code, status, _ = core_error(lambda: self.describe_rule("tf-rule"))
        self.assertEqual((code, status), ("Forbidden.ResourceNotFound", 404))
        req = GetClientKeyRequest()
        req.set_ClientKeyId(ck["ClientKeyId"])
        self.assertEqual(core_error(lambda: self.do(req))[:2], ("Forbidden.ResourceNotFound", 404))

    # --- refusals ----------------------------------------------------------------------------------

    def test_wrong_secret_does_not_crash_core(self):
        # CORE splits SignatureDoesNotMatch's message at ':' (a message without one crashes it) and,
        # when the rest equals its own StringToSign, renames the code to InvalidAccessKeySecret: so
        # this also shows the server's StringToSign is byte for byte CORE's.
        before = self.rule_names()
        bad = self.client(secret=self.g.admin["AccessKeySecret"][:-1] + "x")
        req = CreateNetworkRuleRequest()  # the SDK's request class: parameters in the query
        req.set_Name("never")
        req.set_Type("Private")
        req.set_SourcePrivateIp(json.dumps(["127.0.0.1"]))
        code, status, _ = core_error(lambda: self.do(req, bad))
        self.assertEqual((code, status), ("InvalidAccessKeySecret", 400))
        # Form body (Terraform's shape): CORE keeps the StringToSign of a CommonRequest on the inner
        # request, so it does not rename; compare by hand.
        form = self.form("CreateNetworkRule", {"Name": "never", "Type": "Private",
                                               "SourcePrivateIp": json.dumps(["127.0.0.1"])})
        code, status, message = core_error(lambda: bad.do_action_with_exception(form))
        self.assertEqual((code, status), ("SignatureDoesNotMatch", 400))
        self.assertEqual(message.split(":", 1)[1], form.request.string_to_sign)
        self.assertEqual(self.rule_names(), before)

    def test_tampered_signature(self):
        before = self.rule_names()
        url, body = self.signed("CreateNetworkRule", {"Name": "tampered", "Type": "Private",
                                                      "SourcePrivateIp": json.dumps(["127.0.0.1"])})
        body["SourcePrivateIp"] = json.dumps(["0.0.0.0/0"])
        status, err = self.post(url, body)
        self.assertEqual((err["Code"], status), ("SignatureDoesNotMatch", 400))
        self.assertIn(":", err["Message"])
        self.assertTrue({"RequestId", "HostId", "Code", "Message", "Recommend"} <= set(err), err)
        self.assertEqual(self.rule_names(), before)

    def test_expired_timestamp(self):
        before = self.rule_names()
        real = parameter_helper.get_iso_8061_date
        # A client whose clock is 20 minutes behind: CORE stamps every request with this.
        parameter_helper.get_iso_8061_date = lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                   time.gmtime(time.time() - 20 * 60))
        try:
            code, status, _ = self.refused_write()
        finally:
            parameter_helper.get_iso_8061_date = real
        self.assertEqual((code, status), ("InvalidTimeStamp.Expired", 400))
        self.assertEqual(self.rule_names(), before)

    def test_replayed_nonce(self):
        self.write("CreateNetworkRule", {"Name": "replay", "Type": "Private", "Description": "created",
                                         "SourcePrivateIp": json.dumps(["127.0.0.1"])})
        url, body = self.signed("UpdateNetworkRule", {"Name": "replay", "Description": "first"})
        status, _ = self.post(url, body)
        self.assertEqual(status, 200)
        self.assertEqual(self.describe_rule("replay")["Description"], "first")
        self.write("UpdateNetworkRule", {"Name": "replay", "Description": "latest"})
        status, err = self.post(url, body)  # the identical signed request again
        self.assertEqual((err["Code"], status), ("SignatureNonceUsed", 400))
        self.assertEqual(self.describe_rule("replay")["Description"], "latest")

    def test_unknown_access_key(self):
        before = self.rule_names()
        code, status, _ = self.refused_write(self.client(ak="LTAI5tUnknownUnknown00", secret="y" * 30))
        self.assertEqual((code, status), ("InvalidAccessKeyId.NotFound", 404))
        self.assertEqual(self.rule_names(), before)

    def test_disabled_access_key(self):
        made = self.g.access_key("create")
        other = self.client(ak=made["AccessKeyId"], secret=made["AccessKeySecret"])
        self.do(ListNetworkRulesRequest(), other)
        self.g.access_key("disable", "--access-key-id", made["AccessKeyId"])
        before = self.rule_names()
        refused, _ = poll(lambda: self.refused_write(other)[:2] == ("InvalidAccessKeyId.Inactive", 403))
        self.assertTrue(refused, "a disabled AccessKey refused within 3 s")
        self.assertEqual(self.rule_names(), before)

    def test_wrong_version(self):
        before = self.rule_names()
        code, status, _ = core_error(lambda: self.do(self.form("CreateNetworkRule", {
            "Name": "wrong-version", "Type": "Private", "SourcePrivateIp": json.dumps(["127.0.0.1"])},
            version="2014-01-01")))
        self.assertEqual((code, status), ("InvalidVersion", 400))
        self.assertEqual(self.rule_names(), before)

    def test_unknown_action(self):
        code, status, _ = core_error(lambda: self.do(self.form("MakeCoffee", {"Size": "large"})))
        self.assertEqual((code, status), ("InvalidAction.NotFound", 404))


if __name__ == "__main__":
    unittest.main(verbosity=2)
