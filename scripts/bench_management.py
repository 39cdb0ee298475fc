"""The body of scripts/bench-management.sh (see there). Needs AAPKIT_BIN and the test venv."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from alibabacloud_kms20160120 import models as kms
from alibabacloud_kms20160120.client import Client
from alibabacloud_tea_openapi.models import Config

AAPKIT = os.environ["AAPKIT_BIN"]
INSTANCE = "kst-bench000000000001"
PERMS = '["RbacPermission/Template/CryptoServiceKeyUser"]'
RULES = '{"NetworkRules":["lo"]}'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def report(name, samples):
    ms = [x * 1000 for x in samples]
    print(f"{name:34s} n={len(ms):4d}  p50 {pct(ms, 50):8.2f} ms  p99 {pct(ms, 99):8.2f} ms")
    return pct(ms, 50), pct(ms, 99)


def main(sdk_calls, cli_calls):
    tmp = tempfile.TemporaryDirectory(prefix="aapkit-bench-mgmt-")
    data = os.path.join(tmp.name, "data")

    def cli(*args):
        return subprocess.run([AAPKIT, "--data-dir", data, "--json", *args], check=True, capture_output=True, text=True)

    cli("init", "--instance-id", INSTANCE)
    cli("network-rule", "create", "--name", "lo", "--source-private-ip", '["127.0.0.1/32"]')
    key = json.loads(cli("key", "create").stdout)["KeyId"]
    resources = json.dumps([f"key/{key}"])
    ak = json.load(open(os.path.join(data, "admin-access-key.json")))
    port, api_port = free_port(), free_port()
    log = open(os.path.join(tmp.name, "serve.log"), "w")
    proc = subprocess.Popen([AAPKIT, "--data-dir", data, "serve", "--enforcer", "native", "--listen",
                             f"127.0.0.1:{port}", "--openapi-listen", f"127.0.0.1:{api_port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", api_port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        client = Client(Config(access_key_id=ak["AccessKeyId"], access_key_secret=ak["AccessKeySecret"],
                               region_id=ak["RegionId"], endpoint=f"127.0.0.1:{api_port}", protocol="https",
                               ca=os.path.join(data, "ca.pem")))
        # Warm up the TLS session and both paths.
        client.create_policy(kms.CreatePolicyRequest(name="warm", kms_instance=INSTANCE, permissions=PERMS,
                                                     resources=resources, access_control_rules=RULES))
        client.describe_policy(kms.DescribePolicyRequest(name="warm"))
        sdk_create, sdk_describe, cli_create, cli_describe = [], [], [], []
        for i in range(sdk_calls):
            t = time.perf_counter()
            client.create_policy(kms.CreatePolicyRequest(name=f"sdk-{i}", kms_instance=INSTANCE, permissions=PERMS,
                                                         resources=resources, access_control_rules=RULES))
            sdk_create.append(time.perf_counter() - t)
            t = time.perf_counter()
            client.describe_policy(kms.DescribePolicyRequest(name=f"sdk-{i}"))
            sdk_describe.append(time.perf_counter() - t)
        for i in range(cli_calls):
            t = time.perf_counter()
            cli("policy", "create", "--name", f"cli-{i}", "--permissions", PERMS, "--resources", resources,
                "--kms-instance", INSTANCE, "--access-control-rules", RULES)
            cli_create.append(time.perf_counter() - t)
            t = time.perf_counter()
            cli("policy", "describe", "--name", f"cli-{i}")
            cli_describe.append(time.perf_counter() - t)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    print(f"== {sdk_calls} SDK calls each, {cli_calls} CLI runs each (policies in the store at the end: "
          f"{sdk_calls + cli_calls + 1})")
    sc = report("CreatePolicy (management SDK)", sdk_create)
    sd = report("DescribePolicy (management SDK)", sdk_describe)
    cc = report("aapkit policy create (CLI)", cli_create)
    cd = report("aapkit policy describe (CLI)", cli_describe)
    print(f"ratio SDK/CLI p50: create {sc[0] / cc[0]:.2f}, describe {sd[0] / cd[0]:.2f}; "
          f"p99: create {sc[1] / cc[1]:.2f}, describe {sd[1] / cd[1]:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
