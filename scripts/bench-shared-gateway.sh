#!/usr/bin/env bash
# Shared-gateway benchmark (BENCHMARKS.md, "KMS endpoint: shared gateway and RAM roles"): one release
# `aapkit serve` on loopback with the filter in wasmtime, both listeners over HTTPS keep-alive.
# 1. GetSecretValue of one secret by one client key, `aapkit loadgen`, alternating per round:
#    - through the Instance API (pre-signed requests replayed: the baseline);
#    - through the KMS endpoint (RPC v1 SHA256withRSA as the Secrets Manager client signs; every
#      request has its own nonce and is sent once, so each round signs its pool first).
# 2. STS latency with keep-alive over plain loopback HTTP (a second server, --openapi-plain-http):
#    AssumeRoleWithOIDC (RS256 JWT verified against a JWKS file) against the credentials URI (same
#    session issue, no JWT) as the baseline.
# Usage: scripts/bench-shared-gateway.sh [seconds] [concurrency] [rounds] [sts-calls]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
cd "$root"
secs="${1:-5}"
conc="${2:-16}"
rounds="${3:-3}"
sts_calls="${4:-300}"
python="${AAPKIT_PYTHON:-$HOME/.cache/aapkit/venv/bin/python}"
cargo build -q -p aapkit-filter --target wasm32-wasip1 --profile wasm-release
cargo build -q --release -p aapkit
bin="$CARGO_TARGET_DIR/release/aapkit"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
data="$work/data"
a() { "$bin" --data-dir "$data" --json "$@"; }
inst=kst-bench000000000002
a init --instance-id "$inst" >/dev/null
key=$(a key create --key-spec Aliyun_AES_256 | python3 -c 'import json,sys; print(json.load(sys.stdin)["KeyId"])')
printf 'bench-secret-value-0123456789' > "$work/secret.txt"
a secret create --secret-name app/db --encryption-key-id "$key" --secret-data-file "$work/secret.txt" >/dev/null
a network-rule create --name lo --source-private-ip '["127.0.0.1/32"]' >/dev/null
a policy create --name inst --permissions '["RbacPermission/Template/CryptoServiceSecretUser","RbacPermission/Template/CryptoServiceKeyUser"]' \
  --resources "[\"secret/app/*\",\"key/$key\"]" --kms-instance "$inst" --access-control-rules '{"NetworkRules":["lo"]}' >/dev/null
a policy create --name shared --permissions '["RbacPermission/Template/CryptoServiceSecretUser"]' \
  --resources '["secret/app/*"]' --kms-instance shared --access-control-rules '{"NetworkRules":["lo"]}' >/dev/null
a aap create --name bench --policies '["inst","shared"]' >/dev/null
a aap create --name bench-role --policies '["shared"]' --authentication-method RAMRole >/dev/null
printf 'Bench-passw0rd' > "$work/pw"
a client-key create --aap bench --password-file "$work/pw" --output "$work/ck.json" >/dev/null

# The test issuer for AssumeRoleWithOIDC: an RSA key, its JWKS, one token valid for an hour.
"$python" - "$work" <<'PY'
import base64, json, sys, time
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
work = sys.argv[1]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
n = k.public_key().public_numbers()
jwk = {"kty": "RSA", "kid": "bench", "alg": "RS256", "use": "sig",
       "n": b64(n.n.to_bytes(256, "big")), "e": b64(n.e.to_bytes(3, "big"))}
json.dump({"keys": [jwk]}, open(f"{work}/jwks.json", "w"))
now = int(time.time())
head = b64(json.dumps({"alg": "RS256", "kid": "bench", "typ": "JWT"}).encode())
body = b64(json.dumps({"iss": "https://oidc.bench.test", "aud": "sts.aliyuncs.com",
                       "sub": "system:serviceaccount:apps:bench", "iat": now, "exp": now + 3600}).encode())
sig = k.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
open(f"{work}/token.jwt", "w").write(f"{head}.{body}.{b64(sig)}")
PY
role=$(a ram-role create --name BenchRole --aap bench-role --oidc-issuer https://oidc.bench.test \
  --oidc-audience sts.aliyuncs.com --oidc-jwks-file "$work/jwks.json" --credentials-uri-token)
token=$(printf '%s' "$role" | python3 -c 'import json,sys; print(json.load(sys.stdin)["CredentialsUriToken"])')
provider=$(printf '%s' "$role" | python3 -c 'import json,sys; print(json.load(sys.stdin)["OIDCTrust"]["OIDCProviderArn"])')
arn=$(printf '%s' "$role" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Arn"])')

wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; }
"$bin" --data-dir "$data" serve --listen 127.0.0.1:18643 --openapi-listen 127.0.0.1:18644 \
  --filter-wasm "$AAPKIT_FILTER_WASM" >"$work/serve.log" 2>&1 &
wait_port 18643; wait_port 18644
lg() { # target workload pool
  "$bin" --json loadgen --target "$1" --ca "$data/ca.pem" --client-key-file "$work/ck.json" \
    --password-file "$work/pw" --key-id app/db --workload "$2" --concurrency "$conc" --seconds "$secs" --pool "$3"
}
echo "== machine: $(nproc) cores; $(date -u)"
for r in $(seq "$rounds"); do
  echo "== round $r: GetSecretValue through the Instance API (filter)"
  lg 127.0.0.1:18643 get-secret-value 256 | tee "$work/inst-$r.json"
  echo "== round $r: GetSecretValue through the KMS endpoint, shared gateway (filter)"
  lg 127.0.0.1:18644 shared-get-secret-value $((secs * 12000)) | tee "$work/shared-$r.json"
done

"$bin" --data-dir "$data" serve --listen 127.0.0.1:18645 --openapi-listen 127.0.0.1:18646 --openapi-plain-http \
  --filter-wasm "$AAPKIT_FILTER_WASM" >"$work/serve-sts.log" 2>&1 &
wait_port 18646
echo "== STS: $sts_calls calls each, one keep-alive connection"
"$python" - "$work" "$sts_calls" "$token" "$arn" "$provider" <<'PY' | tee "$work/sts.txt"
import http.client, statistics, sys, time, urllib.parse
work, calls, token, arn, provider = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
jwt = open(f"{work}/token.jwt").read()
c = http.client.HTTPConnection("127.0.0.1", 18646)
def timed(path):
    out = []
    for _ in range(calls):
        t = time.perf_counter()
        c.request("GET", path)
        r = c.getresponse(); r.read()
        assert r.status == 200, r.status
        out.append((time.perf_counter() - t) * 1e6)
    out.sort()
    return statistics.median(out), out[int(len(out) * 0.99) - 1]
uri = "/v1/credentials?" + urllib.parse.urlencode({"role": "BenchRole", "token": token})
oidc = "/?" + urllib.parse.urlencode({"Action": "AssumeRoleWithOIDC", "Version": "2015-04-01", "Format": "JSON",
    "RoleArn": arn, "OIDCProviderArn": provider, "OIDCToken": jwt, "RoleSessionName": "bench",
    "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
u50, u99 = timed(uri)
o50, o99 = timed(oidc)
print(f"credentials URI (baseline): p50 {u50:.0f} us  p99 {u99:.0f} us")
print(f"AssumeRoleWithOIDC:         p50 {o50:.0f} us  p99 {o99:.0f} us  (p50 ratio {o50 / u50:.2f})")
PY

echo "== summary: GetSecretValue requests/s, KMS endpoint (shared gateway) / Instance API per round"
python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
ratios = []
for r in range(1, rounds + 1):
    i = json.load(open(f"{work}/inst-{r}.json"))
    s = json.load(open(f"{work}/shared-{r}.json"))
    ratios.append(s["RequestsPerSecond"] / i["RequestsPerSecond"])
    print(f"round {r}: instance {i['RequestsPerSecond']:,.0f}/s (p50 {i['P50Us']} us, p99 {i['P99Us']} us, errors {i['Errors']})"
          f"  shared {s['RequestsPerSecond']:,.0f}/s (p50 {s['P50Us']} us, p99 {s['P99Us']} us, errors {s['Errors']})"
          f"  ratio {ratios[-1]:.3f}")
print(f"median ratio {statistics.median(ratios):.3f}")
PY
