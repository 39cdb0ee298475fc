#!/usr/bin/env python3
"""Generates openapi-signatures.json: OpenAPI request signatures computed by Alibaba's own SDK code.

Pins (the vectors depend on them; `docs/protocol.md#openapi-signatures` names them too):
    python3 -m venv /tmp/sig-venv
    /tmp/sig-venv/bin/pip install alibabacloud-tea-openapi==0.4.6 aliyun-python-sdk-core==2.16.1
    /tmp/sig-venv/bin/python policy-core/tests/vectors/gen_openapi_signatures.py \
        > policy-core/tests/vectors/openapi-signatures.json

(alibabacloud-tea-openapi 0.4.6 pulls darabonba-core 1.0.9 and alibabacloud-credentials 1.0.12; the run
that produced the committed file used CPython 3.11.)

What it does, per scheme:
- RPC v1 (HMAC-SHA1 and SHA256withRSA): CORE's `rpc_signature_composer.get_signed_url` (the signer of
  aliyun-python-sdk-core and, byte for byte, of Terraform's tea-rpc), and TOA's `do_rpcrequest`
  (`signature_algorithm='v2'`) run up to the point where it would send the request. Timestamp and
  nonce are fixed. The wire query and form body are recorded as sent, so the Rust test starts from
  the bytes a server receives.
- ACS3-HMAC-SHA256: TOA's `do_request` (the path the management SDK alibabacloud-kms20160120 3.3.1
  takes through `call_api`) run up to the send, with the request it would send, its Authorization,
  and the canonical request rebuilt with TOA's own helpers.
The three vectors of the reference notes (RPC v1 SHA256withRSA, RPC v1 HMAC-SHA1, ACS3) come first,
with their published values asserted here.

Nothing goes to the network: `DaraCore.do_action` is replaced by a function that records the request.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
from urllib.parse import urlencode, urlsplit, parse_qsl

from aliyunsdkcore.auth.composer import rpc_signature_composer as composer
from aliyunsdkcore.auth.algorithm import sha_hmac1, sha_hmac256
from aliyunsdkcore.utils import parameter_helper
import alibabacloud_tea_openapi.utils as toa_utils
from alibabacloud_tea_openapi.utils import Utils
from alibabacloud_tea_openapi.client import Client
from alibabacloud_tea_openapi.utils_models import Config, OpenApiRequest, Params
from darabonba.core import DaraCore
from darabonba.runtime import RuntimeOptions, ExtendsParameters
from cryptography.hazmat.primitives import serialization

TIMESTAMP = "2020-02-06T07:32:54Z"
NONCE = "6b1f2d5a3c0e4f7a9b8c7d6e5f4a3b2c"
AK, SECRET = "testid", "testsecret"
HERE = os.path.dirname(os.path.abspath(__file__))
# CORE's composer, module-private.
compose_string_to_sign = getattr(composer, "__compose_string_to_sign")

# Fixed clock and nonce for both SDKs.
parameter_helper.get_iso_8061_date = lambda: TIMESTAMP
parameter_helper.get_uuid = lambda: NONCE
Utils.get_timestamp = staticmethod(lambda: TIMESTAMP)
Utils.get_nonce = staticmethod(lambda: NONCE)
# A fixed user agent: the real one names the OS and the Python version.
Utils.get_user_agent = staticmethod(lambda ua=None: "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2")


class Captured(Exception):
    pass


CAPTURED = []


def capture(request, runtime):
    # The clients wrap whatever the transport raises, so the request is kept aside.
    CAPTURED.append(request)
    raise Captured("captured")


def send(client, params, req, runtime):
    CAPTURED.clear()
    try:
        client.call_api(params, req, runtime)
    except Exception:  # the wrapped Captured
        pass
    if len(CAPTURED) != 1:
        raise SystemExit(f"expected one request, the client sent {len(CAPTURED)}")
    return CAPTURED[0]


DaraCore.do_action = staticmethod(capture)


def pairs(d):
    return [[k, v] for k, v in d.items()]


# ---------------------------------------------------------------------------------------------
# RPC v1

REF1_STS = (
    "POST&%2F&AccessKeyId%3Dkey_for_unit_test%26Action%3DGetSecretValue%26FetchExtendedConfig%3DTrue"
    "%26Format%3DJSON%26RegionId%3Dcn-hangzhou%26SecretName%3Dmy%252Fsecret%25201%26SignatureMethod"
    "%3DSHA256withRSA%26SignatureNonce%3D6b1f2d5a3c0e4f7a9b8c7d6e5f4a3b2c%26SignatureType%3DPRIVATEKEY"
    "%26SignatureVersion%3D1.0%26Timestamp%3D2020-02-06T07%253A32%253A54Z%26Version%3D2016-01-20"
    "%26VersionStage%3DACSCurrent"
)
REF1_SIG = (
    "b4tlQmERPDPYCW3k3wJPajtC2R34GO+PDh4UqOv1Vo9p4Z0TUiRd+ZmXSHaq3Gz5Td736dJ6WhNfxx2F0Oma4aQjBJzk/WGabFUupz"
    "cgmEwJgJfaFFzUTFqOV9NSHUiG/Um9C0c5vNzFNGnXu/kBs04lDVlNbpXqDGAoWrsDZTKh3/KaEmBbKDK2S9/csfpRSQSjPCFNWFkJr"
    "PxYSXZAdwx3efj5LuyEMrVCsAG7H7JnbFzCajSAtzUmWr5f5c3fUhPgfuLLSWqwUy7UmuqJYIR1eNrta9CmBxybI3IYP0FqbcEYFE6Z"
    "owOt7aN3k588IhtZGTLsBh8uU9jfNdjEnA=="
)
REF2_SIG = "09GtH0mfQUeXBtmXdPEnMSfrn6k="


def base_core_params(action):
    # What CORE's RpcRequest puts in the query before signing (request.py), RegionId included.
    return {"Version": "2016-01-20", "Action": action, "RegionId": "cn-hangzhou"}


def core_vector(name, action, query, body=None, method="POST", signer=sha_hmac1, ak=AK, secret=SECRET):
    """CORE get_signed_url; the wire body is what CORE's client sends (urlencode of the body dict)."""
    params = dict(query)
    params.update(base_core_params(action))
    body = dict(body or {})
    url, sts = composer.get_signed_url(params, ak, secret, "JSON", method, body, signer)
    query_string = urlsplit(url).query
    signature = dict(parse_qsl(query_string, keep_blank_values=True))["Signature"]
    return {
        "name": name,
        "source": "aliyun-python-sdk-core 2.16.1 rpc_signature_composer.get_signed_url",
        "method": method,
        "signature_method": signer.get_signer_name(),
        "access_key_id": ak,
        "wire_query": query_string,
        "wire_body": urlencode(body) if body else "",
        "string_to_sign": sts,
        "signature": signature,
    }


def toa_v2_vector(name, action, query, body=None, method="POST", security_token=None):
    """TOA do_rpcrequest (signature_algorithm='v2'), run up to the send."""
    config = Config(
        access_key_id=AK, access_key_secret=SECRET, security_token=security_token,
        endpoint="kms.cn-hangzhou.aliyuncs.com", region_id="cn-hangzhou", signature_algorithm="v2",
    )
    client = Client(config)
    params = Params(
        action=action, version="2016-01-20", protocol="HTTPS", pathname="/", method=method,
        auth_type="AK", style="RPC", req_body_type="formData", body_type="json",
    )
    req = OpenApiRequest(query=dict(query), body=dict(body) if body is not None else None)
    r = send(client, params, req, RuntimeOptions())
    signed = {k: v for k, v in r.query.items() if k != "Signature"}
    signed.update(Utils.query(body) if body is not None else {})
    sts = compose_string_to_sign(r.method, signed)
    # TOA computes the same StringToSign internally; check by recomputing its HMAC.
    mac = base64.b64encode(hmac.new((SECRET + "&").encode(), sts.encode(), hashlib.sha1).digest()).decode()
    assert mac == r.query["Signature"], (name, mac, r.query["Signature"])
    url = DaraCore.compose_url(r)
    return {
        "name": name,
        "source": "alibabacloud-tea-openapi 0.4.6 Client.do_rpcrequest (signature_algorithm='v2')",
        "method": r.method,
        "signature_method": "HMAC-SHA1",
        "access_key_id": AK,
        "wire_query": urlsplit(url).query,
        "wire_body": r.body or "",
        "string_to_sign": sts,
        "signature": r.query["Signature"],
    }


def rpc_vectors():
    out = []
    ref_query = {"SecretName": "my/secret 1", "VersionStage": "ACSCurrent", "FetchExtendedConfig": "True"}

    # Reference vector 1: CORE's composition with SHA256withRSA (the signature needs the SDK's
    # unit-test private key, which is not in this repository: it is copied from the reference notes).
    params = dict(ref_query)
    params.update(base_core_params("GetSecretValue"))
    params.update({
        "Timestamp": TIMESTAMP, "SignatureMethod": "SHA256withRSA", "SignatureType": "PRIVATEKEY",
        "SignatureVersion": "1.0", "SignatureNonce": NONCE, "AccessKeyId": "key_for_unit_test", "Format": "JSON",
    })
    sts = compose_string_to_sign("POST", params)
    assert sts == REF1_STS, sts
    out.append({
        "name": "reference vector 1: GetSecretValue, SHA256withRSA, unit-test client key",
        "source": "reference notes (aliyun-python-sdk-core 2.16.1 get_signed_url); StringToSign recomputed here",
        "method": "POST",
        "signature_method": "SHA256withRSA",
        "access_key_id": "key_for_unit_test",
        # Made here (CORE's own URL would carry the Signature parameter too).
        "wire_query": urlencode(params).replace("+", "%20"),
        "wire_body": "",
        "string_to_sign": sts,
        "signature": REF1_SIG,
        "public_key": "tests/data/sdk-unit-test-cert.pem",
    })

    v = core_vector("reference vector 2: GetSecretValue, HMAC-SHA1", "GetSecretValue", ref_query)
    assert v["signature"] == REF2_SIG, v["signature"]
    out.append(v)

    out.append(core_vector("unicode: Chinese and emoji", "CreateSecret", {
        "SecretName": "机密/应用 1", "Description": "密钥 🔑 emoji 😀 and ünïcödé", "SecretData": "值=🙂",
    }))
    out.append(core_vector("reserved and special characters", "UpdateNetworkRule", {
        "Name": "rule-1", "Description": "a+b*c~d/e%f&g=h i;j:k,l?m#n[o]p@q!r$s'(t)u\"v<w>x\\y^z`{|}",
        "Extra": "%2F%20+%", "Tilde": "~~~", "Star": "***", "Plus": "+++", "Spaces": "  lead and trail  ",
    }))
    out.append(core_vector("empty values (CORE also signs SignatureType=)", "UpdatePolicy", {
        "Name": "p", "Description": "", "Resources": "[]",
    }))
    out.append(core_vector("JSON strings", "CreatePolicy", {
        "Name": "policy-json",
        "Permissions": '["RbacPermission/Template/CryptoServiceKeyUser","RbacPermission/Template/CryptoServiceSecretUser"]',
        "Resources": '["key/*","secret/*"]',
        "AccessControlRules": '{"NetworkRules":["a"]}',
        "KmsInstance": "kst-hzz62f1bd8d2cxqvp4t2n",
    }))
    out.append(core_vector("network rule JSON list", "CreateNetworkRule", {
        "Name": "rule-json", "Type": "Private", "SourcePrivateIp": '["10.0.0.0/8","192.168.1.1"]',
    }))
    long_value = ("长值 long value / %s & = + * ~ " * 80) + "😀" * 200
    out.append(core_vector("long value (about 3 KiB)", "CreateSecret", {"SecretName": "long", "SecretData": long_value}))
    out.append(core_vector("form body merged into the signed set (as Terraform sends)", "CreateClientKey", {}, body={
        "AapName": "aap-1", "Password": "Pa$$w0rd+/= 密 &x", "NotBefore": "2024-01-01T00:00:00Z",
        "NotAfter": "2029-01-01T00:00:00Z",
    }))
    out.append(core_vector("query and form body", "CreateSecret", {"SecretName": "s 1", "VersionId": "v1"}, body={
        "SecretData": '{"user":"admin","password":"p@ss word+&="}', "SecretDataType": "text",
    }))
    out.append(core_vector("GET", "ListClientKeys", {"AapName": "aap 1"}, method="GET"))

    # SHA256withRSA with CORE's signer and a test key of this repository.
    with open(os.path.join(HERE, "..", "data", "keys", "test-rsa2048.pem"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    for name, query in [
        ("SHA256withRSA, unicode and specials", {"SecretName": "机密 /+*~%&=😀", "VersionStage": "ACSCurrent"}),
        ("SHA256withRSA, empty and JSON values", {"SecretName": "", "Tags": '[{"TagKey":"k","TagValue":"v v"}]'}),
    ]:
        v = core_vector(name, "GetSecretValue", query, signer=sha_hmac256, ak="KAAP.0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
                        secret=base64.b64encode(der).decode())
        v["public_key"] = "tests/data/keys/test-rsa2048.pem"
        out.append(v)

    out.append(toa_v2_vector("TOA v2: query parameters", "CreateNetworkRule", {
        "Name": "rule 2", "Type": "Private", "SourcePrivateIp": '["10.0.0.0/8","192.168.1.1"]', "Description": "",
    }))
    out.append(toa_v2_vector("TOA v2: form body", "CreateSecret", {"SecretName": "密 1"}, body={
        "SecretData": "a+b c&d=e~f*g/h%i 😀",
    }))
    out.append(toa_v2_vector("TOA v2: GET", "GetClientKey", {"ClientKeyId": "KAAP.0b1c2d3e"}, method="GET"))
    out.append(toa_v2_vector("TOA v2: STS token", "DescribePolicy", {"Name": "p"}, security_token="sts+token/=="))
    return out


# ---------------------------------------------------------------------------------------------
# ACS3-HMAC-SHA256

REF3_AUTH_SIG = "d2aba4de6c5c2de7fe4109196bd774757314cc5a55490e638eae7547f9484f5b"
REF3_CR_SHA = "0bd879ff5aa0d2e1c4a29a7329d7cdb772f995e914f7d59d2aadd5a75fec5074"


class Req:
    def __init__(self, method, pathname, query, headers):
        self.method, self.pathname, self.query, self.headers = method, pathname, query, headers


def acs3_record(name, source, r, body_bytes, url_query):
    payload = hashlib.sha256(body_bytes).hexdigest()
    headers = {k: v for k, v in r.headers.items() if k != "Authorization"}
    auth = r.headers["Authorization"]
    cq = toa_utils.get_canonical_query_string(r.query)
    ch, sh = toa_utils.get_canonicalized_headers(headers)
    cr = f"{r.method}\n{r.pathname or '/'}\n{cq}\n{ch}\n{sh}\n{payload}"
    sts = "ACS3-HMAC-SHA256\n" + hashlib.sha256(cr.encode()).hexdigest()
    sig = hmac.new(SECRET.encode(), sts.encode(), hashlib.sha256).hexdigest()
    assert auth == f"ACS3-HMAC-SHA256 Credential={AK},SignedHeaders={sh},Signature={sig}", (name, auth)
    return {
        "name": name,
        "source": source,
        "method": r.method,
        "path": r.pathname,
        "wire_query": url_query,
        # As sent: names as the SDK spelled them (a server sees them lower-cased).
        "headers": [[k, str(v)] for k, v in headers.items()],
        "body": body_bytes.decode("utf-8"),
        "payload_sha256": payload,
        "access_key_id": AK,
        "canonical_request": cr,
        "string_to_sign": sts,
        "authorization": auth,
    }


def toa_acs3(name, action, query, body=None, method="POST", security_token=None, extra_headers=None):
    config = Config(
        access_key_id=AK, access_key_secret=SECRET, security_token=security_token,
        endpoint="kms.cn-hangzhou.aliyuncs.com", region_id="cn-hangzhou",
    )
    client = Client(config)
    params = Params(
        action=action, version="2016-01-20", protocol="HTTPS", pathname="/", method=method,
        auth_type="AK", style="RPC", req_body_type="formData", body_type="json",
    )
    req = OpenApiRequest(query=dict(query), body=body)
    runtime = RuntimeOptions()
    if extra_headers:
        runtime.extends_parameters = ExtendsParameters(headers=extra_headers)
    r = send(client, params, req, runtime)
    body_bytes = (r.body or "").encode("utf-8") if isinstance(r.body, (str, type(None))) else bytes(r.body)
    url_query = urlsplit(DaraCore.compose_url(r)).query
    return acs3_record(name, "alibabacloud-tea-openapi 0.4.6 Client.do_request (call_api, ACS3-HMAC-SHA256)",
                       r, body_bytes, url_query)


def acs3_vectors():
    out = []
    # Reference vector 3: Utils.get_authorization over the published headers.
    headers = {
        "accept": "application/json",
        "host": "kms.cn-hangzhou.aliyuncs.com",
        "user-agent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
        "x-acs-action": "GetSecretValue",
        "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
        "x-acs-credentials-provider": "static_ak",
        "x-acs-date": TIMESTAMP,
        "x-acs-signature-nonce": NONCE,
        "x-acs-version": "2016-01-20",
    }
    query = {"SecretName": "my/secret 1", "VersionStage": "ACSCurrent", "FetchExtendedConfig": "True"}
    r = Req("POST", "/", query, dict(headers))
    r.headers["Authorization"] = Utils.get_authorization(r, "ACS3-HMAC-SHA256", headers["x-acs-content-sha256"], AK, SECRET)
    assert r.headers["Authorization"].endswith("Signature=" + REF3_AUTH_SIG), r.headers["Authorization"]
    v = acs3_record("reference vector 3: GetSecretValue", "reference notes (alibabacloud-tea-openapi 0.4.6 Utils.get_authorization)",
                    r, b"", urlencode(query))
    assert hashlib.sha256(v["canonical_request"].encode()).hexdigest() == REF3_CR_SHA
    out.append(v)

    out.append(toa_acs3("CreateNetworkRule, JSON list", "CreateNetworkRule", {
        "Name": "rule-1", "Type": "Private", "SourcePrivateIp": '["10.0.0.0/8","192.168.1.1"]', "Description": "office",
    }))
    out.append(toa_acs3("CreatePolicy, JSON strings", "CreatePolicy", {
        "Name": "policy-1",
        "Permissions": '["RbacPermission/Template/CryptoServiceKeyUser"]',
        "Resources": '["key/*","secret/*"]',
        "AccessControlRules": '{"NetworkRules":["a"]}',
        "KmsInstance": "kst-hzz62f1bd8d2cxqvp4t2n",
        "Description": "",
    }))
    out.append(toa_acs3("unicode and specials in the query", "UpdateApplicationAccessPoint", {
        "Name": "aap 中文", "Description": "密钥 🔑 a+b*c~d/e%f&g=h i;j:k,l?m#n[o]p@q!r$s'(t)u\"v<w>x\\y^z`{|}",
        "Policies": '["policy-1"]',
    }))
    out.append(toa_acs3("long value", "UpdateNetworkRule", {
        "Name": "rule-long", "Description": ("长 long / %s & = + * ~ " * 60) + "😀" * 100,
    }))
    out.append(toa_acs3("form body (CreateSecret SecretData)", "CreateSecret", {
        "SecretName": "db/password 1", "VersionId": "v1", "SecretDataType": "text",
    }, body={"SecretData": '{"user":"admin","password":"p@ss word+&=密😀"}'}))
    out.append(toa_acs3("empty form body still sent (GetSecretValue)", "GetSecretValue", {
        "SecretName": "my/secret 1", "FetchExtendedConfig": "True",
    }, body={}))
    out.append(toa_acs3("GET (GetClientKey)", "GetClientKey", {"ClientKeyId": "KAAP.0b1c2d3e-4f50"}, method="GET"))
    out.append(toa_acs3("GET with no query (ListClientKeys)", "ListClientKeys", {}, method="GET"))
    out.append(toa_acs3("STS credentials", "DescribePolicy", {"Name": "p"}, security_token="CAIS+sts/token=="))
    out.append(toa_acs3("repeated header in two spellings, values trimmed", "DescribeNetworkRule", {"Name": "r"},
                        extra_headers={"X-Acs-Extra": "  second ", "x-acs-extra": "first", "x-custom-empty": ""}))
    return out


def main():
    doc = {
        "comment": "Generated by gen_openapi_signatures.py with alibabacloud-tea-openapi==0.4.6 and "
                   "aliyun-python-sdk-core==2.16.1; do not edit by hand. See docs/protocol.md#openapi-signatures.",
        "access_key_secret": SECRET,
        "rpc_v1": rpc_vectors(),
        "acs3": acs3_vectors(),
    }
    json.dump(doc, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
