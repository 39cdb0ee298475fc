"""End-to-end tests: the official management SDK `alibabacloud-kms20160120` 3.3.1 (ACS3-HMAC-SHA256,
unmodified) against the KMS OpenAPI of `aapkit serve`, over HTTPS with the instance CA, and the
official Instance SDK (alibabacloud-dkms-gcs) using what the management SDK created.

What it shows (issue 12; the contract is docs/openapi.md):
- the AAP lifecycle network rule → policy → AAP → client key, the returned PrivateKeyData used by the
  Instance SDK to Encrypt through the gateway, Describe/List/Update/Delete with the exact response shapes
  (JSON text vs arrays), and an UpdatePolicy reaching the running gateway within a second;
- the key, alias, key-version and secret lifecycles, GetSecretValue through the gateway seeing the
  values the management SDK wrote; GetKmsInstance / ListKmsInstances;
- errors as the SDK raises them (code and HTTP status), and that a refused write changes nothing.
"""

import base64
import json
import unittest

from alibabacloud_kms20160120 import models as m
from alibabacloud_tea_openapi.utils_models import OpenApiRequest, Params
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, pkcs12
from cryptography.x509 import load_pem_x509_certificate
from darabonba.runtime import RuntimeOptions
from sdk import models as im

from support import INSTANCE, KEY_USER, PASSWORD, SECRET_USER, OpenApiGateway, error_code, poll

VERSION = "2016-01-20"


def sdk_error(fn):
    """Runs fn, which must fail with an SDK exception; (code, HTTP status, the server's Message)."""
    try:
        fn()
    except Exception as e:  # the SDK's ClientException / ServerException (TeaException subclasses)
        code = getattr(e, "code", None)
        if code is None:
            raise
        status = getattr(e, "status_code", None)
        if status is None:
            status = (getattr(e, "data", None) or {}).get("statusCode")
        data = getattr(e, "data", None) or {}
        return code, status, data.get("Message", str(getattr(e, "message", "")))
    raise AssertionError("the call succeeded; expected an error")


def sdk_ok(fn):
    """Whether fn runs without an SDK error."""
    try:
        fn()
        return True
    except Exception:
        return False


def raw(kms, action, query=None, body=None, method="POST", version=VERSION):
    """The response JSON exactly as it arrived (the typed models hide shape mistakes: DaraCore.from_map
    swallows them), through the SDK's own generic `call_api`, signed the same way."""
    params = Params(action=action, version=version, protocol="HTTPS", pathname="/", method=method,
                    auth_type="AK", style="RPC", req_body_type="formData", body_type="json")
    req = OpenApiRequest(query={k: str(v) for k, v in (query or {}).items()}, body=body)
    return kms.call_api(params, req, RuntimeOptions())["body"]


class OpenApiSdkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        g = cls.g = OpenApiGateway()
        g.init()
        g.start()
        cls.kms = g.kms()
        # A rule the refused writes name, so each would be a valid write if it got through.
        cls.kms.create_network_rule(m.CreateNetworkRuleRequest(name="err-rule", type="Private",
                                                               source_private_ip=json.dumps(["127.0.0.1"])))

    @classmethod
    def tearDownClass(cls):
        cls.g.stop()
        cls.g.tmp.cleanup()

    # --- helpers ---------------------------------------------------------------------------------

    def new_key(self, **kw):
        r = self.kms.create_key(m.CreateKeyRequest(dkmsinstance_id=INSTANCE, key_spec="Aliyun_AES_256",
                                                   key_usage="ENCRYPT/DECRYPT", **kw))
        return r.body.key_metadata.key_id

    def app_with_client_key(self, prefix, resources, permissions=(KEY_USER,)):
        """Rule + policy + AAP + client key, all through the management SDK; the Instance SDK client
        made from CreateClientKey's answer, and the ClientKeyId."""
        k = self.kms
        k.create_network_rule(m.CreateNetworkRuleRequest(name=f"{prefix}-rule", type="Private",
                                                         source_private_ip=json.dumps(["127.0.0.1"])))
        k.create_policy(m.CreatePolicyRequest(
            name=f"{prefix}-policy", kms_instance=INSTANCE, permissions=json.dumps(list(permissions)),
            resources=json.dumps(list(resources)),
            access_control_rules=json.dumps({"NetworkRules": [f"{prefix}-rule"]})))
        k.create_application_access_point(m.CreateApplicationAccessPointRequest(
            name=f"{prefix}-app", authentication_method="ClientKey", policies=json.dumps([f"{prefix}-policy"])))
        ck = k.create_client_key(m.CreateClientKeyRequest(aap_name=f"{prefix}-app", password=PASSWORD)).body
        return self.g.client(self.g.client_key_file(ck.client_key_id, ck.private_key_data)), ck.client_key_id

    def eventually(self, fn, what):
        """The gateway picks control-plane changes up within a second: poll fn (up to 3 s)."""
        ok, took = poll(fn)
        self.assertTrue(ok, f"{what}: not within 3 s")
        return took

    def assert_paging(self, body, number, size):
        self.assertEqual((body["PageNumber"], body["PageSize"]), (number, size))
        self.assertIsInstance(body["TotalCount"], int)

    # --- the AAP lifecycle -----------------------------------------------------------------------

    def test_aap_lifecycle_drives_the_instance_sdk(self):
        k, g = self.kms, self.g
        key = self.new_key()

        rule = k.create_network_rule(m.CreateNetworkRuleRequest(
            name="life-rule", type="Private", source_private_ip=json.dumps(["127.0.0.1", "10.0.0.0/8"]),
            description="loopback")).body
        self.assertEqual(rule.arn, g.arn("network/life-rule"))
        self.assertEqual((rule.name, rule.type, rule.description), ("life-rule", "Private", "loopback"))
        self.assertIsInstance(rule.source_private_ip, str)  # JSON text, not an array
        self.assertEqual(json.loads(rule.source_private_ip), ["127.0.0.1", "10.0.0.0/8"])

        pol = k.create_policy(m.CreatePolicyRequest(
            name="life-policy", kms_instance=INSTANCE, description="keys",
            permissions=json.dumps([KEY_USER]), resources=json.dumps([f"key/{key}"]),
            access_control_rules=json.dumps({"NetworkRules": ["life-rule"]}))).body
        self.assertEqual(pol.arn, g.arn("policy/life-policy"))
        self.assertEqual(pol.kms_instance, INSTANCE)
        for text in (pol.permissions, pol.resources, pol.access_control_rules):
            self.assertIsInstance(text, str)  # Create echoes JSON text
        self.assertEqual(json.loads(pol.resources), [f"key/{key}"])
        self.assertEqual(json.loads(pol.access_control_rules), {"NetworkRules": ["life-rule"]})

        aap = k.create_application_access_point(m.CreateApplicationAccessPointRequest(
            name="life-app", authentication_method="ClientKey", policies=json.dumps(["life-policy"]),
            description="app")).body
        self.assertEqual(aap.arn, g.arn("applicationaccesspoint/life-app"))
        self.assertEqual(aap.authentication_method, "ClientKey")
        self.assertIsInstance(aap.policies, str)
        self.assertEqual(json.loads(aap.policies), ["life-policy"])

        ck = k.create_client_key(m.CreateClientKeyRequest(aap_name="life-app", password=PASSWORD)).body
        self.assertTrue(ck.client_key_id.startswith("KAAP."), ck.client_key_id)
        self.assertEqual(ck.key_algorithm, "RSA_2048")
        p12 = base64.b64decode(ck.private_key_data, validate=True)
        _, cert, _ = pkcs12.load_key_and_certificates(p12, PASSWORD.encode())
        self.assertTrue(ck.not_before and ck.not_after)

        # The Instance SDK with the file the Terraform provider would write.
        c = g.client(g.client_key_file(ck.client_key_id, ck.private_key_data))

        def encrypts():
            try:
                enc = c.encrypt(im.EncryptRequest(key_id=key, plaintext=b"via the OpenAPI"))
            except Exception:
                return False
            dec = c.decrypt(im.DecryptRequest(key_id=key, ciphertext_blob=enc.ciphertext_blob, iv=enc.iv))
            return dec.plaintext == b"via the OpenAPI"

        self.eventually(encrypts, "Encrypt with the client key created through the OpenAPI")

        # GetClientKey (GET) and ListClientKeys (GET, a plain array).
        got = k.get_client_key(m.GetClientKeyRequest(client_key_id=ck.client_key_id)).body
        self.assertEqual((got.client_key_id, got.aap_name, got.key_algorithm, got.key_origin),
                         (ck.client_key_id, "life-app", "RSA_2048", "KMS_PROVIDED"))
        self.assertEqual((got.not_before, got.not_after), (ck.not_before, ck.not_after))
        served = load_pem_x509_certificate(got.public_key_data.encode())
        self.assertEqual(served.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo),
                         cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))
        listed = raw(k, "ListClientKeys", {"AapName": "life-app"}, method="GET")
        self.assertIsInstance(listed["ClientKeys"], list)
        self.assertEqual([x["ClientKeyId"] for x in listed["ClientKeys"]], [ck.client_key_id])
        self.assertEqual(set(listed["ClientKeys"][0]),
                         {"ClientKeyId", "AapName", "KeyAlgorithm", "KeyOrigin", "NotBefore", "NotAfter",
                          "CreateTime", "PublicKeyData"})

        # Describe: the rule has no Name; the policy's lists are arrays; the AAP's Policies is text.
        d = raw(k, "DescribeNetworkRule", {"Name": "life-rule"})
        self.assertEqual(d["Arn"], g.arn("network/life-rule"))
        self.assertEqual((d["Type"], d["Description"]), ("Private", "loopback"))
        self.assertEqual(json.loads(d["SourcePrivateIp"]), ["127.0.0.1", "10.0.0.0/8"])
        d = raw(k, "DescribePolicy", {"Name": "life-policy"})
        self.assertEqual(d["Permissions"], [KEY_USER])
        self.assertEqual(d["Resources"], [f"key/{key}"])
        self.assertIsInstance(d["AccessControlRules"], str)
        self.assertEqual(json.loads(d["AccessControlRules"]), {"NetworkRules": ["life-rule"]})
        self.assertEqual((d["Name"], d["KmsInstance"], d["Description"]), ("life-policy", INSTANCE, "keys"))
        typed = k.describe_policy(m.DescribePolicyRequest(name="life-policy")).body
        self.assertEqual(typed.permissions, [KEY_USER])
        d = raw(k, "DescribeApplicationAccessPoint", {"Name": "life-app"})
        self.assertIsInstance(d["Policies"], str)  # JSON array text (Terraform strips its brackets)
        self.assertEqual(json.loads(d["Policies"]), ["life-policy"])
        self.assertEqual((d["Name"], d["AuthenticationMethod"], d["Arn"]),
                         ("life-app", "ClientKey", g.arn("applicationaccesspoint/life-app")))

        # List: wrapped, with integer paging fields.
        lr = raw(k, "ListNetworkRules", {"PageNumber": 1, "PageSize": 100})
        self.assertIn({"Name": "life-rule", "Type": "Private"}, lr["NetworkRules"]["NetworkRule"])
        self.assert_paging(lr, 1, 100)
        lp = raw(k, "ListPolicies", {"PageNumber": 1, "PageSize": 50})
        self.assertIn({"Name": "life-policy"}, lp["Policies"]["Policy"])
        self.assert_paging(lp, 1, 50)
        la = raw(k, "ListApplicationAccessPoints", {"PageSize": 100})
        self.assertIn({"Name": "life-app", "AuthenticationMethod": "ClientKey"},
                      la["ApplicationAccessPoints"]["ApplicationAccessPoint"])
        self.assert_paging(la, 1, 100)

        # Update: the rule and the AAP's description; then the policy loses the key and the
        # running gateway refuses the Instance SDK within about a second.
        k.update_network_rule(m.UpdateNetworkRuleRequest(name="life-rule", description="lo",
                                                         source_private_ip=json.dumps(["127.0.0.1"])))
        d = k.describe_network_rule(m.DescribeNetworkRuleRequest(name="life-rule")).body
        self.assertEqual((d.description, json.loads(d.source_private_ip)), ("lo", ["127.0.0.1"]))
        k.update_application_access_point(m.UpdateApplicationAccessPointRequest(name="life-app", description="changed"))
        self.assertEqual(k.describe_application_access_point(
            m.DescribeApplicationAccessPointRequest(name="life-app")).body.description, "changed")
        other = self.new_key()
        k.update_policy(m.UpdatePolicyRequest(name="life-policy", resources=json.dumps([f"key/{other}"])))
        d = raw(k, "DescribePolicy", {"Name": "life-policy"})
        self.assertEqual((d["Resources"], d["Permissions"]), ([f"key/{other}"], [KEY_USER]))

        def refused():
            return error_code(lambda: c.encrypt(im.EncryptRequest(key_id=key, plaintext=b"x"))) == "Forbidden.NoPermission"

        took = self.eventually(refused, "Encrypt refused after UpdatePolicy removed the key")
        print(f"UpdatePolicy reached the gateway in {took:.2f} s")

        # One control plane: the OpenAPI's changes are management events whose actor is the AccessKeyId.
        events = g.cli("audit", "events", "--resource-type", "policy", "--resource-name", "life-policy")["Events"]
        self.assertEqual(sorted((e["Operation"], e["Actor"]) for e in events),
                         [("CreatePolicy", g.admin["AccessKeyId"]), ("UpdatePolicy", g.admin["AccessKeyId"])])

        # Delete, children first; each is gone from Describe and List.
        k.delete_client_key(m.DeleteClientKeyRequest(client_key_id=ck.client_key_id))
        self.assertEqual(raw(k, "ListClientKeys", {"AapName": "life-app"}, method="GET")["ClientKeys"], [])
        self.assertEqual(sdk_error(lambda: k.get_client_key(m.GetClientKeyRequest(client_key_id=ck.client_key_id)))[:2],
                         ("Forbidden.ResourceNotFound", 404))
        k.delete_application_access_point(m.DeleteApplicationAccessPointRequest(name="life-app"))
        k.delete_policy(m.DeletePolicyRequest(name="life-policy"))
        k.delete_network_rule(m.DeleteNetworkRuleRequest(name="life-rule"))
        for action, name in (("DescribeApplicationAccessPoint", "life-app"), ("DescribePolicy", "life-policy"),
                             ("DescribeNetworkRule", "life-rule")):
            self.assertEqual(sdk_error(lambda: raw(k, action, {"Name": name}))[:2],
                             ("Forbidden.ResourceNotFound", 404), action)
        self.assertNotIn({"Name": "life-policy"}, raw(k, "ListPolicies", {"PageSize": 100})["Policies"]["Policy"])

    def test_rpc_v1_signature_of_the_same_sdk(self):
        # Config(signature_algorithm='v2'): the same SDK signs RPC v1 HMAC-SHA1 (what Terraform uses).
        k = self.g.kms(signature_algorithm="v2")
        key = self.new_key()
        d = k.describe_key(m.DescribeKeyRequest(key_id=key)).body
        self.assertEqual(d.key_metadata.key_id, key)

    # --- keys --------------------------------------------------------------------------------------

    def test_key_lifecycle(self):
        k, g = self.kms, self.g
        created = k.create_key(m.CreateKeyRequest(dkmsinstance_id=INSTANCE, key_spec="Aliyun_AES_256",
                                                  key_usage="ENCRYPT/DECRYPT", description="e2e",
                                                  enable_automatic_rotation=False)).body.key_metadata
        key = created.key_id
        self.assertEqual(created.arn, g.arn(f"key/{key}"))
        self.assertEqual((created.key_state, created.key_spec, created.key_usage, created.description),
                         ("Enabled", "Aliyun_AES_256", "ENCRYPT/DECRYPT", "e2e"))
        self.assertEqual(created.dkmsinstance_id, INSTANCE)
        meta = raw(k, "DescribeKey", {"KeyId": key})["KeyMetadata"]
        self.assertTrue(all(isinstance(v, str) for v in meta.values()), meta)
        self.assertEqual((meta["KeyId"], meta["KeyState"], meta["Arn"]), (key, "Enabled", g.arn(f"key/{key}")))
        self.assertRegex(meta["CreationDate"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

        # ListKeys paging: every key exactly once across pages of 2.
        more = [self.new_key() for _ in range(2)]
        first = raw(k, "ListKeys", {"PageNumber": 1, "PageSize": 2})
        self.assert_paging(first, 1, 2)
        total = first["TotalCount"]
        self.assertGreaterEqual(total, 3)
        seen = []
        for page in range(1, (total + 1) // 2 + 1):
            body = raw(k, "ListKeys", {"PageNumber": page, "PageSize": 2})
            self.assertEqual(body["TotalCount"], total)
            for item in body["Keys"]["Key"]:
                self.assertEqual(item["KeyArn"], g.arn(f"key/{item['KeyId']}"))
                seen.append(item["KeyId"])
        self.assertEqual(len(seen), total)
        self.assertEqual(len(set(seen)), total)
        self.assertTrue({key, *more} <= set(seen))
        typed = k.list_keys(m.ListKeysRequest(page_number=1, page_size=2)).body
        self.assertEqual(len(typed.keys.key), 2)

        # Disable / Enable.
        k.disable_key(m.DisableKeyRequest(key_id=key))
        self.assertEqual(k.describe_key(m.DescribeKeyRequest(key_id=key)).body.key_metadata.key_state, "Disabled")
        k.enable_key(m.EnableKeyRequest(key_id=key))
        self.assertEqual(k.describe_key(m.DescribeKeyRequest(key_id=key)).body.key_metadata.key_state, "Enabled")

        # Aliases.
        k.create_alias(m.CreateAliasRequest(alias_name="alias/e2e-sdk", key_id=key))
        entry = {"AliasName": "alias/e2e-sdk", "AliasArn": g.arn("alias/e2e-sdk"), "KeyId": key}
        al = raw(k, "ListAliases", {"PageSize": 100})
        self.assertIn(entry, al["Aliases"]["Alias"])
        self.assert_paging(al, 1, 100)
        by = raw(k, "ListAliasesByKeyId", {"KeyId": key})
        self.assertEqual(by["Aliases"]["Alias"], [entry])
        k.update_alias(m.UpdateAliasRequest(alias_name="alias/e2e-sdk", key_id=more[0]))
        self.assertEqual(raw(k, "ListAliasesByKeyId", {"KeyId": key})["Aliases"]["Alias"], [])
        self.assertEqual([a["AliasName"] for a in raw(k, "ListAliasesByKeyId", {"KeyId": more[0]})["Aliases"]["Alias"]],
                         ["alias/e2e-sdk"])
        k.delete_alias(m.DeleteAliasRequest(alias_name="alias/e2e-sdk"))
        self.assertNotIn("alias/e2e-sdk",
                         [a["AliasName"] for a in raw(k, "ListAliases", {"PageSize": 100})["Aliases"]["Alias"]])

        # Versions.
        v = k.create_key_version(m.CreateKeyVersionRequest(key_id=key)).body.key_version
        self.assertEqual(v.key_id, key)
        self.assertTrue(v.key_version_id)
        kv = raw(k, "ListKeyVersions", {"KeyId": key})
        versions = kv["KeyVersions"]["KeyVersion"]
        self.assertEqual(kv["TotalCount"], 2)
        self.assertIn(v.key_version_id, [x["KeyVersionId"] for x in versions])
        self.assertTrue(all(set(x) == {"KeyId", "KeyVersionId", "CreationDate"} for x in versions), versions)
        self.assertEqual(k.describe_key(m.DescribeKeyRequest(key_id=key)).body.key_metadata.primary_key_version,
                         v.key_version_id)

        # Scheduled deletion and its cancellation.
        k.schedule_key_deletion(m.ScheduleKeyDeletionRequest(key_id=key, pending_window_in_days=7))
        meta = k.describe_key(m.DescribeKeyRequest(key_id=key)).body.key_metadata
        self.assertEqual(meta.key_state, "PendingDeletion")
        self.assertRegex(meta.delete_date, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        k.cancel_key_deletion(m.CancelKeyDeletionRequest(key_id=key))
        self.assertEqual(k.describe_key(m.DescribeKeyRequest(key_id=key)).body.key_metadata.key_state, "Enabled")

        self.assertEqual(sdk_error(lambda: k.describe_key(m.DescribeKeyRequest(key_id="key-missing0000000000000")))[:2],
                         ("Forbidden.KeyNotFound", 404))

    # --- secrets -----------------------------------------------------------------------------------

    def test_secret_lifecycle(self):
        k, g = self.kms, self.g
        key = self.new_key()
        name = "e2e/sdk-db"
        created = k.create_secret(m.CreateSecretRequest(
            secret_name=name, secret_data="first value", version_id="v1", encryption_key_id=key,
            dkmsinstance_id=INSTANCE, secret_data_type="text", description="db")).body
        self.assertEqual((created.secret_name, created.version_id), (name, "v1"))
        self.assertEqual(created.arn, g.arn(f"secret/{name}"))

        c, _ = self.app_with_client_key("sec", [f"secret/{name}", f"key/{key}"], (SECRET_USER, KEY_USER))

        def reads(value):
            def check():
                try:
                    return c.get_secret_value(im.GetSecretValueRequest(secret_name=name)).secret_data == value
                except Exception:
                    return False
            return check

        self.eventually(reads("first value"), "GetSecretValue of the secret created through the OpenAPI")

        put = k.put_secret_value(m.PutSecretValueRequest(secret_name=name, version_id="v2",
                                                         secret_data="second value")).body
        self.assertEqual((put.secret_name, put.version_id, put.version_stages.version_stage),
                         (name, "v2", ["ACSCurrent"]))
        self.eventually(reads("second value"), "GetSecretValue sees PutSecretValue")

        ids = raw(k, "ListSecretVersionIds", {"SecretName": name})
        self.assertEqual(ids["SecretName"], name)
        self.assertEqual(ids["TotalCount"], 2)
        stages = {x["VersionId"]: sorted(x["VersionStages"]["VersionStage"]) for x in ids["VersionIds"]["VersionId"]}
        self.assertEqual(stages, {"v1": ["ACSPrevious"], "v2": ["ACSCurrent"]})
        self.assertTrue(all(x["CreateTime"] for x in ids["VersionIds"]["VersionId"]))

        r = k.update_secret_version_stage(m.UpdateSecretVersionStageRequest(
            secret_name=name, version_stage="ACSCurrent", move_to_version="v1", remove_from_version="v2")).body
        self.assertEqual(r.secret_name, name)
        self.eventually(reads("first value"), "GetSecretValue follows ACSCurrent back to v1")

        d = raw(k, "DescribeSecret", {"SecretName": name})
        self.assertEqual((d["SecretName"], d["Arn"], d["EncryptionKeyId"], d["Description"]),
                         (name, g.arn(f"secret/{name}"), key, "db"))
        self.assertEqual(d.get("SecretType", "Generic"), "Generic")
        self.assertFalse(d.get("PlannedDeleteTime"))
        listed = raw(k, "ListSecrets", {"PageSize": 100})
        self.assertIn(name, [s["SecretName"] for s in listed["SecretList"]["Secret"]])
        self.assert_paging(listed, 1, 100)

        deleted = k.delete_secret(m.DeleteSecretRequest(secret_name=name, recovery_window_in_days="7")).body
        self.assertEqual(deleted.secret_name, name)
        self.assertRegex(deleted.planned_delete_time, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(k.describe_secret(m.DescribeSecretRequest(secret_name=name)).body.planned_delete_time,
                         deleted.planned_delete_time)
        self.eventually(lambda: not reads("first value")(), "a secret pending deletion is not readable")
        self.assertEqual(k.restore_secret(m.RestoreSecretRequest(secret_name=name)).body.secret_name, name)
        self.eventually(reads("first value"), "RestoreSecret makes it readable again")

    # --- the instance ------------------------------------------------------------------------------

    def test_kms_instance(self):
        k, g = self.kms, self.g
        inst = raw(k, "GetKmsInstance", {"KmsInstanceId": INSTANCE})["KmsInstance"]
        self.assertEqual(inst["InstanceId"], INSTANCE)
        for f in ("KeyNum", "Spec", "VpcNum"):
            self.assertIsInstance(inst[f], int, f)
        self.assertIsInstance(inst["SecretNum"], str)
        self.assertIsInstance(inst["ZoneIds"], list)
        self.assertIsInstance(inst["VswitchIds"], list)
        self.assertIn("-----BEGIN CERTIFICATE-----", inst["CaCertificateChainPem"])
        typed = k.get_kms_instance(m.GetKmsInstanceRequest(kms_instance_id=INSTANCE)).body.kms_instance
        self.assertEqual((typed.instance_id, typed.status), (INSTANCE, "Connected"))

        lst = raw(k, "ListKmsInstances")
        self.assertEqual(lst["KmsInstances"]["KmsInstance"],
                         [{"KmsInstanceId": INSTANCE, "KmsInstanceArn": g.arn(f"keystore/{INSTANCE}")}])
        self.assertEqual(lst["TotalCount"], 1)
        self.assertEqual(sdk_error(lambda: k.get_kms_instance(m.GetKmsInstanceRequest(kms_instance_id="kst-nope")))[:2],
                         ("Forbidden.ResourceNotFound", 404))

    # --- errors, as the SDK raises them; a refused write changes nothing ---------------------------

    @staticmethod
    def ghost_policy():
        """A valid CreatePolicy: only the credentials make it fail."""
        return m.CreatePolicyRequest(name="ghost", kms_instance=INSTANCE, permissions=json.dumps([KEY_USER]),
                                     resources=json.dumps(["key/*"]),
                                     access_control_rules=json.dumps({"NetworkRules": ["err-rule"]}))

    def policies(self):
        return raw(self.kms, "ListPolicies", {"PageSize": 100})["Policies"]["Policy"]

    def test_unknown_access_key(self):
        k = self.g.kms(access_key_id="LTAI5tUnknownUnknown00", secret="x" * 30)
        before = self.policies()
        code, status, _ = sdk_error(lambda: k.create_policy(self.ghost_policy()))
        self.assertEqual((code, status), ("InvalidAccessKeyId.NotFound", 404))
        self.assertEqual(self.policies(), before)

    def test_wrong_secret(self):
        k = self.g.kms(secret=self.g.admin["AccessKeySecret"][:-1] + "x")
        before = self.policies()
        code, status, message = sdk_error(lambda: k.create_policy(self.ghost_policy()))
        self.assertEqual((code, status), ("SignatureDoesNotMatch", 400))
        self.assertIn(":", message)
        self.assertEqual(self.policies(), before)

    def test_disabled_access_key(self):
        made = self.g.access_key("create")
        ak, secret = made["AccessKeyId"], made["AccessKeySecret"]
        k = self.g.kms(access_key_id=ak, secret=secret)
        self.assertIsInstance(raw(k, "ListKeys")["TotalCount"], int)
        self.g.access_key("disable", "--access-key-id", ak)
        before = self.policies()

        def refused(expected):
            def check():
                try:
                    k.create_policy(self.ghost_policy())
                except Exception as e:
                    return (getattr(e, "code", None), getattr(e, "status_code", None)) == expected
                self.fail("the write was accepted")
            return check

        self.eventually(refused(("InvalidAccessKeyId.Inactive", 403)), "a disabled AccessKey refused")
        self.assertEqual(self.policies(), before)
        self.g.access_key("enable", "--access-key-id", ak)
        self.eventually(lambda: sdk_ok(lambda: raw(k, "ListKeys")), "an enabled AccessKey accepted again")
        self.g.access_key("delete", "--access-key-id", ak)
        self.eventually(refused(("InvalidAccessKeyId.NotFound", 404)), "a deleted AccessKey unknown")
        self.assertEqual(self.policies(), before)

    def test_missing_policy(self):
        self.assertEqual(sdk_error(lambda: self.kms.describe_policy(m.DescribePolicyRequest(name="no-such")))[:2],
                         ("Forbidden.ResourceNotFound", 404))

    def test_bad_json_names_the_parameter(self):
        before = self.policies()
        code, status, message = sdk_error(lambda: self.kms.create_policy(m.CreatePolicyRequest(
            name="bad-json", kms_instance=INSTANCE, permissions="[\"RbacPermission/Template/CryptoServiceKeyUser\"",
            resources=json.dumps(["key/*"]))))
        self.assertEqual((code, status), ("InvalidParameter", 400))
        self.assertIn("Permissions", message)
        self.assertEqual(self.policies(), before)
        self.assertEqual(self.g.cli("audit", "events", "--resource-name", "bad-json")["Events"], [])

    def test_four_policies_on_an_aap(self):
        k = self.kms
        names = [f"four-{i}" for i in range(4)]
        k.create_network_rule(m.CreateNetworkRuleRequest(name="four-rule", type="Private",
                                                         source_private_ip=json.dumps(["127.0.0.1"])))
        for n in names:
            k.create_policy(m.CreatePolicyRequest(name=n, kms_instance=INSTANCE, permissions=json.dumps([KEY_USER]),
                                                  resources=json.dumps(["key/*"]),
                                                  access_control_rules=json.dumps({"NetworkRules": ["four-rule"]})))
        before = raw(k, "ListApplicationAccessPoints", {"PageSize": 100})["ApplicationAccessPoints"]
        code, status, message = sdk_error(lambda: k.create_application_access_point(m.CreateApplicationAccessPointRequest(
            name="four", authentication_method="ClientKey", policies=json.dumps(names))))
        self.assertEqual((code, status), ("InvalidParameter", 400))
        self.assertIn("Policies", message)
        self.assertEqual(raw(k, "ListApplicationAccessPoints", {"PageSize": 100})["ApplicationAccessPoints"], before)

    def test_limits_name_the_parameter(self):
        # Alibaba's limits, each an InvalidParameter naming the parameter, and nothing half-written.
        k = self.kms

        def rules():
            return raw(k, "ListNetworkRules", {"PageSize": 100})["NetworkRules"]["NetworkRule"]

        before_rules, before_policies = rules(), self.policies()
        many_ips = [f"10.{i // 250}.{i % 250}.1" for i in range(801)]
        code, status, message = sdk_error(lambda: k.create_network_rule(m.CreateNetworkRuleRequest(
            name="too-many-ips", type="Private", source_private_ip=json.dumps(many_ips))))
        self.assertEqual((code, status), ("InvalidParameter", 400))
        self.assertIn("SourcePrivateIp", message)
        code, status, message = sdk_error(lambda: k.create_policy(m.CreatePolicyRequest(
            name="too-many-rules", kms_instance=INSTANCE, permissions=json.dumps([KEY_USER]),
            resources=json.dumps(["key/*"]),
            access_control_rules=json.dumps({"NetworkRules": ["err-rule"] + [f"r{i}" for i in range(40)]}))))
        self.assertEqual((code, status), ("InvalidParameter", 400))
        self.assertIn("AccessControlRules", message)
        self.assertEqual((rules(), self.policies()), (before_rules, before_policies))

        self.app_with_client_key("lim", ["key/*"])
        for _ in range(2):
            k.create_client_key(m.CreateClientKeyRequest(aap_name="lim-app", password=PASSWORD))
        before = raw(k, "ListClientKeys", {"AapName": "lim-app"}, method="GET")["ClientKeys"]
        self.assertEqual(len(before), 3)
        code, status, _ = sdk_error(lambda: k.create_client_key(m.CreateClientKeyRequest(
            aap_name="lim-app", password=PASSWORD)))
        self.assertEqual((code, status), ("InvalidParameter", 400))
        self.assertEqual(raw(k, "ListClientKeys", {"AapName": "lim-app"}, method="GET")["ClientKeys"], before)

    def test_client_key_password_rules(self):
        k = self.kms
        self.app_with_client_key("pw", ["key/*"])
        before = raw(k, "ListClientKeys", {"AapName": "pw-app"}, method="GET")["ClientKeys"]
        for bad in ("short1", "onlyletterslong", "x" * 65):
            code, status, message = sdk_error(lambda: k.create_client_key(m.CreateClientKeyRequest(
                aap_name="pw-app", password=bad)))
            self.assertEqual((code, status), ("InvalidParameter", 400), bad)
            self.assertIn("Password", message)
        self.assertEqual(raw(k, "ListClientKeys", {"AapName": "pw-app"}, method="GET")["ClientKeys"], before)

    def test_unknown_action(self):
        code, status, _ = sdk_error(lambda: raw(self.kms, "MakeCoffee"))
        self.assertEqual((code, status), ("InvalidAction.NotFound", 404))

    def test_wrong_version(self):
        code, status, _ = sdk_error(lambda: raw(self.kms, "ListKeys", version="2015-01-01"))
        self.assertEqual((code, status), ("InvalidVersion", 400))


if __name__ == "__main__":
    unittest.main(verbosity=2)
