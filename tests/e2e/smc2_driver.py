"""Runs `alibabacloud-secretsmanager-client-v2` 2.0.0 (SMC2), unmodified, in a process of its own for
support.Smc2: its configuration is this process's environment (SMC2 and the credentials library read
it, the latter at import time), its work comes as JSON lines on stdin, one answer line each on stdout:

  {"op": "build", "env": {..}} set these variables (null: remove), then build the client as an
                               application does (SecretManagerCacheClientBuilder); SMC2 reads its
                               `credentials_*` variables when it is built
  {"op": "read", "name": N}    get_secret_info(N) through the cache client
  {"op": "get", "name": N}     GetSecretValue through the SecretManagerClient (no cache; same credentials)

Answers: {"ok": true, "value", "type", "version"} or {"ok": false, "error": <exception class>, "cause":
<the class of the exception it wraps, if any>, "code", "status", "message" (the wrapped one's)}. A back-off that does not wait: SMC2 retries throttling and timeouts only.
"""

import json
import logging
import os
import sys
import traceback

from alibabacloud_kms20160120.models import GetSecretValueRequest
from alibabacloud_secretsmanager_client_v2.secret_manager_cache_client_builder import SecretManagerCacheClientBuilder
from alibabacloud_secretsmanager_client_v2.service.default_secret_manager_client_builder import \
    BaseSecretManagerClientBuilder
from alibabacloud_secretsmanager_client_v2.service.full_jitter_back_off_strategy import FullJitterBackoffStrategy


def quiet():
    log = logging.getLogger("aapkit-e2e-smc2")
    log.handlers[:] = [logging.NullHandler()]
    log.propagate = False
    return log


def failure(e):
    # A credential provider's refusal reaches the caller wrapped by darabonba's UnretryableException.
    inner = getattr(e, "inner_exception", None)
    cause = type(inner).__name__ if inner is not None else None
    shown = inner if inner is not None else e
    data = getattr(e, "data", None)
    status = getattr(e, "status_code", None) or getattr(e, "statusCode", None)
    if status is None and isinstance(data, dict):
        status = data.get("statusCode")
    return {"ok": False, "error": type(e).__name__, "cause": cause, "code": getattr(e, "code", None),
            "status": status, "message": str(getattr(shown, "message", None) or shown)}


def main():
    client = cache = None
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd["op"] == "build":
                for k, v in (cmd.get("env") or {}).items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
                if cache is not None:
                    cache.close()
                client = BaseSecretManagerClientBuilder.standard().with_back_off_strategy(
                    FullJitterBackoffStrategy(retry_max_attempts=0, retry_initial_interval_mills=10,
                                              capacity=10)).build()
                cache = SecretManagerCacheClientBuilder.new_cache_client_builder(client).with_logger(quiet()).build()
                answer = {"ok": True}
            elif cmd["op"] == "read":
                info = cache.get_secret_info(cmd["name"])
                answer = {"ok": True, "value": info.secret_value, "type": info.secret_data_type,
                          "version": info.version_id}
            elif cmd["op"] == "get":
                resp = client.get_secret_value(GetSecretValueRequest(
                    secret_name=cmd["name"], version_stage="ACSCurrent", fetch_extended_config=True))
                body = resp.body
                answer = {"ok": True, "value": body.secret_data, "type": body.secret_data_type,
                          "version": body.version_id}
            else:
                answer = {"fatal": f"unknown op {cmd['op']!r}"}
        except Exception as e:  # every refusal is an answer; the test judges it
            answer = failure(e)
            answer["trace"] = traceback.format_exc(limit=3)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    if cache is not None:
        cache.close()


if __name__ == "__main__":
    main()
