#!/usr/bin/env bash
# Gateway benchmark (BENCHMARKS.md, "Gateway"): a release aapkit on loopback, driven by
# `aapkit loadgen` (pre-signed SDK-style requests over HTTPS keep-alive) with the filter module in
# wasmtime and with native policy-core, plus RSA_2048 Sign; baseline `openssl speed rsa2048` in the
# same run. The Encrypt pair (wasm, native) runs `rounds` times, alternating, and the summary gives
# each round's ratio and the median (single runs on a shared 2-core VM move by several percent).
# Usage: scripts/bench-gateway.sh [seconds] [concurrency] [rounds]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
cd "$root"
secs="${1:-10}"
conc="${2:-16}"
rounds="${3:-3}"
cargo build -q -p aapkit-filter --target wasm32-wasip1 --profile wasm-release
cargo build -q --release -p aapkit
bin="$CARGO_TARGET_DIR/release/aapkit"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
data="$work/data"
a() { "$bin" --data-dir "$data" --json "$@"; }
a init --instance-id kst-bench000000000001 >/dev/null
aes=$(a key create --key-spec Aliyun_AES_256 | python3 -c 'import json,sys; print(json.load(sys.stdin)["KeyId"])')
rsa=$(a key create --key-spec RSA_2048 | python3 -c 'import json,sys; print(json.load(sys.stdin)["KeyId"])')
a network-rule create --name lo --source-private-ip '["127.0.0.1/32"]' >/dev/null
a policy create --name p --permissions '["RbacPermission/Template/CryptoServiceKeyUser"]' \
  --resources "[\"key/$aes\",\"key/$rsa\"]" --kms-instance kst-bench000000000001 \
  --access-control-rules '{"NetworkRules":["lo"]}' >/dev/null
a aap create --name bench --policies '["p"]' >/dev/null
printf 'Bench-passw0rd' > "$work/pw"
a client-key create --aap bench --password-file "$work/pw" --output "$work/ck.json" >/dev/null

port=18543
run() { # enforcer workload key
  "$bin" --data-dir "$data" serve --listen "127.0.0.1:$port" --enforcer "$1" --filter-wasm "$AAPKIT_FILTER_WASM" \
    >"$work/serve-$1.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  "$bin" --json loadgen --target "127.0.0.1:$port" --ca "$data/ca.pem" --client-key-file "$work/ck.json" \
    --password-file "$work/pw" --key-id "$3" --workload "$2" --concurrency "$conc" --seconds "$secs"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  port=$((port + 1))
}
echo "== machine: $(nproc) cores; $(date -u)"
for r in $(seq "$rounds"); do
  echo "== round $r: Encrypt 32 B, AES-256-GCM, enforcer wasm"
  run wasm encrypt "$aes" | tee "$work/enc-wasm-$r.json"
  echo "== round $r: Encrypt 32 B, AES-256-GCM, enforcer native"
  run native encrypt "$aes" | tee "$work/enc-native-$r.json"
done
echo "== Sign RSA_2048 PKCS1, enforcer wasm";         run wasm sign "$rsa"
echo "== openssl speed rsa2048 (baseline, same run)"
openssl speed -seconds 3 rsa2048 2>/dev/null | tail -2
echo "== summary: Encrypt requests/s, wasm / native per round"
python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
ratios = []
for r in range(1, rounds + 1):
    w = json.load(open(f"{work}/enc-wasm-{r}.json"))["RequestsPerSecond"]
    n = json.load(open(f"{work}/enc-native-{r}.json"))["RequestsPerSecond"]
    ratios.append(w / n)
    print(f"round {r}: wasm {w:,.0f}  native {n:,.0f}  ratio {w / n:.3f}  overhead {1 - w / n:.1%}")
m = statistics.median(ratios)
print(f"median ratio {m:.3f} (wasm overhead {1 - m:.1%}); range {min(ratios):.3f}-{max(ratios):.3f}")
PY
