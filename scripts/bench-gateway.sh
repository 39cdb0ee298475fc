#!/usr/bin/env bash
# Gateway benchmark (BENCHMARKS.md, "Gateway"): a release aapkit on loopback, driven by
# `aapkit loadgen` (pre-signed SDK-style requests over HTTPS keep-alive) with the filter module in
# wasmtime and with native policy-core, plus RSA_2048 Sign; baseline `openssl speed rsa2048` in the
# same run. The Encrypt pair (wasm, native) runs `rounds` times, alternating, and the summary gives
# each round's ratio and the median (single runs on a shared 2-core VM move by several percent).
# Then "slow work": Encrypt latency alone and while 4 RSA_3072 GenerateDataKeyPair calls loop on
# other connections (`loadgen --background-key-pairs 4`), against one server (issue 10 §3).
# Usage: scripts/bench-gateway.sh [seconds] [concurrency] [rounds]
#   BENCH_ONLY=slow-work  runs only the slow-work part;
#   SERVE_BIN=path        serves with another aapkit binary (e.g. an older build, for before/after).
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
serve_bin="${SERVE_BIN:-$bin}"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
data="$work/data"
source "$root/scripts/bench-world.sh"
world=$(bench_world "$bin" "$data" "$work/pw" "$work/ck.json" Aliyun_AES_256 RSA_2048)
{ read -r aes; read -r rsa; } <<<"$world"

port=18543
run() { # enforcer workload key
  "$serve_bin" --data-dir "$data" serve --listen "127.0.0.1:$port" --no-openapi --enforcer "$1" --filter-wasm "$AAPKIT_FILTER_WASM" \
    >"$work/serve-$1.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  "$bin" --json loadgen --target "127.0.0.1:$port" --ca "$data/ca.pem" --client-key-file "$work/ck.json" \
    --password-file "$work/pw" --key-id "$3" --workload "$2" --concurrency "$conc" --seconds "$secs"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  port=$((port + 1))
}
echo "== machine: $(nproc) cores; $(date -u)"
slow_work() {
  "$serve_bin" --data-dir "$data" serve --listen "127.0.0.1:$port" --no-openapi --filter-wasm "$AAPKIT_FILTER_WASM" \
    >"$work/serve-slow.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  lg() { "$bin" --json loadgen --target "127.0.0.1:$port" --ca "$data/ca.pem" --client-key-file "$work/ck.json" \
    --password-file "$work/pw" --key-id "$aes" --workload encrypt --concurrency 4 --seconds "$secs" "$@"; }
  echo "== slow work: Encrypt alone (4 connections), enforcer wasm"
  lg | tee "$work/slow-alone.json"
  echo "== slow work: Encrypt (4 connections) while 4 RSA_3072 GenerateDataKeyPair loop"
  lg --background-key-pairs 4 | tee "$work/slow-loaded.json"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  port=$((port + 1))
  python3 - "$work" <<'PY'
import json, sys
a = json.load(open(f"{sys.argv[1]}/slow-alone.json"))
b = json.load(open(f"{sys.argv[1]}/slow-loaded.json"))
print(f"Encrypt alone:  p50 {a['P50Us']/1000:.2f} ms  p99 {a['P99Us']/1000:.2f} ms  max {a['MaxUs']/1000:.1f} ms")
print(f"under key-pair load: p50 {b['P50Us']/1000:.2f} ms  p99 {b['P99Us']/1000:.2f} ms  max {b['MaxUs']/1000:.1f} ms"
      f"  ({b.get('BackgroundRequests', '?')} RSA_3072 pairs, {b.get('BackgroundErrors', '?')} refused)")
print(f"p99 ratio {b['P99Us'] / max(a['P99Us'], 1):.2f} (goal <= 3)")
PY
}
if [ "${BENCH_ONLY:-}" = "slow-work" ]; then slow_work; exit 0; fi
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
slow_work
